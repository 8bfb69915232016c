"""The float32 tanh and exp approximations inside the kernels, against NumPy."""
import numpy as np
import pytest

from fastrnn._kernels import _fast_expf, _fast_tanhf

EPS32 = np.finfo(np.float32).eps


def test_tanh_accuracy():
    x = np.concatenate([np.linspace(-12, 12, 400001, dtype=np.float32),
                        np.float32([0, -0.0, 1e-30, -1e-8, 3e-4, 4e-4, 7.9, 8, 100, -1e30])])
    got = x.copy()
    _fast_tanhf(got)
    want = np.tanh(x.astype(np.float64))
    rel = np.abs(got - want) / np.maximum(np.abs(want), np.finfo(np.float32).tiny)
    assert rel.max() < 8 * EPS32
    assert np.all(np.abs(got) <= 1)
    np.testing.assert_array_equal(np.sign(got), np.sign(want))


def test_exp_accuracy():
    x = np.concatenate([np.linspace(-87, 88, 400001, dtype=np.float32), np.float32([0, -1e-8])])
    got = x.copy()
    _fast_expf(got)
    want = np.exp(x.astype(np.float64))
    assert (np.abs(got - want) / want).max() < 4 * EPS32


@pytest.mark.parametrize("x", [-1000.0, -88.0, -np.inf])
def test_exp_underflow_is_tiny_not_garbage(x):
    got = np.float32([x])
    _fast_expf(got)
    assert 0 <= got[0] <= np.finfo(np.float32).tiny


def test_nan_propagates():
    for f in (_fast_expf, _fast_tanhf):
        got = np.float32([np.nan, 1.0])
        f(got)
        assert np.isnan(got[0]) and np.isfinite(got[1])
