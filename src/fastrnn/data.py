"""Batches for truncated backpropagation through time (TBPTT).

A long sequence of token ids is cut into ``B`` parallel contiguous *streams*
(as PyTorch's ``word_language_model`` example does with ``batchify``), and
the streams are read in *windows* of ``seq_len`` steps::

    ids:      x0 x1 x2 ... x(n-1)
    stream b: ids[b*L : (b+1)*L]            inputs,  L = (n - 1) // B
              ids[b*L + 1 : (b+1)*L + 1]    targets (the next token)
    window k: X = inputs[:, k*S : (k+1)*S], Y = targets[:, k*S : (k+1)*S]

Stream ``b`` continues exactly where window ``k`` stopped in window ``k+1``,
so a trainer carries the hidden state across windows: the ``a_last`` that
:func:`fastrnn.loss_and_grads` returns for window ``k`` is the ``a0`` of window
``k+1`` (a plain array, so no gradient crosses the window boundary), and the
state is reset to the initial state at the start of each pass over the data.

Examples
--------
>>> import numpy as np
>>> from fastrnn.data import TBPTTBatches
>>> batches = TBPTTBatches(np.arange(11), batch_size=2, seq_len=3)
>>> for X, Y in batches:
...     print(X.tolist(), Y.tolist())
[[0, 1, 2], [5, 6, 7]] [[1, 2, 3], [6, 7, 8]]
[[3, 4], [8, 9]] [[4, 5], [9, 10]]
"""
from __future__ import annotations

import operator
from numbers import Real

import numpy as np

from ._util import check_int
from ._validate import FastRNNIndexError

__all__ = ["TBPTTBatches", "as_ids", "split_ids"]


def as_ids(ids, name: str = "ids") -> np.ndarray:
    """`ids` as a 1-d ``np.intp`` array of non-negative integers.

    Raises
    ------
    TypeError
        If `ids` is not an integer array (floats and bools are rejected).
    ValueError
        If `ids` is not 1-d or holds a negative id (or an unsigned one
        beyond ``np.intp``); out-of-range ids are a
        :class:`fastrnn.FastRNNIndexError`, both a ValueError and an IndexError.

    Notes
    -----
    Thread safety: a pure function; safe from several threads (it may
    return a view of `ids`).
    """
    is_array = isinstance(ids, np.ndarray)
    try:
        arr = np.asarray(ids)
    except (TypeError, ValueError) as exc:  # ragged nested lists
        raise TypeError(f"{name} could not be converted to an array of token ids: "
                        f"{exc}") from None
    if not is_array and arr.size == 0:
        arr = arr.astype(np.intp)  # [] -> float64 otherwise
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integer token ids, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-d sequence of token ids, got shape {arr.shape}")
    if arr.size and arr.min() < 0:
        pos = int(np.argmax(arr < 0))
        raise FastRNNIndexError(f"{name} has a negative id {int(arr[pos])} at [{pos}]")
    # an unsigned id beyond intp would wrap around to a negative one in the cast
    big = np.iinfo(np.intp).max
    if arr.size and arr.dtype.kind == "u" and arr.max() > big:
        pos = int(np.argmax(arr > big))
        raise FastRNNIndexError(f"{name} has token id {int(arr[pos])} at [{pos}], "
                         f"beyond the largest id an index can hold ({big})")
    return np.ascontiguousarray(arr, dtype=np.intp)


def split_ids(ids, val_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Split a token sequence into a training part and a held-out tail.

    The split is contiguous, not shuffled: the held-out part is the last
    ``round(len(ids) * val_fraction)`` tokens (at least 2 when
    ``val_fraction > 0``, so that it holds one prediction), as is usual for
    language-model corpora, where neighbouring windows overlap in content.

    Parameters
    ----------
    ids : array_like of int
        1-d token ids.
    val_fraction : float, default 0.1
        Share of the tokens held out, in ``[0, 1)``; 0 gives an empty
        held-out part.

    Returns
    -------
    train, val : numpy.ndarray
        1-d ``np.intp`` views of `ids` (`val` may be empty).

    Raises
    ------
    ValueError
        If `val_fraction` is outside ``[0, 1)`` or fewer than 2 tokens would
        be left for training.

    Notes
    -----
    Thread safety: a pure function; safe from several threads.  The parts
    are views of `ids`: do not write to it meanwhile.

    Examples
    --------
    >>> from fastrnn.data import split_ids
    >>> train, val = split_ids(range(10), 0.2)
    >>> train.tolist(), val.tolist()
    ([0, 1, 2, 3, 4, 5, 6, 7], [8, 9])
    """
    arr = as_ids(np.arange(ids.start, ids.stop, ids.step) if isinstance(ids, range) else ids)
    if isinstance(val_fraction, (bool, np.bool_)) or not isinstance(val_fraction, Real):
        raise TypeError(f"val_fraction must be a number, got {val_fraction!r}")
    f = float(val_fraction)
    if not (0.0 <= f < 1.0):
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    n = arr.size
    n_val = 0 if f == 0.0 else max(2, int(round(n * f)))
    if n - n_val < 2:
        raise ValueError(
            f"cannot hold out {f:g} of {n} tokens: fewer than 2 would be left for training")
    return arr[: n - n_val], arr[n - n_val:]


class TBPTTBatches:
    """Windows of parallel streams for truncated backpropagation through time.

    The id sequence is cut into `batch_size` contiguous streams of
    ``L = (len(ids) - 1) // batch_size`` input steps each (the targets are the
    inputs shifted by one token, so every stream ends where the next one
    begins and each of the ``batch_size * L`` tokens after the first is
    predicted once per pass); up to ``batch_size - 1`` trailing tokens are
    left out.  Iterating yields the windows ``(X, Y)`` of one pass in order.

    Parameters
    ----------
    ids : array_like of int
        1-d token ids, at least ``batch_size + 1`` of them.
    batch_size : int
        B, the number of parallel streams.
    seq_len : int
        S, the number of time steps per window (the truncation length).
    drop_last : bool, default False
        The last window of a pass is shorter than `seq_len` when `seq_len`
        does not divide L.  By default it is kept (it is a full-batch window
        with fewer time steps, so no padding or lengths are needed); with
        ``drop_last=True`` it is dropped and its tokens are not trained on.

    Attributes
    ----------
    batch_size, seq_len : int
        As given.
    stream_len : int
        L, the number of input steps per stream.
    n_tokens : int
        Predictions per pass, ``batch_size * (number of steps in the windows)``.

    Notes
    -----
    Windows are stored window-major and C-contiguous, so each ``X`` and ``Y``
    is a view that the kernels take without copying.  The iterable holds no
    hidden state: the trainer carries ``a_last -> a0`` from window to window
    and resets it at window 0.

    Thread safety: read-only after construction; several threads may index
    or iterate one instance at once (each iteration is independent).  The
    windows are views of shared arrays: treat them as read-only.

    Examples
    --------
    >>> import numpy as np
    >>> from fastrnn.data import TBPTTBatches
    >>> b = TBPTTBatches(np.arange(101), batch_size=4, seq_len=10)
    >>> len(b), b.stream_len, b.n_tokens
    (3, 25, 100)
    >>> [X.shape for X, Y in b]
    [(4, 10), (4, 10), (4, 5)]
    >>> X, Y = b[1]
    >>> bool((Y[:, :-1] == X[:, 1:]).all())
    True
    """

    def __init__(self, ids, batch_size: int, seq_len: int, *, drop_last: bool = False):
        if not isinstance(drop_last, (bool, np.bool_)):
            raise TypeError(f"drop_last must be a bool, got {drop_last!r}")
        arr = as_ids(ids)
        B = check_int(batch_size, "batch_size")
        S = check_int(seq_len, "seq_len")
        n = arr.size
        L = (n - 1) // B
        if L < 1:
            raise ValueError(
                f"ids has {n} tokens; at least batch_size + 1 = {B + 1} are needed to "
                f"make {B} streams (use a smaller batch_size or more data)")
        n_full, rest = divmod(L, S)
        if drop_last:
            if n_full == 0:
                raise ValueError(
                    f"each of the {B} streams has {L} steps, fewer than seq_len={S}; "
                    "with drop_last=True there is no window")
            rest = 0
        inputs = arr[: B * L].reshape(B, L)
        targets = arr[1: B * L + 1].reshape(B, L)

        def window_major(a):
            # (B, n_full*S) -> (n_full, B, S), each window contiguous (no
            # whole window: S may be beyond any array dimension)
            if n_full == 0:
                return np.empty((0, B, 0), dtype=a.dtype)
            return np.ascontiguousarray(
                a[:, : n_full * S].reshape(B, n_full, S).transpose(1, 0, 2))

        self._X = window_major(inputs)
        self._Y = window_major(targets)
        self._X_last = np.ascontiguousarray(inputs[:, n_full * S: n_full * S + rest])
        self._Y_last = np.ascontiguousarray(targets[:, n_full * S: n_full * S + rest])
        self._n_windows = n_full + (1 if rest else 0)
        self.batch_size = B
        self.seq_len = S
        self.stream_len = L
        self.n_tokens = B * (n_full * S + rest)

    def __len__(self) -> int:
        """Number of windows in one pass."""
        return self._n_windows

    def __getitem__(self, k) -> tuple[np.ndarray, np.ndarray]:
        """Window `k` as ``(X, Y)``, each (B, T) with T = seq_len except maybe last."""
        if isinstance(k, (bool, np.bool_)):
            raise TypeError(f"window index must be an integer, got {k!r}")
        try:
            k = operator.index(k)
        except TypeError:
            raise TypeError(f"window index must be an integer, got {k!r}") from None
        n = self._n_windows
        if k < 0:
            k += n
        if not 0 <= k < n:
            raise IndexError(f"window index out of range [0, {n})")
        if k < self._X.shape[0]:
            return self._X[k], self._Y[k]
        return self._X_last, self._Y_last

    def __iter__(self):
        for k in range(self._n_windows):
            yield self[k]

    def __repr__(self) -> str:
        return (f"TBPTTBatches(batch_size={self.batch_size}, seq_len={self.seq_len}, "
                f"stream_len={self.stream_len}, windows={len(self)})")
