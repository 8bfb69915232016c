"""Python entry point to the row-major BLAS wrapper, for tests."""
from cython cimport floating


def gemm_(bint trans_a, bint trans_b, double alpha,
          const floating[:, ::1] A, const floating[:, ::1] B,
          double beta, floating[:, ::1] C):
    """C := alpha * op(A) @ op(B) + beta * C, in place (C-contiguous arrays).

    Shapes are checked here because this function is public to the tests.
    """
    cdef int m = A.shape[1] if trans_a else A.shape[0]
    cdef int k = A.shape[0] if trans_a else A.shape[1]
    cdef int kb = B.shape[1] if trans_b else B.shape[0]
    cdef int n = B.shape[0] if trans_b else B.shape[1]
    if k != kb or C.shape[0] != m or C.shape[1] != n:
        raise ValueError(
            f"gemm_: op(A) is {m}x{k}, op(B) is {kb}x{n}, C is "
            f"{C.shape[0]}x{C.shape[1]}")
    if m == 0 or n == 0:
        return
    # an empty operand has no element to point at
    cdef const floating* pa = &A[0, 0] if A.shape[0] * A.shape[1] else NULL
    cdef const floating* pb = &B[0, 0] if B.shape[0] * B.shape[1] else NULL
    with nogil:
        gemm(trans_a, trans_b, m, n, k, <floating> alpha, pa, max(A.shape[1], 1),
             pb, max(B.shape[1], 1), <floating> beta, &C[0, 0], C.shape[1])
