/* The sampler's C code (_sample.pyx): its own products against Waa.T and
 * Wya.T packed, the draw of one token in short steps, and the whole
 * generation loop, so that one function built for AVX2 (FR_VEC, _rowops.h)
 * runs a token from end to end, calling out only to memset (top_k < O).
 *
 * A token streams its weights from L2 (97 KB at V = 65, H = 128, float32);
 * the rest is a serial chain, logits -> max -> exps -> cumsum -> search ->
 * tanh -> next product, so the loop cuts the chain into steps of a few dozen
 * cycles of latency and runs them between pieces of the product Waa a, which
 * does not depend on them (fr_smp_run).  The steps are vectorised without
 * scalar tails, the search is a count (no branch), and the exp polynomial is
 * evaluated by Estrin's scheme (depth 6) rather than Horner's (depth 13). */
#ifndef FASTRNN_DRAW_H
#define FASTRNN_DRAW_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "_rowops.h"  /* FR_VEC, fr_tanhf, the vector types */

/* The sampler's workspaces are pieces of one block, each rounded up to 64
 * bytes (_sample.pyx).  Under AddressSanitizer (FASTRNN_ASAN=1) each piece is
 * also followed by a 64-byte red zone, and the slack and red zone after it
 * are poisoned, so that an overrun past any piece is reported as it would be
 * for separate allocations.  No red zone and no-ops otherwise. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
static inline ptrdiff_t fr_redzone(void) { return 64; }
static inline void fr_poison(void *p, ptrdiff_t n) { ASAN_POISON_MEMORY_REGION(p, n); }
static inline void fr_unpoison(void *p, ptrdiff_t n) { ASAN_UNPOISON_MEMORY_REGION(p, n); }
#else
static inline ptrdiff_t fr_redzone(void) { return 0; }
static inline void fr_poison(void *p, ptrdiff_t n) { (void) p; (void) n; }
static inline void fr_unpoison(void *p, ptrdiff_t n) { (void) p; (void) n; }
#endif

/* the vector helpers are FR_AI (_rowops.h): always inlined, into each clone
 * of their callers, so that no vector crosses a call boundary */

/* vector types: fr_v8f, fr_v4d, fr_v4l, fr_v4f (_rowops.h) */

/* ------------------------------------------------------------------ exp */

/* exp(x) for 4 doubles x <= 0 (or NaN), within 1 ulp of the exact value
 * (tests/test_sample.py); x < -746 (-inf too) gives 0, NaN gives NaN.
 *
 * x = n ln2 + r with |r| <= ln2 / 2, exp(r) by its Taylor series to r**13
 * (truncation < 1e-17 relative), evaluated by Estrin's scheme: depth 6
 * after r instead of Horner's 13, and this exp sits on the token's critical
 * path.  n = round(x / ln 2) by adding 1.5 * 2**52, which
 * leaves n in the low mantissa bits; 2**n is the product of two normal
 * powers of two built from those bits, so that subnormal results come out
 * right. */
FR_AI fr_v4d fr_exp4_draw(fr_v4d x)
{
    const fr_v4d lo = {-746.0, -746.0, -746.0, -746.0};
    const fr_v4d shift = {6755399441055744.0, 6755399441055744.0,
                          6755399441055744.0, 6755399441055744.0};
    const fr_v4l bias = {1023, 1023, 1023, 1023};
    /* x < -746 (-inf too) gives garbage, zeroed at the end; the mask is
     * off the critical path.  NaN compares false: NaN in, NaN out. */
    fr_v4l below = x < lo;
    fr_v4d n = (x * 1.4426950408889634 + shift) - shift;
    fr_v4d r = (x - n * 6.93147180369123816490e-01) - n * 1.90821492927058770002e-10;
    fr_v4d p = FR_EM1_TAYLOR(r) + 1.0;         /* exp(r), _rowops.h */
    fr_v4d n1 = (n * 0.5 + shift) - shift;
    fr_v4l b1 = ((fr_v4l) (n1 + shift) + bias) << 52;        /* 2**n1 */
    fr_v4l b2 = ((fr_v4l) ((n - n1) + shift) + bias) << 52;  /* 2**(n - n1) */
    return (fr_v4d) ((fr_v4l) ((p * (fr_v4d) b1) * (fr_v4d) b2) & ~below);
}

FR_AI fr_v4d fr_ld4d(const double *p)
{
    fr_v4d v;
    memcpy(&v, p, sizeof v);
    return v;
}

FR_AI void fr_st4d(double *p, fr_v4d v)
{
    memcpy(p, &v, sizeof v);
}

/* e[j] = exp(x[j]) with the draw's exp, x[j] <= 0 or NaN (for the tests) */
FR_VEC static void fr_exp_draw(double *e, const double *x, ptrdiff_t n)
{
    ptrdiff_t j = 0;
    for (; j + 4 <= n; j += 4)
        fr_st4d(e + j, fr_exp4_draw(fr_ld4d(x + j)));
    if (j < n) {
        double b[4] = {0, 0, 0, 0};
        memcpy(b, x + j, (n - j) * sizeof(double));
        fr_st4d(b, fr_exp4_draw(fr_ld4d(b)));
        memcpy(e + j, b, (n - j) * sizeof(double));
    }
}

/* ------------------------------------------------------------------ the draw
 *
 * A token's draw as a sequence of short steps (fr_draw_step), each a few
 * dozen cycles of latency, so that the generation loop can run them between
 * the pieces of the product Waa a, which does not depend on the draw: the
 * product is bound by the bandwidth of L2, the draw by latency, and the core
 * overlaps the two. */

/* The best class: the first index of the largest s[j], NaN ranking below
 * every number (np.argsort(-s, kind="stable")[0]); 0 if every s is NaN. */
FR_AI ptrdiff_t fr_best(const double *s, ptrdiff_t n)
{
    double m = -INFINITY;
    int any = 0;
    ptrdiff_t j;
    for (j = 0; j < n; j++) {
        m = s[j] > m ? s[j] : m;                /* NaN never wins */
        any |= s[j] == s[j];
    }
    if (!any)
        return 0;
    for (j = 0; j < n; j++)
        if (s[j] == m)
            return j;
    return 0;                                   /* not reached */
}

/* Class j ranks above class i < j: a strictly larger s, NaN ranking last
 * (the order of np.argsort(-s, kind="stable")) */
FR_AI int fr_beats(double sj, double si)
{
    if (si != si)
        return sj == sj;
    return sj > si;
}

/* 4 logits double(z + b) */
FR_AI fr_v4d fr_logit4_f(const float *z, const float *b)
{
    fr_v4f x, y;
    memcpy(&x, z, sizeof x);
    memcpy(&y, b, sizeof y);
    return __builtin_convertvector(x + y, fr_v4d);
}

FR_AI fr_v4d fr_logit4_d(const double *z, const double *b)
{
    return fr_ld4d(z) + fr_ld4d(b);
}

/* The state of a token's draw between its steps */
typedef struct {
    int stage;      /* FR_DRAW_LOGITS .. FR_DRAW_DONE */
    ptrdiff_t j;    /* the next element of the stage */
    double m;       /* the best logit */
    double acc;     /* the cumsum so far */
    ptrdiff_t k;    /* the drawn class, once done */
} fr_draw;

enum { FR_DRAW_LOGITS, FR_DRAW_EXP, FR_DRAW_CUMSUM, FR_DRAW_SEARCH, FR_DRAW_DONE };

#define FR_DRAW_EB 16   /* exps per step */
#define FR_DRAW_CB 24   /* cumsum terms per step (3 cycles each) */

/* The arguments of a token's draw:
 *   O classes, O4 = O rounded up to 4; z (O4) = Wya a, byp (O4) = by padded
 *   with -inf (the padding never wins nor counts); s (2 * O4) the float64
 *   logits then the cumsum, e (O4) the weights; top (O), kept (O) for
 *   top_k < O; u the token's uniform. */
typedef struct {
    ptrdiff_t O, O4, top_k;
    double temperature;
    double *s, *e;
    ptrdiff_t *top;
    char *kept;
} fr_draw_args;

/* One step of a token's draw, the twin of fastrnn.reference.sample's:
 *   FR_DRAW_LOGITS  s = double(z + by); m = its max (NaN never wins), or for
 *                   top_k < O the top_k classes ranked by insertion (top),
 *                   their mask (kept), m = s[top[0]];
 *   FR_DRAW_EXP     e = exp((s - m) / temperature), FR_DRAW_EB at a step,
 *                   0 for an exponent below -746 (where exp rounds to
 *                   0; -inf too), NaN kept; zero for the classes not kept;
 *                   temperature == 1 skips the division (x / 1 == x);
 *   FR_DRAW_CUMSUM  c = cumsum(e), FR_DRAW_CB terms at a step: the
 *                   sequential sum of np.cumsum, in id order (the classes
 *                   not kept add 0: the reference's sums over the kept ones,
 *                   bit for bit);
 *   FR_DRAW_SEARCH  k = the first class with c[k] > u * c[O - 1] (inverse
 *                   CDF).  e >= 0 makes c non-decreasing, so k is the count
 *                   of the classes with c <= u * c[O - 1]: no search loop,
 *                   no branch.  Else (only NaN gets there) the last class
 *                   with e > 0, else the best one.
 * Returns 1 when k is drawn (st->k). */
#define FR_DRAW_STEP(T, SUF)                                                   \
FR_AI int fr_draw_step_##SUF(fr_draw *st, const fr_draw_args *d,               \
                             const T *z, const T *byp, double u)               \
{                                                                              \
    const ptrdiff_t O = d->O, O4 = d->O4;                                      \
    double *s = d->s, *e = d->e, *c = d->s + O4;                               \
    ptrdiff_t j, i, n, end;                                                    \
    switch (st->stage) {                                                       \
    case FR_DRAW_LOGITS:                                                       \
        if (d->top_k >= O) {                                                   \
            /* four running maxima: four short chains, not one long one */    \
            fr_v4d mx[4], m4;                                                  \
            for (i = 0; i < 4; i++)                                            \
                mx[i] = (fr_v4d) {-INFINITY, -INFINITY, -INFINITY, -INFINITY}; \
            for (j = 0; j < O4; j += 4) {                                      \
                fr_v4d v = fr_logit4_##SUF(z + j, byp + j);                    \
                fr_st4d(s + j, v);                                             \
                fr_v4l gt = v > mx[(j >> 2) & 3];                              \
                mx[(j >> 2) & 3] = (fr_v4d) (((fr_v4l) v & gt)                 \
                                   | ((fr_v4l) mx[(j >> 2) & 3] & ~gt));       \
            }                                                                  \
            for (i = 1; i < 4; i++) {                                          \
                fr_v4l gt = mx[i] > mx[0];                                     \
                mx[0] = (fr_v4d) (((fr_v4l) mx[i] & gt) | ((fr_v4l) mx[0] & ~gt));\
            }                                                                  \
            m4 = mx[0];                                                        \
            double m0 = m4[1] > m4[0] ? m4[1] : m4[0];                         \
            double m1 = m4[3] > m4[2] ? m4[3] : m4[2];                         \
            st->m = m1 > m0 ? m1 : m0;                                         \
        } else {                                                               \
            for (j = 0; j < O4; j += 4)                                        \
                fr_st4d(s + j, fr_logit4_##SUF(z + j, byp + j));               \
            /* insertion into the ranked list top[0:n]; j is the highest id  \
             * so far, so it moves up only past classes it strictly beats */  \
            n = 0;                                                             \
            for (j = 0; j < O; j++) {                                          \
                if (n == d->top_k) {                                           \
                    if (!fr_beats(s[j], s[d->top[n - 1]]))                     \
                        continue;                                              \
                    i = n - 1;                                                 \
                } else {                                                       \
                    i = n;                                                     \
                    n++;                                                       \
                }                                                              \
                while (i > 0 && fr_beats(s[j], s[d->top[i - 1]])) {            \
                    d->top[i] = d->top[i - 1];                                 \
                    i--;                                                       \
                }                                                              \
                d->top[i] = j;                                                 \
            }                                                                  \
            memset(d->kept, 0, O);                                             \
            for (i = 0; i < d->top_k; i++)                                     \
                d->kept[d->top[i]] = 1;                                        \
            st->m = s[d->top[0]];                                              \
        }                                                                      \
        st->stage = FR_DRAW_EXP;                                               \
        st->j = 0;                                                             \
        return 0;                                                              \
    case FR_DRAW_EXP: {                                                        \
        const fr_v4d m = {st->m, st->m, st->m, st->m};                         \
        end = st->j + FR_DRAW_EB < O4 ? st->j + FR_DRAW_EB : O4;               \
        if (d->temperature == 1.0)                                             \
            for (j = st->j; j < end; j += 4)                                   \
                fr_st4d(e + j, fr_exp4_draw(fr_ld4d(s + j) - m));              \
        else                                                                   \
            for (j = st->j; j < end; j += 4)                                   \
                fr_st4d(e + j, fr_exp4_draw((fr_ld4d(s + j) - m)               \
                                            / d->temperature));                \
        if (d->top_k < O)                                                      \
            for (j = st->j; j < end && j < O; j++)                             \
                e[j] = d->kept[j] ? e[j] : 0.0;                                \
        st->j = end;                                                           \
        if (end == O4) {                                                       \
            st->stage = FR_DRAW_CUMSUM;                                        \
            st->j = 0;                                                         \
            st->acc = 0.0;                                                     \
        }                                                                      \
        return 0;                                                              \
    }                                                                          \
    case FR_DRAW_CUMSUM: {                                                     \
        double acc = st->acc;                                                  \
        end = st->j + FR_DRAW_CB < O ? st->j + FR_DRAW_CB : O;                 \
        for (j = st->j; j < end; j++) {                                        \
            acc += e[j];                                                       \
            c[j] = acc;                                                        \
        }                                                                      \
        st->acc = acc;                                                         \
        st->j = end;                                                           \
        if (end == O)                                                          \
            st->stage = FR_DRAW_SEARCH;                                        \
        return 0;                                                              \
    }                                                                          \
    case FR_DRAW_SEARCH: {                                                     \
        const double acc = st->acc, tot = acc * u;                             \
        ptrdiff_t k = 0;                                                       \
        for (j = 0; j < O; j++)                                                \
            k += c[j] <= tot;                                                  \
        st->stage = FR_DRAW_DONE;                                              \
        if (k < O && acc == acc) {              /* NaN: tot NaN, k 0 */        \
            st->k = k;                                                         \
            return 1;                                                          \
        }                                                                      \
        /* only NaN gets here: for finite e the last sum is acc > u * acc */  \
        for (j = O - 1; j >= 0; j--)                                           \
            if (e[j] > 0) {                                                    \
                st->k = j;                                                     \
                return 1;                                                      \
            }                                                                  \
        /* the best overall, top[0] for top_k < O */                          \
        st->k = fr_best(s, O);                                                 \
        return 1;                                                              \
    }                                                                          \
    default:                                                                   \
        return 1;                                                              \
    }                                                                          \
}
FR_DRAW_STEP(float, f)
FR_DRAW_STEP(double, d)

/* A token's draw from start to end, as dispatched (for the tests) */
#define FR_DRAW_RUN(T, SUF)                                                    \
FR_VEC static ptrdiff_t fr_draw_run_##SUF(const fr_draw_args *d, const T *z,   \
                                          const T *byp, double u)              \
{                                                                              \
    fr_draw st = {FR_DRAW_LOGITS, 0, 0, 0, 0};                                 \
    while (!fr_draw_step_##SUF(&st, d, z, byp, u))                             \
        ;                                                                      \
    return st.k;                                                               \
}
FR_DRAW_RUN(float, f)
FR_DRAW_RUN(double, d)

/* ------------------------------------------------------------------ product,
 * generation loop
 *
 * Waa and Wya are packed apart, each as its transpose W.T (k = H rows, n
 * columns: W's rows), in the layout of _packgemm.h: panel q holds columns
 * q*NR .. q*NR + NR - 1 (NR = 2 vectors: 16 floats, 8 doubles) for p =
 * 0..k-1, contiguous, zeros past column n.  Except that the last n % NR
 * columns, when there are at most FR_SMP_NS of them, are not a panel padded
 * with zeros (at V = 65: 65 = 4 * 16 + 1, a 5th panel of 8 KiB for one
 * column) but p-major scalars after the panels, summed by scalar
 * multiply-adds in the last group's loop.
 *
 * The product y = W a takes the panels in groups of 2 to 4 (4 to 8 vector
 * accumulators: enough independent chains to hide the multiply-add latency;
 * 1 if there is only one), every column summed over p in order 0..k-1 in one
 * accumulator, as _packgemm.h's product does (the same sums, bit for bit),
 * in pieces of FR_SMP_KC terms of p (stored and reloaded between them, which
 * does not round). */
#define FR_SMP_NS 2
#define FR_SMP_GMAX 4   /* panels per group at most */
#define FR_SMP_KC 16    /* terms of p per piece of Waa a */
#define FR_SMP_TB 16    /* tanh elements at a step */

#define FR_SAMPLER(T, SUF, VT, VL)                                             \
static inline ptrdiff_t fr_smp_panels_##SUF(ptrdiff_t n)                       \
{                                                                              \
    return n / (2 * VL) + (n % (2 * VL) > FR_SMP_NS);                          \
}                                                                              \
static inline ptrdiff_t fr_smp_scalars_##SUF(ptrdiff_t n)                      \
{                                                                              \
    return n % (2 * VL) > FR_SMP_NS ? 0 : n % (2 * VL);                        \
}                                                                              \
/* elements of a packed W.T (k x n) */                                         \
static inline ptrdiff_t fr_smp_size_##SUF(ptrdiff_t k, ptrdiff_t n)            \
{                                                                              \
    return k * (fr_smp_panels_##SUF(n) * 2 * VL + fr_smp_scalars_##SUF(n));    \
}                                                                              \
/* elements of y = W a: room for the padded panels (and 4 more) */             \
static inline ptrdiff_t fr_smp_ysize_##SUF(ptrdiff_t n)                        \
{                                                                              \
    return fr_smp_panels_##SUF(n) * 2 * VL + fr_smp_scalars_##SUF(n) + 4;       \
}                                                                              \
/* Wp = W.T packed, W (n x k) row-major */                                     \
static void fr_smp_pack_##SUF(ptrdiff_t k, ptrdiff_t n, const T *W, T *Wp)     \
{                                                                              \
    const ptrdiff_t np = fr_smp_panels_##SUF(n), ns = fr_smp_scalars_##SUF(n); \
    ptrdiff_t q, c, p, j;                                                      \
    for (q = 0; q < np; q++)                                                   \
        for (c = 0; c < 2 * VL; c++) {                                         \
            T *dst = Wp + q * 2 * VL * k + c;                                  \
            j = q * 2 * VL + c;                                                \
            for (p = 0; p < k; p++)                                            \
                dst[p * 2 * VL] = j < n ? W[j * k + p] : (T) 0;                \
        }                                                                      \
    for (c = 0; c < ns; c++)                                                   \
        for (p = 0; p < k; p++)                                                \
            Wp[np * 2 * VL * k + p * ns + c] = W[(np * 2 * VL + c) * k + p];   \
}                                                                              \
FR_AI VT fr_smp_ld_##SUF(const T *p)                                           \
{                                                                              \
    VT v;                                                                      \
    memcpy(&v, p, sizeof v);                                                   \
    return v;                                                                  \
}                                                                              \
/* y[0 : P NR] (+)= the P panels at b against a, and ys[0 : S] (+)= the S     \
 * scalar columns at w, over p = p0..p1-1 (P <= 4, S <= FR_SMP_NS,            \
 * constants; first: = rather than +=) */                                      \
FR_AI void fr_smp_piece_##SUF(const int P, const int S, ptrdiff_t k,           \
                              ptrdiff_t p0, ptrdiff_t p1, int first,           \
                              const T *a, const T *b, const T *w, T *y, T *ys) \
{                                                                              \
    VT s[8];                                                                   \
    T c[FR_SMP_NS + 1];                                                        \
    const VT zero = {0};                                                       \
    ptrdiff_t p;                                                               \
    int q;                                                                     \
    _Pragma("GCC unroll 8")                                                    \
    for (q = 0; q < 2 * P; q++)                                                \
        s[q] = first ? zero : fr_smp_ld_##SUF(y + q * VL);                     \
    for (q = 0; q < S; q++)                                                    \
        c[q] = first ? 0 : ys[q];                                              \
    for (p = p0; p < p1; p++) {                                                \
        const T x = a[p];                                                      \
        _Pragma("GCC unroll 8")                                                \
        for (q = 0; q < 2 * P; q++)                                            \
            s[q] += x * fr_smp_ld_##SUF(b + (q / 2) * 2 * VL * k + p * 2 * VL  \
                                        + (q % 2) * VL);                       \
        _Pragma("GCC unroll 2")                                                \
        for (q = 0; q < S; q++) {                                              \
            c[q] += x * w[p * S + q];                                          \
            /* one multiply-add at a time, like a vector lane: without this,  \
             * with no panel (n <= 2) gcc vectorises the products and adds    \
             * them in order, a different rounding from the lanes' fma */     \
            __asm__("" : "+x"(c[q]));                                          \
        }                                                                      \
    }                                                                          \
    _Pragma("GCC unroll 8")                                                    \
    for (q = 0; q < 2 * P; q++)                                                \
        memcpy(y + q * VL, &s[q], sizeof s[q]);                                \
    for (q = 0; q < S; q++)                                                    \
        ys[q] = c[q];                                                          \
}                                                                              \
/* the groups of panels of W.T (k x n): group g is panels                     \
 * [g np / ng, (g + 1) np / ng), 2 to 4 of them (1 if np == 1), the scalar    \
 * columns with the last group */                                              \
FR_AI ptrdiff_t fr_smp_groups_##SUF(ptrdiff_t n)                               \
{                                                                              \
    const ptrdiff_t np = fr_smp_panels_##SUF(n);                               \
    return np > 0 ? (np + FR_SMP_GMAX - 1) / FR_SMP_GMAX : 1;                \
}                                                                              \
/* group g of y = W a over p = p0..p1-1; the columns it holds end at the      \
 * returned one */                                                             \
FR_AI ptrdiff_t fr_smp_group_##SUF(ptrdiff_t k, ptrdiff_t n, const T *Wp,      \
                                   const T *a, T *y, ptrdiff_t g,              \
                                   ptrdiff_t p0, ptrdiff_t p1)                 \
{                                                                              \
    const ptrdiff_t np = fr_smp_panels_##SUF(n), ns = fr_smp_scalars_##SUF(n); \
    const ptrdiff_t ng = fr_smp_groups_##SUF(n);                               \
    const ptrdiff_t j0 = g * np / ng, j1 = (g + 1) * np / ng;                  \
    const int S = g == ng - 1 ? (int) ns : 0;                                  \
    const T *b = Wp + j0 * 2 * VL * k, *w = Wp + np * 2 * VL * k;              \
    T *yg = y + j0 * 2 * VL, *ys = y + np * 2 * VL;                            \
    const int first = p0 == 0;                                                 \
    switch ((int) (j1 - j0) * 4 + S) {                                         \
    case 16: fr_smp_piece_##SUF(4, 0, k, p0, p1, first, a, b, w, yg, ys); break;\
    case 17: fr_smp_piece_##SUF(4, 1, k, p0, p1, first, a, b, w, yg, ys); break;\
    case 18: fr_smp_piece_##SUF(4, 2, k, p0, p1, first, a, b, w, yg, ys); break;\
    case 12: fr_smp_piece_##SUF(3, 0, k, p0, p1, first, a, b, w, yg, ys); break;\
    case 13: fr_smp_piece_##SUF(3, 1, k, p0, p1, first, a, b, w, yg, ys); break;\
    case 14: fr_smp_piece_##SUF(3, 2, k, p0, p1, first, a, b, w, yg, ys); break;\
    case 8: fr_smp_piece_##SUF(2, 0, k, p0, p1, first, a, b, w, yg, ys); break; \
    case 9: fr_smp_piece_##SUF(2, 1, k, p0, p1, first, a, b, w, yg, ys); break; \
    case 10: fr_smp_piece_##SUF(2, 2, k, p0, p1, first, a, b, w, yg, ys); break;\
    case 4: fr_smp_piece_##SUF(1, 0, k, p0, p1, first, a, b, w, yg, ys); break; \
    case 5: fr_smp_piece_##SUF(1, 1, k, p0, p1, first, a, b, w, yg, ys); break; \
    case 6: fr_smp_piece_##SUF(1, 2, k, p0, p1, first, a, b, w, yg, ys); break; \
    case 1: fr_smp_piece_##SUF(0, 1, k, p0, p1, first, a, b, w, yg, ys); break; \
    case 2: fr_smp_piece_##SUF(0, 2, k, p0, p1, first, a, b, w, yg, ys); break; \
    default: break;                             /* n == 0 */                   \
    }                                                                          \
    return g == ng - 1 ? n : j1 * 2 * VL;                                      \
}                                                                              \
/* y = W a for Wp = W.T packed by fr_smp_pack (n columns, k = len(a)) */       \
FR_AI void fr_smp_mv_##SUF(ptrdiff_t k, ptrdiff_t n, const T *Wp, const T *a,  \
                           T *y)                                               \
{                                                                              \
    for (ptrdiff_t g = 0; g < fr_smp_groups_##SUF(n); g++)                     \
        fr_smp_group_##SUF(k, n, Wp, a, y, g, 0, k);                           \
}                                                                              \
/* the same, as dispatched (for the tests) */                                  \
FR_VEC static void fr_smp_matvec_##SUF(ptrdiff_t k, ptrdiff_t n, const T *Wp,  \
                                       const T *a, T *y)                       \
{                                                                              \
    fr_smp_mv_##SUF(k, n, Wp, a, y);                                           \
}                                                                              \
/* Generate up to `length` ids into out, returns how many: feeds prime       \
 * (n_prime ids) first, then draws token t with u[t], stops after stop_id     \
 * (-1: never).  Waap, Wyap: Waa.T and Wya.T packed by fr_smp_pack; a, a2     \
 * (H): the state (a<0> in a) and a workspace; ya (fr_smp_ysize(H)), yy       \
 * (fr_smp_ysize(O)): workspaces, zeros; byp (O4 = O rounded up to 4): by     \
 * padded with -inf; d: the draw's workspaces.                                \
 *                                                                            \
 * A token: yy = Wya a (the logits), then Waa a in pieces of FR_SMP_KC terms  \
 * of p, and after each piece a step of the draw (fr_draw_step), then, once   \
 * k is drawn, FR_SMP_TB elements of a' = tanh(Waa a + Wax[:, k] + ba) among  \
 * those whose Waa a is complete; the rest of a' after the product.  a' is    \
 * written to the other state buffer: a is read until the product ends. */   \
FR_VEC static ptrdiff_t fr_smp_run_##SUF(                                      \
    ptrdiff_t H, const T *Waap, const T *Wyap, const T *WaxT, const T *ba,     \
    const T *byp, const ptrdiff_t *prime, ptrdiff_t n_prime, T *a, T *a2,      \
    const fr_draw_args *d, ptrdiff_t stop_id, const double *u,                 \
    ptrdiff_t length, ptrdiff_t *out, T *ya, T *yy)                            \
{                                                                              \
    const ptrdiff_t O = d->O, ng = fr_smp_groups_##SUF(H);                     \
    ptrdiff_t t, j, g, p0, done = 0;                                           \
    for (t = 0; t < n_prime + length; t++) {                                   \
        const int drawing = t >= n_prime;                                      \
        fr_draw st = {drawing ? FR_DRAW_LOGITS : FR_DRAW_DONE, 0, 0, 0,        \
                      drawing ? 0 : prime[t]};                                 \
        const double ut = drawing ? u[t - n_prime] : 0;                        \
        ptrdiff_t ready = 0, tj = 0;  /* a'[tj:ready] can be computed */       \
        const T *wax = WaxT + st.k * H;                                        \
        if (drawing)                                                           \
            fr_smp_mv_##SUF(H, O, Wyap, a, yy);                                \
        for (g = 0; g < ng; g++) {                                             \
            ptrdiff_t end = 0;                                                 \
            for (p0 = 0; p0 < H; p0 += FR_SMP_KC) {                            \
                end = fr_smp_group_##SUF(H, H, Waap, a, ya, g, p0,             \
                                         p0 + FR_SMP_KC < H ? p0 + FR_SMP_KC : H);\
                if (st.stage != FR_DRAW_DONE) {                                \
                    if (fr_draw_step_##SUF(&st, d, yy, byp, ut))               \
                        wax = WaxT + st.k * H;                                 \
                } else if (tj < ready) {                                       \
                    const ptrdiff_t te = tj + FR_SMP_TB < ready ? tj + FR_SMP_TB : ready;\
                    for (j = tj; j < te; j++)                                  \
                        a2[j] = FR_SMP_TANH_##SUF((ya[j] + wax[j]) + ba[j]);   \
                    tj = te;                                                   \
                }                                                              \
            }                                                                  \
            ready = end;                                                       \
        }                                                                      \
        while (!fr_draw_step_##SUF(&st, d, yy, byp, ut))                       \
            ;                                                                  \
        wax = WaxT + st.k * H;                                                 \
        if (drawing) {                                                         \
            out[done++] = st.k;                                                \
            if (st.k == stop_id || done == length)                             \
                break;                                                         \
        }                                                                      \
        /* a' = tanh(Waa a + Wax[:, k] + ba), the elements left */             \
        for (j = tj; j < H; j++)                                               \
            a2[j] = FR_SMP_TANH_##SUF((ya[j] + wax[j]) + ba[j]);               \
        T *tmp = a;                                                            \
        a = a2;                                                                \
        a2 = tmp;                                                              \
    }                                                                          \
    return done;                                                               \
}

#define FR_SMP_TANH_f fr_tanhf
#define FR_SMP_TANH_d fr_tanhd
FR_SAMPLER(float, f, fr_v8f, 8)
FR_SAMPLER(double, d, fr_v4d, 4)

#endif
