"""mypy passes on the source tree (src/fastrnn, with its .pyi stubs), and the
stubs and py.typed ship with the fastrnn being tested.

mypy checks the sources rather than an installed copy: pointed at a folder
inside site-packages it takes site-packages for a source root and reports
other packages there ("This file shadows library module ...").  The settings
are the repository's ``[tool.mypy]`` section of pyproject.toml.
"""
import os
import tempfile
from pathlib import Path

import pytest

import fastrnn

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
PACKAGE = Path(fastrnn.__file__).resolve().parent
SOURCES = ROOT / "src" / "fastrnn"
# kept between runs (a cold mypy run with NumPy's stubs takes a minute or more)
CACHE = Path(tempfile.gettempdir()) / f"fastrnn-mypy-cache-{os.getuid()}"


def test_mypy_passes():
    api = pytest.importorskip("mypy.api")
    if not PYPROJECT.is_file() or not SOURCES.is_dir():
        pytest.skip(f"{PYPROJECT} or {SOURCES} not found (a checkout is needed)")
    stdout, stderr, status = api.run([
        "--config-file", str(PYPROJECT),
        "--cache-dir", str(CACHE),
        str(SOURCES),
    ])
    assert status == 0, f"mypy on {SOURCES} failed:\n{stdout}{stderr}"


def test_stubs_and_marker_ship_with_the_package():
    for name in ("_kernels.pyi", "_blas.pyi", "_sample.pyi", "py.typed"):
        assert os.path.isfile(PACKAGE / name), f"{name} missing from {PACKAGE}"
