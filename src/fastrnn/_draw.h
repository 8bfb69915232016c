/* The sampler's float64 row functions (_sample.pyx): the best class of a
 * token's logits and the unnormalised weights of its draw.  Here rather than
 * in Cython so that they are built with FR_VEC (_rowops.h): the AVX2 clone
 * does the 65 exps of a V = 65 token four at a time instead of two. */
#ifndef FASTRNN_DRAW_H
#define FASTRNN_DRAW_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "_rowops.h"  /* FR_VEC */

/* exp(x) for x in [-746, 0] or NaN, within a few ulp; exp(-746) = 0.
 *
 * x = n ln2 + r with |r| <= ln2 / 2, exp(r) by its Taylor series to r**13
 * (truncation < 1e-17 relative), 2**n as the product of two normal powers
 * so that subnormal results come out right.  Callers clamp (-inf included).
 * n = round(x / ln 2) by adding 1.5 * 2**52, which leaves n in the low
 * mantissa bits; the powers of two are built from those bits. */
static inline double fr_exp_draw(double x)
{
    const double shift = 6755399441055744.0;   /* 1.5 * 2**52 */
    double n = (x * 1.4426950408889634 + shift) - shift;
    double r = (x - n * 6.93147180369123816490e-01) - n * 1.90821492927058770002e-10;
    double p = 1.0 / 6227020800.0;             /* 1/13! */
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    double n1 = (n * 0.5 + shift) - shift;
    double b = n1 + shift;                     /* low bits: n1 mod 2**12 */
    uint64_t u;
    memcpy(&u, &b, sizeof u);
    u = (u + 1023) << 52;                      /* 2**n1 */
    memcpy(&b, &u, sizeof b);
    p *= b;
    b = (n - n1) + shift;
    memcpy(&u, &b, sizeof u);
    u = (u + 1023) << 52;                      /* 2**(n - n1) */
    memcpy(&b, &u, sizeof b);
    return p * b;                              /* NaN in, NaN out (p is NaN) */
}

/* e[j] = exp((s[j] - m) / temperature), the exponent clamped at -746 (where
 * exp rounds to 0; -inf too), NaN kept.  m = s[best]: every exponent <= 0. */
FR_VEC static void fr_draw_weights(double *restrict e, const double *restrict s,
                                   double m, double temperature, ptrdiff_t n)
{
    for (ptrdiff_t j = 0; j < n; j++) {
        double x = (s[j] - m) / temperature;
        x = x < -746.0 ? -746.0 : x;
        e[j] = fr_exp_draw(x);
    }
}

/* The best class: the first index of the largest s[j], NaN ranking below
 * every number (np.argsort(-s, kind="stable")[0]); 0 if every s is NaN. */
FR_VEC static ptrdiff_t fr_best(const double *s, ptrdiff_t n)
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

#endif
