"""The row-major gemm wrapper over scipy.linalg.cython_blas against A @ B."""
import numpy as np
import pytest

from fastrnn._blas import gemm_

RTOL = {np.float32: 1e-5, np.float64: 1e-12}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (3, 5, 7), (17, 2, 9), (64, 33, 1)])
def test_gemm_matches_numpy(dtype, trans_a, trans_b, m, n, k):
    rng = np.random.default_rng(m * 100 + n * 10 + k)
    A = rng.normal(size=(k, m) if trans_a else (m, k)).astype(dtype)
    B = rng.normal(size=(n, k) if trans_b else (k, n)).astype(dtype)
    C = rng.normal(size=(m, n)).astype(dtype)
    alpha, beta = dtype(1.5), dtype(-0.5)
    expected = alpha * ((A.T if trans_a else A) @ (B.T if trans_b else B)) + beta * C
    gemm_(trans_a, trans_b, alpha, A, B, beta, C)
    np.testing.assert_allclose(C, expected, rtol=RTOL[dtype], atol=RTOL[dtype] * 10)


def test_gemm_empty_inner_dimension_scales_c():
    C = np.full((2, 3), 2.0)
    gemm_(False, False, 1.0, np.empty((2, 0)), np.empty((0, 3)), 0.5, C)
    np.testing.assert_array_equal(C, np.full((2, 3), 1.0))


def test_gemm_shape_mismatch_raises():
    with pytest.raises(ValueError, match="op\\(A\\)"):
        gemm_(False, False, 1.0, np.ones((2, 3)), np.ones((4, 2)), 0.0, np.ones((2, 2)))


# ---- the kernels' own small-product code (_smallgemm.h) --------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("accumulate", [False, True])
@pytest.mark.parametrize("m,n,k", [
    (1, 1, 1), (1, 50, 50), (3, 7, 5), (4, 16, 3), (5, 33, 9), (9, 65, 128),
    (32, 128, 128), (27, 24, 25), (6, 8, 0), (2, 4, 1)])
def test_small_gemm_matches_numpy(dtype, trans_a, accumulate, m, n, k):
    # every path: 4-row and single-row blocks, two-vector, one-vector and
    # scalar columns, an empty inner dimension
    from fastrnn._kernels import _small_gemm
    rng = np.random.default_rng(m * 1000 + n * 10 + k)
    A = rng.normal(size=(k, m) if trans_a else (m, k)).astype(dtype)
    W = rng.normal(size=(k, n)).astype(dtype)
    C = rng.normal(size=(m, n)).astype(dtype)
    expected = (A.T if trans_a else A).astype(np.float64) @ W
    if accumulate:
        expected += C
    _small_gemm(trans_a, A, W, C, accumulate)
    np.testing.assert_allclose(C, expected, rtol=RTOL[dtype], atol=RTOL[dtype] * 10)


def test_small_gemm_rows_do_not_depend_on_their_block():
    # a row's result is the same whether it is computed in a 4-row block or
    # alone: the threads-vs-serial and batch-size invariance rest on this
    from fastrnn._kernels import _small_gemm
    rng = np.random.default_rng(0)
    A = rng.normal(size=(7, 40)).astype(np.float32)
    W = rng.normal(size=(40, 72)).astype(np.float32)
    full = np.empty((7, 72), np.float32)
    _small_gemm(False, A, W, full, False)
    for i in range(7):
        one = np.empty((1, 72), np.float32)
        _small_gemm(False, A[i:i + 1].copy(), W, one, False)
        np.testing.assert_array_equal(one[0], full[i])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_small_gemm_ragged_tail_recomputes_the_same_bits(dtype):
    # the last, overlapping vector of a ragged width recomputes columns that a
    # whole vector already wrote: they must come out bit-identical to a
    # product whose width has no tail
    from fastrnn._kernels import _small_gemm
    rng = np.random.default_rng(1)
    A = rng.normal(size=(7, 30)).astype(dtype)
    W = rng.normal(size=(30, 50)).astype(dtype)
    ragged = np.empty((7, 50), dtype)
    _small_gemm(False, A, W, ragged, False)
    whole = np.empty((7, 48), dtype)
    _small_gemm(False, A, np.ascontiguousarray(W[:, :48]), whole, False)
    np.testing.assert_array_equal(ragged[:, :48], whole)
