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


def test_tanh_within_two_ulp_everywhere():
    # ulp distance to the correctly rounded float32 tanh: near saturation this
    # is what keeps 1 - a^2 (the BPTT factor) accurate, which a relative error
    # bound on a alone does not
    x = np.concatenate([np.linspace(-10, 10, 2000001, dtype=np.float32),
                        np.geomspace(1e-6, 0.7, 100001).astype(np.float32)])
    got = x.copy()
    _fast_tanhf(got)
    want = np.tanh(x.astype(np.float64)).astype(np.float32)
    ulps = np.abs(got.view(np.int32).astype(np.int64) - want.view(np.int32).astype(np.int64))
    assert ulps.max() <= 2
    a = got[np.abs(x) > 2].astype(np.float64)
    exact = np.tanh(x[np.abs(x) > 2].astype(np.float64))
    one_minus = 1 - exact ** 2
    # 1 - a^2 from the kernel's a, relative to the exact factor: bounded by the
    # float32 spacing of a near 1 (2 ulp of 1.0 over 1 - |a|), never worse
    err = np.abs((1 - a ** 2) - one_minus) / one_minus
    assert np.all(err <= 2.5 * 2 * EPS32 / (1 - np.abs(exact)) + 1e-6)
