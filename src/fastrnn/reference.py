"""NumPy reference implementation of fastrnn: the source of truth.

Written for clarity, one time step at a time, in the course's notation with
the batch in columns: a<t> is (H, B), x<t> a one-hot (I, B) for token ids.

    a<t> = tanh(Waa a<t-1> + Wax x<t> + ba)
    ŷ<t> = softmax(Wya a<t> + by)
    L    = sum over counted (n, t) of -log ŷ<t>[y<t>]  (cross-entropy)

``Wax x<t>`` for a one-hot x<t> is the column gather ``Wax[:, ids]``; its
gradient ``dz x<t>^T`` is a scatter-add of columns.  Both are written that way
here too, and the equivalence with the one-hot product is a test.

These functions take and return exactly what :func:`fastrnn.forward` and
:func:`fastrnn.loss_and_grads` do, through the same validation gate; the fast
kernels are tested against them.
"""
from __future__ import annotations

from typing import cast

import numpy as np

from . import _validate
from ._util import make_rng

__all__ = ["forward", "loss_and_grads", "sample"]


def _log_softmax(z: np.ndarray) -> np.ndarray:
    """Stable log-softmax over axis 0 (classes in rows): (z - max) - log sum
    exp(z - max), the shift first (m + log sum first rounded the log away
    next to logits of 1e16, float32 ones of 1e4)."""
    m = z.max(axis=0, keepdims=True)
    return (z - m) - np.log(np.exp(z - m).sum(axis=0, keepdims=True))


def _input_term(b: _validate.Batch, Wax: np.ndarray, t: int, n: np.ndarray) -> np.ndarray:
    """Wax x<t> for the sequences `n`, (H, len(n))."""
    if b.dense is not None:
        return Wax @ b.dense[n, t, :].T
    ids = cast(np.ndarray, b.ids)  # not None when dense is
    return Wax[:, ids[n, t]]  # == Wax @ one_hot(ids[n, t]).T


def _run(b: _validate.Batch):
    """Forward through time; returns per-step (n, a<t-1>, a<t>, z_y<t>) and a_last.

    Step t is computed for the sequences n still running (t < lengths[n])
    only: a padded step is never computed, so nothing it could hold (not even
    a NaN from 0 * inf) reaches an output or a gradient.
    """
    p = b.p
    Wax, Waa, ba, Wya, by = p.WaxT.T, p.Waa, p.ba[:, None], p.Wya, p.by[:, None]
    a = b.a0.T.copy()                            # a<0>, (H, B); column n is sequence n
    steps = []
    for t in range(b.T):
        n = np.flatnonzero(t < b.lengths)         # sequences still running
        a_prev = a[:, n]
        a_t = np.tanh(Waa @ a_prev + _input_term(b, Wax, t, n) + ba)
        z = Wya @ a_t + by                        # logits, (O, len(n))
        steps.append((n, a_prev, a_t, z))
        # a finished sequence keeps its last state: a_last = a<lengths>
        a[:, n] = a_t
    return steps, a.T


def forward(params, X, a0=None, lengths=None):
    """Reference twin of :func:`fastrnn.forward`: ``(probs, A)``.

    Notes
    -----
    Thread safety: a pure function, safe from several threads on private
    inputs; plain NumPy, so it holds the GIL between NumPy calls.
    """
    b = _validate.check_batch(params, X, None, a0, lengths)
    steps, _ = _run(b)
    probs = np.zeros((b.B, b.T, b.p.O), dtype=b.p.dtype)
    A = np.zeros((b.B, b.T, b.p.H), dtype=b.p.dtype)
    for t, (n, _, a, z) in enumerate(steps):
        probs[n, t] = np.exp(_log_softmax(z)).T
        A[n, t] = a.T
    return probs, A


def loss_and_grads(params, X, Y, a0=None, lengths=None):
    """Reference twin of :func:`fastrnn.loss_and_grads`: ``(loss, grads, a_last)``.

    Notes
    -----
    Thread safety: a pure function, safe from several threads on private
    inputs; plain NumPy, so it holds the GIL between NumPy calls.
    """
    b = _validate.check_batch(params, X, Y, a0, lengths, need_Y=True)
    p = b.p
    Wax, Waa, Wya = p.WaxT.T, p.Waa, p.Wya
    steps, a_last = _run(b)

    loss = 0.0
    dWax, dWaa, dba = np.zeros_like(Wax), np.zeros_like(Waa), np.zeros_like(p.ba)
    dWya, dby = np.zeros_like(Wya), np.zeros_like(p.by)
    # dL/da<t> from step t+1; a finished sequence's column waits, untouched,
    # for its last step (its carried state passes the gradient straight back)
    da_next = np.zeros((p.H, b.B), dtype=p.dtype)
    for t in reversed(range(b.T)):
        n, a_prev, a, z = steps[t]
        y = b.Y[n, t]
        counted = y != _validate.IGNORE
        cols = np.arange(n.size)
        # cross-entropy and its gradient dL/dz = ŷ - y (one-hot), on counted columns
        logp = _log_softmax(z)
        loss -= float(logp[y[counted], cols[counted]].sum())
        dz_y = np.exp(logp)
        dz_y[y[counted], cols[counted]] -= 1
        dz_y[:, ~counted] = 0
        dWya += dz_y @ a.T
        dby += dz_y.sum(axis=1)
        da = Wya.T @ dz_y + da_next[:, n]
        dz = (1 - a * a) * da                      # through tanh
        dWaa += dz @ a_prev.T
        dba += dz.sum(axis=1)
        if b.dense is not None:
            dWax += dz @ b.dense[n, t, :]
        else:
            np.add.at(dWax.T, b.ids[n, t], dz.T)  # == dz @ one_hot(ids[n, t])
        da_next[:, n] = Waa.T @ dz
    grads = _validate.grads_dict(b, dWax.T, dWaa, dba, dWya, dby, da_next.T.copy())
    grads["Wax"] = np.ascontiguousarray(grads["Wax"])
    return loss, grads, a_last.copy()


def sample(params, length, *, prime=None, a0=None, temperature=1.0, top_k=None,
           stop_id=None, seed=None):
    """Reference twin of :func:`fastrnn.sampling.sample`: the generated ids.

    The course's sampling loop, one token at a time, with the draw made
    explicit: instead of ``np.random.choice(O, p=ŷ)``, one ``u = rng.random()``
    per token and the inverse CDF, so the kernel can make the same choice.
    The rules both follow: the top_k classes are the largest logits, NaN
    ranking last and ties going to the lower id; the softmax and the CDF are
    float64, summed in id order; if no CDF entry exceeds u (NaN somewhere), the
    pick is the last kept class with e > 0, else the top-ranked one.

    Notes
    -----
    Thread safety: a pure function with its own generator (from `seed`),
    safe from several threads.
    """
    from .sampling import check_sample  # the shared gate

    s = check_sample(params, length, prime, a0, temperature, top_k, stop_id)
    rng = make_rng(seed)
    p = s.p
    Wax, Waa, ba, Wya, by = p.WaxT.T, p.Waa, p.ba, p.Wya, p.by
    a = s.a0.copy()                                  # a<0>, (H,)
    ids = []
    # NaN or infinite parameters must give ids, not warnings
    with np.errstate(all="ignore"):
        for x in s.prime:
            a = np.tanh(Waa @ a + Wax[:, x] + ba)    # Wax[:, x] == Wax @ one_hot(x)
        for _ in range(s.length):
            z = (Wya @ a + by).astype(np.float64)   # logits
            # the top_k classes by z: descending, NaN last, ties to the lower id
            order = np.argsort(-z, kind="stable")
            best = order[0]
            kept = np.sort(order[:s.top_k])          # in increasing id order
            # ŷ over kept = e / sum(e); T divides z - max z, which cannot overflow
            e = np.exp((z[kept] - z[best]) / s.temperature)
            cdf = np.cumsum(e)                       # sum(e) * cumsum(ŷ), in id order
            u = rng.random()                         # the one draw for this token
            hit = np.flatnonzero(cdf > u * cdf[-1])  # cumsum(ŷ) > u
            if hit.size:
                k = kept[hit[0]]                     # inverse CDF
            else:                                    # only a NaN gets here
                positive = np.flatnonzero(e > 0)
                k = kept[positive[-1]] if positive.size else best
            ids.append(int(k))
            if k == s.stop_id:
                break
            a = np.tanh(Waa @ a + Wax[:, k] + ba)    # feed the drawn token back
    return np.array(ids, dtype=np.intp)
