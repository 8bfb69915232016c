"""Cython generation kernel behind :func:`fastrnn.sampling.sample`.

Only ``fastrnn.sampling`` calls this, after it has checked every argument:
the parameters are C-contiguous and of one dtype, O == I, the prime ids are in
[0, I), ``top_k`` is in [1, O], ``stop_id`` is in [0, O) or -1 for none, and
the uniforms are drawn.  Nothing here checks again.  The loop itself is C
(``fr_smp_run`` in ``_draw.h``, built for AVX2 and for the baseline, the loader
picking one); this module packs the weights, owns the workspaces and releases
the GIL.

One token, the twin of ``fastrnn.reference.sample`` line for line:

    z  = Wya a + by                      (params dtype)
    s  = float64(z)
    kept = the top_k classes by s        (NaN ranks last, ties to the lower id)
    e  = exp((s[kept] - s[best]) / temperature)   (best = the top-ranked class)
    k  = kept[first i with cumsum(e)[i] > u * sum(e)]   (inverse CDF)
         or the last kept class with e > 0, or best     (NaN fallback)
    a  = tanh(Waa a + Wax[:, k] + ba)    (a row gather)

The products are the sampler's own, against Waa.T and Wya.T packed once per
call into 64-byte aligned panels (``_draw.h``): every dot product is summed
over p in order in one accumulator, the sums of ``_packgemm.h``'s product bit
for bit, in a different order from the reference's ``np.matmul`` (BLAS
gemv), so the logits may differ in their last bits, and a draw whose u falls
that close to a CDF boundary may go the other way (the tests allow exactly
that and nothing more).  The CDF is accumulated in float64 in class-id
order, sequentially, as ``np.cumsum`` does, so both twins compare (nearly
always) the same doubles; the first class above u * sum(e) is found as the
count of the CDF entries at or below it (the CDF does not decrease).  The
temperature divides s - max(s), never s alone, so that a tiny temperature
cannot overflow the logits and tie them: it tends to greedy decoding; a
temperature of 1 skips the division (exact).  exp is ``_draw.h``'s, within 1
ulp (Taylor to r**13 by Estrin's scheme); tanh is the kernels' row function
(``_rowops.h``; float32: within 2 ulp, float64: 3).

Speed.  At H = 128, V = 65, float32, a token streams 97 KB of weights from
L2 (the product ~1.1 µs of a token, ~29 bytes a cycle, near this core's L2
bandwidth) and the rest is a serial chain of small steps, so the token is
arranged around the stream:

* Wya a first (the logits), then Waa a, which the draw does not need, in
  pieces of 16 terms of p; after each piece one step of the draw (float64
  logits and their max in one pass, 16 exps, 24 terms of the cumsum, the
  count) and, once k is drawn, 16 elements of the new state whose Waa a is
  complete.  The core runs a step's latency-bound chain under the stream.
* when a product's last panel would hold only 1 or 2 columns (n % 16 for
  float32, n % 8 for float64: Wya's 65th row at V = 65), they are scalar
  chains inside the last panel group's loop, not a 5th panel of Wya.T
  padded with 14 or 15 zero columns; panel groups of up to 4 (8 vector
  accumulators).
* no Python, no BLAS and no function pointer inside the loop; the float64
  logits, max, exps, cumsum and count vectorised without scalar tails (the
  logits padded to a multiple of 4 with -inf).

Measured (this VM, 2 shared vCPUs; old = the previous kernel, fr_gemmp_f
against [Waa; Wya] packed plus the Cython draw; medians of interleaved
runs): 100,000-token calls 1.76 -> 1.46 µs a token; a C harness of the loop
alone 1.69 -> 1.40 (of which the product alone 1.11, the draw 0.17, tanh 0.11
on top of it: the core overlaps them with the stream only in part).  Tried
and dropped (no gain within the noise, or slower): taking the panel groups
backward every other token (so that the last panels read stay in L1:
<= 0.04 µs), software prefetch of the next piece or 8 to 64 rows ahead
(slower by 0.05 to 0.4 µs), leaving the state's last elements to the next
token's first pieces, pieces of 8 or 32 terms, groups of 2 or 3 panels.
"""
import numpy as np

from cython cimport floating
from libc.math cimport INFINITY
from libc.stdlib cimport free
from libc.string cimport memcpy, memset


cdef extern from "stdlib.h" nogil:
    int posix_memalign(void** p, size_t alignment, size_t size)


cdef extern from "_draw.h" nogil:
    Py_ssize_t fr_redzone()
    void fr_poison(void* p, Py_ssize_t n)
    void fr_unpoison(void* p, Py_ssize_t n)
    ctypedef struct fr_draw_args:
        Py_ssize_t O, O4, top_k
        double temperature
        double* s
        double* e
        Py_ssize_t* top
        char* kept
    Py_ssize_t fr_smp_size_f(Py_ssize_t k, Py_ssize_t n)
    Py_ssize_t fr_smp_size_d(Py_ssize_t k, Py_ssize_t n)
    Py_ssize_t fr_smp_ysize_f(Py_ssize_t n)
    Py_ssize_t fr_smp_ysize_d(Py_ssize_t n)
    void fr_smp_pack_f(Py_ssize_t k, Py_ssize_t n, const float* W, float* Wp)
    void fr_smp_pack_d(Py_ssize_t k, Py_ssize_t n, const double* W, double* Wp)
    void fr_smp_matvec_f(Py_ssize_t k, Py_ssize_t n, const float* Wp, const float* a,
                         float* y)
    void fr_smp_matvec_d(Py_ssize_t k, Py_ssize_t n, const double* Wp, const double* a,
                         double* y)
    Py_ssize_t fr_smp_run_f(Py_ssize_t H, const float* Waap, const float* Wyap,
                            const float* WaxT, const float* ba, const float* byp,
                            const Py_ssize_t* prime, Py_ssize_t n_prime, float* a,
                            float* a2, const fr_draw_args* d, Py_ssize_t stop_id,
                            const double* u, Py_ssize_t length, Py_ssize_t* out,
                            float* ya, float* yy)
    Py_ssize_t fr_smp_run_d(Py_ssize_t H, const double* Waap, const double* Wyap,
                            const double* WaxT, const double* ba, const double* byp,
                            const Py_ssize_t* prime, Py_ssize_t n_prime, double* a,
                            double* a2, const fr_draw_args* d, Py_ssize_t stop_id,
                            const double* u, Py_ssize_t length, Py_ssize_t* out,
                            double* ya, double* yy)
    Py_ssize_t fr_draw_run_f(const fr_draw_args* d, const float* z, const float* byp,
                             double u)
    Py_ssize_t fr_draw_run_d(const fr_draw_args* d, const double* z, const double* byp,
                             double u)
    void fr_exp_draw(double* e, const double* x, Py_ssize_t n)


cdef inline Py_ssize_t _up(Py_ssize_t n) noexcept nogil:
    """n bytes rounded up to a whole number of 64-byte cache lines"""
    return (n + 63) & ~<Py_ssize_t> 63


cdef struct _Work:
    # one block of 64-byte aligned pieces: the packed weights Waa.T and Wya.T,
    # by padded with -inf to O4, the two state buffers, y = Waa a, Wya a, and
    # the draw's float64 workspaces
    void* block
    Py_ssize_t total           # the block's bytes
    void* Waap
    void* Wyap
    void* byp
    void* a
    void* a2
    void* ya
    void* yy
    fr_draw_args d


cdef int _alloc(_Work* w, Py_ssize_t H, Py_ssize_t O, Py_ssize_t item, Py_ssize_t nWaa,
                Py_ssize_t nWya, Py_ssize_t nya, Py_ssize_t nyy) noexcept nogil:
    """Carve w's pieces out of one 64-byte aligned block (a panel's row is a
    cache line); 0, or -1 out of memory."""
    cdef Py_ssize_t O4 = (O + 3) & ~<Py_ssize_t> 3
    cdef Py_ssize_t sizes[11]
    cdef void** ptrs[11]
    cdef Py_ssize_t i, total = 0
    cdef char* p
    sizes[:] = [nWaa * item, nWya * item, O4 * item, H * item, H * item, nya * item,
                nyy * item, 2 * O4 * 8, O4 * 8, O * sizeof(Py_ssize_t), O]
    ptrs[:] = [&w.Waap, &w.Wyap, &w.byp, &w.a, &w.a2, &w.ya, &w.yy,
               <void**> &w.d.s, <void**> &w.d.e, <void**> &w.d.top, <void**> &w.d.kept]
    cdef Py_ssize_t rz = fr_redzone()   # 64 in ASan builds, else 0
    for i in range(11):
        total += _up(sizes[i]) + rz
    w.block = NULL
    if posix_memalign(&w.block, 64, total) != 0:
        return -1
    p = <char*> w.block
    for i in range(11):
        ptrs[i][0] = p
        fr_poison(p + sizes[i], _up(sizes[i]) - sizes[i] + rz)   # ASan builds only
        p += _up(sizes[i]) + rz
    w.total = total
    # yy: the logits' slack past O (up to a multiple of 4, after scalar
    # columns) is read (and never wins) before anything writes it; ya is
    # written before it is read, zeroed all the same
    memset(w.ya, 0, sizes[5])
    memset(w.yy, 0, sizes[6])
    w.d.O = O
    w.d.O4 = O4
    return 0


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
    cdef Py_ssize_t n_prime = prime.shape[0], length = u.shape[0], n = 0, j
    cdef _Work w
    cdef int rc
    # the arguments agree (fastrnn.sampling checks the user's, with
    # messages; this guards its own callers, for a few comparisons): every
    # id written to out and read back as an input is a row of WaxT
    if (Waa.shape[1] != H or WaxT.shape[1] != H or ba.shape[0] != H
            or Wya.shape[1] != H or a0.shape[0] != H or by.shape[0] != O
            or WaxT.shape[0] < O or H < 1 or O < 1 or out.shape[0] < length
            or not 1 <= top_k <= O or not -1 <= stop_id < O
            or not (temperature > 0 and temperature < INFINITY)):
        raise ValueError(
            f"_sample.sample: inconsistent arguments: WaxT ({WaxT.shape[0]}, "
            f"{WaxT.shape[1]}), Waa ({Waa.shape[0]}, {Waa.shape[1]}), ba {ba.shape[0]}, "
            f"Wya ({Wya.shape[0]}, {Wya.shape[1]}), by {by.shape[0]}, "
            f"a0 {a0.shape[0]}, {length} uniforms for {out.shape[0]} ids, top_k {top_k}, "
            f"stop_id {stop_id}, temperature {temperature}")
    for j in range(n_prime):
        if not 0 <= prime[j] < WaxT.shape[0]:
            raise IndexError(f"_sample.sample: prime[{j}] = {prime[j]} is not a row of "
                             f"WaxT ({WaxT.shape[0]})")
    if length == 0:
        return 0
    with nogil:
        if floating is float:
            rc = _alloc(&w, H, O, sizeof(float), fr_smp_size_f(H, H), fr_smp_size_f(H, O),
                        fr_smp_ysize_f(H), fr_smp_ysize_f(O))
        else:
            rc = _alloc(&w, H, O, sizeof(double), fr_smp_size_d(H, H), fr_smp_size_d(H, O),
                        fr_smp_ysize_d(H), fr_smp_ysize_d(O))
        if rc == 0:
            w.d.top_k = top_k
            w.d.temperature = temperature
            memcpy(w.a, &a0[0], H * sizeof(floating))
            memcpy(w.byp, &by[0], O * sizeof(floating))
            for j in range(O, w.d.O4):
                (<floating*> w.byp)[j] = -INFINITY
            if floating is float:
                fr_smp_pack_f(H, H, &Waa[0, 0], <float*> w.Waap)
                fr_smp_pack_f(H, O, &Wya[0, 0], <float*> w.Wyap)
                n = fr_smp_run_f(H, <float*> w.Waap, <float*> w.Wyap, &WaxT[0, 0], &ba[0],
                                 <float*> w.byp, &prime[0] if n_prime else NULL, n_prime,
                                 <float*> w.a, <float*> w.a2, &w.d, stop_id, &u[0], length,
                                 &out[0], <float*> w.ya, <float*> w.yy)
            else:
                fr_smp_pack_d(H, H, &Waa[0, 0], <double*> w.Waap)
                fr_smp_pack_d(H, O, &Wya[0, 0], <double*> w.Wyap)
                n = fr_smp_run_d(H, <double*> w.Waap, <double*> w.Wyap, &WaxT[0, 0], &ba[0],
                                 <double*> w.byp, &prime[0] if n_prime else NULL, n_prime,
                                 <double*> w.a, <double*> w.a2, &w.d, stop_id, &u[0], length,
                                 &out[0], <double*> w.ya, <double*> w.yy)
            fr_unpoison(w.block, w.total)
            free(w.block)
    if rc != 0:
        raise MemoryError("sample: out of memory for the packed weights")
    return n


# ---------------------------------------------------------------- for the tests

def _exp_draw(const double[::1] x):
    """exp(x) with the draw's exp (x <= 0 or NaN) as dispatched, a new array."""
    e = np.empty(x.shape[0], dtype=np.float64)
    cdef double[::1] ev = e
    if x.shape[0]:
        fr_exp_draw(&ev[0], &x[0], x.shape[0])
    return e


def _matvec(const floating[:, ::1] W, const floating[::1] a):
    """W @ a with the sampler's packed product, a new array."""
    cdef Py_ssize_t n = W.shape[0], k = W.shape[1]
    dt = np.float32 if floating is float else np.float64
    cdef floating[::1] Wp = np.zeros(max((fr_smp_size_f(k, n) if floating is float
                                          else fr_smp_size_d(k, n)), 1), dtype=dt)
    cdef floating[::1] y = np.zeros(fr_smp_ysize_f(n) if floating is float
                                    else fr_smp_ysize_d(n), dtype=dt)
    if floating is float:
        fr_smp_pack_f(k, n, &W[0, 0], &Wp[0])
        fr_smp_matvec_f(k, n, &Wp[0], &a[0], &y[0])
    else:
        fr_smp_pack_d(k, n, &W[0, 0], &Wp[0])
        fr_smp_matvec_d(k, n, &Wp[0], &a[0], &y[0])
    return np.asarray(y)[:n].copy()


def _draw(const floating[::1] z, const floating[::1] by, double temperature,
          Py_ssize_t top_k, double u):
    """The class one token draws from the logits z + by (the kernel's steps)."""
    cdef Py_ssize_t O = z.shape[0], O4 = (O + 3) & ~3, j
    dt = np.float32 if floating is float else np.float64
    cdef floating[::1] zp = np.zeros(O4, dtype=dt)
    cdef floating[::1] bp = np.full(O4, -np.inf, dtype=dt)
    cdef double[::1] s = np.zeros(2 * O4)
    cdef double[::1] e = np.zeros(O4)
    cdef Py_ssize_t[::1] top = np.zeros(O, dtype=np.intp)
    cdef char[::1] kept = np.zeros(O, dtype=np.int8)
    cdef fr_draw_args d
    for j in range(O):
        zp[j] = z[j]
        bp[j] = by[j]
    d.O = O
    d.O4 = O4
    d.top_k = top_k
    d.temperature = temperature
    d.s = &s[0]
    d.e = &e[0]
    d.top = &top[0]
    d.kept = &kept[0]
    if floating is float:
        return fr_draw_run_f(&d, &zp[0], &bp[0], u)
    else:
        return fr_draw_run_d(&d, &zp[0], &bp[0], u)
