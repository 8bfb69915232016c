"""Cython generation kernel behind :func:`fastrnn.sampling.sample`.

Only ``fastrnn.sampling`` calls this, after it has checked every argument:
the parameters are C-contiguous and of one dtype, O == I, the prime ids are in
[0, I), ``top_k`` is in [1, O], ``stop_id`` is in [0, O) or -1 for none, and
the uniforms are drawn.  Nothing here checks again.

One token, the twin of ``fastrnn.reference.sample`` line for line:

    [Waa a; Wya a] = W a                 (W = [Waa; Wya], ONE product for both)
    z  = Wya a + by                      (params dtype)
    s  = float64(z)
    kept = the top_k classes by s        (NaN ranks last, ties to the lower id)
    e  = exp((s[kept] - s[best]) / temperature)   (best = the top-ranked class)
    k  = kept[first i with cumsum(e)[i] > u * sum(e)]   (inverse CDF)
         or the last kept class with e > 0, or best     (NaN fallback)
    a  = tanh(Waa a + Wax[:, k] + ba)    (Waa a from the same product; a row gather)

Waa a does not depend on the drawn k, so it comes out of the same product as
the logits: the kernels' own (``_packgemm.h``), against W.T packed once per
call.  It sums each dot product in a different order from the reference's
``np.matmul`` (BLAS gemv), so the logits may differ in their last bits, and a
draw whose u falls that close to a CDF boundary may go the other way (the
tests allow exactly that and nothing more).  The CDF is accumulated in
float64 in class-id order, sequentially, as ``np.cumsum`` does, so both twins
compare (nearly always) the same doubles.  The temperature divides s - max(s), never s alone, so that
a tiny temperature cannot overflow the logits and tie them: it tends to
greedy decoding.

Speed: at H = 128, V = 65 one token is one small product plus H tanh and V
exp.  OpenBLAS's sgemv took 10,000 instructions of the 16,000 a token cost
(callgrind); the packed product, one row against four panels of W.T at once,
needs ~4,500.  tanh is the kernels' row function (``_rowops.h``); the best
class and the float64 weights exp((s - m) / temperature) are ``_draw.h``'s
(libm's exp does not vectorise; that one does).  All three are built for AVX2
and for the baseline, the loader picking one.
"""
import numpy as np

from cython cimport floating
from libc.math cimport isnan

from fastrnn._packgemm cimport _pack, _pmm, fr_packed_size_f, fr_packed_size_d


cdef extern from "_rowops.h" nogil:
    void fr_bias_tanh_f(float* c, const float* b, Py_ssize_t n)
    void fr_bias_tanh_d(double* c, const double* b, Py_ssize_t n)


cdef extern from "_draw.h" nogil:
    void fr_draw_weights(double* e, const double* s, double m, double temperature,
                         Py_ssize_t n)
    Py_ssize_t fr_best(const double* s, Py_ssize_t n)


cdef inline void _matvec(Py_ssize_t m, Py_ssize_t k, const floating* Wp,
                         const floating* x, floating* y) noexcept nogil:
    """y (m,) = W @ x for W (m, k) packed transposed (fr_pack of W.T), x (k,).
    The first m' rows of W are the product for any m' <= m."""
    _pmm(1, m, k, x, k, 1, Wp, False, y, m)


cdef inline void _update(Py_ssize_t H, const floating* Waa_a, const floating* wax,
                         const floating* ba, floating* a) noexcept nogil:
    """a = tanh(Waa a_prev + Wax[:, x] + ba), given Waa_a = Waa a_prev and
    wax = Wax[:, x] (row x of Wax.T); Waa_a must not overlap a."""
    cdef Py_ssize_t j
    for j in range(H):
        a[j] = Waa_a[j] + wax[j]
    # a = tanh(a + ba): the kernels' row function (_rowops.h; float32: within
    # 2 ulp, vectorised for AVX2)
    if floating is float:
        fr_bias_tanh_f(a, ba, H)
    else:
        fr_bias_tanh_d(a, ba, H)


cdef inline bint _beats(double sj, double si) noexcept nogil:
    """Class j ranks above class i < j: a strictly larger s, NaN ranking last.

    The order of ``np.argsort(-s, kind="stable")``: descending, NaN last,
    ties kept in increasing id order.
    """
    if isnan(si):
        return not isnan(sj)
    return sj > si


cdef Py_ssize_t _pick(Py_ssize_t O, Py_ssize_t top_k, const floating* Wya_a,
                      const floating* by, double temperature, double u, double* s,
                      double* e, Py_ssize_t* top, char* kept) noexcept nogil:
    """The class drawn by inverse CDF from softmax(z / temperature) over the
    top_k classes of z = Wya a + by.

    s, e (O,) float64, top (top_k,) and kept (O,) are workspaces.
    """
    cdef Py_ssize_t j, i, n, best
    cdef double m, total, acc
    cdef bint every = top_k >= O
    for j in range(O):
        s[j] = <double> (Wya_a[j] + by[j])
    if every:
        best = fr_best(s, O)
    else:
        # insertion into the ranked list top[0:n]; j is the highest id so far,
        # so it moves up only past classes it strictly beats
        n = 0
        for j in range(O):
            if n == top_k:
                if not _beats(s[j], s[top[n - 1]]):
                    continue
                i = n - 1
            else:
                i = n
                n += 1
            while i > 0 and _beats(s[j], s[top[i - 1]]):
                top[i] = top[i - 1]
                i -= 1
            top[i] = j
        best = top[0]
        for j in range(O):
            kept[j] = 0
        for i in range(top_k):
            kept[top[i]] = 1
    m = s[best]
    # e = exp((s - m) / temperature) for every class (one vectorised loop,
    # _draw.h), then the sums over the kept ones in id order
    fr_draw_weights(e, s, m, temperature, O)
    # cumsum(e) over the kept classes in id order, into s (free now): one
    # chain of dependent additions, the same ones np.cumsum makes
    acc = 0.0
    for j in range(O):
        if every or kept[j]:
            acc += e[j]
        s[j] = acc
    # the smallest kept k with cumsum(e)[k] > u * total, i.e. cumsum(p)[k] > u
    total = acc * u
    for j in range(O):
        if (every or kept[j]) and s[j] > total:
            return j
    # only NaN gets here: for finite e the last sum is total > u * total (u < 1)
    for j in range(O - 1, -1, -1):
        if (every or kept[j]) and e[j] > 0:
            return j
    return best


def sample(const floating[:, ::1] WaxT, const floating[:, ::1] Waa,
           const floating[::1] ba, const floating[:, ::1] Wya,
           const floating[::1] by, const Py_ssize_t[::1] prime,
           const floating[::1] a0, double temperature, Py_ssize_t top_k,
           Py_ssize_t stop_id, const double[::1] u, Py_ssize_t[::1] out):
    """Generate up to len(u) ids into out; returns how many were generated.

    Feeds prime first (no draws), then draws token t with u[t].  Stops after
    stop_id (-1: never) or len(u) tokens.  top_k = O keeps every class.
    """
    cdef Py_ssize_t H = Waa.shape[0], O = Wya.shape[0]
    cdef Py_ssize_t n_prime = prime.shape[0], length = u.shape[0]
    dt = np.float32 if floating is float else np.float64
    # W = [Waa; Wya] (H + O, H): one product per token gives Waa a and Wya a;
    # Wp = W.T packed (columns j < H: Waa a, the rest: Wya a)
    cdef floating[:, ::1] W = np.concatenate([Waa, Wya])
    cdef Py_ssize_t np_ = (fr_packed_size_f(H, H + O) if floating is float
                           else fr_packed_size_d(H, H + O))
    cdef floating[::1] Wp = np.empty(np_, dtype=dt)
    # workspaces: the state, W a, and the float64 softmax
    cdef floating[::1] a = np.array(a0, dtype=dt)
    cdef floating[::1] Wa = np.empty(H + O, dtype=dt)
    cdef double[::1] s = np.empty(O, dtype=np.float64)
    cdef double[::1] e = np.empty(O, dtype=np.float64)
    cdef Py_ssize_t[::1] top = np.empty(O, dtype=np.intp)
    cdef char[::1] kept = np.empty(O, dtype=np.int8)
    cdef Py_ssize_t t, k, n = 0
    with nogil:
        _pack(H, H + O, &W[0, 0], 1, H, &Wp[0])
        for t in range(n_prime):
            # Wa[:H] = Waa @ a
            _matvec(H, H, &Wp[0], &a[0], &Wa[0])
            _update(H, &Wa[0], &WaxT[prime[t], 0], &ba[0], &a[0])
        for t in range(length):
            # Wa = [Waa; Wya] @ a
            _matvec(H + O, H, &Wp[0], &a[0], &Wa[0])
            k = _pick(O, top_k, &Wa[H], &by[0], temperature, u[t], &s[0], &e[0],
                      &top[0], &kept[0])
            out[t] = k
            n = t + 1
            if k == stop_id or n == length:
                break
            _update(H, &Wa[0], &WaxT[k, 0], &ba[0], &a[0])
    return n
