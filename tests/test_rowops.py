"""The float32 row functions inside the kernels (tanh, exp, softmax) against NumPy."""
import numpy as np
import pytest

from fastrnn import _kernels
from fastrnn._kernels import _fast_expf, _fast_tanhd, _fast_tanhf

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
    # the clamp's exp: the smallest normal float to 1e-5, never a denormal
    # (whose arithmetic costs a microcode assist) nor garbage
    got = np.float32([x])
    _fast_expf(got)
    tiny = np.finfo(np.float32).tiny
    assert tiny <= got[0] <= tiny * (1 + 1e-5)


def test_nan_propagates():
    for f in (_fast_expf, _fast_tanhf):
        got = np.float32([np.nan, 1.0])
        f(got)
        assert np.isnan(got[0]) and np.isfinite(got[1])


@pytest.mark.parametrize("f,dtype", [(_fast_tanhf, np.float32), (_fast_tanhd, np.float64)])
def test_tanh_special_values_in_the_vector_loop(f, dtype):
    # NaN, +-inf, +-0 and the largest floats at every position of a row of
    # 64 (whole vectors, not just the scalar tail): NaN stays NaN, +-inf and
    # +-max give +-1, -0.0 stays -0.0, the finite neighbours are untouched
    big = np.finfo(dtype).max
    special = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, big, -big], dtype)
    want = np.array([np.nan, np.nan, 1, -1, 0.0, -0.0, 1, -1], dtype)
    base = np.linspace(-3, 3, 64).astype(dtype)
    ref = base.copy()
    f(ref)
    for i in range(64):
        for s, w in zip(special, want):
            x = base.copy()
            x[i] = s
            f(x)
            if np.isnan(w):
                assert np.isnan(x[i])
            else:
                assert x[i] == w and np.signbit(x[i]) == np.signbit(w), (i, s, x[i])
            np.testing.assert_array_equal(np.delete(x, i), np.delete(ref, i))


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


@pytest.mark.parametrize("lo", [2.0 ** -7, 0.5, 4.0])
def test_tanh_within_two_ulp_on_every_float_of_a_binade(lo):
    # every float in [lo, 2 lo): [2^-7, 2^-6) holds the worst cases of the
    # -m / (2 + m) form (2 ulp near 0.0150); [0.5, 1) crosses the reductions
    # n = -1 .. -3; [4, 8) approaches saturation
    bits = np.arange(np.float32(lo).view(np.int32), np.float32(2 * lo).view(np.int32),
                     dtype=np.int32)
    x = bits.view(np.float32)
    got = x.copy()
    _fast_tanhf(got)
    want = np.tanh(x.astype(np.float64)).astype(np.float32)
    ulps = np.abs(got.view(np.int32).astype(np.int64) - want.view(np.int32))
    assert ulps.max() <= 2
    # mostly correctly rounded (50-70% in these binades), 2 ulp a rarity (at
    # most 0.2%; rounding m before 2 + m made it 12% of [4, 8))
    assert np.mean(ulps == 0) > 0.45
    assert np.mean(ulps == 2) < 0.005
    neg = -x                            # odd, exactly
    _fast_tanhf(neg)
    np.testing.assert_array_equal(neg, -got)


@pytest.mark.parametrize("n", [1, 5, 8, 27, 65, 255, 256, 257, 512, 513, 1000])
@pytest.mark.parametrize("rows", [1, 7, 64, 65, 300])
def test_softmax_rows_in_blocks_equal_row_by_row(rows, n):
    """The block-of-rows softmax (phases over up to 2048 floats of rows) and
    its cross-entropy version give the one-row functions' numbers bit for
    bit, at row counts and widths around the block and buffer boundaries,
    with ignored rows; and a softmax (against NumPy in float64)."""
    rng = np.random.default_rng(rows * 1000 + n)
    z = rng.normal(0, 3, (rows, n)).astype(np.float32)
    b = rng.normal(0, 1, n).astype(np.float32)
    y = rng.integers(0, n, rows).astype(np.intp)
    y[rng.random(rows) < 0.3] = -1
    for targets in (None, y):
        got, want = z.copy(), z.copy()
        loss = _kernels._softmax_rows_f(got, b, targets, False)
        want_loss = _kernels._softmax_rows_f(want, b, targets, True)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(loss, want_loss)
    e = np.exp((z + b).astype(np.float64) - (z + b).max(axis=1, keepdims=True))
    sm = e / e.sum(axis=1, keepdims=True)
    got = z.copy()
    _kernels._softmax_rows_f(got, b, None, False)
    np.testing.assert_allclose(got, sm, rtol=2e-6, atol=1e-7)
    got = z.copy()
    loss = _kernels._softmax_rows_f(got, b, y, False)
    counted = y >= 0
    onehot = np.zeros_like(sm)
    onehot[np.flatnonzero(counted), y[counted]] = 1
    np.testing.assert_allclose(got[counted], (sm - onehot)[counted], rtol=2e-6, atol=1e-7)
    assert not got[~counted].any()
    np.testing.assert_allclose(loss[counted], -np.log(sm[counted, y[counted]]), rtol=1e-5)
    assert not loss[~counted].any()


@pytest.mark.parametrize("n", [5, 27, 65, 1000, 1003])
def test_softmax_rows_non_finite_logits(n):
    """A NaN or +inf logit makes its row all NaN (and its loss NaN); -inf is
    a probability of 0; other rows are untouched, on the short rows' padded
    path and the long rows' in-place path alike."""
    rng = np.random.default_rng(n)
    z = rng.normal(0, 3, (4, n)).astype(np.float32)
    b = rng.normal(0, 1, n).astype(np.float32)
    z[1, n // 2] = np.nan
    z[2, n - 1] = np.inf
    z[3, 0] = -np.inf
    y = np.array([0, 1, 2, 1], dtype=np.intp)
    e = np.exp((z[[0, 3]] + b).astype(np.float64) - (z[[0, 3]] + b).max(axis=1, keepdims=True))
    want = e / e.sum(axis=1, keepdims=True)
    for targets in (None, y):
        got = z.copy()
        loss = _kernels._softmax_rows_f(got, b, targets, False)
        assert np.isnan(got[1]).all() and np.isnan(got[2]).all()
        onehot = np.zeros_like(want)
        if targets is not None:
            onehot[[0, 1], y[[0, 3]]] = 1
            assert np.isnan(loss[1]) and np.isnan(loss[2])
            assert np.isfinite(loss[[0, 3]]).all()
        np.testing.assert_allclose(got[[0, 3]], want - onehot, rtol=2e-6, atol=1e-7)
        assert 0 < got[3, 0] <= np.finfo(np.float32).tiny * (1 + 1e-5)   # -inf; y[3] != 0


def test_tanh_float64_within_three_ulp():
    """The float64 kernels' tanh (expm1-based, vectorised) against long double
    tanh: within 3 ulp everywhere sampled, odd, +-1 past saturation."""
    rng = np.random.default_rng(0)
    g = np.geomspace(1e-300, 25, 400_001)
    x = np.concatenate([np.linspace(-25, 25, 1_000_001), rng.uniform(-1, 1, 400_000), g, -g,
                        [0.0, np.inf, -np.inf, 1e-320, 19.0, 19.1, 20.0, 40.0, 1e300, -1e300]])
    got = x.copy()
    _fast_tanhd(got)
    ref = np.tanh(x.astype(np.longdouble))
    if np.finfo(np.longdouble).eps >= np.finfo(np.float64).eps:
        pytest.skip("long double is float64 here: no higher-precision reference")
    ulp = np.spacing(np.abs(ref.astype(np.float64))).astype(np.longdouble)
    err = np.abs((got.astype(np.longdouble) - ref) / ulp).astype(np.float64)
    assert err.max() <= 3
    assert err.mean() < 0.5
    neg = -x
    _fast_tanhd(neg)
    np.testing.assert_array_equal(neg, -got)
    assert np.all(np.abs(got) <= 1)
    np.testing.assert_array_equal(got[-6:], [1.0, 1.0, 1.0, 1.0, 1.0, -1.0])
    assert got[-7] == 1e-320
    nan = np.array([np.nan, 0.5])
    _fast_tanhd(nan)
    assert np.isnan(nan[0]) and np.isfinite(nan[1])


@pytest.mark.parametrize("O", [5, 27, 700])
def test_softmax_float64_wide_logits(O):
    """The float64 softmax's exp (vectorised, x - max <= 0) against long
    double over logit gaps from 0 to a few thousand: subnormal probabilities come out
    right (not flushed) and gaps past 746 give exactly 0."""
    import fastrnn
    rng = np.random.default_rng(O)
    p = fastrnn.init_params(3, 4, O, dtype=np.float64, seed=O)
    p["Wya"] = rng.uniform(-600, 600, (O, 4))
    p["by"] = rng.uniform(-50, 50, O)
    X = rng.integers(0, 3, (60, 9))
    probs, A = fastrnn.forward(p, X)
    z = A.astype(np.longdouble) @ p["Wya"].T.astype(np.longdouble) + p["by"]
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    want = (e / e.sum(axis=-1, keepdims=True)).astype(np.float64)
    gap = (z.max(axis=-1, keepdims=True) - z).astype(np.float64)
    assert (gap > 746).any() and ((gap > 700) & (gap < 740)).any()
    normal = want > 1e-290
    # logits from a float64 product: ~1e-16 relative of values up to ~900
    np.testing.assert_allclose(probs[normal], want[normal], rtol=1e-12)
    sub = (gap < 744) & ~normal
    np.testing.assert_allclose(probs[sub], want[sub], rtol=1e-3, atol=1e-322)
    assert not probs[gap > 746.5].any()


def _every_kind_of_float(dtype, n, seed):
    """Bit patterns spread over the whole range of dtype (NaNs, infinities,
    denormals, both zeros included), n of them, a multiple of 8."""
    rng = np.random.default_rng(seed)
    if dtype == np.float32:
        bits = np.arange(0, 2**32, 2**32 // n, dtype=np.uint64).astype(np.uint32)
        x = bits.view(np.float32)
    else:
        x = rng.integers(0, 2**64, n, dtype=np.uint64, endpoint=False).view(np.float64)
    special = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0,
                        np.finfo(dtype).max, -np.finfo(dtype).max,
                        np.finfo(dtype).tiny, -np.finfo(dtype).smallest_subnormal,
                        9.01, -9.02, 19.1, -19.2, 40.0, -20.0], dtype)
    near = rng.normal(0, 3, 4096).astype(dtype)   # where tanh is not +-1
    return np.concatenate([x[: len(x) // 8 * 8], special, near])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tanh_vector_function_equals_the_row_loop_bit_for_bit(dtype):
    # the one-sequence recurrence (fr_rec1) takes tanh of its registers by
    # fr_tanh_v8f / fr_tanh_v4d; the batched path by the row loop: the same
    # bits are what keeps one sequence equal to its row of a batch
    rows = _fast_tanhf if dtype == np.float32 else _fast_tanhd
    vec = _kernels._fast_tanh_vec
    x = _every_kind_of_float(dtype, 1 << 22, seed=3)
    assert len(x) % 8 == 0 and np.isfinite(x).mean() > 0.9
    want, got = x.copy(), x.copy()
    rows(want)
    vec(got)
    uint = np.uint32 if dtype == np.float32 else np.uint64
    bad = np.flatnonzero(got.view(uint) != want.view(uint))
    assert bad.size == 0, (x[bad[:5]], got[bad[:5]], want[bad[:5]])
    # every float of [0.5, 2) (float32: 2^24 of them) as well
    if dtype == np.float32:
        y = np.arange(0x3F000000, 0x40000000, dtype=np.uint32).view(np.float32)
        y = np.concatenate([y, -y])
        want, got = y.copy(), y.copy()
        rows(want)
        vec(got)
        np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


def test_tanh_vector_function_refuses_a_partial_vector():
    with pytest.raises(ValueError, match="9 not a multiple of 8"):
        _kernels._fast_tanh_vec(np.zeros(9, np.float32))
    with pytest.raises(ValueError, match="6 not a multiple of 4"):
        _kernels._fast_tanh_vec(np.zeros(6))
