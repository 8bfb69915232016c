"""mypy passes on the fastrnn being tested (src/ or the installed package).

The checked directory is the one ``fastrnn`` was imported from, so an installed
copy is checked with the stubs (``_kernels.pyi``, ``_blas.pyi``,
``_sample.pyi``) and ``py.typed`` it ships.  The settings are the repository's
``[tool.mypy]`` section of pyproject.toml.
"""
import os
import tempfile
from pathlib import Path

import pytest

import fastrnn

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
PACKAGE = Path(fastrnn.__file__).resolve().parent
# kept between runs (a cold mypy run with NumPy's stubs takes a minute or more)
CACHE = Path(tempfile.gettempdir()) / f"fastrnn-mypy-cache-{os.getuid()}"


def test_mypy_passes():
    api = pytest.importorskip("mypy.api")
    if not PYPROJECT.is_file():
        pytest.skip(f"{PYPROJECT} not found (its [tool.mypy] section is the configuration)")
    stdout, stderr, status = api.run([
        "--config-file", str(PYPROJECT),
        "--cache-dir", str(CACHE),
        str(PACKAGE),
    ])
    assert status == 0, f"mypy on {PACKAGE} failed:\n{stdout}{stderr}"


def test_stubs_and_marker_ship_with_the_package():
    for name in ("_kernels.pyi", "_blas.pyi", "_sample.pyi", "py.typed"):
        assert os.path.isfile(PACKAGE / name), f"{name} missing from {PACKAGE}"
