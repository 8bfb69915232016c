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


# ---- the kernels' own product against a packed operand (_packgemm.h) -------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_w", [False, True])
@pytest.mark.parametrize("accumulate", [False, True])
@pytest.mark.parametrize("m,n,k", [
    (1, 1, 1), (1, 50, 50), (2, 50, 50), (3, 7, 5), (4, 16, 3), (5, 33, 9),
    (6, 64, 20), (7, 65, 128), (9, 65, 128), (13, 100, 31), (32, 128, 128),
    (27, 24, 25), (6, 8, 0), (2, 4, 1), (1, 130, 7), (3, 72, 600),
    (131, 40, 300), (250, 17, 513)])
def test_packed_gemm_matches_numpy(dtype, trans_a, trans_w, accumulate, m, n, k):
    # every path: 6-row blocks, 1-5 leftover rows with 4, 3, 2 or 1 panels at
    # once, partial last panels (through the tile), k in several blocks
    # (FR_KC = 256), rows in several blocks (FR_MC = 120), an empty inner
    # dimension, and both packings of W (as stored, or its transpose)
    from fastrnn._kernels import _packed_gemm
    rng = np.random.default_rng(m * 1000 + n * 10 + k)
    A = rng.normal(size=(k, m) if trans_a else (m, k)).astype(dtype)
    W = rng.normal(size=(n, k) if trans_w else (k, n)).astype(dtype)
    C = rng.normal(size=(m, n)).astype(dtype)
    expected = (A.T if trans_a else A).astype(np.float64) @ (W.T if trans_w else W)
    if accumulate:
        expected += C
    _packed_gemm(trans_a, A, trans_w, W, C, accumulate)
    np.testing.assert_allclose(C, expected, rtol=RTOL[dtype], atol=RTOL[dtype] * 10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("accumulate", [False, True])
@pytest.mark.parametrize("m,n,k", [
    (1, 1, 1), (6, 2, 9), (5, 18, 8), (7, 65, 128), (9, 66, 7), (13, 17, 300),
    (131, 33, 513), (250, 65, 17)])
def test_packed_gemm_tail_columns_match_numpy(dtype, trans_a, accumulate, m, n, k):
    # tail: a last panel of one or two columns (n % 16 for float32, n % 8 for
    # float64, both 1 or 2 in every case here) by dot products along A's
    # rows, with k's remainder past whole vectors, several k blocks, several
    # row blocks, nothing but the tail (n = 1, 2); trans_a (A's rows not
    # contiguous) keeps the half panel
    from fastrnn._kernels import _packed_gemm
    rng = np.random.default_rng(m * 1000 + n * 10 + k)
    A = rng.normal(size=(k, m) if trans_a else (m, k)).astype(dtype)
    W = rng.normal(size=(n, k)).astype(dtype)
    C = rng.normal(size=(m, n)).astype(dtype)
    expected = (A.T if trans_a else A).astype(np.float64) @ W.T
    if accumulate:
        expected += C
    _packed_gemm(trans_a, A, True, W, C, accumulate, True)
    np.testing.assert_allclose(C, expected, rtol=RTOL[dtype], atol=RTOL[dtype] * 10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_packed_gemm_tail_leaves_the_other_columns(dtype):
    # the tail's dot products change only the last panel's columns (their
    # sums run in another order), never the bits of the others
    from fastrnn._kernels import _packed_gemm
    rng = np.random.default_rng(2)
    m, k, n = 127, 300, 66
    A = rng.normal(size=(m, k)).astype(dtype)
    W = rng.normal(size=(k, n)).astype(dtype)
    tail = np.empty((m, n), dtype)
    _packed_gemm(False, A, False, W, tail, False, True)
    plain = np.empty((m, n), dtype)
    _packed_gemm(False, A, False, W, plain, False)
    n_main = n - n % (16 if dtype == np.float32 else 8)
    np.testing.assert_array_equal(tail[:, :n_main], plain[:, :n_main])
    assert not np.array_equal(tail[:, n_main:], plain[:, n_main:])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("tail,n", [(False, 72), (True, 66)])
def test_packed_gemm_rows_do_not_depend_on_their_block(dtype, tail, n):
    # a row's result is the same bits whether it is computed in a 6-row block,
    # among the leftover rows (with 4, 2 or 1 panels at once), in a later row
    # block, or alone, with the tail's dot products too: the threads-vs-serial
    # and batch-size invariance rest on this
    from fastrnn._kernels import _packed_gemm
    rng = np.random.default_rng(0)
    m, k = 127, 300
    A = rng.normal(size=(m, k)).astype(dtype)
    W = rng.normal(size=(k, n)).astype(dtype)
    full = np.empty((m, n), dtype)
    _packed_gemm(False, A, False, W, full, False, tail)
    for rows in (1, 2, 3, 4, 5, 7):
        for i in range(0, m - rows + 1, 11):
            part = np.empty((rows, n), dtype)
            _packed_gemm(False, np.ascontiguousarray(A[i:i + rows]), False, W, part, False,
                         tail)
            np.testing.assert_array_equal(part, full[i:i + rows])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_packed_gemm_partial_panel_gives_the_same_bits(dtype):
    # columns of a partial last panel (computed through a tile) come out
    # bit-identical to the same columns of a product without one
    from fastrnn._kernels import _packed_gemm
    rng = np.random.default_rng(1)
    A = rng.normal(size=(7, 30)).astype(dtype)
    W = rng.normal(size=(30, 50)).astype(dtype)
    ragged = np.empty((7, 50), dtype)
    _packed_gemm(False, A, False, W, ragged, False)
    whole = np.empty((7, 48), dtype)
    _packed_gemm(False, A, False, np.ascontiguousarray(W[:, :48]), whole, False)
    np.testing.assert_array_equal(ragged[:, :48], whole)


def test_packed_gemm_shape_mismatch_raises():
    from fastrnn._kernels import _packed_gemm
    A = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="shapes"):
        _packed_gemm(False, A, False, np.ones((5, 2), np.float32),
                     np.empty((3, 2), np.float32), False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_w", [False, True])
@pytest.mark.parametrize("k,n", [
    (1, 1), (3, 5), (7, 16), (8, 8), (8, 16), (9, 17), (16, 4), (25, 27),
    (50, 50), (64, 64), (65, 193), (128, 193), (130, 31), (5, 300)])
def test_pack_layout(dtype, trans_w, k, n):
    # op(W) (k x n) as panels of NR = 2 vectors of columns (16 floats, 8
    # doubles), each panel p-major, zero past column n: the transposing path
    # (blocks of VL x VL in registers, then the leftover rows and p one by
    # one) and the contiguous one must lay out exactly this
    from fastrnn._kernels import _packed_layout
    rng = np.random.default_rng(k * 1000 + n)
    opW = rng.normal(size=(k, n)).astype(dtype)
    W = np.ascontiguousarray(opW.T) if trans_w else opW
    NR = 64 // np.dtype(dtype).itemsize
    panels = -(-n // NR)
    padded = np.zeros((k, panels * NR), dtype)
    padded[:, :n] = opW
    expected = padded.reshape(k, panels, NR).transpose(1, 0, 2).ravel()
    np.testing.assert_array_equal(_packed_layout(W, trans_w), expected)
