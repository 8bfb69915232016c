/* A matrix product against a right operand packed once and reused: the
 * recurrence's per-step products a<t-1> @ Waa.T (forward) and dz<t> @ Waa
 * (backward), T of them against the same Waa, and the output layer's
 * products against a small Wya.
 *
 *   fr_pack_*:  Wp = op(W) (k x n, element (p, j) at W[p * w_rs + j * w_cs])
 *               as panels of NR = 2 vectors of columns (16 floats or 8
 *               doubles): panel q holds columns q*NR .. q*NR+NR-1 for
 *               p = 0..k-1, contiguous, zero past column n.
 *               fr_packed_size(k, n) elements.
 *   fr_gemmp_*: C[i, j] = (accumulate ? C[i, j] : 0) + sum_p A[i, p] * W[p, j]
 *               for A m x k with any strides (a_rs between rows, a_cs between
 *               columns), C m x n row-major (row stride ldc); tail: see
 *               below.
 *
 * Why: OpenBLAS packs both operands on every call.  For the large model's
 * per-step 64 x 512 x 512 products that is Waa's 1 MiB, 256 times a step
 * (perf: 17% of the step in sgemm_itcopy/incopy/otcopy).  Packing Waa once
 * and reading the panels in order (the hardware prefetcher's favourite
 * pattern, no L1 set aliasing whatever H is): one thread, 128 products in
 * a row, 70-85 against OpenBLAS's 55-60 GFLOP/s at 64 x 512 x 512, 85
 * against 45 at 32 x 128 x 128, 16 against 2 at 1 x 50 x 50 (the course's
 * single sequence).  It replaces a product that read W in place (4 rows by 2
 * vectors, 53 GFLOP/s at 64 x 512 x 512, 14 at 1 x 50 x 50).
 *
 * Blocking: 6 rows of C by one panel in 12 vector accumulators (BLIS's
 * Haswell shape); the A values are broadcast from A in place.  Fewer rows
 * (the last m % 6, or all of them when m < 6, e.g. one sequence) take
 * several panels at once where there are that many: 1 row 4 (the last group
 * up to 7), 2 rows 2 (up to 3), 3 rows 2, 4 or 5 rows 1, so that at least 6
 * independent FMA chains hide the FMA latency (a single row against a single
 * panel has 2 and runs at a quarter of the FMA rate: at H = 128, V = 65 the
 * sampler's last panel alone took as long as the other 12).  k is split in blocks of FR_KC terms, so that a panel's block
 * (16 KiB) stays in L1 while the row blocks pass, and the rows in blocks of
 * FR_MC that stay in L2 while the panels pass (BLIS's loops, without
 * packing A: its rows are read in place).
 *
 * With tail set (the output layer's products, _mm in _kernels.pyx) and A's
 * rows contiguous, a last panel of one or two columns (V = 65: 65 = 4 * 16
 * + 1) is dot products along A's rows against those columns copied out
 * contiguous (fr_tail): as half a panel, in the 6-row blocks, the one
 * column cost 8 (C harness: 2048 x 128 x 65 took 354 us, x 64 290).
 *
 * Every C element is summed over p in order 0..k-1 in one accumulator
 * (stored and reloaded between k blocks, which does not round), whatever
 * block or panel group it falls in (fr_tail's columns: in its own fixed
 * order, the same for every row): the result does not depend on m, on the
 * row's position or on the thread.
 * Compiled with FR_VEC (see _rowops.h). */
#ifndef FASTRNN_PACKGEMM_H
#define FASTRNN_PACKGEMM_H

#include <stddef.h>
#include <string.h>

#include "_rowops.h"  /* FR_VEC, the vector types */

#define FR_KC 256   /* terms of k per block: a panel's block is 16 KiB */
#define FR_MC 120   /* rows of A per block: 120 x 256 floats, 120 KiB, in L2 */

/* Transposes of a VL x VL block: rows x[i * ldx .. + VL - 1] (i < VL) into
 * rows y[i * ldy ..] (y[i * ldy + r] = x[r * ldx + i]), in registers (the
 * unpack / shuffle / lane-swap sequence of an AVX transpose; the baseline
 * clone gets the same shuffles on SSE2 halves). */
FR_AI void
fr_tr_f(const float *x, ptrdiff_t ldx, float *y, ptrdiff_t ldy)
{
    fr_v8f r[8], t[8], u[8];
    int i;
    _Pragma("GCC unroll 8")
    for (i = 0; i < 8; i++)
        memcpy(&r[i], x + i * ldx, sizeof r[i]);
    const fr_v8i lo = {0, 8, 1, 9, 4, 12, 5, 13}, hi = {2, 10, 3, 11, 6, 14, 7, 15};
    const fr_v8i s44 = {0, 1, 8, 9, 4, 5, 12, 13}, sEE = {2, 3, 10, 11, 6, 7, 14, 15};
    const fr_v8i l20 = {0, 1, 2, 3, 8, 9, 10, 11}, l31 = {4, 5, 6, 7, 12, 13, 14, 15};
    _Pragma("GCC unroll 8")
    for (i = 0; i < 8; i += 2) {
        t[i] = __builtin_shuffle(r[i], r[i + 1], lo);
        t[i + 1] = __builtin_shuffle(r[i], r[i + 1], hi);
    }
    _Pragma("GCC unroll 8")
    for (i = 0; i < 8; i += 4) {
        u[i] = __builtin_shuffle(t[i], t[i + 2], s44);
        u[i + 1] = __builtin_shuffle(t[i], t[i + 2], sEE);
        u[i + 2] = __builtin_shuffle(t[i + 1], t[i + 3], s44);
        u[i + 3] = __builtin_shuffle(t[i + 1], t[i + 3], sEE);
    }
    _Pragma("GCC unroll 8")
    for (i = 0; i < 4; i++) {
        r[i] = __builtin_shuffle(u[i], u[i + 4], l20);
        r[i + 4] = __builtin_shuffle(u[i], u[i + 4], l31);
    }
    _Pragma("GCC unroll 8")
    for (i = 0; i < 8; i++)
        memcpy(y + i * ldy, &r[i], sizeof r[i]);
}

FR_AI void
fr_tr_d(const double *x, ptrdiff_t ldx, double *y, ptrdiff_t ldy)
{
    fr_v4d r[4], t[4];
    int i;
    _Pragma("GCC unroll 8")
    for (i = 0; i < 4; i++)
        memcpy(&r[i], x + i * ldx, sizeof r[i]);
    const fr_v4l lo = {0, 4, 2, 6}, hi = {1, 5, 3, 7};
    const fr_v4l l20 = {0, 1, 4, 5}, l31 = {2, 3, 6, 7};
    t[0] = __builtin_shuffle(r[0], r[1], lo);
    t[1] = __builtin_shuffle(r[0], r[1], hi);
    t[2] = __builtin_shuffle(r[2], r[3], lo);
    t[3] = __builtin_shuffle(r[2], r[3], hi);
    r[0] = __builtin_shuffle(t[0], t[2], l20);
    r[1] = __builtin_shuffle(t[1], t[3], l20);
    r[2] = __builtin_shuffle(t[0], t[2], l31);
    r[3] = __builtin_shuffle(t[1], t[3], l31);
    _Pragma("GCC unroll 8")
    for (i = 0; i < 4; i++)
        memcpy(y + i * ldy, &r[i], sizeof r[i]);
}

#define FR_PACKGEMM(T, SUF, VT, VL)                                              \
FR_AI VT fr_ld_##SUF(const T *p)                                               \
{                                                                              \
    VT v;                                                                      \
    memcpy(&v, p, sizeof v);                                                   \
    return v;                                                                  \
}                                                                              \
FR_AI void fr_st_##SUF(T *p, VT v)                                             \
{                                                                              \
    memcpy(p, &v, sizeof v);                                                   \
}                                                                              \
static inline ptrdiff_t fr_packed_size_##SUF(ptrdiff_t k, ptrdiff_t n)         \
{                                                                              \
    return k * ((n + 2 * VL - 1) / (2 * VL)) * 2 * VL;                         \
}                                                                              \
FR_VEC static void fr_pack_##SUF(ptrdiff_t k, ptrdiff_t n, const T *W,         \
                                 ptrdiff_t w_rs, ptrdiff_t w_cs, T *Wp)        \
{                                                                              \
    ptrdiff_t j0, p, j;                                                        \
    for (j0 = 0; j0 < n; j0 += 2 * VL) {                                       \
        ptrdiff_t w = n - j0 < 2 * VL ? n - j0 : 2 * VL;                       \
        T *q = Wp + j0 * k;                                                    \
        if (w_cs == 1) {                                                       \
            if (w == 2 * VL)                                                   \
                for (p = 0; p < k; p++, q += 2 * VL) {                         \
                    fr_st_##SUF(q, fr_ld_##SUF(W + p * w_rs + j0));            \
                    fr_st_##SUF(q + VL, fr_ld_##SUF(W + p * w_rs + j0 + VL));  \
                }                                                              \
            else                                                               \
                for (p = 0; p < k; p++, q += 2 * VL) {                         \
                    memcpy(q, W + p * w_rs + j0, w * sizeof(T));               \
                    for (j = w; j < 2 * VL; j++)                               \
                        q[j] = 0;                                              \
                }                                                              \
        } else {                                                               \
            /* op(W) = X.T: X's rows j0.. j0+w-1 are contiguous along p       \
             * (w_rs == 1): VL x VL blocks transposed in registers, the       \
             * rest (p past the last whole block, the rows of a partial       \
             * half) one by one, zeros past column n */                       \
            ptrdiff_t pv = w_rs == 1 ? k - k % VL : 0, h;                      \
            if (w < 2 * VL) {   /* zeros, then the columns below w */          \
                const VT zero = {0};                                           \
                for (p = 0; p < k; p++) {                                      \
                    fr_st_##SUF(q + p * 2 * VL, zero);                         \
                    fr_st_##SUF(q + p * 2 * VL + VL, zero);                    \
                }                                                              \
            }                                                                  \
            for (h = 0; h < 2 && w_rs == 1; h++) {                             \
                if (w < (h + 1) * VL)                                          \
                    break;                                                     \
                const T *x = W + (j0 + h * VL) * w_cs;                         \
                for (p = 0; p < pv; p += VL)                                   \
                    fr_tr_##SUF(x + p, w_cs, q + p * 2 * VL + h * VL, 2 * VL); \
            }                                                                  \
            for (j = 0; j < w; j++) {                                          \
                const ptrdiff_t p0 = j < h * VL ? pv : 0;                      \
                for (p = p0; p < k; p++)                                       \
                    q[p * 2 * VL + j] = W[p * w_rs + (j0 + j) * w_cs];         \
            }                                                                  \
        }                                                                      \
    }                                                                          \
}                                                                              \
/* R rows x P panels of C += A-block @ panels, kc terms; R, P constants,    \
 * R <= 6, 2 R P <= 14 accumulators; P = 0: the first vector of one panel    \
 * alone (a last panel of at most VL columns) */                             \
FR_AI void                                                                     \
fr_ukr_##SUF(const int R, const int P, ptrdiff_t kc, const T *a,               \
             ptrdiff_t a_rs, ptrdiff_t a_cs, const T *b, ptrdiff_t b_ps,       \
             int acc, T *c, ptrdiff_t ldc)                                     \
{                                                                              \
    VT s[6][14];                                                               \
    VT w[14];                                                                  \
    const VT zero = {0};                                                       \
    const int NQ = P ? 2 * P : 1;                                              \
    ptrdiff_t p;                                                               \
    int r, q;                                                                  \
    _Pragma("GCC unroll 6")                                                    \
    for (r = 0; r < R; r++) {                                                  \
        _Pragma("GCC unroll 14")                                                \
        for (q = 0; q < NQ; q++)                                                \
            s[r][q] = acc ? fr_ld_##SUF(c + r * ldc + q * VL) : zero;          \
    }                                                                          \
    for (p = 0; p < kc; p++) {                                                 \
        _Pragma("GCC unroll 14")                                                \
        for (q = 0; q < NQ; q++)                                                \
            w[q] = fr_ld_##SUF(b + (q / 2) * b_ps + p * 2 * VL + (q % 2) * VL);\
        _Pragma("GCC unroll 6")                                                \
        for (r = 0; r < R; r++) {                                              \
            T x = a[r * a_rs + p * a_cs];                                      \
            _Pragma("GCC unroll 14")                                            \
            for (q = 0; q < NQ; q++)                                            \
                s[r][q] += x * w[q];                                           \
        }                                                                      \
    }                                                                          \
    _Pragma("GCC unroll 6")                                                    \
    for (r = 0; r < R; r++) {                                                  \
        _Pragma("GCC unroll 14")                                                \
        for (q = 0; q < NQ; q++)                                                \
            fr_st_##SUF(c + r * ldc + q * VL, s[r][q]);                        \
    }                                                                          \
}                                                                              \
/* R (1..6, at run time) rows by one panel */                                  \
FR_AI void                                                                     \
fr_ukr1_##SUF(int R, ptrdiff_t kc, const T *a, ptrdiff_t a_rs, ptrdiff_t a_cs, \
              const T *b, int acc, T *c, ptrdiff_t ldc)                        \
{                                                                              \
    switch (R) {                                                               \
    case 6: fr_ukr_##SUF(6, 1, kc, a, a_rs, a_cs, b, 0, acc, c, ldc); break;   \
    case 5: fr_ukr_##SUF(5, 1, kc, a, a_rs, a_cs, b, 0, acc, c, ldc); break;   \
    case 4: fr_ukr_##SUF(4, 1, kc, a, a_rs, a_cs, b, 0, acc, c, ldc); break;   \
    case 3: fr_ukr_##SUF(3, 1, kc, a, a_rs, a_cs, b, 0, acc, c, ldc); break;   \
    case 2: fr_ukr_##SUF(2, 1, kc, a, a_rs, a_cs, b, 0, acc, c, ldc); break;   \
    default: fr_ukr_##SUF(1, 1, kc, a, a_rs, a_cs, b, 0, acc, c, ldc); break;  \
    }                                                                          \
}                                                                              \
/* R rows by P panels, both at run time, for the (R, P) the driver uses */     \
FR_AI void                                                                     \
fr_ukrx_##SUF(int R, int P, ptrdiff_t kc, const T *a, ptrdiff_t a_rs,          \
              ptrdiff_t a_cs, const T *b, ptrdiff_t b_ps, int acc, T *c,       \
              ptrdiff_t ldc)                                                   \
{                                                                              \
    switch (R * 8 + P) {                                                       \
    case 15: fr_ukr_##SUF(1, 7, kc, a, a_rs, a_cs, b, b_ps, acc, c, ldc); break;\
    case 14: fr_ukr_##SUF(1, 6, kc, a, a_rs, a_cs, b, b_ps, acc, c, ldc); break;\
    case 13: fr_ukr_##SUF(1, 5, kc, a, a_rs, a_cs, b, b_ps, acc, c, ldc); break;\
    case 12: fr_ukr_##SUF(1, 4, kc, a, a_rs, a_cs, b, b_ps, acc, c, ldc); break;\
    case 11: fr_ukr_##SUF(1, 3, kc, a, a_rs, a_cs, b, b_ps, acc, c, ldc); break;\
    case 10: fr_ukr_##SUF(1, 2, kc, a, a_rs, a_cs, b, b_ps, acc, c, ldc); break;\
    case 19: fr_ukr_##SUF(2, 3, kc, a, a_rs, a_cs, b, b_ps, acc, c, ldc); break;\
    case 18: fr_ukr_##SUF(2, 2, kc, a, a_rs, a_cs, b, b_ps, acc, c, ldc); break;\
    case 26: fr_ukr_##SUF(3, 2, kc, a, a_rs, a_cs, b, b_ps, acc, c, ldc); break;\
    default: fr_ukr1_##SUF(R, kc, a, a_rs, a_cs, b, acc, c, ldc); break;       \
    }                                                                          \
}                                                                              \
/* the same into C's columns 0..w-1 only (w < P * NR: the group holds the     \
 * last, partial panel; P = 0, from the 6-row blocks only: w <= VL, the       \
 * panel's first vector alone), through a tile on the stack (rows of at      \
 * least one whole panel), so that C is neither read nor written past        \
 * column n */                                                               \
FR_AI void                                                                     \
fr_edge_##SUF(int R, int P, ptrdiff_t w, ptrdiff_t kc, const T *a,             \
              ptrdiff_t a_rs, ptrdiff_t a_cs, const T *b, ptrdiff_t b_ps,      \
              int acc, T *c, ptrdiff_t ldc)                                    \
{                                                                              \
    T tile[6 * 14 * VL];                                                       \
    const ptrdiff_t ldt = (P ? P : 1) * 2 * VL;                                \
    int r;                                                                     \
    if (acc)                                                                   \
        for (r = 0; r < R; r++) {                                              \
            memcpy(tile + r * ldt, c + r * ldc, w * sizeof(T));                \
            /* the lanes past column n are computed and dropped: give them   \
             * zeros rather than whatever the stack held */                   \
            memset(tile + r * ldt + w, 0, (ldt - w) * sizeof(T));              \
        }                                                                      \
    if (P == 0 && R == 6)   /* P = 0: the 6-row blocks' last panel */      \
        fr_ukr_##SUF(6, 0, kc, a, a_rs, a_cs, b, 0, acc, tile, ldt);           \
    else                                                                       \
        fr_ukrx_##SUF(R, P, kc, a, a_rs, a_cs, b, b_ps, acc, tile, ldt);       \
    for (r = 0; r < R; r++)                                                    \
        memcpy(c + r * ldc, tile + r * ldt, w * sizeof(T));                    \
}                                                                              \
/* the last tw (1 or 2) columns of C, rows 0..m-1, one k block, as dot      \
 * products along A's contiguous rows (a_cs == 1) against the panel's        \
 * columns copied out contiguous: a last panel of one or two columns would   \
 * otherwise cost half a panel (a vector of VL columns in the 6-row         \
 * blocks).  Each sum: two vector accumulators over p in steps of 2 VL, the \
 * odd VL, their lanes added in order, the last kc % VL terms in order;     \
 * the same operations for every row whatever m or its position */          \
FR_AI void                                                                     \
fr_tail_##SUF(ptrdiff_t m, ptrdiff_t kc, int tw, const T *a, ptrdiff_t a_rs,    \
              const T *b, int acc, T *C, ptrdiff_t ldc)                        \
{                                                                              \
    T wc[2][FR_KC];                                                            \
    const VT zero = {0};                                                       \
    ptrdiff_t i, p;                                                            \
    int c, l;                                                                  \
    for (c = 0; c < tw; c++)                                                   \
        for (p = 0; p < kc; p++)                                               \
            wc[c][p] = b[p * 2 * VL + c];                                      \
    for (i = 0; i < m; i++) {                                                  \
        const T *ai = a + i * a_rs;                                            \
        for (c = 0; c < tw; c++) {                                             \
            VT s0 = zero, s1 = zero;                                           \
            for (p = 0; p + 2 * VL <= kc; p += 2 * VL) {                       \
                s0 += fr_ld_##SUF(ai + p) * fr_ld_##SUF(wc[c] + p);            \
                s1 += fr_ld_##SUF(ai + p + VL) * fr_ld_##SUF(wc[c] + p + VL);  \
            }                                                                  \
            if (p + VL <= kc) {                                                \
                s0 += fr_ld_##SUF(ai + p) * fr_ld_##SUF(wc[c] + p);            \
                p += VL;                                                       \
            }                                                                  \
            s0 += s1;                                                          \
            T r = s0[0];                                                       \
            for (l = 1; l < VL; l++)                                           \
                r += s0[l];                                                    \
            for (; p < kc; p++)                                                \
                r += ai[p] * wc[c][p];                                         \
            C[i * ldc + c] = acc ? C[i * ldc + c] + r : r;                     \
        }                                                                      \
    }                                                                          \
}                                                                              \
/* rows 0..m-1 (m <= FR_MC) of one k block; tail: the last 1 or 2 columns    \
 * (a last panel of that many) by fr_tail, where A's rows are contiguous */   \
FR_AI void                                                                     \
fr_gemmp_blk_##SUF(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, ptrdiff_t kc,        \
                   const T *a, ptrdiff_t a_rs, ptrdiff_t a_cs, const T *b,     \
                   int acc, T *C, ptrdiff_t ldc, int tail)                     \
{                                                                              \
    const ptrdiff_t NR = 2 * VL;                                               \
    const int tw = (tail && a_cs == 1 && n % NR <= 2) ? (int) (n % NR) : 0;   \
    if (tw) {                                                                  \
        fr_tail_##SUF(m, kc, tw, a, a_rs, b + (n / NR) * NR * k, acc,          \
                      C + n - tw, ldc);                                        \
        n -= tw;                                                               \
    }                                                                          \
    const ptrdiff_t np = (n + NR - 1) / NR;                                    \
    const ptrdiff_t m6 = m - m % 6;                                            \
    const int r = (int) (m % 6);                                               \
    /* panels taken together by the r < 6 leftover rows; the last group also \
     * takes what would be left after it (1 row: up to 7 panels, 2 rows: 3),  \
     * rather than leaving 1 or 2 panels with too few FMA chains */           \
    const ptrdiff_t G = r == 1 ? 4 : (r == 2 || r == 3) ? 2 : 1;               \
    const ptrdiff_t Gmax = r == 1 ? 7 : r == 2 ? 3 : G;                        \
    ptrdiff_t j, jg, i, g;                                                     \
    for (jg = 0; jg < np; jg += g) {                                           \
        g = np - jg <= Gmax ? np - jg : G;                                     \
        /* C's columns in this group: w < g * NR when it holds the last,      \
         * partial panel */                                                   \
        const ptrdiff_t w = n - jg * NR < g * NR ? n - jg * NR : g * NR;       \
        for (j = jg; j < jg + g; j++) {                                        \
            const ptrdiff_t wj = n - j * NR < NR ? n - j * NR : NR;            \
            for (i = 0; i < m6; i += 6) {                                      \
                if (wj == NR)                                                  \
                    fr_ukr_##SUF(6, 1, kc, a + i * a_rs, a_rs, a_cs,           \
                                 b + j * NR * k, 0, acc, C + i * ldc + j * NR, \
                                 ldc);                                         \
                else   /* the last panel: its first vector alone if enough */ \
                    fr_edge_##SUF(6, wj <= VL ? 0 : 1, wj, kc, a + i * a_rs, a_rs, a_cs, \
                                  b + j * NR * k, 0, acc,                      \
                                  C + i * ldc + j * NR, ldc);                  \
            }                                                                  \
        }                                                                      \
        if (r == 0)                                                            \
            continue;                                                          \
        if (w == g * NR)                                                       \
            fr_ukrx_##SUF(r, (int) g, kc, a + m6 * a_rs, a_rs, a_cs,           \
                          b + jg * NR * k, NR * k, acc,                        \
                          C + m6 * ldc + jg * NR, ldc);                        \
        else                                                                   \
            fr_edge_##SUF(r, (int) g, w, kc, a + m6 * a_rs, a_rs, a_cs,        \
                          b + jg * NR * k, NR * k, acc,                        \
                          C + m6 * ldc + jg * NR, ldc);                        \
    }                                                                          \
}                                                                              \
FR_VEC static void fr_gemmp_##SUF(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,       \
                                  const T *A, ptrdiff_t a_rs, ptrdiff_t a_cs,  \
                                  const T *Wp, int accumulate, T *C,           \
                                  ptrdiff_t ldc, int tail)                     \
{                                                                              \
    ptrdiff_t p0, i0;                                                          \
    if (m <= 0 || n <= 0)                                                      \
        return;                                                                \
    if (k <= 0) {                                                              \
        if (!accumulate)                                                       \
            for (i0 = 0; i0 < m; i0++)                                         \
                memset(C + i0 * ldc, 0, n * sizeof(T));                        \
        return;                                                                \
    }                                                                          \
    for (p0 = 0; p0 < k; p0 += FR_KC) {                                        \
        const ptrdiff_t kc = k - p0 < FR_KC ? k - p0 : FR_KC;                  \
        for (i0 = 0; i0 < m; i0 += FR_MC)                                      \
            fr_gemmp_blk_##SUF(m - i0 < FR_MC ? m - i0 : FR_MC, n, k, kc,      \
                               A + i0 * a_rs + p0 * a_cs, a_rs, a_cs,          \
                               Wp + p0 * 2 * VL, accumulate || p0 > 0,         \
                               C + i0 * ldc, ldc, tail);                       \
    }                                                                          \
}
FR_PACKGEMM(float, f, fr_v8f, 8)
FR_PACKGEMM(double, d, fr_v4d, 4)

/* The forward recurrence of one sequence whose state fits in the
 * accumulators (h <= FR_REC_P * NR: 112 floats, 56 doubles), all its steps in
 * one call:
 *
 *   a<t+1> = TANH(x<t> + a<t> @ W + b)   for t = 0 .. steps-1
 *
 *   x<t>: row (ids ? ids[t] : t) of src (rows of h), W: h x h packed by
 *   fr_pack (Waa.T), b: h; a<0> is a0[0 .. h-1] and a<t+1> is written to
 *   A + t * h (a0 may be A - h).
 *
 * The same operations in the same order as fr_gemmp (accumulating onto the
 * gathered x<t>, p in order) followed by the row's bias and tanh, so every
 * value is bit-identical to the batched path (tests/test_kernels.py).  What
 * goes is the per-step cost around the product, on a chain that no
 * out-of-order window hides (each step waits for the last one's tanh): the
 * call, the edge tile of the partial last panel, the tanh pass's scalar
 * tail, and reloads of values just stored by a copy of another shape (x<t>
 * is gathered a chunk of steps ahead into whole padded rows, a<t> read back
 * from the aligned tile it was stored to).  C harness, h = 50, 25 steps,
 * interleaved: 126 against 155 ns a step (0.81x); instructions at the course
 * size 85 k -> 64 k a forward call.  The state is held in NV = ceil(h / VL)
 * accumulators, not in whole panels of 2 VL (h = 50: 7 vectors, not 8; with
 * the eighth, all padding, the FMAs a term were as many as the two pipes
 * take in one FMA latency, no slack left), and its bias and tanh are taken
 * in those registers (fr_tanh_v8f, fr_tanh_v4d: the row function's
 * operations, the same bits) before one store: the row loop read back the
 * 8-float stores 16 floats at a time in gcc's AVX-512 clone, a
 * store-to-load forwarding that fails, on the chain.  C harness (h = 50, 25
 * steps, one vCPU): 2.61 -> 2.31 us float32; float64 unchanged (4.70 us:
 * its 13 accumulators of 4 doubles are bound by the pipes' throughput).
 * The padding lanes are 0 + 0 * (zero panel) + 0, their tanh 0.  a<t+1>
 * goes to A by whole vectors, padding included, where they end before A +
 * steps * h (the padding lands in the next row, written at the next step),
 * else by h elements: memcpy with a size known only at run time is a call
 * at every step (C harness, course size: 2.95 -> 2.55 us a call). */
#define FR_REC_P 7
#define FR_REC_CHUNK 16
#define FR_REC1(T, SUF, VT, VL, VTANH)                                         \
FR_AI void                                                                     \
fr_rec1_body_##SUF(const int NV, ptrdiff_t steps, ptrdiff_t h, const T *Wp,    \
                   const T *src, const ptrdiff_t *ids, const T *b,             \
                   const T *a0, T *A)                                          \
{                                                                              \
    const ptrdiff_t NR = 2 * VL;                                               \
    T xs[FR_REC_CHUNK][FR_REC_P * 2 * VL] __attribute__((aligned(32)));        \
    T bp[FR_REC_P * 2 * VL] __attribute__((aligned(32)));                      \
    T st[2][FR_REC_P * 2 * VL] __attribute__((aligned(32)));                   \
    VT s[2 * FR_REC_P];                                                        \
    ptrdiff_t t, t0, p, nc;                                                    \
    int q;                                                                     \
    /* zeros past h in the rows the steps use (not all 7 KiB of xs) */         \
    for (t = 0; t < FR_REC_CHUNK && t < steps; t++)                            \
        memset(xs[t] + h, 0, (NV * VL - h) * sizeof(T));                       \
    memset(bp, 0, sizeof bp);                                                  \
    memcpy(bp, b, h * sizeof(T));                                              \
    memcpy(st[0], a0, h * sizeof(T));                                          \
    for (t0 = 0; t0 < steps; t0 += FR_REC_CHUNK) {                             \
        nc = steps - t0 < FR_REC_CHUNK ? steps - t0 : FR_REC_CHUNK;            \
        /* the chunk's x<t>, gathered ahead (zero past h): off the chain       \
         * from one step to the next, and read back by whole vectors long      \
         * after the copy's stores */                                          \
        for (t = 0; t < nc; t++)                                               \
            memcpy(xs[t], src + (ids ? ids[t0 + t] : t0 + t) * h,              \
                   h * sizeof(T));                                             \
        for (t = t0; t < t0 + nc; t++) {                                       \
            /* a<t> from the tile the last step wrote (whole aligned vector    \
             * stores, read back element by element), not from A: the copy     \
             * to A stays off the chain */                                     \
            const T *a = st[t & 1];                                            \
            T *nxt = st[(t + 1) & 1];                                          \
            const T *x = xs[t - t0];                                           \
            _Pragma("GCC unroll 14")                                           \
            for (q = 0; q < NV; q++)                                           \
                s[q] = fr_ld_##SUF(x + q * VL);                                \
            for (p = 0; p < h; p++) {                                          \
                T ap = a[p];                                                   \
                _Pragma("GCC unroll 14")                                       \
                for (q = 0; q < NV; q++)                                       \
                    s[q] += ap * fr_ld_##SUF(Wp + (q / 2) * NR * h + p * NR    \
                                             + (q % 2) * VL);                  \
            }                                                                  \
            _Pragma("GCC unroll 14")                                           \
            for (q = 0; q < NV; q++)                                           \
                fr_st_##SUF(nxt + q * VL, VTANH(s[q] + fr_ld_##SUF(bp + q * VL))); \
            if ((steps - t) * h >= NV * VL) {                                  \
                _Pragma("GCC unroll 14")                                       \
                for (q = 0; q < NV; q++)                                       \
                    fr_st_##SUF(A + t * h + q * VL, fr_ld_##SUF(nxt + q * VL)); \
            } else {                                                           \
                memcpy(A + t * h, nxt, h * sizeof(T));                         \
            }                                                                  \
        }                                                                      \
    }                                                                          \
}                                                                              \
FR_VEC static void fr_rec1_##SUF(ptrdiff_t steps, ptrdiff_t h, const T *Wp,    \
                                 const T *src, const ptrdiff_t *ids,           \
                                 const T *b, const T *a0, T *A)                \
{                                                                              \
    switch ((h + VL - 1) / VL) {                                               \
    case 1: fr_rec1_body_##SUF(1, steps, h, Wp, src, ids, b, a0, A); break;    \
    case 2: fr_rec1_body_##SUF(2, steps, h, Wp, src, ids, b, a0, A); break;    \
    case 3: fr_rec1_body_##SUF(3, steps, h, Wp, src, ids, b, a0, A); break;    \
    case 4: fr_rec1_body_##SUF(4, steps, h, Wp, src, ids, b, a0, A); break;    \
    case 5: fr_rec1_body_##SUF(5, steps, h, Wp, src, ids, b, a0, A); break;    \
    case 6: fr_rec1_body_##SUF(6, steps, h, Wp, src, ids, b, a0, A); break;    \
    case 7: fr_rec1_body_##SUF(7, steps, h, Wp, src, ids, b, a0, A); break;    \
    case 8: fr_rec1_body_##SUF(8, steps, h, Wp, src, ids, b, a0, A); break;    \
    case 9: fr_rec1_body_##SUF(9, steps, h, Wp, src, ids, b, a0, A); break;    \
    case 10: fr_rec1_body_##SUF(10, steps, h, Wp, src, ids, b, a0, A); break;  \
    case 11: fr_rec1_body_##SUF(11, steps, h, Wp, src, ids, b, a0, A); break;  \
    case 12: fr_rec1_body_##SUF(12, steps, h, Wp, src, ids, b, a0, A); break;  \
    case 13: fr_rec1_body_##SUF(13, steps, h, Wp, src, ids, b, a0, A); break;  \
    default: fr_rec1_body_##SUF(14, steps, h, Wp, src, ids, b, a0, A); break;  \
    }                                                                          \
}
FR_REC1(float, f, fr_v8f, 8, fr_tanh_v8f)
FR_REC1(double, d, fr_v4d, 4, fr_tanh_v4d)

#endif
