"""Cython + BLAS kernels for the Elman RNN forward pass and BPTT.

Only ``fastrnn._api`` calls these, after ``fastrnn._validate`` has checked
every argument: shapes agree, ids and targets are in range, padding is
neutralised, arrays are C-contiguous.  Nothing here checks again.

Internal layout (row-major, time-major so that one step of the whole batch is
one contiguous (B, H) block):

    Abuf (T+1, B, H)  slot 0 = a<0>, slot t+1 = a<t>; zero at padding
    L    (T*B, O)     logits, then dL/dlogits in place (loss_and_grads)
    dZ   (T*B, H)     dL/dA, then dL/dz<t> (pre-tanh) in place

With Abuf's slot t holding a<t-1>, dWaa = sum_t dz<t>^T a<t-1> is ONE GEMM of
dZ against Abuf[0:T].
"""
import numpy as np

from cython cimport floating
from libc.string cimport memcpy, memset

from fastrnn._blas cimport gemm, gemm_rows, axpy


cdef extern from "_rowops.h" nogil:
    void fr_bias_tanh_f(float* c, const float* b, Py_ssize_t n)
    void fr_bias_tanh_d(double* c, const double* b, Py_ssize_t n)
    void fr_softmax_f(float* z, const float* b, Py_ssize_t n)
    void fr_softmax_d(double* z, const double* b, Py_ssize_t n)
    double fr_softmax_xent_f(float* z, const float* b, Py_ssize_t n, Py_ssize_t y)
    double fr_softmax_xent_d(double* z, const double* b, Py_ssize_t n, Py_ssize_t y)
    void fr_dtanh_f(float* dz, const float* dn, const float* a, Py_ssize_t n)
    void fr_dtanh_d(double* dz, const double* dn, const double* a, Py_ssize_t n)
    void fr_exp_f(float* z, Py_ssize_t n)


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


cdef inline void _softmax(floating* z, const floating* b, Py_ssize_t n) noexcept nogil:
    if floating is float:
        fr_softmax_f(z, b, n)
    else:
        fr_softmax_d(z, b, n)


cdef inline double _softmax_xent_row(floating* z, const floating* b, Py_ssize_t n,
                                     Py_ssize_t y) noexcept nogil:
    if floating is float:
        return fr_softmax_xent_f(z, b, n, y)
    else:
        return fr_softmax_xent_d(z, b, n, y)


cdef void _states(bint dense, Py_ssize_t B, Py_ssize_t T, Py_ssize_t H,
                  const Py_ssize_t* ids, const floating* src,
                  const floating* Waa, const floating* ba,
                  const Py_ssize_t* lengths, floating* Abuf) noexcept nogil:
    """Fill Abuf[1:] with a<1..T>; Abuf[0] holds a<0> on entry.

    src is WaxT (I, H) for token ids (row ids[b, t] is Wax x<t>), or the
    projected dense inputs P (B, T, H) (row b*T + t).
    """
    cdef Py_ssize_t t, b, j, row, BH = B * H
    cdef floating* cur
    cdef const floating* prev
    cdef floating* c
    for t in range(T):
        prev = Abuf + t * BH
        cur = Abuf + (t + 1) * BH
        for b in range(B):
            if t < lengths[b]:
                row = (b * T + t) if dense else ids[b * T + t]
                memcpy(cur + b * H, src + row * H, H * sizeof(floating))  # Wax x<t>
            else:
                memset(cur + b * H, 0, H * sizeof(floating))
        # cur += prev @ Waa.T              (Waa a<t-1>, the whole batch at once)
        gemm_rows(True, <int> B, <int> H, <int> H, prev, <int> H, Waa, <int> H,
                  <floating> 1.0, cur, <int> H)
        for b in range(B):
            c = cur + b * H
            if t < lengths[b]:
                _bias_tanh(c, ba, H)             # a<t> = tanh(... + ba)
            else:
                memset(c, 0, H * sizeof(floating))  # padding: no state


cdef void _project_dense(Py_ssize_t BT, Py_ssize_t I, Py_ssize_t H,
                         const floating* X, const floating* WaxT,
                         floating* P) noexcept nogil:
    # P = X @ Wax.T                        (all B*T steps in one GEMM)
    gemm(False, False, <int> BT, <int> H, <int> I, <floating> 1.0, X, <int> I,
         WaxT, <int> H, <floating> 0.0, P, <int> H)


cdef double _softmax_xent(Py_ssize_t B, Py_ssize_t T, Py_ssize_t O,
                          const floating* by, const Py_ssize_t* Y,
                          floating* L) noexcept nogil:
    """Logits (T*B, O) in L become dL/dlogits = softmax - onehot(y) in place.

    Returns the summed cross-entropy.  Rows whose target is IGNORE (-1,
    including padding) become zero.  Stable: exp(z - max z).
    """
    cdef Py_ssize_t t, b, y
    cdef floating* z
    cdef double loss = 0.0
    for t in range(T):
        for b in range(B):
            z = L + (t * B + b) * O
            y = Y[b * T + t]
            if y < 0:
                memset(z, 0, O * sizeof(floating))
            else:
                loss += _softmax_xent_row(z, by, O, y)  # -log softmax(z + by)[y]
    return loss


cdef void _softmax_rows(Py_ssize_t n, Py_ssize_t O, const floating* by,
                        floating* z) noexcept nogil:
    """Each of n rows of logits (n, O) becomes softmax(z + by) in place."""
    cdef Py_ssize_t r
    for r in range(n):
        _softmax(z + r * O, by, O)


def forward(const floating[:, ::1] WaxT, const floating[:, ::1] Waa,
            const floating[::1] ba, const floating[:, ::1] Wya,
            const floating[::1] by, const Py_ssize_t[:, ::1] ids,
            const floating[:, :, ::1] dense, const Py_ssize_t[::1] lengths,
            const floating[:, ::1] a0, floating[:, :, ::1] probs,
            floating[:, :, ::1] A, floating[:, ::1] a_last):
    """probs (B, T, O), A (B, T, H) and a_last (B, H), written in place.

    Exactly one of ids (B, T) / dense (B, T, I) is non-empty.
    """
    cdef Py_ssize_t B = a0.shape[0], H = a0.shape[1]
    cdef Py_ssize_t T = A.shape[1], O = Wya.shape[0], I = WaxT.shape[0]
    cdef bint is_dense = dense.shape[0] > 0
    dt = np.float32 if floating is float else np.float64
    cdef floating[:, :, ::1] Abuf = np.empty((T + 1, B, H), dtype=dt)
    cdef floating[:, :, ::1] P = np.empty((B if is_dense else 0, T, H), dtype=dt)
    cdef const Py_ssize_t* pid = NULL if is_dense else &ids[0, 0]
    cdef const floating* src = &P[0, 0, 0] if is_dense else &WaxT[0, 0]
    cdef Py_ssize_t b, t
    with nogil:
        memcpy(&Abuf[0, 0, 0], &a0[0, 0], B * H * sizeof(floating))
        if is_dense:
            _project_dense(B * T, I, H, &dense[0, 0, 0], &WaxT[0, 0], &P[0, 0, 0])
        _states(is_dense, B, T, H, pid, src, &Waa[0, 0], &ba[0], &lengths[0],
                &Abuf[0, 0, 0])
        # A (B, T, H), batch-major as returned; padding is already zero
        for b in range(B):
            for t in range(T):
                memcpy(&A[b, t, 0], &Abuf[t + 1, b, 0], H * sizeof(floating))
            memcpy(&a_last[b, 0], &Abuf[lengths[b], b, 0], H * sizeof(floating))
        # probs = A @ Wya.T                 (all B*T steps in one GEMM; measured 2x
        # faster than one GEMM per sequence at the word size)
        gemm(False, True, <int> (B * T), <int> O, <int> H, <floating> 1.0, &A[0, 0, 0],
             <int> H, &Wya[0, 0], <int> H, <floating> 0.0, &probs[0, 0, 0], <int> O)
        for b in range(B):
            _softmax_rows(lengths[b], O, &by[0], &probs[b, 0, 0])
            if lengths[b] < T:
                memset(&probs[b, lengths[b], 0], 0, (T - lengths[b]) * O * sizeof(floating))


def loss_and_grads(const floating[:, ::1] WaxT, const floating[:, ::1] Waa,
                   const floating[::1] ba, const floating[:, ::1] Wya,
                   const floating[::1] by, const Py_ssize_t[:, ::1] ids,
                   const floating[:, :, ::1] dense, const Py_ssize_t[:, ::1] Y,
                   const Py_ssize_t[::1] lengths, const floating[:, ::1] a0,
                   floating[:, ::1] dWaxT, floating[:, ::1] dWaa, floating[::1] dba,
                   floating[:, ::1] dWya, floating[::1] dby, floating[:, ::1] da0,
                   floating[:, ::1] a_last):
    """Summed cross-entropy; gradients and a_last written in place.

    dWaxT is (I, H) = dWax.T.  Exactly one of ids / dense is non-empty.
    """
    cdef Py_ssize_t B = a0.shape[0], H = a0.shape[1]
    cdef Py_ssize_t T = Y.shape[1], O = Wya.shape[0], I = WaxT.shape[0]
    cdef Py_ssize_t BT = B * T, BH = B * H
    cdef bint is_dense = dense.shape[0] > 0
    dt = np.float32 if floating is float else np.float64
    cdef floating[:, :, ::1] Abuf = np.empty((T + 1, B, H), dtype=dt)
    cdef floating[:, ::1] L = np.empty((BT, O), dtype=dt)
    cdef floating[:, ::1] dZ = np.empty((BT, H), dtype=dt)
    # dense: projected inputs in the forward, dz in (B, T) order in the backward
    cdef floating[:, :, ::1] P = np.empty((B if is_dense else 0, T, H), dtype=dt)
    cdef const Py_ssize_t* pid = NULL if is_dense else &ids[0, 0]
    cdef const floating* src = &P[0, 0, 0] if is_dense else &WaxT[0, 0]
    cdef floating* dz
    cdef floating* dnext = &da0[0, 0]
    cdef Py_ssize_t b, t, r
    cdef double loss
    with nogil:
        # ---- forward
        memcpy(&Abuf[0, 0, 0], &a0[0, 0], BH * sizeof(floating))
        if is_dense:
            _project_dense(BT, I, H, &dense[0, 0, 0], &WaxT[0, 0], &P[0, 0, 0])
        _states(is_dense, B, T, H, pid, src, &Waa[0, 0], &ba[0], &lengths[0],
                &Abuf[0, 0, 0])
        # L = A @ Wya.T                     (all T*B steps in one GEMM)
        gemm(False, True, <int> BT, <int> O, <int> H, <floating> 1.0, &Abuf[1, 0, 0],
             <int> H, &Wya[0, 0], <int> H, <floating> 0.0, &L[0, 0], <int> O)
        loss = _softmax_xent(B, T, O, &by[0], &Y[0, 0], &L[0, 0])

        # ---- backward: output layer over all steps at once
        # dWya = dL.T @ A
        gemm(True, False, <int> O, <int> H, <int> BT, <floating> 1.0, &L[0, 0], <int> O,
             &Abuf[1, 0, 0], <int> H, <floating> 0.0, &dWya[0, 0], <int> H)
        # dby = dL.sum(0)
        memset(&dby[0], 0, O * sizeof(floating))
        for r in range(BT):
            axpy(<int> O, <floating> 1.0, &L[r, 0], &dby[0])
        # dZ = dL @ Wya                     (dL/dA for every step)
        gemm(False, False, <int> BT, <int> H, <int> O, <floating> 1.0, &L[0, 0], <int> O,
             &Wya[0, 0], <int> H, <floating> 0.0, &dZ[0, 0], <int> H)

        # ---- backward through time; dnext = dL/da<t> from step t+1 (lives in da0)
        memset(dnext, 0, BH * sizeof(floating))
        for t in range(T - 1, -1, -1):
            for b in range(B):
                dz = &dZ[t * B + b, 0]
                if t + 1 < lengths[b]:
                    # dz<t> = (dA<t> + dnext) * (1 - a<t>^2)
                    _dtanh(dz, dnext + b * H, &Abuf[t + 1, b, 0], H)
                elif t < lengths[b]:
                    # last step of sequence b: nothing flows back from padding
                    # (dnext there is 0 @ Waa, NaN when Waa holds an inf)
                    _dtanh(dz, NULL, &Abuf[t + 1, b, 0], H)
                else:
                    memset(dz, 0, H * sizeof(floating))
            # dnext = dz<t> @ Waa
            gemm_rows(False, <int> B, <int> H, <int> H, &dZ[t * B, 0], <int> H,
                      &Waa[0, 0], <int> H, <floating> 0.0, dnext, <int> H)
        # after t = 0, dnext = dL/da<0>

        # dWaa = dZ.T @ Abuf[0:T]           (sum_t dz<t>^T a<t-1>, one GEMM)
        gemm(True, False, <int> H, <int> H, <int> BT, <floating> 1.0, &dZ[0, 0], <int> H,
             &Abuf[0, 0, 0], <int> H, <floating> 0.0, &dWaa[0, 0], <int> H)
        # dba = dZ.sum(0)
        memset(&dba[0], 0, H * sizeof(floating))
        for r in range(BT):
            axpy(<int> H, <floating> 1.0, &dZ[r, 0], &dba[0])
        if is_dense:
            # dWax.T = X.T @ dZ                 (dZ reordered to (B, T) rows in P)
            for t in range(T):
                for b in range(B):
                    memcpy(&P[b, t, 0], &dZ[t * B + b, 0], H * sizeof(floating))
            gemm(True, False, <int> I, <int> H, <int> BT, <floating> 1.0,
                 &dense[0, 0, 0], <int> I, &P[0, 0, 0], <int> H, <floating> 0.0,
                 &dWaxT[0, 0], <int> H)
        else:
            # dWax[:, ids] += dz: scatter-add into rows of dWax.T
            memset(&dWaxT[0, 0], 0, I * H * sizeof(floating))
            for t in range(T):
                for b in range(B):
                    if t < lengths[b]:
                        axpy(<int> H, <floating> 1.0, &dZ[t * B + b, 0],
                             &dWaxT[ids[b, t], 0])
        # a_last[b] = a<lengths[b]-1>
        for b in range(B):
            memcpy(&a_last[b, 0], &Abuf[lengths[b], b, 0], H * sizeof(floating))
    return loss


def _fast_tanhf(float[::1] x):
    """In place x = tanh(x) with the float32 kernel row function (for tests)."""
    cdef float[::1] zero = np.zeros(x.shape[0], dtype=np.float32)
    if x.shape[0]:
        fr_bias_tanh_f(&x[0], &zero[0], x.shape[0])


def _fast_expf(float[::1] x):
    """In place x = exp(x) with the float32 kernel approximation (for tests)."""
    if x.shape[0]:
        fr_exp_f(&x[0], x.shape[0])
