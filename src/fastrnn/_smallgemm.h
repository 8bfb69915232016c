/* A matrix product for the small and skinny shapes of the RNN, without
 * BLAS's per-call costs.
 *
 *   C[i, j] = (accumulate ? C[i, j] : 0) + sum_p A[i, p] * W[p, j]
 *
 * A is m x k addressed with any strides (a_rs between rows, a_cs between
 * columns: A or A^T of a row-major array), W is k x n row-major (row stride
 * ldw), C is m x n row-major (row stride ldc).
 *
 * Why: OpenBLAS packs both operands into buffers on every call.  For one
 * step of the recurrence (B x H times H x H, B = 1..64) or the course's tiny
 * products that packing and the call itself cost as much as the arithmetic
 * (callgrind, course size: 2,000 instructions per 50 x 50 gemv, 29,000 per
 * 50 x 50 x 25 gemm).  Here W is read in place, a row at a time, which is
 * the layout the kernels already have.
 *
 * Columns past the last whole vector are done by the vector that ends at
 * column n; it overlaps columns already done, which it either recomputes to
 * the same bits or, when accumulating into C, keeps through a mask.
 *
 * Blocking: 4 rows of C by two vectors of columns (16 floats or 8 doubles
 * with AVX2; the vector type is 32 bytes, which gcc splits into two halves
 * for baseline SSE2) kept in 8 accumulators; W's two vectors are loaded once
 * per p and used by the 4 rows.  Every C element sums over p in order 0..k-1
 * in one accumulator, whatever block it falls in: the result does not depend
 * on m, on the row's position or on the thread.  Compiled with FR_VEC (see
 * _rowops.h), so AVX2 machines get the FMA clone. */
#ifndef FASTRNN_SMALLGEMM_H
#define FASTRNN_SMALLGEMM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "_rowops.h"  /* FR_VEC */

/* the vector helpers are static inline: no ABI crosses a call boundary */
#pragma GCC diagnostic ignored "-Wpsabi"

typedef float fr_v8f __attribute__((vector_size(32)));
typedef double fr_v4d __attribute__((vector_size(32)));
typedef int32_t fr_v8i __attribute__((vector_size(32)));   /* lane masks */
typedef int64_t fr_v4l __attribute__((vector_size(32)));

#define FR_SMALLGEMM(T, SUF, VT, VI, VL)                                         \
static inline VT fr_ld_##SUF(const T *p)                                       \
{                                                                              \
    VT v;                                                                      \
    memcpy(&v, p, sizeof v);                                                   \
    return v;                                                                  \
}                                                                              \
static inline void fr_st_##SUF(T *p, VT v)                                     \
{                                                                              \
    memcpy(p, &v, sizeof v);                                                   \
}                                                                              \
FR_VEC static void fr_gemm_##SUF(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,        \
                                 const T *A, ptrdiff_t a_rs, ptrdiff_t a_cs,   \
                                 const T *W, ptrdiff_t ldw, int accumulate,    \
                                 T *C, ptrdiff_t ldc)                          \
{                                                                              \
    const VT zero = {0};                                                       \
    ptrdiff_t i0, j0 = 0, i, j, p;                                             \
    for (; j0 + 2 * VL <= n; j0 += 2 * VL) {                                   \
        for (i0 = 0; i0 + 4 <= m; i0 += 4) {                                   \
            T *c0 = C + i0 * ldc + j0, *c1 = c0 + ldc, *c2 = c1 + ldc,         \
              *c3 = c2 + ldc;                                                  \
            VT s00 = zero, s01 = zero, s10 = zero, s11 = zero;                 \
            VT s20 = zero, s21 = zero, s30 = zero, s31 = zero;                 \
            if (accumulate) {                                                  \
                s00 = fr_ld_##SUF(c0); s01 = fr_ld_##SUF(c0 + VL);             \
                s10 = fr_ld_##SUF(c1); s11 = fr_ld_##SUF(c1 + VL);             \
                s20 = fr_ld_##SUF(c2); s21 = fr_ld_##SUF(c2 + VL);             \
                s30 = fr_ld_##SUF(c3); s31 = fr_ld_##SUF(c3 + VL);             \
            }                                                                  \
            const T *a = A + i0 * a_rs;                                        \
            for (p = 0; p < k; p++) {                                          \
                const T *w = W + p * ldw + j0;                                 \
                VT w0 = fr_ld_##SUF(w), w1 = fr_ld_##SUF(w + VL);              \
                const T *ap = a + p * a_cs;                                    \
                T x0 = ap[0], x1 = ap[a_rs], x2 = ap[2 * a_rs],                \
                  x3 = ap[3 * a_rs];                                           \
                s00 += x0 * w0; s01 += x0 * w1;                                \
                s10 += x1 * w0; s11 += x1 * w1;                                \
                s20 += x2 * w0; s21 += x2 * w1;                                \
                s30 += x3 * w0; s31 += x3 * w1;                                \
            }                                                                  \
            fr_st_##SUF(c0, s00); fr_st_##SUF(c0 + VL, s01);                   \
            fr_st_##SUF(c1, s10); fr_st_##SUF(c1 + VL, s11);                   \
            fr_st_##SUF(c2, s20); fr_st_##SUF(c2 + VL, s21);                   \
            fr_st_##SUF(c3, s30); fr_st_##SUF(c3 + VL, s31);                   \
        }                                                                      \
        for (; i0 < m; i0++) {                                                 \
            T *c0 = C + i0 * ldc + j0;                                         \
            VT s00 = zero, s01 = zero;                                         \
            if (accumulate) {                                                  \
                s00 = fr_ld_##SUF(c0); s01 = fr_ld_##SUF(c0 + VL);             \
            }                                                                  \
            const T *a = A + i0 * a_rs;                                        \
            for (p = 0; p < k; p++) {                                          \
                const T *w = W + p * ldw + j0;                                 \
                T x0 = a[p * a_cs];                                            \
                s00 += x0 * fr_ld_##SUF(w);                                    \
                s01 += x0 * fr_ld_##SUF(w + VL);                               \
            }                                                                  \
            fr_st_##SUF(c0, s00); fr_st_##SUF(c0 + VL, s01);                   \
        }                                                                      \
    }                                                                          \
    /* one vector of columns, a row at a time */                              \
    if (j0 + VL <= n) {                                                        \
        for (i = 0; i < m; i++) {                                              \
            T *c0 = C + i * ldc + j0;                                          \
            VT s00 = accumulate ? fr_ld_##SUF(c0) : zero;                      \
            const T *a = A + i * a_rs;                                         \
            for (p = 0; p < k; p++)                                            \
                s00 += a[p * a_cs] * fr_ld_##SUF(W + p * ldw + j0);            \
            fr_st_##SUF(c0, s00);                                              \
        }                                                                      \
        j0 += VL;                                                              \
    }                                                                          \
    /* the last r = n - j0 < VL columns: the vector that ends at column n,  \
     * overlapping columns already done, stored through a mask so that only   \
     * its last r lanes change C */                                           \
    if (j0 < n && n >= VL) {                                                   \
        ptrdiff_t jt = n - VL, r = n - j0;                                     \
        VI keep = {0};                                                         \
        for (j = 0; j < VL; j++)                                               \
            keep[j] = j >= VL - r ? -1 : 0;                                    \
        for (i = 0; i < m; i++) {                                              \
            T *c0 = C + i * ldc + jt;                                          \
            VT old = accumulate ? fr_ld_##SUF(c0) : zero;                      \
            VT s00 = old;                                                      \
            const T *a = A + i * a_rs;                                         \
            for (p = 0; p < k; p++)                                            \
                s00 += a[p * a_cs] * fr_ld_##SUF(W + p * ldw + jt);            \
            /* without accumulate the overlapped lanes get again the values   \
             * already there (same operations, same order): store them all,   \
             * so C is never read; with accumulate they were updated once     \
             * already, so the mask keeps them */                             \
            fr_st_##SUF(c0, accumulate                                         \
                        ? (VT) (((VI) s00 & keep) | ((VI) old & ~keep)) : s00);\
        }                                                                      \
        j0 = n;                                                                \
    }                                                                          \
    /* n < VL: one element at a time */                                        \
    for (i = 0; i < m && j0 < n; i++) {                                        \
        const T *a = A + i * a_rs;                                             \
        for (j = j0; j < n; j++) {                                             \
            T s = accumulate ? C[i * ldc + j] : (T) 0;                         \
            for (p = 0; p < k; p++)                                            \
                s += a[p * a_cs] * W[p * ldw + j];                             \
            C[i * ldc + j] = s;                                                \
        }                                                                      \
    }                                                                          \
}
FR_SMALLGEMM(float, f, fr_v8f, fr_v8i, 8)
FR_SMALLGEMM(double, d, fr_v4d, fr_v4l, 4)

#endif
