/* fastrnn.optim's one-pass loops (see _update.pyx): each intermediate rounded
 * to the dtype in the order of optim's NumPy calls (the module is compiled
 * with -ffp-contract=off: no fused multiply-adds, in any clone), vectorised
 * (restrict: the caller checks that no written array overlaps another
 * array) and compiled per CPU with FR_VEC like the row functions. */
#ifndef FASTRNN_UPDATE_H
#define FASTRNN_UPDATE_H

#include <fenv.h>
#include <math.h>
#include <stddef.h>

#include "_rowops.h"  /* FR_VEC */

/* out[i] = (float) x[i] for i < n, and the floating-point exception flags
 * these roundings raised (fetestexcept's bits; optim's dt(x) warns of the
 * same): the volatile stores keep the conversions between the clearing and
 * the test */
static inline int fr_to_float(const double *x, float *out, int n)
{
    volatile float r;
    int i;
    feclearexcept(FE_DIVBYZERO | FE_OVERFLOW | FE_UNDERFLOW | FE_INVALID);
    for (i = 0; i < n; i++) {
        r = (float) x[i];
        out[i] = r;
    }
    return fetestexcept(FE_DIVBYZERO | FE_OVERFLOW | FE_UNDERFLOW | FE_INVALID);
}

#define FR_UPDATE(T, SUF, SQRT)                                                \
FR_VEC static void fr_sgd_##SUF(ptrdiff_t n, T *restrict p, const T *restrict g, \
                                T *restrict v, T lr, T mu, int nesterov, T wd, \
                                int use_wd)                                    \
{                                                                              \
    ptrdiff_t i;                                                               \
    if (v == NULL && !use_wd) {                                                \
        for (i = 0; i < n; i++) {                                              \
            T buf = g[i] * lr;              /* np.multiply(g, lr, out=buf) */  \
            p[i] = p[i] - buf;              /* np.subtract(p, buf, out=p) */   \
        }                                                                      \
        return;                                                                \
    }                                                                          \
    for (i = 0; i < n; i++) {                                                  \
        T d = g[i], u, buf;                                                    \
        if (use_wd) {                                                          \
            d = p[i] * wd;                  /* np.multiply(p, wd, out=d) */    \
            d = d + g[i];                   /* np.add(d, g, out=d) */          \
        }                                                                      \
        u = d;                                                                 \
        if (v != NULL) {                                                       \
            T vi = v[i] * mu;               /* np.multiply(v, mu, out=v) */    \
            vi = vi + d;                    /* np.add(v, d, out=v) */          \
            v[i] = vi;                                                         \
            u = vi;                                                            \
            if (nesterov) {                                                    \
                u = vi * mu;                /* np.multiply(v, mu, out=buf) */  \
                u = u + d;                  /* np.add(buf, d, out=buf) */      \
            }                                                                  \
        }                                                                      \
        buf = u * lr;                       /* np.multiply(u, lr, out=buf) */  \
        p[i] = p[i] - buf;                  /* np.subtract(p, buf, out=p) */   \
    }                                                                          \
}                                                                              \
FR_VEC static void fr_adagrad_##SUF(ptrdiff_t n, T *restrict p,                \
                                    const T *restrict g, T *restrict G, T lr,  \
                                    T eps)                                     \
{                                                                              \
    ptrdiff_t i;                                                               \
    for (i = 0; i < n; i++) {                                                  \
        T buf = g[i] * g[i];                /* np.multiply(g, g, out=buf) */   \
        T Gi = G[i] + buf;                  /* np.add(G, buf, out=G) */        \
        G[i] = Gi;                                                             \
        buf = SQRT(Gi);                     /* np.sqrt(G, out=buf) */          \
        buf = buf + eps;                    /* np.add(buf, eps, out=buf) */    \
        buf = g[i] / buf;                   /* np.divide(g, buf, out=buf) */   \
        buf = buf * lr;                     /* np.multiply(buf, lr, out=buf) */\
        p[i] = p[i] - buf;                  /* np.subtract(p, buf, out=p) */   \
    }                                                                          \
}                                                                              \
/* c1 = 1 - b1, c2 = 1 - b2, bc2 = sqrt(1 - b2**t), each rounded to the dtype \
 * as optim's NumPy code rounds them */                                       \
FR_VEC static void fr_adam_##SUF(ptrdiff_t n, T *restrict p, const T *restrict g, \
                                 T *restrict m, T *restrict v, T b1, T c1,     \
                                 T b2, T c2, T bc2, T eps, T step, T wd,       \
                                 int use_wd)                                   \
{                                                                              \
    ptrdiff_t i;                                                               \
    for (i = 0; i < n; i++) {                                                  \
        T d = g[i], buf, mi, vi;                                               \
        if (use_wd) {                                                          \
            d = p[i] * wd;                  /* np.multiply(p, wd, out=d) */    \
            d = d + g[i];                   /* np.add(d, g, out=d) */          \
        }                                                                      \
        mi = m[i] * b1;                     /* np.multiply(m, b1, out=m) */    \
        buf = d * c1;                       /* np.multiply(d, 1 - b1, out=buf) */ \
        mi = mi + buf;                      /* np.add(m, buf, out=m) */        \
        m[i] = mi;                                                             \
        vi = v[i] * b2;                     /* np.multiply(v, b2, out=v) */    \
        buf = d * d;                        /* np.multiply(d, d, out=buf) */   \
        buf = buf * c2;                     /* np.multiply(buf, 1 - b2, out=buf) */ \
        vi = vi + buf;                      /* np.add(v, buf, out=v) */        \
        v[i] = vi;                                                             \
        buf = SQRT(vi);                     /* np.sqrt(v, out=buf) */          \
        buf = buf / bc2;                    /* np.divide(buf, bc2, out=buf) */ \
        buf = buf + eps;                    /* np.add(buf, eps, out=buf) */    \
        buf = mi / buf;                     /* np.divide(m, buf, out=buf) */   \
        buf = buf * step;                   /* np.multiply(buf, step, out=buf) */ \
        p[i] = p[i] - buf;                  /* np.subtract(p, buf, out=p) */   \
    }                                                                          \
}                                                                              \
/* np.clip(g, -b, b, out=g): NaN stays NaN (no comparison holds; quiet     \
 * ones, which raise no invalid flag for it), -0.0 too */                    \
FR_VEC static void fr_clip_##SUF(ptrdiff_t n, T *restrict g, T b)              \
{                                                                              \
    ptrdiff_t i;                                                               \
    for (i = 0; i < n; i++) {                                                  \
        T x = g[i];                                                            \
        x = __builtin_isless(x, -b) ? -b : x;                                  \
        g[i] = __builtin_isgreater(x, b) ? b : x;                              \
    }                                                                          \
}                                                                              \
/* np.multiply(g, s, out=g) */                                              \
FR_VEC static void fr_scale_##SUF(ptrdiff_t n, T *restrict g, T s)             \
{                                                                              \
    ptrdiff_t i;                                                               \
    for (i = 0; i < n; i++)                                                    \
        g[i] = g[i] * s;                                                       \
}                                                                              \
/* sum(x * x) in float64 (exact squares of float32 values), eight running    \
 * sums: one order for every clone */                                        \
FR_VEC static double fr_sumsq_##SUF(ptrdiff_t n, const T *restrict x)          \
{                                                                              \
    double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                    \
    ptrdiff_t i;                                                               \
    int j;                                                                     \
    for (i = 0; i + 8 <= n; i += 8)                                            \
        for (j = 0; j < 8; j++)                                                \
            s[j] += (double) x[i + j] * (double) x[i + j];                     \
    for (; i < n; i++)                                                         \
        s[0] += (double) x[i] * (double) x[i];                                 \
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])); \
}
FR_UPDATE(float, f, sqrtf)
FR_UPDATE(double, d, sqrt)

#endif
