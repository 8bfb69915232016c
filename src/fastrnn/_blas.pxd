# Row-major wrappers over scipy.linalg.cython_blas, fused over float32/float64.
#
# The `if floating is float: s... else: d...` branch lives only here.  A C-order
# m x n buffer is, to column-major BLAS, an n x m matrix, so row-major
# C = op(A) @ op(B) is computed as the column-major C^T = op(B)^T @ op(A)^T:
# operands swapped, m and n swapped, leading dimension = row stride.
from cython cimport floating
from scipy.linalg.cython_blas cimport sgemm, dgemm, sgemv, dgemv

# Below this many rows, gemm_rows uses one gemv per row: OpenBLAS's gemm packs
# both operands on every call, which costs more than the product for a few rows
# (measured with callgrind at H=50, B=1: 70% of a training step was packing).
cdef enum:
    SMALL_ROWS = 4


cdef inline void gemm(bint trans_a, bint trans_b, int m, int n, int k,
                      floating alpha, const floating* a, int lda,
                      const floating* b, int ldb,
                      floating beta, floating* c, int ldc) noexcept nogil:
    """C := alpha * op(A) @ op(B) + beta * C, all row-major.

    op(A) is m x k, op(B) is k x n, C is m x n; lda, ldb, ldc are row strides
    in elements (the row length of the stored, untransposed matrix).
    """
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    cdef Py_ssize_t i, j
    if m <= 0 or n <= 0:
        return
    if k <= 0:
        # empty sum: C := beta * C (BLAS would reject the leading dimensions)
        for i in range(m):
            for j in range(n):
                c[i * ldc + j] = 0 if beta == 0 else beta * c[i * ldc + j]
        return
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*> b, &ldb, <float*> a, &lda,
              &beta, c, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*> b, &ldb, <double*> a, &lda,
              &beta, c, &ldc)


cdef inline void gemv(bint trans_a, int m, int n, floating alpha,
                      const floating* a, int lda, const floating* x,
                      floating beta, floating* y) noexcept nogil:
    """y := alpha * op(A) @ x + beta * y, A row-major m x n (row stride lda).

    Column-major BLAS sees A as its transpose, so the flags swap.
    """
    cdef char t = b'N' if trans_a else b'T'
    cdef int one = 1
    if m <= 0 or n <= 0:
        return
    if floating is float:
        sgemv(&t, &n, &m, &alpha, <float*> a, &lda, <float*> x, &one, &beta, y, &one)
    else:
        dgemv(&t, &n, &m, &alpha, <double*> a, &lda, <double*> x, &one, &beta, y, &one)


cdef inline void gemm_rows(bint trans_w, int rows, int n, int k, const floating* x,
                           int ldx, const floating* w, int ldw, floating beta,
                           floating* c, int ldc) noexcept nogil:
    """C := X @ op(W) + beta * C for a few rows of X (rows x k), op(W) k x n.

    The same product as gemm(False, trans_w, ...), as one gemv per row when
    there are fewer than SMALL_ROWS rows.
    """
    cdef int r
    if rows >= SMALL_ROWS:
        gemm(False, trans_w, rows, n, k, <floating> 1.0, x, ldx, w, ldw, beta, c, ldc)
        return
    for r in range(rows):
        # c_r = op(W).T @ x_r: W stored n x k when trans_w, else k x n
        gemv(not trans_w, n if trans_w else k, k if trans_w else n, <floating> 1.0,
             w, ldw, x + r * ldx, beta, c + r * ldc)
