"""Text generation: draw token ids from a trained Elman RNN.

:func:`sample` checks its arguments (:func:`check_sample`, shared with its
NumPy twin :func:`fastrnn.reference.sample`), draws the uniforms, and runs the
Cython + C kernel (:mod:`fastrnn._sample`) with the GIL released.
"""
from __future__ import annotations

import math
import numbers
import operator
from dataclasses import dataclass

import numpy as np

from . import _sample, _validate
from ._util import alloc_draws, make_rng

__all__ = ["sample", "check_sample", "SampleArgs"]


@dataclass(frozen=True)
class SampleArgs:
    """Checked arguments of :func:`sample`, ready for the kernel or the reference.

    prime: (n,) intp ids in [0, I), possibly empty.
    a0: (H,) C-contiguous, in the parameters' dtype.
    top_k: in [1, O]; O when the caller gave None (every class kept).
    stop_id: in [0, O), or -1 when the caller gave None (never stop early).

    Thread safety: immutable (a frozen dataclass; do not write to its arrays).
    """
    p: _validate.Params
    length: int
    prime: np.ndarray
    a0: np.ndarray
    temperature: float
    top_k: int
    stop_id: int


def _int(value, name: str) -> int:
    """A Python int from an integer (bool and floats refused)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r}") from None


def _check_prime(prime, I: int) -> np.ndarray:
    if prime is None:
        return np.empty(0, dtype=np.intp)
    arr = _validate._as_array(prime, "prime")
    if arr.ndim != 1:
        raise ValueError(f"prime must be a 1-d sequence of token ids, got shape {arr.shape}")
    if arr.size == 0:  # [] converts to float64: an empty prime is no prime
        return np.empty(0, dtype=np.intp)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"prime must be integer token ids, got dtype {arr.dtype}")
    bad = (arr < 0) | (arr >= I)
    if bad.any():
        (pos,) = _validate._first_bad(bad)
        raise _validate.FastRNNIndexError(
            f"prime has token id {int(arr[pos])} at [{pos}]; ids must be in [0, {I}) "
            f"(input size I={I})")
    return np.ascontiguousarray(arr, dtype=np.intp)


def check_sample(params, length, prime=None, a0=None, temperature=1.0, top_k=None,
                 stop_id=None) -> SampleArgs:
    """Check everything :func:`sample` takes except the seed.

    Thread safety: a pure function; it only reads its arguments (the result
    refers to the caller's parameter arrays where they are already
    C-contiguous: do not write to them while it is in use).
    """
    p = _validate.check_params(params)
    if p.O != p.I:
        raise ValueError(
            f"sampling feeds each generated id back as the next input, so the output "
            f"size O={p.O} (Wya rows) must equal the input size I={p.I} (Wax columns)")
    if p.H + p.O > _validate.INT_MAX:
        raise ValueError(f"H + O = {p.H + p.O} exceeds the sampler's limit {_validate.INT_MAX}")
    n = _int(length, "length")
    if n < 0:
        raise ValueError(f"length must be >= 0, got {n}")
    ids = _check_prime(prime, p.I)
    if a0 is None:
        a = np.zeros(p.H, dtype=p.dtype)
    else:
        arr = _validate._as_array(a0, "a0")   # converted once: checked is used
        if arr.shape != (p.H,):
            raise ValueError(f"a0 must have shape (H,)=({p.H},), got {arr.shape}")
        a = _validate._as_float(a0, "a0", p.dtype, 1, arr)
    if isinstance(temperature, (bool, np.bool_)) or not isinstance(temperature, numbers.Real):
        raise TypeError(f"temperature must be a real number, got {temperature!r}")
    try:
        temp = float(temperature)
    except OverflowError:  # an int beyond float range
        raise ValueError(f"temperature must be finite and > 0, got {temperature}") from None
    if not (math.isfinite(temp) and temp > 0):
        raise ValueError(f"temperature must be finite and > 0, got {temp}")
    if top_k is None:
        k = p.O
    else:
        k = _int(top_k, "top_k")
        if not 1 <= k <= p.O:
            raise ValueError(f"top_k must be in [1, {p.O}] (output size O={p.O}), got {k}")
    if stop_id is None:
        stop = -1
    else:
        stop = _int(stop_id, "stop_id")
        if not 0 <= stop < p.O:
            raise _validate.FastRNNIndexError(
                f"stop_id is {stop}; it must be a class id in [0, {p.O}) (output size O={p.O})")
    return SampleArgs(p=p, length=n, prime=ids, a0=a, temperature=temp, top_k=k,
                      stop_id=stop)


def sample(params, length, *, prime=None, a0=None, temperature=1.0, top_k=None,
           stop_id=None, seed=None) -> np.ndarray:
    """Generate token ids from the RNN, one uniform draw per token.

    The prime ids are fed first; then, `length` times::

        ŷ = softmax((Wya a + by) / temperature)   restricted to the top_k classes
        k = the smallest class id with cumsum(ŷ)[k] > u,   u = rng.random()
        a = tanh(Waa a + Wax[:, k] + ba)           (k is fed back as the next input)

    Generation stops early after `stop_id` is drawn (it is included).

    Parameters
    ----------
    params : dict
        As returned by :func:`fastrnn.init_params`; all float32 or all
        float64.  Generated ids are fed back as inputs, so the output size O
        must equal the input size I.
    length : int
        The number of tokens to generate, >= 0.
    prime : array_like of int, optional
        (n,) ids in [0, I) fed before generating (no draws); not returned.
    a0 : array_like, optional
        (H,) initial state, in the parameters' dtype; zeros if omitted.  With
        no prime the first token is drawn from ``softmax(Wya a0 + by)``.
    temperature : float, default 1.0
        Finite, > 0.  The logits are divided by it: below 1 sharpens the
        distribution, above 1 flattens it.
    top_k : int, optional
        Draw only among the `top_k` most likely classes (in [1, O]),
        renormalised; ties in the logits go to the lower id.  ``top_k=1`` is
        greedy (argmax) decoding.  Default: every class.
    stop_id : int, optional
        A class id in [0, O), e.g. an end-of-text token; generation ends right
        after it is drawn.
    seed : None, int, array_like or numpy.random.Generator
        Anything :func:`numpy.random.default_rng` accepts.  Token t uses the
        t-th number of ``rng.random()``, so the same seed gives the same ids
        here and in :func:`fastrnn.reference.sample`.  A Generator passed in
        is advanced by `length` draws (all are drawn up front), even when
        `stop_id` ends generation early.

    Returns
    -------
    ndarray of intp, shape (n,)
        The generated ids, n = `length`, or fewer if `stop_id` was drawn.

    Raises
    ------
    TypeError, ValueError, IndexError
        For a bad argument; the message names it.  Out-of-range ids (`prime`,
        `stop_id`) raise :class:`fastrnn.FastRNNIndexError`, both an
        IndexError and a ValueError.

    Notes
    -----
    The logits are computed in the parameters' dtype; the temperature scaling
    (of ``z - max(z)``, so a tiny temperature tends to greedy decoding instead
    of overflowing), the softmax and the CDF in float64, summed in class-id
    order.  A token whose probabilities are NaN (e.g. NaN parameters) falls
    back to the last kept class with a positive probability, else the most
    likely one: the ids are always in [0, O).

    This function and :func:`fastrnn.reference.sample` apply the same rules to
    the same uniforms.  Their tanh, exp and matrix products differ in the
    last bits, so they return the same ids unless a uniform falls within that
    rounding (~1e-7 for float32) of a CDF step; the tests accept a parting
    only at such a step.

    Thread safety: a pure function with its own generator (from `seed`), safe
    from several threads on inputs no other thread writes; the kernel
    releases the GIL.

    Examples
    --------
    >>> import numpy as np, fastrnn
    >>> from fastrnn.sampling import sample
    >>> p = fastrnn.init_params(5, 8, seed=0)
    >>> ids = sample(p, 10, prime=[1, 2], seed=42)
    >>> ids.shape, ids.dtype == np.intp, bool(((ids >= 0) & (ids < 5)).all())
    ((10,), True, True)
    >>> bool(np.array_equal(ids, sample(p, 10, prime=[1, 2], seed=42)))
    True
    >>> bool(np.array_equal(ids, fastrnn.reference.sample(p, 10, prime=[1, 2], seed=42)))
    True
    >>> ids = sample(p, 50, stop_id=4, temperature=2.0, top_k=3, seed=1)
    >>> bool(len(ids) == 50 or ids[-1] == 4)
    True
    """
    args = check_sample(params, length, prime, a0, temperature, top_k, stop_id)
    rng = make_rng(seed)
    p = args.p
    # u: the same numbers as `length` calls of rng.random(), in order
    out, u = alloc_draws(args.length, rng)
    n = _sample.sample(p.WaxT, p.Waa, p.ba, p.Wya, p.by, args.prime, args.a0,
                       args.temperature, args.top_k, args.stop_id, u, out)
    return out if n == args.length else out[:n].copy()
