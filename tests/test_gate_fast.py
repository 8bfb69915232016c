"""The gate's compiled usual case (``_index.fast_batch``) against its Python path.

``_validate.check_batch`` runs ``fast_batch`` first and the Python path
(``_check_batch_py``) when it returns None.  For the usual case the fast path
must be taken and give the Batch the Python path gives, field by field; for
anything else, and for every bad input, it must return None, so that the
public functions raise exactly the Python path's error.
"""
import itertools
from collections import OrderedDict

import numpy as np
import pytest

import fastrnn
from fastrnn import _index, _validate
from fastrnn._validate import Batch, Params


def fast(p, X, Y=None, a0=None, L=None, need_Y=False):
    return _index.fast_batch(p, X, Y, a0, L, need_Y, Batch, Params)


def slow(p, X, Y=None, a0=None, L=None, need_Y=False):
    return _validate._check_batch_py(p, X, Y, a0, L, need_Y=need_Y)


def params(I, H, O, dtype, rng, layout="init"):
    """Random (never zero) parameters; "init" is init_params' layout (Wax in
    Fortran order), "c" all C-contiguous, "views" non-contiguous views."""
    def r(*shape):
        return (rng.uniform(0.1, 1.0, shape) * rng.choice([-1, 1], shape)).astype(dtype)
    p = {"Wax": r(H, I), "Waa": r(H, H), "ba": r(H), "Wya": r(O, H), "by": r(O)}
    if layout == "init":
        p["Wax"] = np.asfortranarray(p["Wax"])
    elif layout == "views":
        p = {"Wax": r(I, H).T, "Waa": r(H, 2 * H)[:, ::2], "ba": r(2 * H)[::2],
             "Wya": r(H, O).T, "by": r(O, 2)[:, 1]}
    return p


def ints(rng, lo, hi, shape, dtype, layout):
    """Random integers in [lo, hi) with lo and hi - 1 both present, in `layout`."""
    v = rng.integers(lo, hi, size=shape)
    flat = v.reshape(-1)
    flat[0] = lo
    flat[-1] = hi - 1
    if flat.size > 2:
        flat[rng.integers(1, flat.size - 1)] = lo
    v = v.astype(dtype)
    if layout == "f":
        return np.asfortranarray(v)
    if layout == "strided":  # every other column of a wider array
        w = np.zeros(shape[:-1] + (2 * shape[-1],), dtype=dtype) + v.flat[0]
        w[..., ::2] = v
        return w[..., ::2]
    return v


SIZES = [  # (I, H, O, B, T)
    (27, 50, 27, 1, 25),   # the course
    (1, 1, 1, 1, 1),
    (6, 4, 5, 2, 3),
    (65, 16, 65, 5, 7),
    (300, 9, 2, 3, 11),    # ids past uint8's range need a wider dtype
]
INT_DTYPES = [np.intp, np.int32, np.int64, np.int16, np.uint8, np.uint16, np.uint32,
              np.uint64, np.int8]


def valid_cases():
    """(id, p, X, Y, a0, L, need_Y) of inputs the fast path must handle."""
    rng = np.random.default_rng(20240611)
    cases = []
    for n, ((I, H, O, B, T), dtype) in enumerate(itertools.product(SIZES, (np.float32, np.float64))):
        for k in range(24):
            layout = ("init", "c", "views")[k % 3]
            p = params(I, H, O, dtype, rng, layout)
            xdt = INT_DTYPES[(n + k) % len(INT_DTYPES)]
            if np.iinfo(xdt).max < max(I, O):
                xdt = np.intp
            xl = ("c", "f", "strided", "c")[k % 4]
            X = ints(rng, 0, I, (B, T), xdt, xl)
            ykind = ("2d", "1d", None)[k % 3]
            ydt = np.intp if k % 2 else xdt
            if np.iinfo(ydt).min == 0:
                ydt = np.intp  # -1 targets need a signed type
            Y = (ints(rng, -1, O, (B, T), ydt, ("c", "strided")[k % 2]) if ykind == "2d"
                 else ints(rng, -1, O, (B,), ydt, "c") if ykind == "1d" else None)
            a0 = (None, "bh", "h", "bh_strided")[(k // 3) % 4]
            if a0 == "bh":
                a0 = rng.normal(size=(B, H)).astype(dtype)
            elif a0 == "h":
                a0 = rng.normal(size=H).astype(dtype)
            elif a0 == "bh_strided":
                a0 = rng.normal(size=(B, 2 * H)).astype(dtype)[:, ::2]
            L = (None, "full", "mixed", "mixed32")[(k // 2) % 4]
            if L == "full":
                L = np.full(B, T, dtype=np.intp)
            elif L is not None:
                L = rng.integers(1, T + 1, size=B).astype(np.intp if L == "mixed" else np.int32)
                L[0] = 1 if T > 1 else T
                # padding may hold anything: the gate neither checks nor copies it
                X = X.astype(np.intp)
                for b in range(B):
                    X[b, L[b]:] = rng.integers(-5, 2**40, size=T - L[b])
            need_Y = Y is not None and k % 4 == 1
            cases.append(pytest.param(p, X, Y, a0, L, need_Y,
                                      id=f"I{I}H{H}O{O}B{B}T{T}-{np.dtype(dtype).name}-{k}"))
    return cases


def _arrays(b):
    return {"WaxT": b.p.WaxT, "Waa": b.p.Waa, "ba": b.p.ba, "Wya": b.p.Wya, "by": b.p.by,
            "ids": b.ids, "Y": b.Y, "lengths": b.lengths, "a0": b.a0}


def assert_same_batch(f, s, inputs):
    assert type(f) is Batch and type(f.p) is Params
    assert f.p.dtype is s.p.dtype
    assert (f.p.I, f.p.H, f.p.O, f.B, f.T, f.a0_shape) == (s.p.I, s.p.H, s.p.O, s.B, s.T, s.a0_shape)
    assert all(type(v) is int for v in (f.p.I, f.p.H, f.p.O, f.B, f.T, *f.a0_shape))
    assert f.dense is None and s.dense is None
    fa, sa = _arrays(f), _arrays(s)
    for k in fa:
        x, y = fa[k], sa[k]
        if y is None:
            assert x is None, k
            continue
        assert type(x) is np.ndarray, k
        assert x.dtype == y.dtype and x.dtype.num == y.dtype.num, k
        assert x.shape == y.shape, k
        assert x.flags.c_contiguous and y.flags.c_contiguous, k
        assert x.flags.writeable == y.flags.writeable, k
        np.testing.assert_array_equal(x, y, err_msg=k)
        # the same output is the caller's own array (or a view of it) in both
        for name, inp in inputs.items():
            assert np.shares_memory(x, inp) == np.shares_memory(y, inp), (k, name)


def _inputs(p, X, Y, a0, L):
    named = {f"params[{k}]": v for k, v in p.items()}
    named.update(X=X, Y=Y, a0=a0, lengths=L)
    return {k: v for k, v in named.items() if isinstance(v, np.ndarray)}


@pytest.mark.parametrize("p,X,Y,a0,L,need_Y", valid_cases())
def test_fast_path_matches_python_path(p, X, Y, a0, L, need_Y):
    inputs = _inputs(p, X, Y, a0, L)
    before = {k: v.copy() for k, v in inputs.items()}
    f = fast(p, X, Y, a0, L, need_Y)
    assert f is not None, "the usual case must take the compiled path"
    s = slow(p, X, Y, a0, L, need_Y)
    assert_same_batch(f, s, inputs)
    g = _validate.check_batch(p, X, Y, a0, L, need_Y=need_Y)
    assert_same_batch(g, s, inputs)
    for k, v in inputs.items():  # caller's arrays never written
        np.testing.assert_array_equal(v, before[k], err_msg=k)


def test_public_functions_take_the_fast_path(monkeypatch):
    """forward and loss_and_grads at the course size never reach the Python path."""
    def boom(*a, **k):
        raise AssertionError("Python path taken")
    for dtype in (np.float32, np.float64):
        p = fastrnn.init_params(27, 50, dtype=dtype, seed=3)
        rng = np.random.default_rng(4)
        ids = rng.integers(0, 27, size=(1, 26))
        X, Y = ids[:, :-1], ids[:, 1:]
        want_f = fastrnn.forward(p, X)
        want_l = fastrnn.loss_and_grads(p, X, Y)
        monkeypatch.setattr(_validate, "_check_batch_py", boom)
        got_f = fastrnn.forward(p, X)
        got_l = fastrnn.loss_and_grads(p, X, Y)
        a = rng.normal(size=(1, 50)).astype(dtype)
        fastrnn.loss_and_grads(p, X, Y, a, np.array([20]))
        fastrnn.loss_and_grads(p, X, Y[:, -1], a[0])
        monkeypatch.undo()
        for u, v in zip(want_f, got_f):
            np.testing.assert_array_equal(u, v)
        assert want_l[0] == got_l[0]
        for k in want_l[1]:
            np.testing.assert_array_equal(want_l[1][k], got_l[1][k])
        with pytest.raises(AssertionError, match="Python path taken"):
            monkeypatch.setattr(_validate, "_check_batch_py", boom)
            fastrnn.forward(p, X.astype(np.float32)[..., None])  # dense: not handled
        monkeypatch.undo()


def _base(dtype=np.float32):
    rng = np.random.default_rng(7)
    p = params(6, 4, 5, dtype, rng)
    X = ints(rng, 0, 6, (2, 3), np.intp, "c")
    Y = ints(rng, -1, 5, (2, 3), np.intp, "c")
    return p, X, Y


def _with(X=None, **changes):
    """A mutation of _base: returns (p, X, Y, a0, L, need_Y)."""
    def make():
        p, X0, Y = _base()
        args = {"p": p, "X": X0, "Y": Y, "a0": None, "L": None, "need_Y": True}
        for k, v in changes.items():
            args[k] = v(args) if callable(v) else v
        if X is not None:
            args["X"] = X(args) if callable(X) else X
        return args["p"], args["X"], args["Y"], args["a0"], args["L"], args["need_Y"]
    return make


def _set(a, idx, v, dtype=None):
    a = a.astype(dtype or a.dtype)
    a[idx] = v
    return a


def _pop(p, k):
    p = dict(p)
    del p[k]
    return p


def _add(p, **kw):
    p = dict(p)
    p.update(kw)
    return p


BAD = {  # the Python path raises for each
    "id -1 first": _with(X=lambda a: _set(a["X"], (0, 0), -1)),
    "id I last": _with(X=lambda a: _set(a["X"], (1, 2), 6)),
    "id huge": _with(X=lambda a: _set(a["X"], (1, 1), 2**40)),
    "id uint64 max": _with(X=lambda a: _set(a["X"], (0, 1), np.uint64(2**64 - 1), np.uint64)),
    "id int8 -1": _with(X=lambda a: _set(a["X"], (1, 0), -1, np.int8)),
    "id uint8 I": _with(X=lambda a: _set(a["X"], (0, 2), 6, np.uint8)),
    "id I, strided": _with(X=lambda a: np.repeat(_set(a["X"], (1, 2), 6), 2, axis=1)[:, ::2]),
    "id I before its length": _with(X=lambda a: _set(a["X"], (1, 0), 6), L=np.array([3, 1])),
    "target -2": _with(Y=lambda a: _set(a["Y"], (0, 0), -2)),
    "target O": _with(Y=lambda a: _set(a["Y"], (1, 2), 5)),
    "target O, int32": _with(Y=lambda a: _set(a["Y"], (1, 2), 5, np.int32)),
    "target -2, 1-D": _with(Y=np.array([0, -2])),
    # 2**64 - 1 is -1 (IGNORE) if cast before the check
    "target uint64 max": _with(Y=lambda a: _set(a["Y"], (1, 1), 2**64 - 1, np.uint64)),
    "target uint64 max, 1-D": _with(Y=np.array([2**64 - 1, 0], dtype=np.uint64)),
    "target O, 1-D": _with(Y=np.array([5, 0], dtype=np.int16)),
    "target O before its length": _with(Y=lambda a: _set(a["Y"], (0, 0), 5), L=np.array([1, 3])),
    "X bool": _with(X=np.ones((2, 3), dtype=bool)),
    "X float 2-D": _with(X=np.ones((2, 3), dtype=np.float32)),
    "X float64 dense, float32 params": _with(X=np.ones((2, 3, 6), dtype=np.float64)),
    "X 1-D": _with(X=np.array([0, 1, 2])),
    "X 3-D int": _with(X=np.zeros((2, 3, 1), dtype=np.intp)),
    "X B=0": _with(X=np.zeros((0, 3), dtype=np.intp)),
    "X T=0": _with(X=np.zeros((2, 0), dtype=np.intp)),
    "X complex": _with(X=np.zeros((2, 3), dtype=np.complex64)),
    "X object": _with(X=np.zeros((2, 3), dtype=object)),
    "Y missing": _with(Y=None),
    "Y bool": _with(Y=np.ones((2, 3), dtype=bool)),
    "Y float": _with(Y=np.ones((2, 3), dtype=np.float64)),
    "Y shape (B, T+1)": _with(Y=np.zeros((2, 4), dtype=np.intp)),
    "Y shape (B+1,)": _with(Y=np.zeros(3, dtype=np.intp)),
    "Y shape (T,)": _with(Y=np.zeros(3, dtype=np.intp)),
    "Y 3-D": _with(Y=np.zeros((2, 3, 1), dtype=np.intp)),
    "extra key": _with(p=lambda a: _add(a["p"], extra=np.zeros(3))),
    "missing key": _with(p=lambda a: _pop(a["p"], "by")),
    "missing key, another in its place": _with(p=lambda a: _add(_pop(a["p"], "by"), bz=a["p"]["by"])),
    "params list": _with(p=[1, 2, 3]),
    "Waa float64": _with(p=lambda a: _add(a["p"], Waa=a["p"]["Waa"].astype(np.float64))),
    "Wax float16": _with(p=lambda a: _add(a["p"], Wax=a["p"]["Wax"].astype(np.float16))),
    "Wya int": _with(p=lambda a: _add(a["p"], Wya=a["p"]["Wya"].astype(np.intp))),
    "Wax byte-swapped": _with(p=lambda a: _add(a["p"], Wax=a["p"]["Wax"].astype(">f4"))),
    "by byte-swapped": _with(p=lambda a: _add(a["p"], by=a["p"]["by"].astype(">f4"))),
    "Waa (H, H+1)": _with(p=lambda a: _add(a["p"], Waa=np.ones((4, 5), np.float32))),
    "Waa (H+1, H)": _with(p=lambda a: _add(a["p"], Waa=np.ones((5, 4), np.float32))),
    "Waa 1-D": _with(p=lambda a: _add(a["p"], Waa=np.ones(16, np.float32))),
    "ba (H, 1)": _with(p=lambda a: _add(a["p"], ba=np.ones((4, 1), np.float32))),
    "ba (H+1,)": _with(p=lambda a: _add(a["p"], ba=np.ones(5, np.float32))),
    "by (O+1,)": _with(p=lambda a: _add(a["p"], by=np.ones(6, np.float32))),
    "Wya (O, H+1)": _with(p=lambda a: _add(a["p"], Wya=np.ones((5, 5), np.float32))),
    "H = 0": _with(p={"Wax": np.ones((0, 6), np.float32), "Waa": np.ones((0, 0), np.float32),
                      "ba": np.ones(0, np.float32), "Wya": np.ones((5, 0), np.float32),
                      "by": np.ones(5, np.float32)}),
    "a0 float64": _with(a0=np.ones((2, 4))),
    "a0 int": _with(a0=np.ones((2, 4), dtype=np.intp)),
    "a0 (B+1, H)": _with(a0=np.ones((3, 4), np.float32)),
    "a0 (H+1,)": _with(a0=np.ones(5, np.float32)),
    "a0 (B, H, 1)": _with(a0=np.ones((2, 4, 1), np.float32)),
    "lengths 0": _with(L=np.array([0, 3])),
    "lengths T+1": _with(L=np.array([3, 4])),
    "lengths -1, int8": _with(L=np.array([3, -1], dtype=np.int8)),
    "lengths uint64 max": _with(L=np.array([3, 2**64 - 1], dtype=np.uint64)),
    "lengths (B+1,)": _with(L=np.array([3, 3, 3])),
    "lengths (1, B)": _with(L=np.array([[3, 3]])),
    "lengths float": _with(L=np.array([3.0, 3.0])),
    "lengths bool": _with(L=np.array([True, True])),
    "B*H past INT_MAX": _with(
        p={"Wax": np.broadcast_to(np.float32(0.1), (2**16, 3)),
           "Waa": np.broadcast_to(np.float32(0.1), (2**16, 2**16)),
           "ba": np.zeros(2**16, np.float32), "Wya": np.broadcast_to(np.float32(0.1), (3, 2**16)),
           "by": np.zeros(3, np.float32)},
        X=np.broadcast_to(np.intp(0), (2**15 + 1, 1)), Y=None, need_Y=False),
}


def _error(f, *args, **kw):
    with pytest.raises(Exception) as info:
        f(*args, **kw)
    return type(info.value), str(info.value)


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_not_handled_and_same_error(name):
    p, X, Y, a0, L, need_Y = BAD[name]()
    assert fast(p, X, Y, a0, L, need_Y) is None
    want = _error(slow, p, X, Y, a0, L, need_Y)
    assert _error(_validate.check_batch, p, X, Y, a0, L, need_Y=need_Y) == want
    if need_Y:
        assert _error(fastrnn.loss_and_grads, p, X, Y, a0, L) == want
    try:  # forward takes no Y: the same error when the input is bad without Y
        slow(p, X, None, a0, L)
    except Exception as exc:
        assert fast(p, X, None, a0, L) is None
        assert _error(fastrnn.forward, p, X, a0, L) == (type(exc), str(exc))


class _Dict(dict):
    pass


NOT_HANDLED = {  # valid, but left to the Python path
    "dense X": _with(X=np.ones((2, 3, 6), np.float32)),
    "X list": _with(X=[[0, 1, 2], [3, 4, 5]]),
    "X longlong": _with(X=lambda a: a["X"].astype(np.longlong)),
    "X byte-swapped": _with(X=lambda a: a["X"].astype(">i8")),
    "X unaligned": _with(X=lambda a: np.frombuffer(b"\0" + a["X"].tobytes(), np.intp,
                                                    offset=1).reshape(2, 3)),
    "X matrix": _with(X=lambda a: np.asmatrix(a["X"])),
    "Y list": _with(Y=[[0, 1, 2], [3, 4, -1]]),
    "Y 1-D list": _with(Y=[0, 4]),
    "a0 list": _with(a0=[[0.5] * 4, [0.25] * 4]),
    "lengths list": _with(L=[3, 2]),
    "params dict subclass": _with(p=lambda a: _Dict(a["p"])),
    "params OrderedDict": _with(p=lambda a: OrderedDict(a["p"])),
    "params value a list": _with(p=lambda a: {k: v.astype(np.float64) if k != "by" else
                                              v.tolist() for k, v in a["p"].items()}),
    "params value a matrix": _with(p=lambda a: _add(a["p"], Waa=np.asmatrix(a["p"]["Waa"]))),
    "params dtype with metadata": _with(
        p=lambda a: {k: v.astype(np.dtype(np.float32, metadata={"m": 1})) for k, v in a["p"].items()}),
}


@pytest.mark.filterwarnings("ignore:the matrix subclass")
@pytest.mark.parametrize("name", sorted(NOT_HANDLED))
def test_unusual_valid_input_goes_to_python_path(name):
    p, X, Y, a0, L, need_Y = NOT_HANDLED[name]()
    assert fast(p, X, Y, a0, L, need_Y) is None
    s = slow(p, X, Y, a0, L, need_Y)
    g = _validate.check_batch(p, X, Y, a0, L, need_Y=need_Y)
    for k, v in _arrays(s).items():
        np.testing.assert_array_equal(_arrays(g)[k], v, err_msg=k)


def test_random_mutations():
    """Random changes of a valid batch: whatever the Python path refuses the
    fast path does not handle; whatever it handles matches the Python path."""
    rng = np.random.default_rng(99)
    handled = refused = 0
    for _ in range(400):
        I, H, O, B, T = SIZES[rng.integers(len(SIZES))]
        dtype = (np.float32, np.float64)[rng.integers(2)]
        p = params(I, H, O, dtype, rng, ("init", "c", "views")[rng.integers(3)])
        X = ints(rng, 0, I, (B, T), INT_DTYPES[rng.integers(3)], "c").astype(np.intp)
        Y = ints(rng, -1, O, (B, T), np.intp, "c")
        a0 = rng.normal(size=(B, H)).astype(dtype) if rng.random() < 0.3 else None
        L = rng.integers(1, T + 1, size=B) if rng.random() < 0.3 else None
        what = rng.integers(5)
        if what == 0:
            X[rng.integers(B), rng.integers(T)] = rng.integers(-3, I + 3)
        elif what == 1:
            Y[rng.integers(B), rng.integers(T)] = rng.integers(-3, O + 3)
        elif what == 2:
            L = rng.integers(-1, T + 3, size=B)
        elif what == 3:
            Y = rng.integers(-3, O + 3, size=B)
        else:
            shape = [(B, H), (H,), (B + 1, H), (H + 1,)][rng.integers(4)]
            a0 = rng.normal(size=shape).astype(dtype)
        try:
            s = slow(p, X, Y, a0, L)
        except (TypeError, ValueError, IndexError):
            refused += 1
            assert fast(p, X, Y, a0, L) is None
            continue
        handled += 1
        f = fast(p, X, Y, a0, L)
        assert f is not None
        assert_same_batch(f, s, _inputs(p, X, Y, a0, L))
    assert handled > 50 and refused > 50


def test_named_tuple_classes_are_checked():
    p, X, Y = _base()
    with pytest.raises(TypeError, match="not a tuple subclass"):
        _index.fast_batch(p, X, Y, None, None, False, dict, Params)
