"""Cython + BLAS kernels for the Elman RNN forward pass and BPTT.

Only ``fastrnn._api`` calls these.  ``forward`` and ``loss_and_grads`` run
after ``fastrnn._validate`` has checked every argument: shapes agree, ids
and targets are in range, padding is neutralised, arrays are C-contiguous;
they check only that they were handed such arrays.  ``forward_ids`` and
``loss_and_grads_ids`` take the public call's own arguments for the usual
small call, check that case themselves and decline anything else (see
"the usual small call" below).

Internal layout (row-major, time-major so that one step of the whole batch is
one contiguous (B, H) block):

    Abuf (T+1, B, H)  slot 0 = a<0>, slot t+1 = a<t>; zero at padding
    L    (T*B, O)     logits, then dL/dlogits in place (loss_and_grads)
    dZ   (T*B, H)     dL/dA, then dL/dz<t> (pre-tanh) in place

With Abuf's slot t holding a<t-1>, dWaa = sum_t dz<t>^T a<t-1> is ONE GEMM of
dZ against Abuf[0:T].
"""
import os

import numpy as np

cimport numpy as cnp
from cython cimport floating
from cpython.dict cimport PyDict_GetItemWithError, PyDict_SetItem, PyDict_Size
from cpython.pystate cimport PyThreadState_GetDict
from cpython.object cimport PyObject
from libc.math cimport isfinite
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

from fastrnn._blas cimport gemm
from fastrnn._packgemm cimport (_pack, _pmm, _rec1, _rec1_fits, fr_packed_size_f,
                                fr_packed_size_d)

cnp.import_array()


cdef extern from "_rowops.h" nogil:
    void fr_bias_tanh_f(float* c, const float* b, Py_ssize_t n)
    void fr_bias_tanh_d(double* c, const double* b, Py_ssize_t n)
    void fr_softmax_rows_f(float* z, const float* b, Py_ssize_t rows, Py_ssize_t n)
    void fr_softmax_rows_d(double* z, const double* b, Py_ssize_t rows, Py_ssize_t n)
    void fr_softmax_xent_rows_f(float* z, const float* b, Py_ssize_t rows, Py_ssize_t n,
                                const Py_ssize_t* y, double* loss)
    void fr_softmax_xent_rows_d(double* z, const double* b, Py_ssize_t rows, Py_ssize_t n,
                                const Py_ssize_t* y, double* loss)
    void fr_dtanh_f(float* dz, const float* dn, const float* a, Py_ssize_t n)
    void fr_dtanh_d(double* dz, const double* dn, const double* a, Py_ssize_t n)
    void fr_exp_f(float* z, Py_ssize_t n)
    void fr_tanh_vec_f(float* x, Py_ssize_t n)
    void fr_tanh_vec_d(double* x, Py_ssize_t n)
    void fr_add_f(float* y, const float* x, Py_ssize_t n)
    void fr_add_d(double* y, const double* x, Py_ssize_t n)
    void fr_sum_rows_f(float* y, const float* x, Py_ssize_t rows, Py_ssize_t n)
    void fr_sum_rows_d(double* y, const double* x, Py_ssize_t rows, Py_ssize_t n)


cdef extern from "_pool.h" nogil:
    ctypedef void (*fr_task_fn)(void* ctx, int tid, int nt) noexcept nogil
    ctypedef struct fr_bar:
        long long wait_ns
    void fr_pool_init()
    int fr_pool_threads()
    int fr_pool_set_threads(int n)
    int fr_max_threads()
    int fr_team(int nt, fr_task_fn fn, void* ctx, fr_bar* bar)
    void fr_bar_wait(fr_bar* b, int nt)
    int fr_set_spin(int n)
    long long fr_now_ns()
    long long fr_take_wait_ns()
    int fr_note_call(long long call_ns, long long wait_ns, long long start_ns, int nt)
    int fr_set_backoff(int on)
    int fr_backing_off()
    long long fr_last_call(int wait)


fr_pool_init()

#: B*H*H from which the kernels run on several threads (see _threads).
cdef Py_ssize_t PAR_MIN_BHH = 2**18


cdef inline Py_ssize_t _up16(Py_ssize_t n) noexcept nogil:
    return (n + 15) & ~(<Py_ssize_t> 15)    # 64-byte sections of the workspace


cdef inline Py_ssize_t _packed(Py_ssize_t k, Py_ssize_t n) noexcept nogil:
    """Workspace elements for a packed k x n operand (either dtype: panels of
    16 floats or 8 doubles, so n rounded up to 16 covers both)."""
    return k * _up16(n)


# The per-step products against Waa are ours (_pmm: T of them reuse one
# packing) unless the caller asks for BLAS (blas_steps: large steps when BLAS
# has several threads, see fastrnn._api._plan).  The other products
# (output layer, dWaa) are ours too when their right operand W, packed, fits
# in this many bytes: it stays in L2 while the rows of A stream past, and
# BLAS's per-call packing would cost as much as the arithmetic.  Larger ones
# (word size: Wya is 10 MB) use BLAS, whose packed blocks of both operands are
# what a product that big needs.
cdef enum:
    SMALL_W_BYTES = 256 * 1024
    KBLOCK_MAX_M = 512
    KBLOCK_MIN_K = 128


cdef inline bint _small_w(Py_ssize_t k, Py_ssize_t n, Py_ssize_t itemsize) noexcept nogil:
    return _packed(k, n) * itemsize <= SMALL_W_BYTES


cdef inline bint _mm_blas(bint trans_a, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                          Py_ssize_t itemsize) noexcept nogil:
    """Whether _mm of these sizes calls BLAS (see _mm)."""
    if _small_w(k, n, itemsize):
        return False
    return not (trans_a and m <= KBLOCK_MAX_M and _small_w(KBLOCK_MIN_K, n, itemsize))


def uses_blas(bint grads, bint dense, Py_ssize_t B, Py_ssize_t T, Py_ssize_t I,
              Py_ssize_t H, Py_ssize_t O, Py_ssize_t itemsize):
    """Whether forward (grads False) or loss_and_grads (True) of these sizes
    calls BLAS, with the per-step products the kernels' own (blas_steps
    False): an _mm that goes to BLAS (every product of the kernels but the
    per-step ones goes through _mm)."""
    cdef Py_ssize_t BT = B * T
    if _mm_blas(False, BT, O, H, itemsize):                    # logits
        return True
    if dense and _mm_blas(False, BT, H, I, itemsize):          # X @ Wax.T
        return True
    return grads and (_mm_blas(False, BT, H, O, itemsize)      # dL @ Wya
                      or _mm_blas(True, H, H, BT, itemsize)    # dWaa
                      or _mm_blas(True, O, H, BT, itemsize)    # dWya
                      or (dense and _mm_blas(True, I, H, BT, itemsize)))   # dWax


cdef inline Py_ssize_t _scratch(Py_ssize_t itemsize) noexcept nogil:
    """Workspace elements for _mm's packed W."""
    return SMALL_W_BYTES // itemsize


cdef void _mm(bint trans_a, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const floating* A,
              Py_ssize_t lda, bint trans_w, const floating* W, Py_ssize_t ldw,
              bint accumulate, floating* C, Py_ssize_t ldc,
              floating* scratch, int nt) noexcept nogil:
    """C (m x n, row stride ldc) = [C +] op(A) @ op(W), row-major, op(A) m x k,
    op(W) k x n.  A small W is packed into scratch (_scratch elements) for
    _pmm, whose rows of C the team of up to nt threads splits in blocks of 6
    (each element is computed as on one thread); a large one goes to BLAS,
    but for a weight gradient (trans_a, m <= KBLOCK_MAX_M, and KBLOCK_MIN_K
    rows of W fit: n <= 512 float32, 256 float64), whose W is packed a block
    of rows at a time.  A last panel of one or two columns: dot products (_pmm's
    tail)."""
    cdef Py_ssize_t a_rs = 1 if trans_a else lda, a_cs = lda if trans_a else 1
    cdef Py_ssize_t w_rs = 1 if trans_w else ldw, w_cs = ldw if trans_w else 1
    cdef Py_ssize_t kb, k0 = 0, kk
    cdef _Job j
    if _small_w(k, n, sizeof(floating)):
        kb = k   # W packed whole, once
    elif not _mm_blas(trans_a, m, n, k, sizeof(floating)):
        # a weight gradient (dWaa = dZ.T @ A, dWya = dL.T @ A: k = B*T rows):
        # W a block of k rows at a time, each block's product accumulated.
        # OpenBLAS packs both operands, A read transposed, on every call: its
        # copies were 7.6% of the small step (perf); here the small step takes
        # 0.955x the time (interleaved A/B); float64 (H <= 256 here) 0.984x
        # (measured 1.04x before the workspace was aligned), and a
        # mid-sized call then makes no BLAS call to limit.  Outputs of more than KBLOCK_MAX_M rows stay with
        # BLAS (word's dWya: 10000 rows, measured slower by a k-blocked
        # product before).
        kb = SMALL_W_BYTES // (_up16(n) * sizeof(floating))
    else:
        gemm(trans_a, trans_w, <int> m, <int> n, <int> k, <floating> 1.0, A, <int> lda,
             W, <int> ldw, <floating> (1.0 if accumulate else 0.0), C, <int> ldc)
        return
    while True:   # at least once: k = 0 still sets C (to 0 unless accumulating)
        kk = k - k0 if k - k0 < kb else kb
        _pack(kk, n, W + k0 * w_rs, w_rs, w_cs, scratch)
        if nt <= 1 or m < 12 * nt:
            _pmm(m, n, kk, A + k0 * a_cs, a_rs, a_cs, scratch, accumulate or k0 > 0, C,
                 ldc, True)
        else:
            j.phase = PH_MM
            j.dbl = floating is double
            j.m = m; j.n = n; j.k = kk; j.a_rs = a_rs; j.a_cs = a_cs; j.ldc = ldc
            j.A = A + k0 * a_cs; j.Wp = scratch; j.acc = accumulate or k0 > 0; j.C = C
            fr_team(nt, _task, &j, &j.bar)
        k0 += kk
        if k0 >= k:
            return


cdef inline void _bias_tanh(floating* c, const floating* b, Py_ssize_t n) noexcept nogil:
    if floating is float:
        fr_bias_tanh_f(c, b, n)
    else:
        fr_bias_tanh_d(c, b, n)


cdef inline void _dtanh(floating* dz, const floating* dn, const floating* a,
                        Py_ssize_t n) noexcept nogil:
    if floating is float:
        fr_dtanh_f(dz, dn, a, n)
    else:
        fr_dtanh_d(dz, dn, a, n)


cdef inline void _add(floating* y, const floating* x, Py_ssize_t n) noexcept nogil:
    if floating is float:
        fr_add_f(y, x, n)
    else:
        fr_add_d(y, x, n)


cdef inline void _sum_rows(floating* y, const floating* x, Py_ssize_t rows,
                           Py_ssize_t n) noexcept nogil:
    if floating is float:
        fr_sum_rows_f(y, x, rows, n)
    else:
        fr_sum_rows_d(y, x, rows, n)


cdef inline Py_ssize_t _part(Py_ssize_t n, Py_ssize_t unit, Py_ssize_t i,
                            Py_ssize_t nt) noexcept nogil:
    """Where thread i's share begins (and thread i-1's ends) when n items are
    split evenly over nt threads in whole units of `unit` items."""
    cdef Py_ssize_t c = unit * (((n + unit - 1) // unit) * i // nt)
    return c if c < n else n


# ---- work on several threads ------------------------------------------------
#
# A call's parallel phases run as team runs of the pool in _pool.h: _task is
# called on every thread of the team with the same _Job, and each thread
# takes its share (_part): columns of H in whole 16-column panels for the
# recurrence, blocks of 6 rows for the output layer's products, rows for the
# softmax, one half each of the batched gradients.  Every element is computed
# by the same operations in the same order whichever thread owns it, so the
# results do not depend on the thread count.

cdef enum:
    PH_STATES
    PH_BPTT
    PH_MM
    PH_XENT
    PH_SOFTMAX
    PH_GRADS


cdef struct _Job:
    int phase
    bint dbl              # double (else float) arrays
    fr_bar bar
    Py_ssize_t B, T, nI, H, O     # (nI: I is a macro of complex.h)
    bint dense
    const Py_ssize_t* ids
    const Py_ssize_t* lengths
    const Py_ssize_t* Y
    const void* src       # PH_STATES: WaxT or projected dense inputs
    const void* Waa
    const void* Wp        # packed Waa.T (PH_STATES), Waa (PH_BPTT), W (PH_MM)
    const void* ba
    const void* by
    const void* a0        # PH_STATES: a<0>, and Abuf the states a<1..T>
    void* Abuf
    void* Aout            # PH_STATES: the states batch-major too (or NULL)
    void* dZ
    void* dnext
    void* L               # logits (PH_XENT), probs (PH_SOFTMAX)
    double* rowloss
    # PH_MM: C (m x n) = [C +] A @ Wp
    Py_ssize_t m, n, k, a_rs, a_cs, ldc
    const void* A
    void* C
    bint acc
    # PH_GRADS
    const void* x         # dense inputs, or NULL
    void* P
    void* dWaxT
    void* dWaa
    void* dba
    void* dWya
    void* dby
    void* a_last
    void* scratch
    void* scratch2


cdef void _task(void* job, int tid, int nt) noexcept nogil:
    cdef _Job* j = <_Job*> job
    if j.dbl:
        _phase(j, tid, nt, <double*> NULL)
    else:
        _phase(j, tid, nt, <float*> NULL)


cdef void _phase(_Job* j, int tid, int nt, floating* kind) noexcept nogil:
    """Thread tid's share of j's phase (kind: a NULL of the arrays' type)."""
    cdef Py_ssize_t c0, c1
    cdef fr_bar* bar = &j.bar if nt > 1 else NULL
    if j.phase == PH_STATES:
        c0 = _part(j.H, 16, tid, nt)
        c1 = _part(j.H, 16, tid + 1, nt)
        _states_cols(j.dense, j.B, j.T, j.H, j.ids, <const floating*> j.src,
                     <const floating*> j.Waa, <const floating*> j.Wp,
                     <const floating*> j.ba, j.lengths, <const floating*> j.a0,
                     <floating*> j.Abuf, <floating*> j.Aout, c0, c1, bar, nt)
    elif j.phase == PH_BPTT:
        c0 = _part(j.H, 16, tid, nt)
        c1 = _part(j.H, 16, tid + 1, nt)
        _bptt_cols(j.B, j.T, j.H, j.lengths, <const floating*> j.Abuf,
                   <floating*> j.dZ, <const floating*> j.Waa, <const floating*> j.Wp,
                   <floating*> j.dnext, c0, c1, bar, nt)
    elif j.phase == PH_MM:
        c0 = _part(j.m, 6, tid, nt)
        c1 = _part(j.m, 6, tid + 1, nt)
        if c1 > c0:
            _pmm(c1 - c0, j.n, j.k, <const floating*> j.A + c0 * j.a_rs, j.a_rs, j.a_cs,
                 <const floating*> j.Wp, j.acc, <floating*> j.C + c0 * j.ldc, j.ldc, True)
    elif j.phase == PH_XENT:
        _xent_rows(_part(j.B * j.T, 1, tid, nt), _part(j.B * j.T, 1, tid + 1, nt),
                   j.B, j.T, j.O, <const floating*> j.by, j.Y, <floating*> j.L,
                   j.rowloss)
    elif j.phase == PH_SOFTMAX:
        _softmax_seqs(_part(j.B, 1, tid, nt), _part(j.B, 1, tid + 1, nt), j.T, j.O,
                      <const floating*> j.by, j.lengths, <floating*> j.L)
    elif j.phase == PH_GRADS:
        if tid < 2:
            _grads_half(tid, j.B, j.T, j.nI, j.H, j.O, j.ids, <const floating*> j.x,
                        j.lengths, <const floating*> j.Abuf, <const floating*> j.L,
                        <const floating*> j.dZ, <floating*> j.P, <floating*> j.dWaxT,
                        <floating*> j.dWaa, <floating*> j.dba, <floating*> j.dWya,
                        <floating*> j.dby, <floating*> j.a_last,
                        <floating*> (j.scratch if tid == 0 else j.scratch2))
        if nt == 1:   # a team of one (the pool was busy): both halves here
            _grads_half(1, j.B, j.T, j.nI, j.H, j.O, j.ids, <const floating*> j.x,
                        j.lengths, <const floating*> j.Abuf, <const floating*> j.L,
                        <const floating*> j.dZ, <floating*> j.P, <floating*> j.dWaxT,
                        <floating*> j.dWaa, <floating*> j.dba, <floating*> j.dWya,
                        <floating*> j.dby, <floating*> j.a_last, <floating*> j.scratch)


cdef void _states_cols(bint dense, Py_ssize_t B, Py_ssize_t T, Py_ssize_t H,
                       const Py_ssize_t* ids, const floating* src,
                       const floating* Waa, const floating* WaaTp, const floating* ba,
                       const Py_ssize_t* lengths, const floating* a0, floating* As,
                       floating* Aout, Py_ssize_t c0, Py_ssize_t c1, fr_bar* bar,
                       int nt) noexcept nogil:
    """Columns [c0, c1) of a<1..T> into As (T, B, H), and into Aout (B, T, H)
    unless NULL (forward's A, each row copied while in L1: copying all of As
    afterwards read it back from L2); with a barrier bar, the team meets
    after each step (the next step's product reads every column)."""
    cdef Py_ssize_t t, b, row, BH = B * H, w = c1 - c0
    cdef floating* cur
    cdef const floating* prev
    cdef floating* c
    for t in range(T):
        prev = a0 if t == 0 else As + (t - 1) * BH
        cur = As + t * BH
        if w > 0:
            for b in range(B):
                if t < lengths[b]:
                    row = (b * T + t) if dense else ids[b * T + t]
                    memcpy(cur + b * H + c0, src + row * H + c0, w * sizeof(floating))  # Wax x<t>
                else:
                    memset(cur + b * H + c0, 0, w * sizeof(floating))
            # cur += prev @ Waa.T          (Waa a<t-1>, the whole batch at once)
            if WaaTp != NULL:
                _pmm(B, w, H, prev, H, 1, WaaTp + c0 * H, True, cur + c0, H)
            else:
                gemm(False, True, <int> B, <int> w, <int> H, <floating> 1.0, prev, <int> H,
                     Waa + c0 * H, <int> H, <floating> 1.0, cur + c0, <int> H)
            for b in range(B):
                c = cur + b * H + c0
                if t < lengths[b]:
                    _bias_tanh(c, ba + c0, w)         # a<t> = tanh(... + ba)
                else:
                    memset(c, 0, w * sizeof(floating))  # padding: no state
                if Aout != NULL:
                    memcpy(Aout + (b * T + t) * H + c0, c, w * sizeof(floating))
        if bar != NULL:
            fr_bar_wait(bar, nt)


cdef void _states(bint dense, Py_ssize_t B, Py_ssize_t T, Py_ssize_t H,
                  const Py_ssize_t* ids, const floating* src,
                  const floating* Waa, const floating* WaaTp, const floating* ba,
                  const Py_ssize_t* lengths, const floating* a0, floating* As,
                  floating* Aout, int nt) noexcept nogil:
    """Fill As (T, B, H), time-major, with a<1..T>, from a0 (B, H) = a<0>
    (a0 may be the slot just before As), and Aout (B, T, H), batch-major,
    unless NULL.  At B = 1 time-major is batch-major: forward passes its A
    (1, T, H) itself as As.

    WaaTp: Waa.T packed by _pack, or NULL: the per-step products by BLAS.

    src is WaxT (I, H) for token ids (row ids[b, t] is Wax x<t>), or the
    projected dense inputs P (B, T, H) (row b*T + t).

    nt > 1: on a team of up to nt threads, each taking a block of columns of
    every step, one barrier per step.  Every element is computed by the same
    operations in the same order whatever the columns' owner: the result does
    not depend on the thread count.
    """
    cdef _Job j
    if B == 1 and WaaTp != NULL and _rec1_fits(H, sizeof(floating)):
        # one sequence whose state fits in registers: every step in one call,
        # the same values as _states_cols (nt is 1: B*H*H < PAR_MIN_BHH)
        _rec1(lengths[0], H, WaaTp, src, NULL if dense else ids, ba, a0, As)
        memset(As + lengths[0] * H, 0, (T - lengths[0]) * H * sizeof(floating))
        return
    if nt <= 1:
        _states_cols(dense, B, T, H, ids, src, Waa, WaaTp, ba, lengths, a0, As, Aout,
                     0, H, NULL, 1)
        return
    j.phase = PH_STATES
    j.dbl = floating is double
    j.dense = dense; j.B = B; j.T = T; j.H = H; j.ids = ids; j.src = src
    j.Waa = Waa; j.Wp = WaaTp; j.ba = ba; j.lengths = lengths; j.a0 = a0; j.Abuf = As
    j.Aout = Aout
    fr_team(nt, _task, &j, &j.bar)


cdef void _bptt_cols(Py_ssize_t B, Py_ssize_t T, Py_ssize_t H, const Py_ssize_t* lengths,
                     const floating* Abuf, floating* dZ, const floating* Waa,
                     const floating* WaaP, floating* dnext, Py_ssize_t c0, Py_ssize_t c1,
                     fr_bar* bar, int nt) noexcept nogil:
    """Columns [c0, c1) of backpropagation through time: dZ (dL/dA on entry)
    becomes dL/dz<t>; dnext (zero on entry) ends as dL/da<0>.  With a barrier
    bar, the team meets between each step's dz (every column of which the product reads)
    and its product; the next step's dz reads only this thread's columns of
    dnext."""
    cdef Py_ssize_t t, b, BH = B * H, w = c1 - c0
    cdef floating* dz
    for t in range(T - 1, -1, -1):
        if w > 0:
            for b in range(B):
                dz = dZ + (t * B + b) * H + c0
                if t + 1 < lengths[b]:
                    # dz<t> = (dA<t> + dnext) * (1 - a<t>^2)
                    _dtanh(dz, dnext + b * H + c0, Abuf + (t + 1) * BH + b * H + c0, w)
                elif t < lengths[b]:
                    # last step of sequence b: nothing flows back from padding
                    # (dnext there is 0 @ Waa, NaN when Waa holds an inf)
                    _dtanh(dz, NULL, Abuf + (t + 1) * BH + b * H + c0, w)
                else:
                    memset(dz, 0, w * sizeof(floating))
        if bar != NULL:
            fr_bar_wait(bar, nt)
        if w > 0:
            # dnext = dz<t> @ Waa
            if WaaP == NULL:
                gemm(False, False, <int> B, <int> w, <int> H, <floating> 1.0, dZ + t * BH,
                     <int> H, Waa + c0, <int> H, <floating> 0.0, dnext + c0, <int> H)
            else:
                _pmm(B, w, H, dZ + t * BH, H, 1, WaaP + c0 * H, False, dnext + c0, H)


cdef void _bptt(Py_ssize_t B, Py_ssize_t T, Py_ssize_t H, const Py_ssize_t* lengths,
                const floating* Abuf, floating* dZ, const floating* Waa,
                const floating* WaaP, floating* dnext, int nt) noexcept nogil:
    """_bptt_cols over all columns, on up to nt threads (as _states)."""
    cdef _Job j
    if nt <= 1:
        _bptt_cols(B, T, H, lengths, Abuf, dZ, Waa, WaaP, dnext, 0, H, NULL, 1)
        return
    j.phase = PH_BPTT
    j.dbl = floating is double
    j.B = B; j.T = T; j.H = H; j.lengths = lengths; j.Abuf = <void*> Abuf; j.dZ = dZ
    j.Waa = Waa; j.Wp = WaaP; j.dnext = dnext
    fr_team(nt, _task, &j, &j.bar)


cdef void _project_dense(Py_ssize_t BT, Py_ssize_t I, Py_ssize_t H,
                         const floating* X, const floating* WaxT,
                         floating* P, floating* scratch, int nt) noexcept nogil:
    # P = X @ Wax.T                        (all B*T steps in one product;
    # the kernels' own where Wax fits, see _mm)
    _mm(False, BT, H, I, X, I, False, WaxT, H, False, P, H, scratch, nt)


cdef double _softmax_xent(Py_ssize_t B, Py_ssize_t T, Py_ssize_t O,
                          const floating* by, const Py_ssize_t* Y,
                          floating* L, double* rowloss, int nt) noexcept nogil:
    """Logits (T*B, O) in L become dL/dlogits = softmax - onehot(y) in place.

    Returns the summed cross-entropy.  Rows whose target is IGNORE (-1,
    including padding) become zero.  Stable: exp(z - max z).  Each row's loss
    goes to rowloss (T*B doubles), and the sum is taken afterwards in row
    order (an ignored row adds +0.0, which changes nothing): with nt > 1 the
    team splits the rows, and the sum is the same whatever the split.
    """
    cdef Py_ssize_t r, BT = B * T
    cdef double loss = 0.0
    cdef _Job j
    if nt <= 1 or BT < 4 * nt:
        _xent_rows(0, BT, B, T, O, by, Y, L, rowloss)
    else:
        j.phase = PH_XENT
        j.dbl = floating is double
        j.B = B; j.T = T; j.O = O; j.by = by; j.Y = Y; j.L = L; j.rowloss = rowloss
        fr_team(nt, _task, &j, &j.bar)
    for r in range(BT):
        loss += rowloss[r]
    return loss


cdef void _xent_rows(Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t B, Py_ssize_t T,
                     Py_ssize_t O, const floating* by, const Py_ssize_t* Y,
                     floating* L, double* rowloss) noexcept nogil:
    """Rows r0..r1-1 of _softmax_xent (row r = t*B + b, target Y[b, t]),
    each row's loss into rowloss, by fr_softmax_xent_rows (float32: blocks
    of rows in phases) with the targets gathered 256 rows at a time."""
    cdef Py_ssize_t r = r0, c, n, ys[256]
    while r < r1:
        n = r1 - r if r1 - r < 256 else 256
        for c in range(n):
            ys[c] = Y[((r + c) % B) * T + (r + c) // B]
        if floating is float:
            fr_softmax_xent_rows_f(L + r * O, by, n, O, ys, rowloss + r)
        else:
            fr_softmax_xent_rows_d(L + r * O, by, n, O, ys, rowloss + r)
        r += n


cdef void _softmax_rows(Py_ssize_t n, Py_ssize_t O, const floating* by,
                        floating* z) noexcept nogil:
    """Each of n rows of logits (n, O) becomes softmax(z + by) in place."""
    if floating is float:
        fr_softmax_rows_f(z, by, n, O)    # in phases over blocks of rows
    else:
        fr_softmax_rows_d(z, by, n, O)


# ---- entry points ----------------------------------------------------------
#
# They take the gate's ndarrays as plain objects and read their data pointers
# with the NumPy C API: a typed memoryview per argument cost ~1,500
# instructions each (17 of them, a tenth of a course-sized training step).
# What the memoryviews checked is still checked here, in C, for the price of a
# few comparisons: every array an ndarray of the right type, number of
# dimensions and shape, C-contiguous and aligned, outputs writeable.  This
# guards fastrnn's own callers; user input is checked by the gate, with
# messages, before it gets here.

cdef int _check(object a, str name, int typenum, int nd, Py_ssize_t d0,
                Py_ssize_t d1, Py_ssize_t d2, bint out) except -1:
    """a must be an aligned C-contiguous ndarray of typenum with shape
    (d0, d1, d2)[:nd] (-1: any size), writeable if out."""
    cdef cnp.ndarray arr
    cdef cnp.npy_intp* dims
    if not cnp.PyArray_Check(a):
        raise TypeError(f"_kernels: {name} must be an ndarray, got {type(a).__name__}")
    arr = <cnp.ndarray> a
    if (cnp.PyArray_TYPE(arr) != typenum or cnp.PyArray_NDIM(arr) != nd
            or not cnp.PyArray_IS_C_CONTIGUOUS(arr) or not cnp.PyArray_ISALIGNED(arr)
            or (out and not cnp.PyArray_ISWRITEABLE(arr))):
        raise ValueError(f"_kernels: {name} has dtype {a.dtype}, shape {a.shape}, "
                         f"flags {a.flags}; expected {nd}-d, C-contiguous"
                         + (", writeable" if out else ""))
    dims = cnp.PyArray_DIMS(arr)
    if ((d0 >= 0 and dims[0] != d0) or (nd > 1 and d1 >= 0 and dims[1] != d1)
            or (nd > 2 and d2 >= 0 and dims[2] != d2)):
        raise ValueError(f"_kernels: {name} has shape {a.shape}; expected "
                         f"{(d0, d1, d2)[:nd]}")
    return 0


cdef inline void* _data(object a) noexcept:
    return cnp.PyArray_DATA(<cnp.ndarray> a)


cdef inline Py_ssize_t _dim(object a, int k) noexcept:
    return cnp.PyArray_DIMS(<cnp.ndarray> a)[k]


cdef void _forward(Py_ssize_t B, Py_ssize_t T, Py_ssize_t I, Py_ssize_t H,
                   Py_ssize_t O, const floating* WaxT, const floating* Waa,
                   const floating* ba, const floating* Wya, const floating* by,
                   const Py_ssize_t* ids, const floating* dense,
                   const Py_ssize_t* lengths, const floating* a0, floating* probs,
                   floating* A, floating* a_last, bint blas_steps, int nt,
                   floating* work) noexcept nogil:
    # work (sizes: forward()): Abuf (T+1, B, H; the states in slots 1..T when
    #   B > 1) | WaaTp (Waa.T packed) | scratch (_mm's) | P (B, T, H) if dense
    cdef floating* Abuf = work
    cdef floating* WaaTp = Abuf + _up16((T + 1) * B * H)
    cdef floating* scratch = WaaTp + _packed(H, H)
    cdef floating* P = scratch + _scratch(sizeof(floating))
    cdef bint is_dense = dense != NULL
    cdef const floating* src = WaxT if not is_dense else P
    cdef Py_ssize_t b, t, BH = B * H
    cdef _Job j
    if not blas_steps:
        _pack(H, H, Waa, 1, H, WaaTp)
    if is_dense:
        _project_dense(B * T, I, H, dense, WaxT, P, scratch, nt)
    # the states, time-major: at B = 1 that is A's own layout, so they go
    # straight to A (no buffer, no copy); else to Abuf, and row by row to A
    # (B, T, H), batch-major as returned (padding zero there too)
    cdef floating* As = A if B == 1 else Abuf + BH
    _states(is_dense, B, T, H, ids, src, Waa, NULL if blas_steps else WaaTp, ba,
            lengths, a0, As, NULL if B == 1 else A, nt)
    for b in range(B):
        if a_last != NULL:
            memcpy(a_last + b * H,
                   As + (lengths[b] - 1) * BH + b * H if lengths[b] > 0 else a0 + b * H,
                   H * sizeof(floating))
    # probs = A @ Wya.T                 (all B*T steps in one GEMM; measured 2x
    # faster than one GEMM per sequence at the word size)
    _mm(False, B * T, O, H, A, H, True, Wya, H, False, probs, O, scratch, nt)
    if nt <= 1 or B < 2:
        _softmax_seqs(0, B, T, O, by, lengths, probs)
    else:
        j.phase = PH_SOFTMAX
        j.dbl = floating is double
        j.B = B; j.T = T; j.O = O; j.by = by; j.lengths = lengths; j.L = probs
        fr_team(nt, _task, &j, &j.bar)


cdef void _softmax_seqs(Py_ssize_t b0, Py_ssize_t b1, Py_ssize_t T, Py_ssize_t O,
                        const floating* by, const Py_ssize_t* lengths,
                        floating* probs) noexcept nogil:
    """Sequences b0..b1-1 of probs (B, T, O): logits to softmax, zero at
    padding."""
    cdef Py_ssize_t b
    for b in range(b0, b1):
        _softmax_rows(lengths[b], O, by, probs + b * T * O)
        if lengths[b] < T:
            memset(probs + (b * T + lengths[b]) * O, 0,
                   (T - lengths[b]) * O * sizeof(floating))


cdef double _loss_and_grads(Py_ssize_t B, Py_ssize_t T, Py_ssize_t I, Py_ssize_t H,
                            Py_ssize_t O, const floating* WaxT, const floating* Waa,
                            const floating* ba, const floating* Wya, const floating* by,
                            const Py_ssize_t* ids, const floating* dense,
                            const Py_ssize_t* Y, const Py_ssize_t* lengths,
                            const floating* a0, floating* dWaxT, floating* dWaa,
                            floating* dba, floating* dWya, floating* dby, floating* da0,
                            floating* a_last, bint blas_steps, int nt,
                            bint blas_serial, floating* work) noexcept nogil:
    # work (sizes: loss_and_grads()): Abuf (T+1, B, H) | L (T*B, O) | dZ (T*B, H)
    #       | WaaTp | WaaP | scratch | scratch2 | rowloss (T*B doubles)
    #       | P (B, T, H) if dense
    #   Abuf  slot 0 = a<0>, slot t+1 = a<t>; zero at padding
    #   L     logits, then dL/dlogits in place
    #   dZ    dL/dA, then dL/dz<t> (pre-tanh) in place
    #   WaaTp, WaaP  Waa.T and Waa packed by _pack, for the per-step products
    #   scratch, scratch2  _mm's packed W (scratch2: the second thread's)
    #   rowloss  each row's cross-entropy, when threads split the rows
    #   P     dense: projected inputs in the forward, dz in (B, T) order after
    cdef Py_ssize_t BT = B * T, BH = B * H
    cdef floating* Abuf = work
    cdef floating* L = Abuf + _up16((T + 1) * BH)
    cdef floating* dZ = L + _up16(BT * O)
    cdef floating* WaaTp = dZ + _up16(BT * H)
    cdef floating* WaaP = WaaTp + _packed(H, H)
    cdef floating* scratch = WaaP + _packed(H, H)
    cdef floating* scratch2 = scratch + _scratch(sizeof(floating))
    cdef double* rowloss = <double*> (scratch2 + _scratch(sizeof(floating)))
    cdef floating* P = <floating*> (rowloss + _up16(BT))
    cdef bint is_dense = dense != NULL
    cdef const floating* src = WaxT if not is_dense else P
    cdef floating* dnext = da0
    cdef _Job j
    cdef double loss
    # ---- forward
    if not blas_steps:
        _pack(H, H, Waa, 1, H, WaaTp)
        _pack(H, H, Waa, H, 1, WaaP)
    memcpy(Abuf, a0, BH * sizeof(floating))
    if is_dense:
        _project_dense(BT, I, H, dense, WaxT, P, scratch, nt)
    _states(is_dense, B, T, H, ids, src, Waa, NULL if blas_steps else WaaTp, ba,
            lengths, Abuf, Abuf + BH, NULL, nt)
    # L = A @ Wya.T                     (all T*B steps in one product)
    _mm(False, BT, O, H, Abuf + BH, H, True, Wya, H, False, L, O, scratch, nt)
    loss = _softmax_xent(B, T, O, by, Y, L, rowloss, nt)

    # ---- backward: dZ = dL @ Wya       (dL/dA for every step)
    _mm(False, BT, H, O, L, O, False, Wya, H, False, dZ, H, scratch, nt)

    # ---- backward through time; dnext = dL/da<t> from step t+1 (lives in da0)
    memset(dnext, 0, BH * sizeof(floating))
    _bptt(B, T, H, lengths, Abuf, dZ, Waa, NULL if blas_steps else WaaP, dnext, nt)
    # after t = 0, dnext = dL/da<0>

    # ---- the batched gradients: two independent halves, side by side on two
    # threads when BLAS runs on one (each half's products on its own thread
    # and scratch), else one after the other with BLAS's own threads
    if nt > 1 and blas_serial:
        j.phase = PH_GRADS
        j.dbl = floating is double
        j.B = B; j.T = T; j.nI = I; j.H = H; j.O = O; j.ids = ids; j.x = dense
        j.lengths = lengths; j.Abuf = Abuf; j.L = L; j.dZ = dZ; j.P = P
        j.dWaxT = dWaxT; j.dWaa = dWaa; j.dba = dba; j.dWya = dWya; j.dby = dby
        j.a_last = a_last; j.scratch = scratch; j.scratch2 = scratch2
        fr_team(2, _task, &j, &j.bar)
    else:
        _grads_half(0, B, T, I, H, O, ids, dense, lengths, Abuf, L, dZ, P,
                    dWaxT, dWaa, dba, dWya, dby, a_last, scratch)
        _grads_half(1, B, T, I, H, O, ids, dense, lengths, Abuf, L, dZ, P,
                    dWaxT, dWaa, dba, dWya, dby, a_last, scratch)
    return loss


cdef inline bint _all_finite(const floating* x, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if not isfinite(x[i]):
            return False
    return True


cdef void _grads_half(int half, Py_ssize_t B, Py_ssize_t T, Py_ssize_t I, Py_ssize_t H,
                      Py_ssize_t O, const Py_ssize_t* ids, const floating* dense,
                      const Py_ssize_t* lengths, const floating* Abuf,
                      const floating* L, const floating* dZ, floating* P,
                      floating* dWaxT, floating* dWaa, floating* dba, floating* dWya,
                      floating* dby, floating* a_last, floating* scratch) noexcept nogil:
    """After BPTT: half 0 makes dWaa and dba, half 1 dWya, dby, dWax and
    a_last; they read and write disjoint memory (a team of two runs them at
    once, each with its own scratch)."""
    cdef Py_ssize_t BT = B * T, BH = B * H, b, t
    cdef const floating* prev = Abuf
    cdef floating* cleared = NULL
    if half == 0:
        # A sequence shorter than T pairs its first padded step's dz (zero)
        # with its last state in the product below; that state non-finite,
        # 0 * NaN would put NaN where nothing flows (the reference sums over
        # the real steps only): then the product reads a copy with those
        # states zeroed (B * H comparisons otherwise; without memory for the
        # copy, the product as it is)
        for b in range(B):
            if lengths[b] < T and not _all_finite(Abuf + lengths[b] * BH + b * H, H):
                if cleared == NULL:
                    cleared = <floating*> malloc(BT * H * sizeof(floating))
                    if cleared == NULL:
                        break
                    memcpy(cleared, Abuf, BT * H * sizeof(floating))
                    prev = cleared
                memset(cleared + lengths[b] * BH + b * H, 0, H * sizeof(floating))
        # dWaa = dZ.T @ Abuf[0:T]       (sum_t dz<t>^T a<t-1>, one GEMM)
        _mm(True, H, H, BT, dZ, H, False, prev, H, False, dWaa, H, scratch, 1)
        free(cleared)
        # dba = dZ.sum(0)
        _sum_rows(dba, dZ, BT, H)
        return
    # dWya = dL.T @ A
    _mm(True, O, H, BT, L, O, False, Abuf + BH, H, False, dWya, H, scratch, 1)
    # dby = dL.sum(0)
    _sum_rows(dby, L, BT, O)
    if dense != NULL:
        # dWax.T = X.T @ dZ                 (dZ reordered to (B, T) rows in P)
        for t in range(T):
            for b in range(B):
                memcpy(P + (b * T + t) * H, dZ + (t * B + b) * H, H * sizeof(floating))
        _mm(True, I, H, BT, dense, I, False, P, H, False, dWaxT, H, scratch, 1)
    else:
        # dWax[:, ids] += dz: scatter-add into rows of dWax.T
        memset(dWaxT, 0, I * H * sizeof(floating))
        for t in range(T):
            for b in range(B):
                if t < lengths[b]:
                    _add(dWaxT + ids[b * T + t] * H, dZ + (t * B + b) * H, H)
    # a_last[b] = a<lengths[b]-1>
    for b in range(B):
        memcpy(a_last + b * H, Abuf + lengths[b] * BH + b * H, H * sizeof(floating))


cdef int _check_params(object WaxT, object Waa, object ba, object Wya, object by,
                       object ids, object dense, object lengths, object a0,
                       int tn, Py_ssize_t* dims) except -1:
    """The inputs both entry points share; dims = B, T, I, H, O."""
    _check(WaxT, "WaxT", tn, 2, -1, -1, -1, False)
    cdef Py_ssize_t I = _dim(WaxT, 0), H = _dim(WaxT, 1)
    _check(Wya, "Wya", tn, 2, -1, H, -1, False)
    cdef Py_ssize_t O = _dim(Wya, 0)
    _check(Waa, "Waa", tn, 2, H, H, -1, False)
    _check(ba, "ba", tn, 1, H, -1, -1, False)
    _check(by, "by", tn, 1, O, -1, -1, False)
    _check(lengths, "lengths", cnp.NPY_INTP, 1, -1, -1, -1, False)
    cdef Py_ssize_t B = _dim(lengths, 0)
    _check(a0, "a0", tn, 2, B, H, -1, False)
    _check(ids, "ids", cnp.NPY_INTP, 2, -1, -1, -1, False)
    _check(dense, "dense", tn, 3, -1, -1, -1, False)
    cdef bint is_dense = _dim(dense, 0) > 0
    if is_dense == (_dim(ids, 0) > 0):
        raise ValueError("_kernels: exactly one of ids and dense must be non-empty")
    cdef Py_ssize_t T = _dim(dense, 1) if is_dense else _dim(ids, 1)
    if is_dense:
        _check(dense, "dense", tn, 3, B, T, I, False)
    else:
        _check(ids, "ids", cnp.NPY_INTP, 2, B, T, -1, False)
    dims[0] = B; dims[1] = T; dims[2] = I; dims[3] = H; dims[4] = O
    return 0


# ---- workspace -------------------------------------------------------------
#
# Each thread keeps its last workspace (per dtype) up to WORK_CACHE_BYTES and
# reuses it: a fresh one of a few MiB per call cost page faults and unmapping
# (15% of a small-size forward in `perf`; the word size's 46 MB, 3.5% of its
# training step).  The kernels write every element of
# the workspace they read, so stale contents never matter; valgrind could no
# longer tell, though, so tools/valgrind.sh sets FASTRNN_NO_WORK_CACHE=1 and
# every call gets a fresh (uninitialised) one.  The buffers live in the
# thread state's dict (PyThreadState_GetDict: no locking, freed with the
# thread), under keys of this module's own; a threading.local's attribute
# lookup cost more (~1.5% of a course-size forward).
cdef Py_ssize_t WORK_CACHE_BYTES = 128 * 1024 * 1024
cdef bint _work_cache = os.environ.get("FASTRNN_NO_WORK_CACHE") != "1"
_WORK_CACHE = _work_cache
cdef str _WORK_KEY_F = "fastrnn._kernels.workspace.float32"
cdef str _WORK_KEY_D = "fastrnn._kernels.workspace.float64"


cdef enum:
    WORK_ALIGN = 64   # bytes: the workspace's start, as _wdata gives it


cdef inline void* _wdata(object work) noexcept:
    """A workspace's first element at a WORK_ALIGN boundary.  NumPy's buffers
    are 16-byte aligned: a workspace at 16 bytes past a 32-byte boundary
    split every other vector load of its tiles across two cache lines, and
    the course-size `forward` took 6.0-6.3 µs in a process that drew such a
    buffer, 5.0-5.1 in one that did not."""
    return <void*> ((<size_t> _data(work) + (WORK_ALIGN - 1)) & ~(<size_t> (WORK_ALIGN - 1)))


cdef object _workspace(Py_ssize_t n, int tn):
    """An uninitialised or stale float array of at least n elements from
    _wdata (one WORK_ALIGN more in all)."""
    cdef cnp.npy_intp dims[1]
    cdef Py_ssize_t itemsize = 4 if tn == cnp.NPY_FLOAT32 else 8
    cdef PyObject* d
    cdef PyObject* v
    n += WORK_ALIGN // itemsize
    dims[0] = n
    if not _work_cache or n * itemsize > WORK_CACHE_BYTES:
        return cnp.PyArray_EMPTY(1, dims, tn, 0)
    d = PyThreadState_GetDict()
    if d == NULL:   # no thread state dict (not expected): no cache
        return cnp.PyArray_EMPTY(1, dims, tn, 0)
    key = _WORK_KEY_F if tn == cnp.NPY_FLOAT32 else _WORK_KEY_D
    v = PyDict_GetItemWithError(<object> d, key)
    # the dict is every extension's: what is there is checked to be ours
    if (v != NULL and type(<object> v) is cnp.ndarray
            and cnp.PyArray_TYPE(<cnp.ndarray> v) == tn
            and cnp.PyArray_NDIM(<cnp.ndarray> v) == 1
            and cnp.PyArray_DIMS(<cnp.ndarray> v)[0] >= n
            # the kernels write n elements in a row from its start
            and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray> v)
            and cnp.PyArray_ISWRITEABLE(<cnp.ndarray> v)):
        return <object> v
    buf = cnp.PyArray_EMPTY(1, dims, tn, 0)
    PyDict_SetItem(<object> d, key, buf)
    return buf


def _set_workspace_buffer(str dtype, obj):
    """Put obj where this thread's workspace for dtype is kept (for tests: the
    thread state's dict is every extension's, anything may be there)."""
    cdef PyObject* d = PyThreadState_GetDict()
    if d != NULL:
        (<dict> <object> d)[_WORK_KEY_F if dtype == "float32" else _WORK_KEY_D] = obj


def _workspace_buffer(str dtype):
    """This thread's cached workspace for dtype ("float32" or "float64"), or
    None (for tests)."""
    cdef PyObject* d = PyThreadState_GetDict()
    if d == NULL:
        return None
    return (<dict> <object> d).get(_WORK_KEY_F if dtype == "float32" else _WORK_KEY_D)


cdef struct _Inputs:
    # data pointers of the arrays both entry points read
    const Py_ssize_t* ids      # NULL for dense inputs
    const void* dense          # NULL for token ids
    const Py_ssize_t* lengths
    const void* WaxT
    const void* Waa
    const void* ba
    const void* Wya
    const void* by
    const void* a0


cdef _Inputs _inputs(object WaxT, object Waa, object ba, object Wya, object by,
                     object ids, object dense, object lengths, object a0,
                     bint is_dense):
    cdef _Inputs r
    r.ids = <const Py_ssize_t*> (NULL if is_dense else _data(ids))
    r.dense = _data(dense) if is_dense else NULL
    r.lengths = <const Py_ssize_t*> _data(lengths)
    r.WaxT = _data(WaxT)
    r.Waa = _data(Waa)
    r.ba = _data(ba)
    r.Wya = _data(Wya)
    r.by = _data(by)
    r.a0 = _data(a0)
    return r


cdef void _grad_data(object dWaxT, object dWaa, object dba, object dWya, object dby,
                     object da0, object a_last, void** g):
    g[0] = _data(dWaxT); g[1] = _data(dWaa); g[2] = _data(dba); g[3] = _data(dWya)
    g[4] = _data(dby); g[5] = _data(da0); g[6] = _data(a_last)


cdef void _forward_any(int tn, Py_ssize_t B, Py_ssize_t T, Py_ssize_t I, Py_ssize_t H,
                      Py_ssize_t O, const _Inputs* x, void* probs, void* A, void* a_last,
                      bint blas_steps, int nt, void* work) noexcept nogil:
    """_forward in the dtype tn (the entry points' one dispatch)."""
    if tn == cnp.NPY_FLOAT32:
        _forward[float](B, T, I, H, O, <const float*> x.WaxT, <const float*> x.Waa,
                        <const float*> x.ba, <const float*> x.Wya, <const float*> x.by,
                        x.ids, <const float*> x.dense, x.lengths, <const float*> x.a0,
                        <float*> probs, <float*> A, <float*> a_last, blas_steps, nt,
                        <float*> work)
    else:
        _forward[double](B, T, I, H, O, <const double*> x.WaxT, <const double*> x.Waa,
                         <const double*> x.ba, <const double*> x.Wya, <const double*> x.by,
                         x.ids, <const double*> x.dense, x.lengths, <const double*> x.a0,
                         <double*> probs, <double*> A, <double*> a_last, blas_steps, nt,
                         <double*> work)


cdef double _loss_any(int tn, Py_ssize_t B, Py_ssize_t T, Py_ssize_t I, Py_ssize_t H,
                      Py_ssize_t O, const _Inputs* x, const Py_ssize_t* Y, void** g,
                      bint blas_steps, int nt, bint blas_serial, void* work) noexcept nogil:
    """_loss_and_grads in the dtype tn; g: dWaxT, dWaa, dba, dWya, dby, da0,
    a_last."""
    if tn == cnp.NPY_FLOAT32:
        return _loss_and_grads[float](
            B, T, I, H, O, <const float*> x.WaxT, <const float*> x.Waa, <const float*> x.ba,
            <const float*> x.Wya, <const float*> x.by, x.ids, <const float*> x.dense, Y,
            x.lengths, <const float*> x.a0, <float*> g[0], <float*> g[1], <float*> g[2],
            <float*> g[3], <float*> g[4], <float*> g[5], <float*> g[6], blas_steps, nt,
            blas_serial, <float*> work)
    return _loss_and_grads[double](
        B, T, I, H, O, <const double*> x.WaxT, <const double*> x.Waa, <const double*> x.ba,
        <const double*> x.Wya, <const double*> x.by, x.ids, <const double*> x.dense, Y,
        x.lengths, <const double*> x.a0, <double*> g[0], <double*> g[1], <double*> g[2],
        <double*> g[3], <double*> g[4], <double*> g[5], <double*> g[6], blas_steps, nt,
        blas_serial, <double*> work)


cdef int _threads(Py_ssize_t B, Py_ssize_t H, int threads, bint blas_steps) noexcept:
    """Threads for a call.  threads > 0: that many (tests); 0: the pool's
    limit (get_num_threads) from B*H*H >= PAR_MIN_BHH on, one below it or
    while backing off on a busy machine (_pool.h).  Never more than H's
    16-column panels, and one when the per-step products go to BLAS (its own
    threads split them)."""
    cdef Py_ssize_t panels = (H + 15) // 16, n
    if blas_steps:
        return 1
    if threads > 0:
        n = threads
    elif B * H * H >= PAR_MIN_BHH:
        n = fr_max_threads()
    else:
        return 1
    return <int> (n if n < panels else panels)


cdef inline long long _call_start(int nt) noexcept:
    if nt > 1:
        fr_take_wait_ns()
        return fr_now_ns()
    return 0


cdef inline void _call_end(int nt, int threads, long long t0) noexcept:
    """Calls on several threads whose threads waited, together, for more
    than half of them: the next while of calls on one thread (_pool.h's
    fr_note_call).  Only for the automatic thread count (threads == 0)."""
    if nt > 1 and threads == 0:
        fr_note_call(fr_now_ns() - t0, fr_take_wait_ns(), t0, nt)


def _set_backoff(bint on):
    """Switch the busy-machine backoff on or off (and clear it); returns the
    previous setting (tests)."""
    return bool(fr_set_backoff(on))


def _last_call():
    """(duration, waits) in ns of this thread's last automatic call on
    several threads (diagnostics)."""
    return fr_last_call(0), fr_last_call(1)


def _note_call(long long call_ns, long long wait_ns, long long start_ns=-1, int nt=2):
    """What the kernels do after an automatic call on nt threads that began
    at start_ns (fr_now_ns's clock; -1: now - call_ns) (tests)."""
    if start_ns < 0:
        start_ns = fr_now_ns() - call_ns
    return bool(fr_note_call(call_ns, wait_ns, start_ns, nt))


def _backing_off():
    """Whether calls run on one thread now because a recent one waited too
    long at the team's barriers."""
    return bool(fr_backing_off())


def _set_spin(int n):
    """Microseconds a thread spins at a barrier before it sleeps; returns the
    previous value (tests, tuning)."""
    return fr_set_spin(n)


def _threads_for(Py_ssize_t B, Py_ssize_t H, int threads, bint blas_steps):
    """_threads, for the tests."""
    return _threads(B, H, threads, blas_steps)


def get_num_threads():
    """Threads a call of the kernels may use (see set_num_threads)."""
    return fr_pool_threads()


def set_num_threads(int n):
    """Let calls of the kernels use up to n threads (n < 1: the default,
    OMP_NUM_THREADS if set, else the CPUs this process may run on); returns
    the previous limit."""
    return fr_pool_set_threads(n)


def par_min_bhh():
    """B*H*H from which calls use several threads."""
    return PAR_MIN_BHH


cdef inline Py_ssize_t _forward_work(Py_ssize_t B, Py_ssize_t T, Py_ssize_t H,
                                     Py_ssize_t itemsize, bint is_dense) noexcept nogil:
    """_forward's workspace, in elements (see its layout)."""
    return (_up16((T + 1) * B * H) + _packed(H, H) + _scratch(itemsize)
            + (B * T * H if is_dense else 0))


cdef inline Py_ssize_t _loss_work(Py_ssize_t B, Py_ssize_t T, Py_ssize_t H, Py_ssize_t O,
                                  Py_ssize_t itemsize, bint is_dense) noexcept nogil:
    """_loss_and_grads's workspace, in elements (see its layout)."""
    cdef Py_ssize_t BT = B * T
    return (_up16((T + 1) * B * H) + _up16(BT * O) + _up16(BT * H) + 2 * _packed(H, H)
            + 2 * _scratch(itemsize) + _up16(BT) * 8 // itemsize
            + (BT * H if is_dense else 0))


cdef object _out(object a, str name, int tn, int nd, Py_ssize_t d0, Py_ssize_t d1,
                 Py_ssize_t d2=-1):
    """The output array a, checked, or if a is None a new C-contiguous one of
    typenum tn and shape (d0, d1, d2)[:nd] (PyArray_EMPTY: np.empty's work
    without a Python call)."""
    cdef cnp.npy_intp dims[3]
    if a is None:
        dims[0] = d0; dims[1] = d1; dims[2] = d2
        return cnp.PyArray_EMPTY(nd, dims, tn, 0)
    _check(a, name, tn, nd, d0, d1, d2, True)
    return a


def forward(WaxT, Waa, ba, Wya, by, ids, dense, lengths, a0, probs=None, A=None,
            a_last=None, bint blas_steps=False, int threads=0):
    """probs (B, T, O), A (B, T, H) and a_last (B, H), written in place;
    returns (probs, A).  probs or A None: made here (saves the caller's
    np.empty calls); a_last None: not written.

    Exactly one of ids (B, T) / dense (B, T, I) is non-empty.  blas_steps:
    the per-step products by BLAS (which may use several threads) instead of
    the kernels' own packed product.  threads: the recurrence's threads (see
    _threads; 0: decide from the size, get_num_threads and the busy-machine
    backoff).
    """
    cdef Py_ssize_t d[5]
    cdef int tn = cnp.NPY_FLOAT32 if (cnp.PyArray_Check(WaxT) and
                                      cnp.PyArray_TYPE(WaxT) == cnp.NPY_FLOAT32) else cnp.NPY_FLOAT64
    _check_params(WaxT, Waa, ba, Wya, by, ids, dense, lengths, a0, tn, d)
    cdef Py_ssize_t B = d[0], T = d[1], I = d[2], H = d[3], O = d[4]
    probs = _out(probs, "probs", tn, 3, B, T, O)
    A = _out(A, "A", tn, 3, B, T, H)
    if a_last is not None:
        _check(a_last, "a_last", tn, 2, B, H, -1, True)
    cdef bint is_dense = _dim(dense, 0) > 0
    cdef Py_ssize_t itemsize = 4 if tn == cnp.NPY_FLOAT32 else 8
    work = _workspace(_forward_work(B, T, H, itemsize, is_dense), tn)
    cdef _Inputs x = _inputs(WaxT, Waa, ba, Wya, by, ids, dense, lengths, a0, is_dense)
    cdef void* w = _wdata(work)
    cdef void* p6 = _data(probs)
    cdef void* p7 = _data(A)
    cdef void* p8 = NULL if a_last is None else _data(a_last)
    cdef int nt = _threads(B, H, threads, blas_steps)
    cdef long long t0 = _call_start(nt)
    with nogil:
        _forward_any(tn, B, T, I, H, O, &x, p6, p7, p8, blas_steps, nt, w)
    _call_end(nt, threads, t0)
    return probs, A


def loss_and_grads(WaxT, Waa, ba, Wya, by, ids, dense, Y, lengths, a0,
                   dWaxT=None, dWaa=None, dba=None, dWya=None, dby=None, da0=None,
                   a_last=None, bint blas_steps=False, int threads=0,
                   bint blas_serial=False):
    """Summed cross-entropy; gradients and a_last written in place (those
    given as None are made here); returns (loss, dWaxT, dWaa, dba, dWya, dby,
    da0, a_last).

    dWaxT is (I, H) = dWax.T.  Exactly one of ids / dense is non-empty.
    blas_steps, threads: as in forward.  blas_serial: BLAS runs on one thread
    during this call (the caller limited it), so that with several recurrence
    threads the batched gradients' two halves may run side by side.
    """
    cdef Py_ssize_t d[5]
    cdef int tn = cnp.NPY_FLOAT32 if (cnp.PyArray_Check(WaxT) and
                                      cnp.PyArray_TYPE(WaxT) == cnp.NPY_FLOAT32) else cnp.NPY_FLOAT64
    _check_params(WaxT, Waa, ba, Wya, by, ids, dense, lengths, a0, tn, d)
    cdef Py_ssize_t B = d[0], T = d[1], I = d[2], H = d[3], O = d[4]
    _check(Y, "Y", cnp.NPY_INTP, 2, B, T, -1, False)
    dWaxT = _out(dWaxT, "dWaxT", tn, 2, I, H)
    dWaa = _out(dWaa, "dWaa", tn, 2, H, H)
    dba = _out(dba, "dba", tn, 1, H, -1)
    dWya = _out(dWya, "dWya", tn, 2, O, H)
    dby = _out(dby, "dby", tn, 1, O, -1)
    da0 = _out(da0, "da0", tn, 2, B, H)
    a_last = _out(a_last, "a_last", tn, 2, B, H)
    cdef bint is_dense = _dim(dense, 0) > 0
    cdef Py_ssize_t BT = B * T
    cdef Py_ssize_t itemsize = 4 if tn == cnp.NPY_FLOAT32 else 8
    work = _workspace(_loss_work(B, T, H, O, itemsize, is_dense), tn)
    cdef _Inputs x = _inputs(WaxT, Waa, ba, Wya, by, ids, dense, lengths, a0, is_dense)
    cdef void* w = _wdata(work)
    cdef const Py_ssize_t* pY = <const Py_ssize_t*> _data(Y)
    cdef void* g[7]
    _grad_data(dWaxT, dWaa, dba, dWya, dby, da0, a_last, g)
    cdef double loss
    cdef int nt = _threads(B, H, threads, blas_steps)
    cdef long long t0 = _call_start(nt)
    with nogil:
        loss = _loss_any(tn, B, T, I, H, O, &x, pY, g, blas_steps, nt, blas_serial, w)
    _call_end(nt, threads, t0)
    return loss, dWaxT, dWaa, dba, dWya, dby, da0, a_last


# ---- the usual small call, from the public arguments -----------------------
#
# At the course's size the way from Python to the kernel cost ~2 µs beside
# its ~4.5 µs of arithmetic: the gate (_index.fast_batch: five new arrays and
# two named tuples), _api's plan, the kernel entry's checks of the twelve
# arrays it is handed (forward: 7.1 µs in all, the kernel call 5.4 of it).
# forward_ids and loss_and_grads_ids take the public call's own arguments and
# do, for the usual case, what that path does, with no Python object in
# between: plain ndarrays (exactly) of token ids and targets, NumPy's own
# float32 or float64 descriptor (by identity, so native byte order), Wax
# Fortran-ordered as init_params makes it (Wax.T is the kernels' WaxT with
# no copy), the other parameters C-contiguous, all aligned; a0 None, (B, H)
# or (H,) (copied for each sequence, as the gate does); lengths None (the
# caller's condition); B*H*H below max_bhh (fastrnn._api passes
# ONE_THREAD_STEP's lower end, below which _plan's answer is always one
# thread and no BLAS limit).  They return None ("not
# handled") for anything else, a value out of range included, and _api then
# runs the gate, which takes every input and raises the errors: everything
# accepted here _index.fast_batch accepts too, and the kernel gets the same
# values (ids, targets and lengths copied, into the workspace: the kernels
# index memory with them after releasing the GIL), so the results are the
# same bit for bit (tests/test_usual.py).

cdef extern from "limits.h":
    const int INT_MAX   # BLAS (LP64) takes dimensions as C ints (_validate.INT_MAX)

cdef object _F32 = np.dtype(np.float32)
cdef object _F64 = np.dtype(np.float64)
cdef object _INTP = np.dtype(np.intp)


cdef struct _Usual:
    int tn
    Py_ssize_t B, T, nI, H, O, itemsize   # nI: complex.h defines I
    # the kernel's inputs: WaxT is Wax's data (Fortran-ordered Wax is WaxT
    # C-ordered); ids, lengths and a0 point to the caller's X, NULL and a0
    # (NULL: zeros) until _usual_inputs points them to the workspace's copies
    _Inputs x
    const Py_ssize_t* Y   # the caller's targets, then their copy
    bint a0_shared        # a0 (H,), the batch's common a<0>


cdef object _usual_array(object v, object dtype, int nd, bint fortran):
    """v if it is an ndarray (exactly) with dtype's descriptor (by identity)
    and nd dimensions, aligned, contiguous in C order (fortran: Fortran
    order); else None."""
    if type(v) is not cnp.ndarray:
        return None
    cdef cnp.ndarray a = <cnp.ndarray> v
    if (<PyObject*> cnp.PyArray_DESCR(a) != <PyObject*> dtype or cnp.PyArray_NDIM(a) != nd
            or not cnp.PyArray_ISALIGNED(a)
            or not (cnp.PyArray_IS_F_CONTIGUOUS(a) if fortran
                    else cnp.PyArray_IS_C_CONTIGUOUS(a))):
        return None
    return a


cdef inline object _item(dict d, str key):
    cdef PyObject* v = PyDict_GetItemWithError(d, key)
    return None if v == NULL else <object> v


cdef object _usual(object params, object X, object Y, object a0, Py_ssize_t max_bhh,
                   _Usual* u):
    """If the call is the usual case (see above; Y: None, or targets (B, T)
    to check later): u filled, and a tuple of the parameter arrays whose
    data u points to, which the caller holds until the kernel has returned
    (the dict holds them only as long as nothing rebinds its values: another
    thread may, or a key's own __eq__ during the lookups here); else None."""
    cdef Py_ssize_t H, I, O, B, T
    if type(params) is not dict or PyDict_Size(params) != 5:
        return None
    item = _item(params, "Wax")
    if type(item) is not cnp.ndarray:
        return None
    dtype = <object> cnp.PyArray_DESCR(<cnp.ndarray> item)
    if dtype is _F32:
        u.tn = cnp.NPY_FLOAT32
        u.itemsize = 4
    elif dtype is _F64:
        u.tn = cnp.NPY_FLOAT64
        u.itemsize = 8
    else:
        return None
    Wax = _usual_array(item, dtype, 2, True)
    Waa = _usual_array(_item(params, "Waa"), dtype, 2, False)
    ba = _usual_array(_item(params, "ba"), dtype, 1, False)
    Wya = _usual_array(_item(params, "Wya"), dtype, 2, False)
    by = _usual_array(_item(params, "by"), dtype, 1, False)
    if Wax is None or Waa is None or ba is None or Wya is None or by is None:
        return None
    H = _dim(Wax, 0)
    I = _dim(Wax, 1)
    O = _dim(Wya, 0)
    # the sizes fast_batch bounds (H * H cannot overflow: Waa holds H * H elements)
    if not (_dim(Waa, 0) == H and _dim(Waa, 1) == H and _dim(ba, 0) == H
            and _dim(Wya, 1) == H and _dim(by, 0) == O
            and 1 <= H and 1 <= I <= INT_MAX and 1 <= O <= INT_MAX and H * H < max_bhh):
        return None
    Xa = _usual_array(X, _INTP, 2, False)
    if Xa is None:
        return None
    B = _dim(Xa, 0)
    T = _dim(Xa, 1)
    # B * T is an array's size; B <= INT_MAX // H is fast_batch's B * H <=
    # INT_MAX, and with H * H < max_bhh it keeps B * (H * H) from overflowing
    if (B < 1 or T < 1 or B * T > INT_MAX or B > INT_MAX // H
            or B * (H * H) >= max_bhh):
        return None
    u.Y = NULL
    if Y is not None:
        Ya = _usual_array(Y, _INTP, 2, False)
        if Ya is None or _dim(Ya, 0) != B or _dim(Ya, 1) != T:
            return None
        u.Y = <const Py_ssize_t*> _data(Ya)
    u.x.a0 = NULL
    u.a0_shared = False
    if a0 is not None:
        a0a = _usual_array(a0, dtype, 2, False)
        if a0a is not None:
            if _dim(a0a, 0) != B or _dim(a0a, 1) != H:
                return None
        else:   # (H,): one state for the whole batch (a model's a0)
            a0a = _usual_array(a0, dtype, 1, False)
            if a0a is None or _dim(a0a, 0) != H:
                return None
            u.a0_shared = True
        u.x.a0 = _data(a0a)
    u.B = B; u.T = T; u.nI = I; u.H = H; u.O = O
    u.x.WaxT = _data(Wax); u.x.Waa = _data(Waa); u.x.ba = _data(ba)
    u.x.Wya = _data(Wya); u.x.by = _data(by)
    u.x.ids = <const Py_ssize_t*> _data(Xa)
    u.x.dense = NULL
    u.x.lengths = NULL
    return (Wax, Waa, ba, Wya, by)


cdef bint _copy_inside(const Py_ssize_t* x, Py_ssize_t n, Py_ssize_t lo, Py_ssize_t hi,
                       Py_ssize_t* out) noexcept nogil:
    """out = x (n values), False if a value is outside [lo, hi)."""
    cdef Py_ssize_t i
    cdef size_t span = <size_t> (hi - lo)
    cdef bint ok = True
    for i in range(n):
        ok &= <size_t> x[i] - <size_t> lo < span   # unsigned: no overflow
        out[i] = x[i]
    return ok


cdef object _usual_inputs(_Usual* u, Py_ssize_t kernel_work):
    """The workspace: the kernel's part (kernel_work elements), then copies of
    the ids, the targets (u.Y not NULL), the lengths (all T) and a<0> (zeros
    when u.x.a0 is NULL, B copies of a shared (H,) a0, else the caller's
    (B, H) a0 itself, not copied), u pointed to them; None if an id or
    target is out of range."""
    cdef Py_ssize_t B = u.B, BT = u.B * u.T, k = _up16(kernel_work), i
    work = _workspace(k + (2 * BT + B) * 8 // u.itemsize + B * u.H + 1, u.tn)
    cdef Py_ssize_t* p = <Py_ssize_t*> (<char*> _wdata(work) + k * u.itemsize)
    if not _copy_inside(u.x.ids, BT, 0, u.nI, p):
        return None
    u.x.ids = p
    p += BT
    if u.Y != NULL:
        if not _copy_inside(u.Y, BT, -1, u.O, p):
            return None
        u.Y = p
        p += BT
    for i in range(B):
        p[i] = u.T
    u.x.lengths = p
    p += B
    if u.x.a0 == NULL:
        memset(p, 0, B * u.H * u.itemsize)
        u.x.a0 = p
    elif u.a0_shared:   # a0 (H,): a copy for each sequence, as the gate makes
        for i in range(B):
            memcpy(<char*> p + i * u.H * u.itemsize, u.x.a0, u.H * u.itemsize)
        u.x.a0 = p
    return work


def forward_ids(params, X, a0, Py_ssize_t max_bhh):
    """``_api.forward(params, X, a0)`` for the usual small call, or None (see
    above)."""
    cdef _Usual u
    held = _usual(params, X, None, a0, max_bhh, &u)   # kept to the end (see _usual)
    if held is None:
        return None
    probs = _out(None, "probs", u.tn, 3, u.B, u.T, u.O)
    A = _out(None, "A", u.tn, 3, u.B, u.T, u.H)
    # last before the kernel: no Python code runs between the ids' check
    # and their use (a nested call on this thread would reuse the workspace)
    work = _usual_inputs(&u, _forward_work(u.B, u.T, u.H, u.itemsize, False))
    if work is None:
        return None
    cdef void* w = _wdata(work)
    cdef void* p6 = _data(probs)
    cdef void* p7 = _data(A)
    with nogil:
        _forward_any(u.tn, u.B, u.T, u.nI, u.H, u.O, &u.x, p6, p7, NULL, False, 1, w)
    return probs, A


def loss_and_grads_ids(params, X, Y, a0, Py_ssize_t max_bhh):
    """``_api.loss_and_grads(params, X, Y, a0)`` for the usual small call
    (targets (B, T)), or None (see above)."""
    cdef _Usual u
    if Y is None:
        return None
    held = _usual(params, X, Y, a0, max_bhh, &u)   # kept to the end (see _usual)
    if held is None:
        return None
    cdef Py_ssize_t B = u.B, T = u.T, I = u.nI, H = u.H, O = u.O
    dWaxT = _out(None, "dWaxT", u.tn, 2, I, H)
    dWaa = _out(None, "dWaa", u.tn, 2, H, H)
    dba = _out(None, "dba", u.tn, 1, H, -1)
    dWya = _out(None, "dWya", u.tn, 2, O, H)
    dby = _out(None, "dby", u.tn, 1, O, -1)
    da0 = _out(None, "da0", u.tn, 2, B, H)
    a_last = _out(None, "a_last", u.tn, 2, B, H)
    work = _usual_inputs(&u, _loss_work(B, T, H, O, u.itemsize, False))   # last (see forward_ids)
    if work is None:
        return None
    cdef void* w = _wdata(work)
    cdef void* g[7]
    _grad_data(dWaxT, dWaa, dba, dWya, dby, da0, a_last, g)
    cdef double loss
    with nogil:
        loss = _loss_any(u.tn, B, T, I, H, O, &u.x, u.Y, g, False, 1, False, w)
    if u.a0_shared:   # a0 shared by the batch: its gradient is the sum (grads_dict's)
        da0 = da0.sum(axis=0)
    grads = {"Wax": cnp.PyArray_Transpose(<cnp.ndarray> dWaxT, NULL), "Waa": dWaa,
             "ba": dba, "Wya": dWya, "by": dby, "a0": da0}
    return loss, grads, a_last


def _fast_tanhf(float[::1] x):
    """In place x = tanh(x) with the float32 kernel row function (for tests)."""
    # a bias of -0.0, which adds nothing to any x (+0.0 would turn -0.0 into +0.0)
    cdef float[::1] bias = np.full(x.shape[0], -0.0, dtype=np.float32)
    if x.shape[0]:
        fr_bias_tanh_f(&x[0], &bias[0], x.shape[0])


def _fast_tanhd(double[::1] x):
    """In place x = tanh(x) with the float64 kernel row function (for tests)."""
    # a bias of -0.0, which adds nothing to any x (+0.0 would turn -0.0 into +0.0)
    cdef double[::1] bias = np.full(x.shape[0], -0.0, dtype=np.float64)
    if x.shape[0]:
        fr_bias_tanh_d(&x[0], &bias[0], x.shape[0])


def _fast_tanh_vec(floating[::1] x):
    """In place x = tanh(x) with the vector function of the one-sequence
    recurrence (fr_tanh_v8f / fr_tanh_v4d), a whole vector at a time:
    len(x) a multiple of 8 floats or 4 doubles (for tests)."""
    cdef Py_ssize_t width = 8 if floating is float else 4
    if x.shape[0] % width:
        raise ValueError(f"_fast_tanh_vec: length {x.shape[0]} not a multiple of {width}")
    if x.shape[0] == 0:
        return
    if floating is float:
        fr_tanh_vec_f(&x[0], x.shape[0])
    else:
        fr_tanh_vec_d(&x[0], x.shape[0])


def _fast_expf(float[::1] x):
    """In place x = exp(x) with the float32 kernel approximation (for tests)."""
    if x.shape[0]:
        fr_exp_f(&x[0], x.shape[0])


def _softmax_rows_f(float[:, ::1] z, float[::1] b, Py_ssize_t[::1] y, bint one_by_one):
    """In place, each row of z (rows, n) -> softmax(z + b), or with targets y
    (rows,; -1 ignores the row) dL/dz, returning the rows' losses; by the
    float32 block-of-rows functions over all rows, or (one_by_one) called
    for one row at a time (for tests: the two must agree bit for bit)."""
    cdef Py_ssize_t r, rows = z.shape[0], n = z.shape[1]
    if b.shape[0] != n or (y is not None and y.shape[0] != rows):
        raise ValueError("_softmax_rows_f: shapes")
    cdef double[::1] loss = np.zeros(rows)
    if rows == 0 or n == 0:
        return np.asarray(loss)
    if y is not None:
        for r in range(rows):
            if not -1 <= y[r] < n:
                raise IndexError("_softmax_rows_f: target")
    for r in range(rows if one_by_one else 1):
        if y is None:
            fr_softmax_rows_f(&z[r, 0], &b[0], 1 if one_by_one else rows, n)
        else:
            fr_softmax_xent_rows_f(&z[r, 0], &b[0], 1 if one_by_one else rows, n,
                                   &y[r], &loss[r])
    return np.asarray(loss)


def _packed_gemm(bint trans_a, floating[:, ::1] A, bint trans_w, floating[:, ::1] W,
                 floating[:, ::1] C, bint accumulate, bint tail=False):
    """C = [C +] op(A) @ op(W) with the kernels' own product: op(W) packed by
    _pack, then _pmm (for tests; tail as in _pmm).

    A is (m, k), or (k, m) when trans_a; W (k, n), or (n, k) when trans_w;
    C (m, n); one dtype.
    """
    cdef Py_ssize_t m = C.shape[0], n = C.shape[1]
    cdef Py_ssize_t k = A.shape[0] if trans_a else A.shape[1]
    if ((A.shape[1] if trans_a else A.shape[0]) != m
            or (W.shape[1] if trans_w else W.shape[0]) != k
            or (W.shape[0] if trans_w else W.shape[1]) != n):
        raise ValueError("_packed_gemm: shapes do not agree")
    if m == 0 or n == 0:
        return
    Wp = np.full(max(_packed(k, n), 1), np.nan, dtype=np.asarray(C).dtype)
    cdef floating[::1] wp = Wp
    cdef const floating* a = &A[0, 0] if A.shape[0] * A.shape[1] else NULL
    cdef const floating* w = &W[0, 0] if W.shape[0] * W.shape[1] else NULL
    with nogil:
        _pack(k, n, w, 1 if trans_w else n, k if trans_w else 1, &wp[0])
        _pmm(m, n, k, a, 1 if trans_a else k, m if trans_a else 1, &wp[0],
             accumulate, &C[0, 0], n, tail)


def _packed_layout(floating[:, ::1] W, bint trans_w):
    """op(W) as _pack lays it out for _pmm (for tests): W is (k, n), or (n, k)
    when trans_w; returns the fr_packed_size(k, n) elements."""
    cdef Py_ssize_t k = W.shape[1] if trans_w else W.shape[0]
    cdef Py_ssize_t n = W.shape[0] if trans_w else W.shape[1]
    cdef Py_ssize_t size = (fr_packed_size_f(k, n) if floating is float
                            else fr_packed_size_d(k, n))
    Wp = np.full(max(size, 1), np.nan, dtype=np.asarray(W).dtype)
    cdef floating[::1] wp = Wp
    if k > 0 and n > 0:
        with nogil:
            _pack(k, n, &W[0, 0], 1 if trans_w else n, k if trans_w else 1, &wp[0])
    return Wp[:size]
