/* Row operations of the fastrnn kernels: bias + tanh, softmax, softmax
 * cross-entropy with its gradient.  Plain C so that gcc -O3 vectorises the
 * element loops: tanh and exp are branch-free polynomial approximations (a
 * few ulp; see tests/test_rowops.py).  gcc fuses their multiply-adds where
 * the CPU has FMA (the x86-64-v3 and v4 clones) and not in the baseline
 * clone, so the last bit of a result can differ between machines with and
 * without FMA; on one machine every result is reproducible.
 *
 * NaN policy: a NaN input gives NaN outputs (never an out-of-range index). */
#ifndef FASTRNN_ROWOPS_H
#define FASTRNN_ROWOPS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* the vector helpers are static inline: no ABI crosses a call boundary */
#pragma GCC diagnostic ignored "-Wpsabi"

/* The vector types of the kernels' explicit vector code (this file,
 * _packgemm.h, _draw.h): 32 bytes, one AVX2 register (two SSE2 halves in the
 * baseline clone), and a 16-byte half. */
typedef float fr_v8f __attribute__((vector_size(32)));
typedef double fr_v4d __attribute__((vector_size(32)));
typedef int32_t fr_v8i __attribute__((vector_size(32)));
typedef int64_t fr_v4l __attribute__((vector_size(32)));
typedef float fr_v4f __attribute__((vector_size(16)));

/* FR_AI: the helpers that take or return a vector type.  They must always
 * be inlined: a copy compiled on its own gets the baseline target (SSE2,
 * 32-byte vectors passed in memory), and a call to it from an AVX clone
 * passes them in registers, an ABI mismatch (wrong results or a crash, as
 * gcc -O0, which inlines nothing, showed). */
#define FR_AI static inline __attribute__((always_inline))

/* FR_VEC: the row functions below are compiled three times, for x86-64-v4
 * (AVX-512), x86-64-v3 (AVX2 and FMA, 8 floats a vector) and the baseline
 * (SSE2), and the loader picks one for the running CPU (gcc function
 * multiversioning, an ELF ifunc).  The wheel stays portable; on an AVX2
 * machine the element loops run twice as wide, and on an AVX-512 one gcc
 * vectorises them 16 floats wide with mask registers for the selects: the
 * tanh row pass takes 0.72x the time of the AVX2 code on a Zen 4 core (same
 * results bit for bit), whose 512-bit FMAs are no faster than two 256-bit
 * ones.  The explicit 32-byte vector code (the packed product, the
 * softmax's lanes) stays 8 floats wide in the AVX-512 clone.
 * FASTRNN_NO_AVX512 drops that clone (CI builds the kernels so once, to test
 * the AVX2 code on an AVX-512 machine).  Elsewhere (other compilers,
 * platforms) it is a no-op.  Each module that includes this file uses some
 * of the functions: the others are "unused", not warned about. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12 \
    && defined(__x86_64__) && defined(__linux__) && !defined(FASTRNN_NO_CLONES)
#ifdef FASTRNN_NO_AVX512
#define FR_VEC __attribute__((target_clones("arch=x86-64-v3", "default"), unused))
#else
#define FR_VEC __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"), \
                                 unused))
#endif
#elif defined(__GNUC__)
#define FR_VEC __attribute__((unused))
#else
#define FR_VEC
#endif

/* exp for float32 (Cephes expf): 2^n * P(r), |r| <= ln2/2; max relative
 * error ~1e-7.  fr_exp_core_f takes x already in [-87.34, 88.38] (its
 * callers clamp as their range needs: fr_expf both ends, fr_expneg_f only the
 * lower).  n = round(x / ln2) by the 1.5 * 2^23 trick (adding it leaves n in
 * the low mantissa bits), not a float -> int -> float floor: gcc vectorises
 * that one only for baseline SSE2, this one for every target. */
static inline float fr_exp_core_f(float xc)
{
    union { uint32_t i; float f; } two_n, t;
    const float shift = 12582912.0f;            /* 1.5 * 2^23 */
    t.f = xc * 1.44269504088896341f + shift;
    float fn = t.f - shift;                     /* round(x / ln2) */
    int32_t n = (int32_t) (t.i - 0x4B400000u);  /* the same, as an integer */
    float r = xc - fn * 0.693359375f;
    r = r - fn * -2.12194440e-4f;
    float z = r * r;
    float y = 1.9875691500e-4f;
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * z + r + 1.0f;
    two_n.i = (uint32_t) (n + 127) << 23;
    return y * two_n.f;
}

/* exp for float32.  Inputs below -87.3365 give the clamp's exp, 1.00001
 * times the smallest normal float (~1e-38), instead of a denormal or 0:
 * within a softmax sum >= 1 that is nothing, and a denormal result would
 * cost a microcode assist.  The clamp is the float just above -126 ln2
 * (the one below it gave a denormal). */
#define FR_EXP_LO (-87.33654022f)
static inline float fr_expf(float x)
{
    float xc = x < FR_EXP_LO ? FR_EXP_LO : (x > 88.37626266f ? 88.37626266f : x);
    /* NaN in, NaN out: the clamps above keep NaN, and the core gives NaN */
    return (x != x) ? x : fr_exp_core_f(xc);
}

/* exp for x <= 0 or NaN (a softmax's x - max): the lower clamp alone, NaN
 * carried through the core's arithmetic; the same values as fr_expf there */
static inline float fr_expneg_f(float x)
{
    return fr_exp_core_f(x < FR_EXP_LO ? FR_EXP_LO : x);
}

/* tanh for float32, within 2 ulp of the correctly rounded value everywhere
 * (tests/test_rowops.py; every float in [0, 11) checked: 93.7% exact, 6.3%
 * 1 ulp, 0.01% 2 ulp), so that 1 - a^2, the BPTT factor, is as accurate as a
 * float32 a allows even near saturation.  The float64 fr_tanhd's formula in
 * float:
 *
 *   tanh|x| = -m / (2 + m),   m = expm1(-2|x|) in (-1, 0]
 *
 * no cancellation anywhere (-m ~ 2|x| for small x, 2 + m in (1, 2]), so one
 * branch serves every x (the last version computed an odd polynomial for
 * |x| < 0.625 besides (1 - e) / (1 + e) and selected: this takes 0.70x its
 * time on AVX-512, 0.75x on AVX2; it was correctly rounded more often below
 * 0.02).  expm1 as in fr_exp_core_f: n = round(y / ln2) by the 1.5 * 2^23
 * trick, r = y - n ln2 (|r| <= ln2/2, exact for n = 0), expm1(r) = r +
 * r^2 Q(r), Q of degree 5 fitted for relative error (2e-9 with these float
 * coefficients).  -m and 2 + m each come from 2^n expm1(r) in one fused
 * multiply-add onto 1 - 2^n and 1 + 2^n (the product by 2^n is exact, so
 * the baseline clone's separate multiply and add round once too; the sums
 * are exact down to n = -23, and past that tanh is within an ulp of 1):
 * rounding m first and then 2 + m (whose spacing is twice that of a result
 * just below 1) put 12% of [4, 8) at 2 ulp.  -2|x| is clamped below at -40
 * only: past |x| = 9.01 tanh rounds to +-1 whatever m is.  Every operation is unconditional, which lets gcc
 * vectorise the row loops.  NaN in, NaN out (through the arithmetic: no test
 * of its own). */
static inline float fr_tanhf(float x)
{
    union { uint32_t i; float f; } two_n, t;
    const float shift = 12582912.0f;            /* 1.5 * 2^23 */
    float y = -2.0f * fabsf(x);
    y = y < -40.0f ? -40.0f : y;
    t.f = y * 1.44269504088896341f + shift;
    float fn = t.f - shift;                     /* round(y / ln2) */
    int32_t n = (int32_t) (t.i - 0x4B400000u);
    float r = y - fn * 0.693359375f;
    r = r - fn * -2.12194440e-4f;
    float q = 1.9845877250e-4f;
    q = q * r + 1.3940617209e-3f;
    q = q * r + 8.3333896473e-3f;
    q = q * r + 4.1666362435e-2f;
    q = q * r + 1.6666665673e-1f;
    q = q * r + 0.5f;
    float em1 = (r * r) * q + r;
    two_n.i = (uint32_t) (n + 127) << 23;
    float num = -two_n.f * em1 + (1.0f - two_n.f);     /* -m */
    float den = two_n.f * em1 + (two_n.f + 1.0f);      /* 2 + m */
    return copysignf(num / den, x);
}

/* z[j] = exp(z[j]) (the kernels' exp as dispatched, for the tests) */
FR_VEC static void fr_exp_f(float *restrict z, ptrdiff_t n)
{
    for (ptrdiff_t j = 0; j < n; j++)
        z[j] = fr_expf(z[j]);
}

/* c[j] = tanh(c[j] + b[j]) */
FR_VEC static void fr_bias_tanh_f(float *restrict c, const float *restrict b, ptrdiff_t n)
{
    for (ptrdiff_t j = 0; j < n; j++)
        c[j] = fr_tanhf(c[j] + b[j]);
}

/* expm1(r) = r + r^2 Q(r) for |r| <= ln2/2, Q the Taylor series to r^13
 * (truncation < 2e-17 relative), by Estrin's scheme (depth 6 after r, not
 * Horner's 13): the largest terms added last keep exp = 1 + this within 1
 * ulp.  For a double or a vector of doubles r (the same operations, so the
 * same numbers, either way): fr_tanhd, fr_expneg_d, the sampler's exp. */
#define FR_EM1_TAYLOR(r)                                                     \
    ({                                                                       \
        const __typeof__(r) r_ = (r), r2_ = r_ * r_, r4_ = r2_ * r2_;        \
        const __typeof__(r) u0_ = (r_ * (1.0 / 120.0) + 1.0 / 24.0) * r2_    \
                                  + (r_ * (1.0 / 6.0) + 0.5);                \
        const __typeof__(r) u1_ = (r_ * (1.0 / 362880.0) + 1.0 / 40320.0) * r2_ \
                                  + (r_ * (1.0 / 5040.0) + 1.0 / 720.0);     \
        const __typeof__(r) u2_ = (r_ * (1.0 / 6227020800.0) + 1.0 / 479001600.0) * r2_ \
                                  + (r_ * (1.0 / 39916800.0) + 1.0 / 3628800.0); \
        r2_ * ((u2_ * r4_ + u1_) * r4_ + u0_) + r_;                          \
    })

/* tanh for float64, branch-free so that gcc vectorises the row loops (libm's
 * tanh, one call an element, was a fifth of a float64 forward pass):
 * tanh|x| = -m / (2 + m), m = expm1(-2|x|) in (-1, 0], no cancellation
 * anywhere.  expm1(y), y = k ln2 + r (|r| <= ln2/2, k <= 0): 2^k expm1(r) +
 * (2^k - 1), one fused step, exact for k = 0; expm1(r) = r + r^2 Q(r), Q the
 * Taylor series to r^13 (truncation < 2e-17 relative) by Estrin's scheme,
 * as the sampler's exp.  y is clamped below at -40: past |x| = 19.1 tanh
 * rounds to +-1 in float64 whatever m is, and 2^k (k >= -58) stays normal.
 * Within 3 ulp of the exact value (tests/test_rowops.py measures against
 * long double: 2.54 at most over 5 million points, libm's 1.18).  NaN in, NaN out (through the arithmetic); -0 stays -0. */
static inline double fr_tanhd(double x)
{
    const double shift = 6755399441055744.0;   /* 1.5 * 2^52 */
    double y = -2.0 * fabs(x);
    y = y < -40.0 ? -40.0 : y;
    double t = y * 1.4426950408889634 + shift;
    double k = t - shift;                      /* round(y / ln2) */
    uint64_t bits;
    memcpy(&bits, &t, sizeof bits);            /* k in the low mantissa bits */
    bits = (bits + 1023) << 52;                /* 2^k */
    double two_k;
    memcpy(&two_k, &bits, sizeof two_k);
    double r = (y - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10;
    double em = FR_EM1_TAYLOR(r);              /* expm1(r) */
    double m = two_k * em + (two_k - 1.0);     /* expm1(y) */
    return copysign(-m / (2.0 + m), x);
}

/* fr_tanhf and fr_tanhd on a whole vector, the same operations lane by
 * lane (so the same bits: tests/test_rowops.py), for a state held in
 * registers (_packgemm.h's fr_rec1): the row loops' tanh needs the values
 * stored and reloaded by a vector of the loop's own width, which gcc's
 * AVX-512 clone makes 16 floats, two of the state's 8-float stores (a store
 * to load forwarding that fails).  Selects and copysign by bit operations,
 * as gcc vectorises the scalar ones. */
FR_AI fr_v8f fr_tanh_v8f(fr_v8f x)
{
    typedef uint32_t vu __attribute__((vector_size(32)));
    const fr_v8f zero = {0, 0, 0, 0, 0, 0, 0, 0};
    const fr_v8f shift = zero + 12582912.0f;   /* 1.5 * 2^23 */
    const fr_v8f lo = zero - 40.0f;
    fr_v8f y = -2.0f * (fr_v8f) ((vu) x & 0x7fffffffu);
    fr_v8i below = y < lo;
    y = (fr_v8f) ((below & (fr_v8i) lo) | (~below & (fr_v8i) y));
    fr_v8f t = y * 1.44269504088896341f + shift;
    fr_v8f fn = t - shift;                     /* round(y / ln2) */
    fr_v8i n = (fr_v8i) ((vu) t - 0x4B400000u);
    fr_v8f r = y - fn * 0.693359375f;
    r = r - fn * -2.12194440e-4f;
    fr_v8f q = (zero + 1.9845877250e-4f) * r + 1.3940617209e-3f;
    q = q * r + 8.3333896473e-3f;
    q = q * r + 4.1666362435e-2f;
    q = q * r + 1.6666665673e-1f;
    q = q * r + 0.5f;
    fr_v8f em1 = (r * r) * q + r;
    fr_v8f two_n = (fr_v8f) ((vu) (n + 127) << 23);
    fr_v8f num = -two_n * em1 + (1.0f - two_n);        /* -m */
    fr_v8f den = two_n * em1 + (two_n + 1.0f);         /* 2 + m */
    fr_v8f v = num / den;
    return (fr_v8f) (((vu) v & 0x7fffffffu) | ((vu) x & 0x80000000u));
}

FR_AI fr_v4d fr_tanh_v4d(fr_v4d x)
{
    typedef uint64_t vu __attribute__((vector_size(32)));
    const fr_v4d zero = {0, 0, 0, 0};
    const fr_v4d shift = zero + 6755399441055744.0;   /* 1.5 * 2^52 */
    const fr_v4d lo = zero - 40.0;
    fr_v4d y = -2.0 * (fr_v4d) ((vu) x & 0x7fffffffffffffffu);
    fr_v4l below = y < lo;
    y = (fr_v4d) ((below & (fr_v4l) lo) | (~below & (fr_v4l) y));
    fr_v4d t = y * 1.4426950408889634 + shift;
    fr_v4d k = t - shift;                      /* round(y / ln2) */
    fr_v4d two_k = (fr_v4d) (((vu) t + 1023) << 52);
    fr_v4d r = (y - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10;
    fr_v4d em = FR_EM1_TAYLOR(r);              /* expm1(r) */
    fr_v4d m = two_k * em + (two_k - 1.0);     /* expm1(y) */
    fr_v4d v = -m / (2.0 + m);
    return (fr_v4d) (((vu) v & 0x7fffffffffffffffu) | ((vu) x & 0x8000000000000000u));
}

/* x[j] = tanh(x[j]) by the vector functions, a whole vector at a time (n a
 * multiple of 8 floats or 4 doubles; for the tests, which compare them with
 * the row loops': dispatched as the kernels are) */
FR_VEC static void fr_tanh_vec_f(float *x, ptrdiff_t n)
{
    for (ptrdiff_t j = 0; j + 8 <= n; j += 8) {
        fr_v8f v;
        memcpy(&v, x + j, sizeof v);
        v = fr_tanh_v8f(v);
        memcpy(x + j, &v, sizeof v);
    }
}

FR_VEC static void fr_tanh_vec_d(double *x, ptrdiff_t n)
{
    for (ptrdiff_t j = 0; j + 4 <= n; j += 4) {
        fr_v4d v;
        memcpy(&v, x + j, sizeof v);
        v = fr_tanh_v4d(v);
        memcpy(x + j, &v, sizeof v);
    }
}

/* exp(x) for doubles x <= 0 (or NaN: NaN), within 1 ulp (the sampler's
 * exp, _draw.h, in scalar form for gcc to vectorise): x = n ln2 + r, exp(r)
 * = 1 + FR_EM1_TAYLOR(r), 2^n as the product of two normal powers of two so
 * that subnormal results come out right; below -746 (-inf too) 0. */
static inline double fr_expneg_d(double x)
{
    const double shift = 6755399441055744.0;   /* 1.5 * 2^52 */
    double n = (x * 1.4426950408889634 + shift) - shift;
    double r = (x - n * 6.93147180369123816490e-01) - n * 1.90821492927058770002e-10;
    double p = FR_EM1_TAYLOR(r) + 1.0;
    double n1 = (n * 0.5 + shift) - shift, t1 = n1 + shift, t2 = (n - n1) + shift;
    uint64_t b1, b2;
    memcpy(&b1, &t1, sizeof b1);
    memcpy(&b2, &t2, sizeof b2);
    b1 = (b1 + 1023) << 52;                    /* 2^n1 */
    b2 = (b2 + 1023) << 52;                    /* 2^(n - n1) */
    double p1, p2;
    memcpy(&p1, &b1, sizeof p1);
    memcpy(&p2, &b2, sizeof p2);
    return x < -746.0 ? 0.0 : (p * p1) * p2;
}

FR_VEC static void fr_bias_tanh_d(double *restrict c, const double *restrict b, ptrdiff_t n)
{
    for (ptrdiff_t j = 0; j < n; j++)
        c[j] = fr_tanhd(c[j] + b[j]);
}

/* BPTT through tanh: dz[j] = (dz[j] + dn[j]) * (1 - a[j]^2), or without dn
 * (the last step of a sequence: nothing flows back from padding) */
#define FR_DTANH(T, SUF)                                                     \
FR_VEC static void fr_dtanh_##SUF(T *restrict dz, const T *restrict dn,      \
                                  const T *restrict a, ptrdiff_t n)          \
{                                                                            \
    if (dn)                                                                  \
        for (ptrdiff_t j = 0; j < n; j++)                                    \
            dz[j] = (dz[j] + dn[j]) * (1 - a[j] * a[j]);                     \
    else                                                                     \
        for (ptrdiff_t j = 0; j < n; j++)                                    \
            dz[j] = dz[j] * (1 - a[j] * a[j]);                               \
}
FR_DTANH(float, f)
FR_DTANH(double, d)

/* y[j] += x[j]: the sums of the bias gradients and the scatter-add of the
 * input gradient (a BLAS axpy call per row cost more than the row) */
#define FR_ADD(T, SUF)                                                       \
FR_VEC static void fr_add_##SUF(T *restrict y, const T *restrict x,         \
                                ptrdiff_t n)                                 \
{                                                                            \
    for (ptrdiff_t j = 0; j < n; j++)                                        \
        y[j] += x[j];                                                        \
}                                                                            \
/* y[j] = sum over rows r of x[r * n + j], rows summed in order */           \
FR_VEC static void fr_sum_rows_##SUF(T *restrict y, const T *restrict x,    \
                                     ptrdiff_t rows, ptrdiff_t n)            \
{                                                                            \
    for (ptrdiff_t j = 0; j < n; j++)                                        \
        y[j] = 0;                                                            \
    for (ptrdiff_t r = 0; r < rows; r++)                                     \
        for (ptrdiff_t j = 0; j < n; j++)                                    \
            y[j] += x[r * n + j];                                            \
}
FR_ADD(float, f)
FR_ADD(double, d)

/* max over n >= 1 values, four independent chains (no reassociation of
 * anything but a max, which is exact); NaN propagates */
#define FR_MAX(T, NAME)                                                      \
static inline T NAME(const T *z, ptrdiff_t n)                                \
{                                                                            \
    T m0 = z[0], m1 = z[0], m2 = z[0], m3 = z[0];                            \
    int nan = 0;                                                             \
    ptrdiff_t j = 0;                                                         \
    for (; j + 4 <= n; j += 4) {                                             \
        m0 = z[j] > m0 ? z[j] : m0;                                          \
        m1 = z[j + 1] > m1 ? z[j + 1] : m1;                                  \
        m2 = z[j + 2] > m2 ? z[j + 2] : m2;                                  \
        m3 = z[j + 3] > m3 ? z[j + 3] : m3;                                  \
        nan |= (z[j] != z[j]) | (z[j + 1] != z[j + 1])                       \
             | (z[j + 2] != z[j + 2]) | (z[j + 3] != z[j + 3]);             \
    }                                                                        \
    for (; j < n; j++) {                                                     \
        m0 = z[j] > m0 ? z[j] : m0;                                          \
        nan |= z[j] != z[j];                                                 \
    }                                                                        \
    m0 = m1 > m0 ? m1 : m0;                                                  \
    m2 = m3 > m2 ? m3 : m2;                                                  \
    m0 = m2 > m0 ? m2 : m0;                                                  \
    return nan ? (T) NAN : m0;                                               \
}
FR_MAX(double, fr_max_d)

/* z[j] = exp(z[j] - m); returns the sum, accumulated in double */
#define FR_EXP_SHIFT_SUM(T, SUF, EXP)                                        \
static inline double fr_exp_shift_sum_##SUF(T *restrict z, T m, ptrdiff_t n) \
{                                                                            \
    for (ptrdiff_t j = 0; j < n; j++)                                        \
        z[j] = EXP(z[j] - m);                                                \
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;                                   \
    ptrdiff_t j = 0;                                                         \
    for (; j + 4 <= n; j += 4) {                                             \
        s0 += z[j]; s1 += z[j + 1]; s2 += z[j + 2]; s3 += z[j + 3];          \
    }                                                                        \
    for (; j < n; j++)                                                       \
        s0 += z[j];                                                          \
    return (s0 + s1) + (s2 + s3);                                            \
}
FR_EXP_SHIFT_SUM(double, d, fr_expneg_d)

/* Row of logits z (without bias) -> softmax(z + b), in place (float64; the
 * float32 rows are below). */
#define FR_SOFTMAX(T, SUF, NAME)                                             \
FR_VEC static void fr_softmax_##NAME(T *restrict z, const T *restrict b,     \
                                    ptrdiff_t n)                             \
{                                                                            \
    for (ptrdiff_t j = 0; j < n; j++)                                        \
        z[j] += b[j];                                                        \
    T m = fr_max_##SUF(z, n);                                                \
    T inv = (T) (1.0 / fr_exp_shift_sum_##SUF(z, m, n));                     \
    for (ptrdiff_t j = 0; j < n; j++)                                        \
        z[j] *= inv;                                                         \
}                                                                            \
/* Row of logits z (without bias), target y in [0, n): z becomes            \
 * dL/dz = softmax(z + b) - onehot(y); returns -log softmax(z + b)[y] as     \
 * (max - z[y]) + log(sum): the difference first (max + log(sum) first      \
 * rounded the log away next to logits of 1e16) */                          \
FR_VEC static double fr_softmax_xent_##NAME(T *restrict z, const T *restrict b, \
                                           ptrdiff_t n, ptrdiff_t y)         \
{                                                                            \
    for (ptrdiff_t j = 0; j < n; j++)                                        \
        z[j] += b[j];                                                        \
    T m = fr_max_##SUF(z, n);                                                \
    T zy = z[y];                                                             \
    double s = fr_exp_shift_sum_##SUF(z, m, n);                              \
    T inv = (T) (1.0 / s);                                                   \
    for (ptrdiff_t j = 0; j < n; j++)                                        \
        z[j] *= inv;                                                         \
    z[y] -= 1;                                                               \
    return ((double) m - (double) zy) + log(s);                              \
}
FR_SOFTMAX(double, d, d)

/* float32 rows of up to FR_ROW elements go through a buffer on the stack
 * (fr_softmax_rows_f below), padded to whole vectors of 8, so that every pass
 * is vector code with no scalar tail (a row of O = 27 was 3 vectors and 3
 * scalar exps).  The padding repeats some of the row's elements (the max is
 * unchanged), is masked out of the sum, and never reaches z.  Longer rows:
 * in place (fr_softmax_long_f below). */
#define FR_ROW 512

FR_AI fr_v8f fr_v8f_ld(const float *p)
{
    fr_v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* gcc's vector shuffle with lane numbers known only at run time (AVX2: one
 * vpermps; the SSE2 clone goes through the stack); other compilers: the
 * short rows' scalar path */
#if defined(__GNUC__) && !defined(__clang__)
#define FR_VAR_SHUFFLE 1
#endif

#define FR_V8F_ST(p, v)                                                      \
    do {                                                                     \
        const fr_v8f fr_st_ = (v);                                           \
        memcpy((p), &fr_st_, sizeof fr_st_);                                 \
    } while (0)

/* m lane by lane the larger of m and x (a NaN in x never wins), and the
 * largest lane: exact whatever the order */
FR_AI fr_v8f fr_v8f_max(fr_v8f m, fr_v8f x)
{
    const fr_v8i gt = x > m;
    return (fr_v8f) (((fr_v8i) x & gt) | ((fr_v8i) m & ~gt));
}

FR_AI float fr_v8f_hmax(fr_v8f m)
{
    float r = m[0];
    for (int l = 1; l < 8; l++)
        r = m[l] > r ? m[l] : r;
    return r;
}

/* the softmax sums: lanes 0-3 of x onto s0, 4-7 onto s1, in double.  The
 * halves taken by memcpy: from __builtin_shufflevector gcc converted two
 * floats at a time (four conversions, two inserts and a lane swap a
 * vector, in the AVX-512 and AVX2 clones alike) */
FR_AI void fr_sum8(fr_v4d *s0, fr_v4d *s1, fr_v8f x)
{
    fr_v4f lo, hi;
    memcpy(&lo, &x, sizeof lo);
    memcpy(&hi, (const char *) &x + sizeof lo, sizeof hi);
    *s0 += __builtin_convertvector(lo, fr_v4d);
    *s1 += __builtin_convertvector(hi, fr_v4d);
}

/* t[0..np) = z + b (np = n rounded up to 8), the padding past n a copy of
 * some of the row's own elements; returns the max (exact whatever the order,
 * the copies change nothing; a NaN never wins a comparison, and makes every
 * output NaN through its exp).  The padding's exps are computed and never
 * used (the sum masks them out): padded with -inf they were denormals, whose
 * multiply costs a microcode assist, 20 ns a row.  The last n % 8 elements
 * come from the vector ending at z + n, rotated down to lanes 0.. in
 * registers (a vector built in memory from scalars cannot be forwarded to a
 * vector load of it: that stall was another ~10 ns a row). */
static inline float fr_row_in_f(float *restrict t, const float *restrict z,
                                const float *restrict b, ptrdiff_t n)
{
    ptrdiff_t j;
    fr_v8f m = {-INFINITY, -INFINITY, -INFINITY, -INFINITY,
                -INFINITY, -INFINITY, -INFINITY, -INFINITY}, x;
    for (j = 0; j + 8 <= n; j += 8) {
        x = fr_v8f_ld(z + j) + fr_v8f_ld(b + j);
        FR_V8F_ST(t + j, x);
        m = fr_v8f_max(m, x);
    }
    if (j < n) {
#ifdef FR_VAR_SHUFFLE
        if (n >= 8) {   /* lane l <- element n - 8 + (l - n % 8) mod 8 */
            const fr_v8i lane = {0, 1, 2, 3, 4, 5, 6, 7};
            x = fr_v8f_ld(z + n - 8) + fr_v8f_ld(b + n - 8);
            x = __builtin_shuffle(x, (lane + (int) (8 - (n - j))) & 7);
        } else
#endif
        {   /* lane l <- element j + l mod (n - j) */
            float u[8];
            for (int l = 0; l < 8; l++)
                u[l] = z[j + l % (n - j)] + b[j + l % (n - j)];
            x = fr_v8f_ld(u);
        }
        FR_V8F_ST(t + j, x);
        m = fr_v8f_max(m, x);
    }
    return fr_v8f_hmax(m);
}

/* t[j] = exp(t[j] - m) for the np elements of a padded row */
static inline void fr_row_exp_f(float *t, float m, ptrdiff_t np)
{
    for (ptrdiff_t j = 0; j < np; j += 8)
        for (int l = 0; l < 8; l++)
            t[j + l] = fr_expneg_f(t[j + l] - m);
}

/* the sum of a padded row's exps over j < n, in double, in 8 lanes added
 * pairwise (the padding's exps stay in t: nothing reads them).  Only the
 * last, partial vector is masked.  With the conversion above: C harness
 * (Zen 4), this phase 15.1 -> 11.1 ns a row of 65 (AVX2 clone 15.3 -> 11.2,
 * SSE2 88.7 -> 30.9), the whole softmax 43.7 -> 40.1 (65) and 23.1 -> 20.8
 * (27), the same bits (the same operations on every lane) */
static inline double fr_row_sum_f(const float *t, ptrdiff_t n, ptrdiff_t np)
{
    ptrdiff_t j;
    fr_v4d s0 = {0, 0, 0, 0}, s1 = {0, 0, 0, 0};
    const fr_v8i lane = {0, 1, 2, 3, 4, 5, 6, 7};
    for (j = 0; j + 8 <= n; j += 8)
        fr_sum8(&s0, &s1, fr_v8f_ld(t + j));
    if (j < np) {
        /* the padding's lanes (past n) are zeroed, not added */
        const fr_v8f x = (fr_v8f) ((fr_v8i) fr_v8f_ld(t + j) & (lane < (int) (n - j)));
        fr_sum8(&s0, &s1, x);
    }
    s0 += s1;
    return (s0[0] + s0[2]) + (s0[1] + s0[3]);
}

/* z[0..n) = t[0..n) * inv, straight from the padded row: the last n % 8 as
 * the vector ending at t + n (its other lanes rewrite the same values) */
static inline void fr_row_out_f(float *restrict z, const float *restrict t, float inv,
                                ptrdiff_t n)
{
    ptrdiff_t j;
    for (j = 0; j + 8 <= n; j += 8)
        FR_V8F_ST(z + j, fr_v8f_ld(t + j) * inv);
    if (j < n) {
        if (n >= 8)
            FR_V8F_ST(z + n - 8, fr_v8f_ld(t + n - 8) * inv);
        else
            for (; j < n; j++)
                z[j] = t[j] * inv;
    }
}

/* Rows longer than FR_ROW (a word-level vocabulary), in place, in three
 * passes of whole vectors (the last n % 8 elements, n > FR_ROW >= 8, by
 * scalar code, or as the vector ending at z + n where every lane's value is
 * final): z + b and its max; the exps and their sum, in double, 8 lanes
 * added pairwise as in fr_row_sum_f; the scaling. */
static inline float fr_long_in_f(float *restrict z, const float *restrict b, ptrdiff_t n)
{
    ptrdiff_t j;
    fr_v8f m = {-INFINITY, -INFINITY, -INFINITY, -INFINITY,
                -INFINITY, -INFINITY, -INFINITY, -INFINITY}, x;
    for (j = 0; j + 8 <= n; j += 8) {
        x = fr_v8f_ld(z + j) + fr_v8f_ld(b + j);
        FR_V8F_ST(z + j, x);
        m = fr_v8f_max(m, x);
    }
    for (; j < n; j++)
        z[j] += b[j];
    m = fr_v8f_max(m, fr_v8f_ld(z + n - 8));
    return fr_v8f_hmax(m);
}

static inline double fr_long_exp_sum_f(float *z, float m, ptrdiff_t n)
{
    ptrdiff_t j;
    fr_v4d s0 = {0, 0, 0, 0}, s1 = {0, 0, 0, 0};
    double tail = 0;
    for (j = 0; j < n; j++)
        z[j] = fr_expneg_f(z[j] - m);
    for (j = 0; j + 8 <= n; j += 8) {
        const fr_v8f x = fr_v8f_ld(z + j);
        fr_sum8(&s0, &s1, x);
    }
    for (; j < n; j++)
        tail += z[j];
    s0 += s1;
    return ((s0[0] + s0[2]) + (s0[1] + s0[3])) + tail;
}

static inline void fr_long_scale_f(float *z, float inv, ptrdiff_t n)
{
    ptrdiff_t j;
    for (j = 0; j + 8 <= n; j += 8)
        FR_V8F_ST(z + j, fr_v8f_ld(z + j) * inv);
    for (; j < n; j++)
        z[j] *= inv;
}

static inline void fr_softmax_long_f(float *z, const float *b, ptrdiff_t n)
{
    const float m = fr_long_in_f(z, b, n);
    fr_long_scale_f(z, (float) (1.0 / fr_long_exp_sum_f(z, m, n)), n);
}

static inline double fr_softmax_xent_long_f(float *z, const float *b, ptrdiff_t n,
                                            ptrdiff_t y)
{
    const float m = fr_long_in_f(z, b, n);
    const float zy = z[y];
    const double s = fr_long_exp_sum_f(z, m, n);
    fr_long_scale_f(z, (float) (1.0 / s), n);
    z[y] -= 1;
    return ((double) m - (double) zy) + log(s);
}

/* Many rows: the same row functions in phases over a block of rows (every
 * row's max, then every row's exps, then every row's sum, then every row's
 * scaling), so that the rows' latency chains (max -> exp -> sum -> divide ->
 * scale, ~150 cycles, ~400 instructions: longer than the out-of-order
 * window) overlap instead of running one after another.  The exps and the
 * sums apart: a row's sum, right after its exps, waited for them to be
 * stored and reloaded (gcc's AVX-512 clone stores 16 floats a vector, the
 * sums load 8: a store-to-load forwarding that fails), one row at a time;
 * C harness (these row functions, Zen 4): 25 rows of 27 32.2 -> 24.5 ns a
 * row, 2048 rows of 65 54.1 -> 52.0, the same bits.  Each row's numbers are
 * those of the one-row function, bit for bit.  The block's rows are padded
 * to whole vectors in a buffer of FR_RB floats on the stack. */
#define FR_RB 2048

/* an ignored row (target < 0): no gradient, no loss */
#define FR_IGNORED_ROW(T, SUF)                                               \
static inline double fr_ignored_row_##SUF(T *z, ptrdiff_t n)                 \
{                                                                            \
    memset(z, 0, (size_t) n * sizeof(T));                                    \
    return 0.0;                                                              \
}
FR_IGNORED_ROW(float, f)
FR_IGNORED_ROW(double, d)

/* rows x n logits z (without bias) -> softmax(z + b), each row on its own
 * (rows = 1 is the one-row softmax) */
FR_VEC static void fr_softmax_rows_f(float *restrict z, const float *restrict b,
                                     ptrdiff_t rows, ptrdiff_t n)
{
    float t[FR_RB] __attribute__((aligned(32)));
    float m[FR_RB / 8], inv[FR_RB / 8];
    const ptrdiff_t np = (n + 7) & ~(ptrdiff_t) 7;
    ptrdiff_t r0, r, nr;
    if (n > FR_ROW) {
        for (r = 0; r < rows; r++)
            fr_softmax_long_f(z + r * n, b, n);
        return;
    }
    for (r0 = 0; r0 < rows; r0 += nr) {
        nr = rows - r0 < FR_RB / np ? rows - r0 : FR_RB / np;
        for (r = 0; r < nr; r++)
            m[r] = fr_row_in_f(t + r * np, z + (r0 + r) * n, b, n);
        for (r = 0; r < nr; r++)
            fr_row_exp_f(t + r * np, m[r], np);
        for (r = 0; r < nr; r++)
            inv[r] = (float) (1.0 / fr_row_sum_f(t + r * np, n, np));
        for (r = 0; r < nr; r++)
            fr_row_out_f(z + (r0 + r) * n, t + r * np, inv[r], n);
    }
}

/* rows x n logits z (without bias), row r's target y[r] in [0, n) or < 0
 * (ignored): row r becomes dL/dz = softmax(z + b) - onehot(y[r]), or zeros,
 * and loss[r] = -log softmax(z + b)[y[r]], or 0.0 */
FR_VEC static void fr_softmax_xent_rows_f(float *restrict z, const float *restrict b,
                                          ptrdiff_t rows, ptrdiff_t n,
                                          const ptrdiff_t *restrict y,
                                          double *restrict loss)
{
    float t[FR_RB] __attribute__((aligned(32)));
    float m[FR_RB / 8], zy[FR_RB / 8];
    double s[FR_RB / 8];
    const ptrdiff_t np = (n + 7) & ~(ptrdiff_t) 7;
    ptrdiff_t r0, r, nr;
    if (n > FR_ROW) {
        for (r = 0; r < rows; r++)
            loss[r] = y[r] < 0 ? fr_ignored_row_f(z + r * n, n)
                               : fr_softmax_xent_long_f(z + r * n, b, n, y[r]);
        return;
    }
    for (r0 = 0; r0 < rows; r0 += nr) {
        nr = rows - r0 < FR_RB / np ? rows - r0 : FR_RB / np;
        for (r = 0; r < nr; r++)
            if (y[r0 + r] >= 0) {
                m[r] = fr_row_in_f(t + r * np, z + (r0 + r) * n, b, n);
                zy[r] = t[r * np + y[r0 + r]];
            }
        for (r = 0; r < nr; r++)
            if (y[r0 + r] >= 0)
                fr_row_exp_f(t + r * np, m[r], np);
        for (r = 0; r < nr; r++)
            if (y[r0 + r] >= 0)
                s[r] = fr_row_sum_f(t + r * np, n, np);
        for (r = 0; r < nr; r++) {
            float *zr = z + (r0 + r) * n;
            if (y[r0 + r] < 0) {
                loss[r0 + r] = fr_ignored_row_f(zr, n);
                continue;
            }
            fr_row_out_f(zr, t + r * np, (float) (1.0 / s[r]), n);
            zr[y[r0 + r]] -= 1;
            loss[r0 + r] = ((double) m[r] - (double) zy[r]) + log(s[r]);
        }
    }
}

/* float64 rows, one after another, each in place (fr_softmax_d: its exps
 * vectorised, the max and sum in four scalar chains); the float32 buffers
 * above do not apply */
static inline void fr_softmax_rows_d(double *z, const double *b, ptrdiff_t rows,
                                     ptrdiff_t n)
{
    for (ptrdiff_t r = 0; r < rows; r++)
        fr_softmax_d(z + r * n, b, n);
}

static inline void fr_softmax_xent_rows_d(double *z, const double *b, ptrdiff_t rows,
                                          ptrdiff_t n, const ptrdiff_t *y,
                                          double *loss)
{
    for (ptrdiff_t r = 0; r < rows; r++)
        loss[r] = y[r] < 0 ? fr_ignored_row_d(z + r * n, n)
                           : fr_softmax_xent_d(z + r * n, b, n, y[r]);
}

#endif
