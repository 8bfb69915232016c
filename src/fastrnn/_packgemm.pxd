# The kernels' own matrix product against a packed operand (_packgemm.h),
# declared once, with its float32/float64 dispatch, for the modules that use
# it (_kernels, _sample).
from cython cimport floating


cdef extern from "_packgemm.h" nogil:
    Py_ssize_t fr_packed_size_f(Py_ssize_t k, Py_ssize_t n)
    Py_ssize_t fr_packed_size_d(Py_ssize_t k, Py_ssize_t n)
    void fr_pack_f(Py_ssize_t k, Py_ssize_t n, const float* W, Py_ssize_t w_rs,
                   Py_ssize_t w_cs, float* Wp)
    void fr_pack_d(Py_ssize_t k, Py_ssize_t n, const double* W, Py_ssize_t w_rs,
                   Py_ssize_t w_cs, double* Wp)
    void fr_gemmp_f(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const float* A,
                    Py_ssize_t a_rs, Py_ssize_t a_cs, const float* Wp,
                    int accumulate, float* C, Py_ssize_t ldc, int tail)
    void fr_gemmp_d(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const double* A,
                    Py_ssize_t a_rs, Py_ssize_t a_cs, const double* Wp,
                    int accumulate, double* C, Py_ssize_t ldc, int tail)
    enum: FR_REC_P
    void fr_rec1_f(Py_ssize_t steps, Py_ssize_t h, const float* Wp, const float* src,
                   const Py_ssize_t* ids, const float* b, const float* a0, float* A)
    void fr_rec1_d(Py_ssize_t steps, Py_ssize_t h, const double* Wp, const double* src,
                   const Py_ssize_t* ids, const double* b, const double* a0, double* A)


cdef inline void _pack(Py_ssize_t k, Py_ssize_t n, const floating* W, Py_ssize_t w_rs,
                       Py_ssize_t w_cs, floating* Wp) noexcept nogil:
    """Wp = op(W), k x n, element (p, j) at W[p * w_rs + j * w_cs], packed for
    _pmm (fr_packed_size(k, n) elements)."""
    if floating is float:
        fr_pack_f(k, n, W, w_rs, w_cs, Wp)
    else:
        fr_pack_d(k, n, W, w_rs, w_cs, Wp)


cdef inline void _pmm(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const floating* A,
                      Py_ssize_t a_rs, Py_ssize_t a_cs, const floating* Wp,
                      bint accumulate, floating* C, Py_ssize_t ldc,
                      bint tail=False) noexcept nogil:
    """C = [C +] op(A) @ W for W packed by _pack, without BLAS.  tail: a last
    panel of one or two columns by dot products along A's rows (when a_cs is
    1) instead of half a panel; its columns' sums then run in another order
    than fr_rec1's, so the per-step products (which must match fr_rec1 bit
    for bit) leave it off."""
    if floating is float:
        fr_gemmp_f(m, n, k, A, a_rs, a_cs, Wp, accumulate, C, ldc, tail)
    else:
        fr_gemmp_d(m, n, k, A, a_rs, a_cs, Wp, accumulate, C, ldc, tail)


cdef inline bint _rec1_fits(Py_ssize_t h, Py_ssize_t itemsize) noexcept nogil:
    """Whether _rec1 takes a state of h elements (FR_REC_P panels of 64 bytes)."""
    return h * itemsize <= FR_REC_P * 64


cdef inline void _rec1(Py_ssize_t steps, Py_ssize_t h, const floating* Wp,
                       const floating* src, const Py_ssize_t* ids, const floating* b,
                       const floating* a0, floating* A) noexcept nogil:
    """One sequence's forward recurrence, all steps in one call (_packgemm.h
    fr_rec1): A[t] = tanh(src[ids[t] if ids else t] + A[t-1] @ W + b) for t <
    steps, rows of h, with A[-1] = a0 (a0 may be A - h); W (h x h) packed by
    _pack; h must pass _rec1_fits."""
    if floating is float:
        fr_rec1_f(steps, h, Wp, src, ids, b, a0, A)
    else:
        fr_rec1_d(steps, h, Wp, src, ids, b, a0, A)
