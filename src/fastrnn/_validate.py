"""The one validation gate in front of all unchecked code.

Every public numerical function (the Cython path and ``fastrnn.reference``
alike) passes its arguments through :func:`check_batch` before any arithmetic.
The kernels run with bounds checks off, so everything they index with is
checked here: dtypes, shapes against each other, token ids and targets at both
ends of their range, lengths, and the sizes BLAS's 32-bit integers can hold.
Errors name the argument, the bad value and where it is.

The usual case (a plain dict of ndarrays, integer token ids, and Y, a0,
lengths None or plain ndarrays) is decided in compiled code,
:func:`fastrnn._index.fast_batch`, which gives the Batch the Python path
(:func:`_check_batch_py`) would give, or declines.  Anything it declines,
including every bad input, goes through the Python path, so every error comes
from there.

What comes out is always C-contiguous and aligned, in the parameters' dtype,
with padding positions (``t >= lengths[b]``) neutralised: their token ids and
dense inputs are replaced by zeros in a private copy and their targets by
``IGNORE``, so the kernels never read a value the caller did not vouch for.
Token ids, targets and lengths are always private copies of NumPy's own intp
type: the kernels index memory with them after releasing the GIL, where a
caller's array changed by another thread would be a wild write, not just a
wrong answer.  Caller-owned arrays are never written to.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from fastrnn._index import fast_batch, first_outside

__all__ = ["FastRNNIndexError", "Batch", "Params", "check_params", "check_batch",
           "check_float_dtype",
           "IGNORE", "PARAM_KEYS"]

#: Target value meaning "no loss at this position".
IGNORE = -1

#: The parameter names, in the course's notation.
PARAM_KEYS = ("Wax", "Waa", "ba", "Wya", "by")

#: BLAS (LP64) takes dimensions and leading dimensions as C ints.
INT_MAX = 2**31 - 1

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_float_dtype(dtype, name: str = "dtype") -> np.dtype:
    """`dtype` as a NumPy dtype if it is float32 or float64, else a TypeError
    naming `name` and the value."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{name} must be float32 or float64, got {dtype!r}") from None
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got {dt}")
    return dt


class FastRNNIndexError(IndexError, ValueError):
    """An index (token id, target, length) outside its valid range.

    Subclasses both ``IndexError`` and ``ValueError`` (like NumPy's
    ``AxisError``), so either ``except`` clause catches it.

    Thread safety: an exception class; nothing shared.
    """


class Params(NamedTuple):
    """Checked parameters: C-contiguous arrays of one float dtype.

    ``WaxT`` is ``Wax.T`` stored C-contiguous (I, H): row ``i`` is the column
    of ``Wax`` that a one-hot ``x`` selects, so the input term is a row gather.
    """
    WaxT: np.ndarray
    Waa: np.ndarray
    ba: np.ndarray
    Wya: np.ndarray
    by: np.ndarray
    dtype: np.dtype
    I: int
    H: int
    O: int


class Batch(NamedTuple):
    """A checked batch, ready for a kernel.

    ids: (B, T) intp token ids, or None for dense inputs.
    dense: (B, T, I) inputs in the parameters' dtype, or None for ids.
    Y: (B, T) intp targets with ``IGNORE`` for positions without loss, or None.
    lengths: (B,) intp, each in [1, T] (all T when the caller gave None).
    a0: (B, H) initial states; a0_shape is the caller's shape for grads["a0"].
    """
    p: Params
    ids: "np.ndarray | None"
    dense: "np.ndarray | None"
    Y: "np.ndarray | None"
    lengths: np.ndarray
    a0: np.ndarray
    a0_shape: tuple
    B: int
    T: int


def _as_array(value, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except MemoryError:
        raise
    except Exception as exc:  # ragged lists, objects without __array__
        raise TypeError(f"{name} could not be converted to an array: {exc}") from None
    if arr.dtype == object:
        raise TypeError(f"{name} has dtype object; expected a numeric array")
    return arr


def _as_float(value, name: str, dtype: np.dtype, ndim: int,
              arr: np.ndarray | None = None) -> np.ndarray:
    """A float array in `dtype`.

    An ndarray must already have that dtype (no silent up- or downcast); a
    plain array-like (list, tuple, scalar) is converted to it.  `arr`: the
    caller's own ``_as_array(value)``, when it has already looked at it (a
    second conversion of an array-like may give another array: its checks
    would not hold for the one used).
    """
    is_array = isinstance(value, np.ndarray)
    if arr is None:
        arr = _as_array(value, name)
    if arr.dtype.kind not in "fiu" or arr.dtype.kind == "b":
        raise TypeError(f"{name} has dtype {arr.dtype}; expected {dtype}")
    if is_array and arr.dtype != dtype:
        raise TypeError(
            f"{name} has dtype {arr.dtype} but the parameters are {dtype}; "
            f"convert it with {name}.astype(np.{dtype})")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {arr.shape}")
    return _c_aligned(np.asarray(arr, dtype=dtype))


_PARAM_NDIMS = (2, 2, 1, 2, 1)
_F32, _F64 = FLOAT_DTYPES


def _check_param_arrays(params) -> dict:
    """Keys, one float dtype, consistent shapes; no copies yet.

    The usual case (five ndarrays that are right) is decided with a few
    comparisons; anything else goes to the check-by-check path, which raises
    with the specific message.
    """
    if isinstance(params, dict) and len(params) == len(PARAM_KEYS):
        try:
            vals = [params[k] for k in PARAM_KEYS]
        except KeyError:
            return _check_param_arrays_slow(params)
        Wax, Waa, ba, Wya, by = vals
        nd = np.ndarray
        if (type(Wax) is nd and type(Waa) is nd and type(ba) is nd and type(Wya) is nd
                and type(by) is nd):
            # identity, not equality: NumPy's native float32/float64 dtypes are
            # singletons; anything else (byte-swapped, an equal copy) takes the
            # slow path, which decides by equality
            dtype = Wax.dtype
            if ((dtype is _F32 or dtype is _F64) and Waa.dtype is dtype and ba.dtype is dtype
                    and Wya.dtype is dtype and by.dtype is dtype
                    and (Wax.ndim, Waa.ndim, ba.ndim, Wya.ndim, by.ndim) == _PARAM_NDIMS):
                H, I = Wax.shape
                O = Wya.shape[0]
                if (Waa.shape == (H, H) and ba.shape == (H,) and Wya.shape == (O, H)
                        and by.shape == (O,) and 1 <= min(H, I, O)
                        and max(H, I, O) <= INT_MAX):
                    return dict(zip(PARAM_KEYS, vals))
    return _check_param_arrays_slow(params)


def _check_param_arrays_slow(params) -> dict:
    """Every check of :func:`_check_param_arrays`, one at a time, each with its
    own message."""
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict of arrays, got {type(params).__name__}")
    missing = [k for k in PARAM_KEYS if k not in params]
    if missing:
        raise ValueError(f"params is missing {missing}; expected keys {list(PARAM_KEYS)}")
    extra = sorted(str(k) for k in params if k not in PARAM_KEYS)
    if extra:
        raise ValueError(f"params has unexpected keys {extra}; expected keys {list(PARAM_KEYS)}")
    arrs = {}
    for k in PARAM_KEYS:
        a = _as_array(params[k], f"params['{k}']")
        if a.dtype not in FLOAT_DTYPES:
            raise TypeError(f"params['{k}'] has dtype {a.dtype}; expected float32 or float64")
        arrs[k] = a
    dtype = arrs["Wax"].dtype
    for k in PARAM_KEYS[1:]:
        if arrs[k].dtype != dtype:
            raise TypeError(
                f"params['{k}'] has dtype {arrs[k].dtype} but params['Wax'] has {dtype}; "
                "all parameters must share one dtype")
    for k, nd in zip(PARAM_KEYS, (2, 2, 1, 2, 1)):
        if arrs[k].ndim != nd:
            raise ValueError(f"params['{k}'] must have {nd} dimensions, got shape {arrs[k].shape}")
    H, I = arrs["Wax"].shape
    O = arrs["Wya"].shape[0]
    expected = {"Wax": (H, I), "Waa": (H, H), "ba": (H,), "Wya": (O, H), "by": (O,)}
    for k, shape in expected.items():
        if arrs[k].shape != shape:
            raise ValueError(
                f"params['{k}'] has shape {arrs[k].shape}; expected {shape} "
                f"(hidden size H={H} from Wax, input size I={I}, output size O={O} from Wya)")
    if min(H, I, O) < 1:
        raise ValueError(f"parameter sizes must be >= 1, got I={I}, H={H}, O={O}")
    if max(H, I, O) > INT_MAX:
        raise ValueError(f"parameter sizes I={I}, H={H}, O={O} exceed BLAS's limit {INT_MAX}")
    return arrs


def _materialize(arrs: dict) -> Params:
    H, I = arrs["Wax"].shape
    c = _c_aligned
    # positional, in Params' field order (WaxT, Waa, ba, Wya, by, dtype, I, H, O);
    # Wax stored Fortran-order (as init_params makes it) gives WaxT without a copy
    return Params(c(arrs["Wax"].T), c(arrs["Waa"]), c(arrs["ba"]), c(arrs["Wya"]),
                  c(arrs["by"]), arrs["Wax"].dtype, I, H, arrs["Wya"].shape[0])


def check_params(params) -> Params:
    """Check the parameter dict: keys, one float dtype, consistent shapes."""
    return _materialize(_check_param_arrays(params))


def _first_bad(mask: np.ndarray) -> tuple:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _check_lengths(lengths, B: int, T: int) -> np.ndarray:
    arr = _as_array(lengths, "lengths")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"lengths must be integers, got dtype {arr.dtype}")
    if arr.shape != (B,):
        raise ValueError(f"lengths must have shape ({B},) (one per sequence), got {arr.shape}")
    bad = (arr < 1) | (arr > T)
    if bad.any():
        (b,) = _first_bad(bad)
        raise FastRNNIndexError(
            f"lengths[{b}] is {int(arr[b])}; every length must be in [1, T={T}]")
    return _intp_copy(arr)


def _intp_copy(vals: np.ndarray) -> np.ndarray:
    """A new C-contiguous array of NumPy's canonical intp type (not an
    equivalent one such as longlong, which the kernels' type check refuses)
    holding `vals`.  Always a copy: the kernels index memory with these values
    after releasing the GIL, so they must not be an array that another thread
    could change meanwhile."""
    out = np.empty(vals.shape, dtype=np.intp)
    out[...] = vals
    return out


def _c_aligned(a: np.ndarray) -> np.ndarray:
    """`a` if C-contiguous and aligned, else a C-ordered (aligned) copy: the
    kernels read through typed pointers."""
    if a.flags.c_contiguous and a.flags.aligned:
        return a
    return np.array(a, order="C")


def _as_index(vals: np.ndarray, lo: int, hi: int) -> np.ndarray | None:
    """`vals` as a new C-contiguous intp array (_intp_copy) if every element
    is in [lo, hi), else None.

    2-D intp arrays (the usual case) are copied and then checked in one
    compiled pass; other integer types are range-checked before the cast, so
    that an unsigned value beyond intp's range cannot wrap into a valid one.
    """
    if vals.dtype == np.intp and vals.ndim == 2:
        out = _intp_copy(vals)
        return out if first_outside(out, lo, hi) < 0 else None
    if vals.min() < lo or vals.max() >= hi:
        return None
    return _intp_copy(vals)


def _check_ids(arr: np.ndarray, I: int, valid: np.ndarray | None) -> np.ndarray:
    """(B, T) integer token ids, each in [0, I) where valid."""
    vals = arr if valid is None else np.where(valid, arr, 0)
    out = _as_index(vals, 0, I)
    if out is None:
        pos = _first_bad((vals < 0) | (vals >= I))
        raise FastRNNIndexError(
            f"X has token id {int(arr[pos])} at {list(pos)}; ids must be in [0, {I}) "
            f"(input size I={I})")
    return out


def _check_targets(Y, B: int, T: int, O: int, lengths: np.ndarray,
                   valid: np.ndarray | None) -> np.ndarray:
    arr = _as_array(Y, "Y")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"Y must be integer class ids (or -1 to ignore), got dtype {arr.dtype}")
    if arr.shape == (B, T):
        # padding becomes IGNORE only after the cast to intp: -1 has no
        # unsigned value (np.where(valid, uint8_Y, -1) would put 255 there)
        vals = arr if valid is None else np.where(valid, arr, 0)
        where = "at {}"
    elif arr.shape == (B,):
        # one target per sequence, read at its last step (T_y = 1)
        vals = arr
        where = "at [{}]"
    else:
        raise ValueError(
            f"Y must have shape (B, T)=({B}, {T}) (a target per step) or (B,)=({B},) "
            f"(a target per sequence), got {arr.shape}")
    out = _as_index(vals, IGNORE, O)
    if out is None:
        pos = _first_bad((vals < IGNORE) | (vals >= O))
        raise FastRNNIndexError(
            f"Y has target {int(arr[pos])} " + where.format(list(pos) if arr.ndim == 2 else pos[0])
            + f"; targets must be in [0, {O}) or {IGNORE} to ignore (output size O={O})")
    if arr.ndim == 2:
        if valid is not None:  # out is a new array (vals came from np.where)
            out[~valid] = IGNORE
        return out
    full = np.full((B, T), IGNORE, dtype=np.intp)
    full[np.arange(B), lengths - 1] = out
    return full


def check_batch(params, X, Y=None, a0=None, lengths=None, *, need_Y=False) -> Batch:
    """Check everything a forward or loss-and-gradient call takes.

    The usual case (plain ndarrays of token ids, see
    :func:`fastrnn._index.fast_batch`) is decided in compiled code; anything
    else, and anything failing a check, by :func:`_check_batch_py`, which
    raises the specific error.  Both give the same Batch for the same input.
    """
    b = fast_batch(params, X, Y, a0, lengths, need_Y, Batch, Params)
    if b is None:
        b = _check_batch_py(params, X, Y, a0, lengths, need_Y=need_Y)
    return b


def _check_batch_py(params, X, Y=None, a0=None, lengths=None, *, need_Y=False) -> Batch:
    """:func:`check_batch` in Python: every input it takes, every error."""
    arrs = _check_param_arrays(params)
    dtype = arrs["Wax"].dtype
    H, I = arrs["Wax"].shape
    O = arrs["Wya"].shape[0]
    is_array = isinstance(X, np.ndarray)
    Xa = X if type(X) is np.ndarray else _as_array(X, "X")
    kind = Xa.dtype.kind
    if kind == "b":
        raise TypeError("X has dtype bool; expected integer token ids (B, T) or "
                        "float inputs (B, T, I)")
    if kind in "iu":
        if Xa.ndim != 2:
            raise ValueError(
                f"X of integer token ids must have shape (B, T), got {Xa.shape}"
                + ("; use X[None] for a single sequence" if Xa.ndim == 1 else ""))
        dense_in = False
    elif kind == "f":
        if Xa.ndim != 3:
            raise (TypeError if Xa.ndim == 2 else ValueError)(
                f"X has float dtype {Xa.dtype} and shape {Xa.shape}; token ids must be an "
                f"integer array (B, T), dense inputs a float array (B, T, I={I})")
        if Xa.dtype not in FLOAT_DTYPES or (is_array and Xa.dtype != dtype):
            raise TypeError(
                f"X has dtype {Xa.dtype} but the parameters are {dtype}; dense inputs "
                f"must have the parameters' dtype")
        if Xa.shape[2] != I:
            raise ValueError(f"X has shape {Xa.shape}; dense inputs must be (B, T, I={I})")
        dense_in = True
    else:
        raise TypeError(f"X has dtype {Xa.dtype}; expected integer token ids (B, T) or "
                        f"float inputs (B, T, I) of dtype {dtype}")
    B, T = Xa.shape[:2]
    if B < 1 or T < 1:
        raise ValueError(f"X has shape {Xa.shape}; the batch size B and the number of "
                         "time steps T must both be >= 1")
    # every int handed to BLAS: T*B rows, B*H and T*I leading dimensions
    # (T*I only for dense inputs, where a sequence's rows are T*I apart)
    if max(B * T, B * H, T * I if dense_in else 0) > INT_MAX:
        for what, v in (("B*T", B * T), ("B*H", B * H), ("T*I", T * I if dense_in else 0)):
            if v > INT_MAX:
                raise ValueError(f"{what} = {v} exceeds BLAS's 32-bit limit {INT_MAX}; "
                                 "split the batch")

    if lengths is None:
        L = np.empty(B, dtype=np.intp)   # np.full is a Python function: 3x slower
        L.fill(T)
        valid = None
    else:
        L = _check_lengths(lengths, B, T)
        # all full length: no padding to neutralise
        valid = None if (L == T).all() else (np.arange(T)[None, :] < L[:, None])

    if dense_in:
        dense = _c_aligned(np.asarray(Xa, dtype=dtype))
        if valid is not None:
            dense = np.where(valid[:, :, None], dense, dtype.type(0))
        ids = None
    else:
        ids = _check_ids(Xa, I, valid)
        dense = None

    if Y is None:
        if need_Y:
            raise TypeError("Y (the targets) is required")
        Yc = None
    else:
        Yc = _check_targets(Y, B, T, O, L, valid)

    if a0 is None:
        a0c = np.zeros((B, H), dtype=dtype)
        a0_shape = (B, H)
    else:
        a0a = _as_array(a0, "a0")
        if a0a.shape not in ((B, H), (H,)):
            raise ValueError(f"a0 must have shape (B, H)=({B}, {H}) or (H,)=({H},), "
                             f"got {a0a.shape}")
        a0c = _as_float(a0, "a0", dtype, a0a.ndim, a0a)
        a0_shape = a0c.shape
        if a0c.ndim == 1:
            a0c = np.ascontiguousarray(np.broadcast_to(a0c, (B, H)))
    return Batch(_materialize(arrs), ids, dense, Yc, L, a0c, a0_shape, B, T)


def grads_dict(batch: Batch, dWaxT, dWaa, dba, dWya, dby, da0) -> dict:
    """Assemble the public gradient dict (shapes as in the contract)."""
    if batch.a0_shape != da0.shape:
        da0 = da0.sum(axis=0)  # a0 shared by the batch: its gradient is the sum
    return {"Wax": dWaxT.T, "Waa": dWaa, "ba": dba, "Wya": dWya, "by": dby, "a0": da0}
