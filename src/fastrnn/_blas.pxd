# Row-major wrappers over scipy.linalg.cython_blas, fused over float32/float64.
#
# The `if floating is float: s... else: d...` branch lives only here.  A C-order
# m x n buffer is, to column-major BLAS, an n x m matrix, so row-major
# C = op(A) @ op(B) is computed as the column-major C^T = op(B)^T @ op(A)^T:
# operands swapped, m and n swapped, leading dimension = row stride.
from cython cimport floating
from scipy.linalg.cython_blas cimport sgemm, dgemm

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
