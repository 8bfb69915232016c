"""The documentation runs: every docstring example and the README's Python code."""
import doctest
import importlib
import pathlib
import re

import numpy as np
import pytest

import fastrnn

MODULES = ["fastrnn", "fastrnn._api", "fastrnn.reference", "fastrnn.vocab", "fastrnn.optim",
           "fastrnn.sampling", "fastrnn.models", "fastrnn.classifier", "fastrnn.data",
           "fastrnn.checkpoint", "fastrnn.corpus", "fastrnn.cli", "fastrnn.interop",
           "fastrnn.plotting"]

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError:
        pytest.skip(f"{name} is not part of this build")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_public_contract_is_documented():
    for name in ("init_params", "forward", "loss_and_grads"):
        doc = getattr(fastrnn, name).__doc__
        assert "Parameters" in doc and "Returns" in doc and "Examples" in doc, name


@pytest.mark.skipif(not README.exists(), reason="README not shipped with this copy")
def test_readme_python_blocks_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert blocks, "the README shows Python code"
    for code in blocks:
        namespace = {}
        exec(compile(code, str(README), "exec"), namespace)
    assert np.isfinite(namespace["loss"])
