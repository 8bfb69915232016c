/* Row operations of the fastrnn kernels: bias + tanh, softmax, softmax
 * cross-entropy with its gradient.  Plain C so that gcc -O3 vectorises the
 * element loops: tanh and exp for float32 are branch-free polynomial
 * approximations (a few float32 ulp; see tests/test_rowops.py), float64 uses
 * libm for full double accuracy.
 *
 * NaN policy: a NaN input gives NaN outputs (never an out-of-range index). */
#ifndef FASTRNN_ROWOPS_H
#define FASTRNN_ROWOPS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* exp for float32 (Cephes expf): 2^n * P(r), |r| <= ln2/2; max relative
 * error ~1e-7.  Inputs below -87.34 give the smallest normal float (~1e-38)
 * instead of a denormal or 0: within a softmax sum >= 1 that is nothing. */
static inline float fr_expf(float x)
{
    union { uint32_t i; float f; } two_n;
    float xc = x < -87.33654475f ? -87.33654475f : (x > 88.37626266f ? 88.37626266f : x);
    float t = xc * 1.44269504088896341f + 0.5f;
    int32_t n = (int32_t) t;
    n -= (t < (float) n);                       /* floor */
    float fn = (float) n;
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
    /* NaN in, NaN out: the clamps above keep NaN, and y is NaN */
    return (x != x) ? x : y * two_n.f;
}

/* tanh for float32.  |x| < 0.625: the rational approximation used by Eigen
 * (generic_fast_tanh_float), relative error ~3e-7.  Beyond: 1 - 2/(e^2|x| + 1)
 * with fr_expf, which keeps 1 - tanh(x)^2 (the BPTT factor) as accurate as
 * float32 can hold it near saturation (the rational form alone lost up to 3
 * digits of it at |x| in [2, 5]).  NaN in, NaN out. */
static inline float fr_tanhf(float x)
{
    const float c = 7.90531110763549805f;
    float xc = x > c ? c : (x < -c ? -c : x);
    float x2 = xc * xc;
    float p = -2.76076847742355e-16f;
    p = p * x2 + 2.00018790482477e-13f;
    p = p * x2 + -8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    p = p * xc;
    float q = 1.19825839466702e-06f;
    q = q * x2 + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f;
    q = q * x2 + 4.89352518554385e-03f;
    float small = fabsf(x) < 0.0004f ? x : p / q;
    float ax = fabsf(x);
    float e = fr_expf(2.0f * (ax < 44.0f ? ax : 44.0f));
    float big = copysignf(1.0f - 2.0f / (e + 1.0f), x);
    float r = ax < 0.625f ? small : big;
    return (x != x) ? x : r;
}

/* c[j] = tanh(c[j] + b[j]) */
static inline void fr_bias_tanh_f(float *restrict c, const float *restrict b, ptrdiff_t n)
{
    for (ptrdiff_t j = 0; j < n; j++)
        c[j] = fr_tanhf(c[j] + b[j]);
}

static inline void fr_bias_tanh_d(double *restrict c, const double *restrict b, ptrdiff_t n)
{
    for (ptrdiff_t j = 0; j < n; j++)
        c[j] = tanh(c[j] + b[j]);
}

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
FR_MAX(float, fr_max_f)
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
FR_EXP_SHIFT_SUM(float, f, fr_expf)
FR_EXP_SHIFT_SUM(double, d, exp)

/* Row of logits z (without bias) -> softmax(z + b), in place. */
#define FR_SOFTMAX(T, SUF)                                                   \
static inline void fr_softmax_##SUF(T *restrict z, const T *restrict b,      \
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
 * dL/dz = softmax(z + b) - onehot(y); returns -log softmax(z + b)[y]. */    \
static inline double fr_softmax_xent_##SUF(T *restrict z, const T *restrict b, \
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
    return (double) m + log(s) - (double) zy;                                \
}
FR_SOFTMAX(float, f)
FR_SOFTMAX(double, d)

#endif
