"""The public numerical contract: init_params, forward, loss_and_grads.

Each function passes its arguments through the one validation gate
(:mod:`fastrnn._validate`) and then runs the Cython kernels
(:mod:`fastrnn._kernels`) with the GIL released.
"""
from __future__ import annotations

import numpy as np

from . import _blas, _kernels, _validate
from ._util import check_int, make_rng

__all__ = ["init_params", "forward", "loss_and_grads", "get_num_threads",
           "set_num_threads"]

#: B*H*H range of the per-step product in which the kernels run BLAS on one
#: thread.  Below it OpenBLAS does not thread anyway; inside it, two threads
#: meeting at every one of the T steps lost to one thread (measured with one
#: other process on this 2-core machine, B=32 H=128: 24 ms on one thread, 295
#: ms on two; large, B=64 H=512: 374 ms vs 6.7 s; see BENCHMARKS.md).  Above
#: it the products are big enough that the caller's setting is kept.  The
#: per-step products in the range are now the kernels' own, so the limit holds
#: only the few batched BLAS products of a call (dense inputs' projections,
#: dWaa above H = 512 in float32 and 256 in float64), whose threads a busy
#: machine would still stall at every call; a call without any
#: (_kernels.uses_blas: token ids up to those H) is not limited, and
#: a model whose output layer goes to BLAS (BIG_OUTPUT_BYTES) is exempt, see
#: _blas_threads.
ONE_THREAD_STEP = (2**16, 2**22)

#: Wya, packed as the kernels pack it (rows padded to 16 elements), bigger
#: than this (bytes) in either orientation: the output layer's products go to
#: BLAS (the kernels' own product takes an operand that fits in 256 KiB,
#: _small_w in _kernels.pyx) and are most of the step (word size, V = 10000:
#: ~95% of its FLOPs); they keep the caller's threads.  Two threads on an
#: idle machine, word size: training step 0.61x, forward 0.64x of one thread.
BIG_OUTPUT_BYTES = 256 * 1024


def _big_output(p: _validate.Params) -> bool:
    up16 = lambda n: -(-n // 16) * 16  # noqa: E731
    return max(p.H * up16(p.O), p.O * up16(p.H)) * p.dtype.itemsize > BIG_OUTPUT_BYTES


#: BLAS (SciPy's OpenBLAS) on one thread while any call is inside; the count
#: of callers lives in C (see _blas.pyx: no lock, safe from signal handlers,
#: exceptions and forks); does nothing where BLAS cannot be limited
_one_blas_thread = _blas.OneBlasThread()


class _NoLimit:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


_no_limit = _NoLimit()


def _blas_threads(b: _validate.Batch):
    lo, hi = ONE_THREAD_STEP
    if not lo <= b.B * b.p.H * b.p.H < hi:
        return _no_limit
    if _big_output(b.p):
        return _no_limit
    return _one_blas_thread


def _blas_many() -> bool:
    """Whether BLAS may use more than one thread (the caller's setting, not
    the one thread another thread's call may have set meanwhile; where it
    cannot be read, yes: a BLAS of its own threads)."""
    return _blas.caller_threads() != 1


#: _plan's answer below ONE_THREAD_STEP: nothing to limit, the kernels on one thread
_SMALL_PLAN = (_no_limit, False, 1, False)

#: Below this B*H*H, where _plan always answers _SMALL_PLAN, the usual call
#: (plain ndarrays, no lengths) goes from the public arguments straight to
#: the kernels' own check of it (_kernels.forward_ids / loss_and_grads_ids:
#: the same results, ~1.5 µs sooner); anything else, and anything it does not
#: take, through the gate and _plan.  Tests set 0 to send every call there.
_USUAL_MAX_BHH = ONE_THREAD_STEP[0]


def _plan(b: _validate.Batch):
    """(BLAS limit context, blas_steps, threads, blas_serial) for a call.

    blas_steps, the per-step products by BLAS rather than the kernels' own
    packed product: only above the one-thread range, and only when BLAS may
    use more than one thread there.  On one thread the own product beats
    OpenBLAS, which repacks Waa at every step (A/B, B=64: 0.80x at H = 512,
    0.84-0.93x at H = 1024); with two threads OpenBLAS wins there
    (1.15-1.26x).

    threads=0 (the kernels decide, see get_num_threads): fastrnn's own
    threads, where BLAS runs on one thread: in the one-thread range, where
    _blas_threads limits it, or where the caller limited it.  Where BLAS
    keeps several threads (large steps, a big output layer), its threads do
    the parallel work and fastrnn's stay at one (threads=1): with both, the
    threads OpenBLAS leaves spinning after each product compete with
    fastrnn's at every step (measured: large 1.09x, word 1.04x the time of
    fastrnn on one thread and BLAS on two).  blas_serial: BLAS is on one
    thread, so the batched gradients' halves may run side by side.
    """
    lo, hi = ONE_THREAD_STEP
    bhh = b.B * b.p.H * b.p.H
    if bhh < lo:
        return _SMALL_PLAN   # too small for threads of any kind (the usual tiny call)
    limit = _blas_threads(b)
    if limit is _one_blas_thread:
        if not _kernels.uses_blas(b.Y is not None, b.dense is not None, b.B, b.T, b.p.I,
                                  b.p.H, b.p.O, b.p.dtype.itemsize):
            # every product of the call is the kernels' own (token ids up
            # to H = 512 float32, 256 float64: the usual case): nothing to
            # limit, and no process-wide setting touched
            return _no_limit, False, 0, True
        if not _blas.limitable() and _blas_many():
            # a BLAS whose threads cannot be limited (not an OpenBLAS of
            # pthreads): fastrnn's threads for the steps, and the batched
            # gradients one after the other, each with BLAS's threads
            return limit, False, 0, False
        return limit, False, 0, True
    if _blas_many():
        return limit, bhh >= hi, 1, False
    return limit, False, 0, True


def get_num_threads() -> int:
    """The number of threads :func:`forward` and :func:`loss_and_grads` (and
    the models built on them) may use.

    By default ``OMP_NUM_THREADS`` if it is set, else the number of CPUs this
    process may run on.  Calls use several threads from B*H*H >= 262,144 on
    (smaller steps are faster on one) where BLAS runs on one thread (see the
    README's Threads section), never more than H/16, and fall back to one
    thread for a while (64 call durations, doubling up to four seconds while
    the machine stays busy) after two calls in a row whose threads spent more
    than half of them waiting for each other (a busy machine).

    Notes
    -----
    Thread safety: reads one process-wide setting; safe from any thread.
    """
    return int(_kernels.get_num_threads())


def set_num_threads(n: int) -> int:
    """Let :func:`forward` and :func:`loss_and_grads` use up to `n` threads.

    ``n = 1`` runs every call on the calling thread alone; ``n <= 0``
    restores the default (see :func:`get_num_threads`).  Results do not
    depend on the number of threads: every number is computed by the same
    operations in the same order.  Returns the previous setting.

    Notes
    -----
    Thread safety: one process-wide setting, read at the start of each call;
    changing it while other threads call fastrnn is safe and applies to their
    next calls.
    """
    n = check_int(n, "n", minimum=-(2**31), maximum=64)
    return int(_kernels.set_num_threads(n))


_EMPTY_IDS = np.empty((0, 0), dtype=np.intp)
_EMPTY_DENSE = {np.dtype(np.float32): np.empty((0, 0, 0), dtype=np.float32),
                np.dtype(np.float64): np.empty((0, 0, 0), dtype=np.float64)}


def _size(value, name: str) -> int:
    n = check_int(value, name, allow_bool=True)  # bool has always been accepted here
    if n > _validate.INT_MAX:
        raise ValueError(f"{name} = {n} exceeds BLAS's 32-bit limit {_validate.INT_MAX}")
    return n


def init_params(input_size, hidden_size, output_size=None, *, dtype=np.float32,
                seed=None) -> dict:
    """Random parameters for an Elman RNN.

    Parameters
    ----------
    input_size : int
        I, the vocabulary size (token ids) or the width of dense inputs.
    hidden_size : int
        H, the size of the hidden state a<t>.
    output_size : int, optional
        O, the number of output classes; defaults to `input_size` (a language
        model predicts the next token).
    dtype : {numpy.float32, numpy.float64}
        The compute dtype of every function that takes these parameters.
    seed : None, int or numpy.random.Generator
        Seed for :func:`numpy.random.default_rng`.

    Returns
    -------
    dict
        ``"Wax"`` (H, I), ``"Waa"`` (H, H), ``"ba"`` (H,), ``"Wya"`` (O, H),
        ``"by"`` (O,).  Weights are drawn from U(-1/sqrt(H), 1/sqrt(H)) (as
        PyTorch's ``nn.RNN`` and ``nn.Linear(H, O)`` do), biases are zero (as
        in the course).  ``Wax`` is stored in Fortran order, so that its
        columns (one per token) are contiguous in memory for the input gather;
        any layout is accepted by the other functions.

    Notes
    -----
    Thread safety: a pure function (its generator comes from `seed`), safe
    from several threads.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> p = fastrnn.init_params(27, 50, seed=0)
    >>> {k: v.shape for k, v in p.items()}
    {'Wax': (50, 27), 'Waa': (50, 50), 'ba': (50,), 'Wya': (27, 50), 'by': (27,)}
    >>> p["Wax"].dtype
    dtype('float32')
    """
    I = _size(input_size, "input_size")
    H = _size(hidden_size, "hidden_size")
    O = I if output_size is None else _size(output_size, "output_size")
    dt = _validate.check_float_dtype(dtype)
    rng = make_rng(seed)
    bound = 1.0 / np.sqrt(H)

    def uniform(shape):
        return rng.uniform(-bound, bound, size=shape).astype(dt)

    return {
        "Wax": np.asfortranarray(uniform((H, I))),
        "Waa": uniform((H, H)),
        "ba": np.zeros(H, dtype=dt),
        "Wya": uniform((O, H)),
        "by": np.zeros(O, dtype=dt),
    }


#: loss_and_grads's seven outputs, made by the kernels
_NO_OUTPUTS = (None,) * 7


def _kernel_inputs(b: _validate.Batch):
    p = b.p
    ids = _EMPTY_IDS if b.ids is None else b.ids
    dense = _EMPTY_DENSE[p.dtype] if b.dense is None else b.dense
    return p.WaxT, p.Waa, p.ba, p.Wya, p.by, ids, dense


def forward(params, X, a0=None, lengths=None):
    """Run the RNN over a batch of sequences.

    a<t> = tanh(Waa a<t-1> + Wax x<t> + ba),  ŷ<t> = softmax(Wya a<t> + by).

    Parameters
    ----------
    params : dict
        As returned by :func:`init_params`; all float32 or all float64.
    X : array_like
        Integer token ids of shape (B, T), each in [0, I); or floating inputs
        of shape (B, T, I) in the parameters' dtype.
    a0 : array_like, optional
        Initial state a<0>, shape (B, H) or (H,) (shared by the batch);
        zeros if omitted.
    lengths : array_like of int, optional
        (B,) lengths in [1, T]; steps ``t >= lengths[b]`` are padding (their
        values in X are ignored).

    Returns
    -------
    probs : ndarray, shape (B, T, O)
        ŷ<t> for every step; zero at padding.
    A : ndarray, shape (B, T, H)
        a<t> for every step; zero at padding.

    Raises
    ------
    TypeError, ValueError, IndexError
        For a bad dtype, shape, id, or length; the message names the argument.

    Notes
    -----
    Thread safety: a pure function, safe from several threads on inputs no
    other thread writes; the kernels release the GIL, so such threads run in
    parallel (BLAS threads are limited where they would oversubscribe: see
    the README's Threads section).

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> p = fastrnn.init_params(5, 8, seed=0)
    >>> probs, A = fastrnn.forward(p, np.array([[0, 3, 1]]))
    >>> probs.shape, A.shape
    ((1, 3, 5), (1, 3, 8))
    >>> bool(np.allclose(probs.sum(-1), 1))
    True
    """
    if lengths is None:
        r = _kernels.forward_ids(params, X, a0, _USUAL_MAX_BHH)
        if r is not None:
            return r
    b = _validate.check_batch(params, X, None, a0, lengths)
    limit, blas_steps, threads, _ = _plan(b)
    # the kernels make probs and A (None: np.empty from Python costs more
    # than the course-size kernel's softmax); a_last (None) is not returned
    args = (*_kernel_inputs(b), b.lengths, b.a0, None, None, None, blas_steps, threads)
    if limit is _no_limit:   # no `with` when there is nothing to limit
        return _kernels.forward(*args)
    with limit:
        return _kernels.forward(*args)


def loss_and_grads(params, X, Y, a0=None, lengths=None):
    """Cross-entropy loss, its gradients by backpropagation through time.

    Parameters
    ----------
    params, X, a0, lengths
        As in :func:`forward`.
    Y : array_like of int
        Targets: shape (B, T), one class id in [0, O) per step (T_y = T_x);
        or shape (B,), one per sequence, read at its last step (T_y = 1).
        ``-1`` means "ignore this position".

    Returns
    -------
    loss : float
        Sum over all counted positions (and the batch) of -ln ŷ<t>[y<t>].
    grads : dict
        Gradient of `loss` for ``"Wax"``, ``"Waa"``, ``"ba"``, ``"Wya"``,
        ``"by"`` (shaped like the parameters) and ``"a0"`` (shaped like the
        given a0, (B, H) when omitted), in the parameters' dtype.
    a_last : ndarray, shape (B, H)
        The state after each sequence's last step, a<lengths[b]>, to carry into
        the next window as its a0 (truncated BPTT).

    Notes
    -----
    Thread safety: a pure function, safe from several threads on inputs no
    other thread writes; the kernels release the GIL, so such threads run in
    parallel (BLAS threads are limited where they would oversubscribe: see
    the README's Threads section).

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> p = fastrnn.init_params(5, 8, seed=0, dtype=np.float64)
    >>> X = np.array([[0, 3, 1, 2]])
    >>> loss, grads, a_last = fastrnn.loss_and_grads(p, X[:, :-1], X[:, 1:])
    >>> round(loss, 6) == round(float(-np.log(fastrnn.forward(p, X[:, :-1])[0][0, [0, 1, 2], [3, 1, 2]]).sum()), 6)
    True
    >>> sorted(grads)
    ['Waa', 'Wax', 'Wya', 'a0', 'ba', 'by']
    """
    if lengths is None:
        r = _kernels.loss_and_grads_ids(params, X, Y, a0, _USUAL_MAX_BHH)
        if r is not None:
            return r
    b = _validate.check_batch(params, X, Y, a0, lengths, need_Y=True)
    limit, blas_steps, threads, blas_serial = _plan(b)
    # the gradients and a_last are made by the kernels (see forward)
    args = (*_kernel_inputs(b), b.Y, b.lengths, b.a0, *_NO_OUTPUTS, blas_steps, threads,
            blas_serial)
    if limit is _no_limit:
        r = _kernels.loss_and_grads(*args)
    else:
        with limit:
            r = _kernels.loss_and_grads(*args)
    loss, dWaxT, dWaa, dba, dWya, dby, da0, a_last = r
    return float(loss), _validate.grads_dict(b, dWaxT, dWaa, dba, dWya, dby, da0), a_last
