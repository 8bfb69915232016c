"""The usual small call's own entry points (``_kernels.forward_ids`` and
``loss_and_grads_ids``) against the gate's path.

Below ``_api._USUAL_MAX_BHH`` (B*H*H) ``forward`` and ``loss_and_grads``
called without lengths hand their own arguments to these entries, which
check the usual case in C and run the kernels; anything else they decline
(None), and the gate (``_validate.check_batch``) and ``_plan`` decide.  For
what they take the results must be the gate path's bit for bit; everything
they take the gate must take too; they never raise for a bad input.
"""
import itertools
import threading
import warnings

import numpy as np
import pytest

import fastrnn
from fastrnn import _api, _kernels, _validate

from test_gate_fast import BAD, NOT_HANDLED, SIZES, ints, params

MAX = _api._USUAL_MAX_BHH


def usual_forward(p, X, a0=None, max_bhh=MAX):
    return _kernels.forward_ids(p, X, a0, max_bhh)


def usual_loss(p, X, Y, a0=None, max_bhh=MAX):
    return _kernels.loss_and_grads_ids(p, X, Y, a0, max_bhh)


def gate_path(monkeypatch, f, *args):
    """f(*args) with every call sent through the gate and _plan."""
    with monkeypatch.context() as m:
        m.setattr(_api, "_USUAL_MAX_BHH", 0)
        return f(*args)


def assert_same_arrays(x, y, what):
    assert type(x) is np.ndarray and type(y) is np.ndarray, what
    assert x.dtype == y.dtype and x.shape == y.shape and x.strides == y.strides, what
    assert x.flags.writeable and x.flags.owndata == y.flags.owndata, what
    np.testing.assert_array_equal(x, y, err_msg=what)
    # bit for bit, -0.0 and NaN payloads included
    assert x.tobytes() == y.tobytes(), what


def assert_same_forward(got, want):
    assert type(got) is tuple and len(got) == 2
    for name, x, y in zip(("probs", "A"), got, want):
        assert_same_arrays(x, y, name)


def assert_same_loss(got, want):
    assert type(got) is tuple and len(got) == 3
    assert type(got[0]) is float and got[0] == want[0]
    assert list(got[1]) == list(want[1])
    for k in want[1]:
        assert_same_arrays(got[1][k], want[1][k], k)
    assert_same_arrays(got[2], want[2], "a_last")


def usual_cases():
    """(p, X, Y, a0) the usual entries must take, over SIZES and both dtypes."""
    rng = np.random.default_rng(20261204)
    cases = []
    for (I, H, O, B, T), dtype in itertools.product(SIZES, (np.float32, np.float64)):
        for a0_kind in (None, "bh", "h"):
            p = params(I, H, O, dtype, rng)
            X = ints(rng, 0, I, (B, T), np.intp, "c")
            Y = ints(rng, -1, O, (B, T), np.intp, "c")
            a0 = (None if a0_kind is None else
                  rng.normal(size=(B, H) if a0_kind == "bh" else H).astype(dtype))
            cases.append(pytest.param(p, X, Y, a0, id=f"I{I}H{H}O{O}B{B}T{T}-"
                                      f"{np.dtype(dtype).name}-{a0_kind}"))
    return cases


@pytest.mark.parametrize("p,X,Y,a0", usual_cases())
def test_usual_call_equals_the_gate_path(p, X, Y, a0, monkeypatch):
    before = {k: v.copy() for k, v in p.items()}
    inputs = (X.copy(), Y.copy(), None if a0 is None else a0.copy())
    f = usual_forward(p, X, a0)
    g = usual_loss(p, X, Y, a0)
    assert f is not None and g is not None, "the usual case must be taken"
    assert_same_forward(f, gate_path(monkeypatch, fastrnn.forward, p, X, a0))
    assert_same_loss(g, gate_path(monkeypatch, fastrnn.loss_and_grads, p, X, Y, a0))
    # and the public calls take it
    assert_same_forward(fastrnn.forward(p, X, a0), f)
    assert_same_loss(fastrnn.loss_and_grads(p, X, Y, a0), g)
    # the caller's arrays only read, the results not theirs
    for k, v in p.items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)
    for x, y in zip((X, Y, a0), inputs):
        np.testing.assert_array_equal(x, y)
    for out in (*f, *g[1].values(), g[2]):
        assert not any(np.shares_memory(out, v) for v in (*p.values(), X, Y)
                       if v is not None)
        if a0 is not None:
            assert not np.shares_memory(out, a0)


def test_public_calls_take_the_usual_entries(monkeypatch):
    """At the course's size, with and without a0, the gate is never run."""
    def boom(*a, **k):
        raise AssertionError("the gate ran")
    for dtype in (np.float32, np.float64):
        p = fastrnn.init_params(27, 50, dtype=dtype, seed=5)
        rng = np.random.default_rng(6)
        ids = rng.integers(0, 27, size=(1, 26))
        X, Y = ids[:, :-1], ids[:, 1:]
        a = rng.normal(size=(1, 50)).astype(dtype)
        want = [fastrnn.forward(p, X), fastrnn.loss_and_grads(p, X, Y, a)]
        monkeypatch.setattr(_validate, "check_batch", boom)
        got = [fastrnn.forward(p, X), fastrnn.loss_and_grads(p, X, Y, a)]
        with pytest.raises(AssertionError, match="the gate ran"):
            fastrnn.forward(p, X, lengths=np.array([25]))   # lengths: the gate's
        monkeypatch.undo()
        assert_same_forward(got[0], want[0])
        assert_same_loss(got[1], want[1])


def test_results_are_new_arrays_each_call():
    """The workspace is reused from call to call; the results never are."""
    p = fastrnn.init_params(11, 9, seed=1)
    rng = np.random.default_rng(2)
    X1, X2 = rng.integers(0, 11, size=(2, 3, 7))
    Y1, Y2 = rng.integers(0, 11, size=(2, 3, 7))
    f1 = fastrnn.forward(p, X1)
    g1 = fastrnn.loss_and_grads(p, X1, Y1)
    copies = [v.copy() for v in (*f1, *g1[1].values(), g1[2])]
    f2 = fastrnn.forward(p, X2)
    g2 = fastrnn.loss_and_grads(p, X2, Y2)
    for v, c in zip((*f1, *g1[1].values(), g1[2]), copies):
        np.testing.assert_array_equal(v, c)
    for u in (*f1, *g1[1].values(), g1[2]):
        assert not any(np.shares_memory(u, w) for w in (*f2, *g2[1].values(), g2[2]))


def _without_lengths(cases):
    """The names of test_gate_fast's cases without lengths (calls with
    lengths never reach the usual entries)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)   # np.matrix
        return sorted(k for k, make in cases.items() if make()[4] is None)


@pytest.mark.parametrize("name", _without_lengths(BAD))
def test_bad_input_declined(name):
    """Every input the gate refuses: declined (None), never an error here;
    the public call then raises the gate's error (test_gate_fast)."""
    p, X, Y, a0, L, need_Y = BAD[name]()
    try:
        _validate.check_batch(p, X, None, a0, None)
    except (TypeError, ValueError, IndexError):
        assert usual_forward(p, X, a0) is None
    if need_Y:
        assert usual_loss(p, X, Y, a0) is None
    assert usual_loss(p, X, None, a0) is None   # loss_and_grads needs targets


@pytest.mark.filterwarnings("ignore:the matrix subclass")
@pytest.mark.parametrize("name", _without_lengths(NOT_HANDLED))
def test_unusual_input_declined(name):
    p, X, Y, a0, L, need_Y = NOT_HANDLED[name]()
    assert usual_loss(p, X, Y, a0) is None
    if name.startswith("Y"):   # forward takes no Y: usual there
        assert usual_forward(p, X, a0) is not None
    else:
        assert usual_forward(p, X, a0) is None


def _case(dtype=np.float32):
    rng = np.random.default_rng(8)
    p = params(6, 4, 5, dtype, rng)
    X = ints(rng, 0, 6, (2, 3), np.intp, "c")
    Y = ints(rng, -1, 5, (2, 3), np.intp, "c")
    return p, X, Y, rng.normal(size=(2, 4)).astype(dtype)


def _swap(p, **kw):
    p = dict(p)
    p.update(kw)
    return p


def _unaligned(a):
    """a's values in an array whose data is not aligned for its dtype."""
    buf = np.zeros(a.nbytes + 1, dtype=np.uint8)
    u = np.frombuffer(buf.data, dtype=a.dtype, count=a.size, offset=1).reshape(a.shape)
    u[...] = a
    assert not u.flags.aligned
    return u


# valid calls the gate takes (and gives results for) but the usual entries
# leave to it: (p, X, Y, a0) from _case
DECLINED = {
    "Wax C-ordered": lambda p, X, Y, a0: (_swap(p, Wax=np.ascontiguousarray(p["Wax"])),
                                          X, Y, a0),
    "Waa Fortran-ordered": lambda p, X, Y, a0: (_swap(p, Waa=np.asfortranarray(p["Waa"])),
                                                X, Y, a0),
    "Wya a strided view": lambda p, X, Y, a0: (
        _swap(p, Wya=np.repeat(p["Wya"], 2, axis=1)[:, ::2]), X, Y, a0),
    "ba unaligned": lambda p, X, Y, a0: (_swap(p, ba=_unaligned(p["ba"])), X, Y, a0),
    "Wax unaligned": lambda p, X, Y, a0: (   # Fortran-ordered, as init_params's
        _swap(p, Wax=_unaligned(np.ascontiguousarray(p["Wax"].T)).T), X, Y, a0),
    "X int32": lambda p, X, Y, a0: (p, X.astype(np.int32), Y, a0),
    "X Fortran-ordered": lambda p, X, Y, a0: (p, np.asfortranarray(X), Y, a0),
    "X a strided view": lambda p, X, Y, a0: (p, np.repeat(X, 2, axis=1)[:, ::2], Y, a0),
    "Y int32": lambda p, X, Y, a0: (p, X, Y.astype(np.int32), a0),
    "Y one per sequence": lambda p, X, Y, a0: (p, X, Y[:, -1].copy(), a0),
    "Y a strided view": lambda p, X, Y, a0: (p, X, np.repeat(Y, 2, axis=1)[:, ::2], a0),
    "a0 (H,) a strided view": lambda p, X, Y, a0: (p, X, Y, np.repeat(a0[0], 2)[::2]),
    "a0 a strided view": lambda p, X, Y, a0: (p, X, Y, np.repeat(a0, 2, axis=1)[:, ::2]),
    "a0 Fortran-ordered": lambda p, X, Y, a0: (p, X, Y, np.asfortranarray(a0)),
    "a0 unaligned": lambda p, X, Y, a0: (p, X, Y, _unaligned(a0)),
}


@pytest.mark.parametrize("name", sorted(DECLINED))
def test_usual_entries_decline_and_the_gate_answers(name, monkeypatch):
    p, X, Y, a0 = DECLINED[name](*_case())
    assert usual_loss(p, X, Y, a0) is None
    if name.startswith("Y"):   # forward takes no Y: usual there
        assert usual_forward(p, X, a0) is not None
    else:
        assert usual_forward(p, X, a0) is None
    # the public calls: the gate path's answer
    assert_same_forward(fastrnn.forward(p, X, a0), gate_path(monkeypatch, fastrnn.forward,
                                                               p, X, a0))
    assert_same_loss(fastrnn.loss_and_grads(p, X, Y, a0),
                     gate_path(monkeypatch, fastrnn.loss_and_grads, p, X, Y, a0))


def test_size_limit():
    """B*H*H from max_bhh on: declined (the gate and _plan choose threads)."""
    p, X, Y, a0 = _case()
    bhh = 2 * 4 * 4
    assert usual_forward(p, X, a0, bhh + 1) is not None
    assert usual_loss(p, X, Y, a0, bhh + 1) is not None
    for m in (bhh, 4 * 4, 0, -1):
        assert usual_forward(p, X, a0, m) is None
        assert usual_loss(p, X, Y, a0, m) is None
    assert MAX == _api.ONE_THREAD_STEP[0]


@pytest.mark.parametrize("bad", [-1, 6, 2**40, -2**63, 2**63 - 1])
def test_ids_out_of_range_declined(bad):
    p, X, Y, a0 = _case()
    for idx in ((0, 0), (1, 2), (1, 1)):
        Xb = X.copy()
        Xb[idx] = bad
        assert usual_forward(p, Xb, a0) is None
        assert usual_loss(p, Xb, Y, a0) is None
        with pytest.raises(IndexError, match="X has token id"):
            fastrnn.forward(p, Xb, a0)


@pytest.mark.parametrize("bad", [-2, 5, 2**40, -2**63, 2**63 - 1])
def test_targets_out_of_range_declined(bad):
    p, X, Y, a0 = _case()
    for idx in ((0, 0), (1, 2), (0, 1)):
        Yb = Y.copy()
        Yb[idx] = bad
        assert usual_loss(p, X, Yb, a0) is None
        with pytest.raises(IndexError, match="Y has target"):
            fastrnn.loss_and_grads(p, X, Yb, a0)
    # the ends of the range are taken: -1 (ignored) and O - 1
    Yb = Y.copy()
    Yb[0, 0], Yb[1, 2] = -1, 4
    assert usual_loss(p, X, Yb, a0) is not None


def test_random_mutations(monkeypatch):
    """Random changes of a usual call: whatever the gate refuses is declined;
    whatever the usual entries take equals the gate path."""
    rng = np.random.default_rng(2026)
    taken = declined = 0
    for _ in range(300):
        I, H, O, B, T = SIZES[rng.integers(len(SIZES))]
        dtype = (np.float32, np.float64)[rng.integers(2)]
        p = params(I, H, O, dtype, rng, ("init", "init", "c")[rng.integers(3)])
        X = ints(rng, 0, I, (B, T), np.intp, "c")
        Y = ints(rng, -1, O, (B, T), np.intp, "c")
        a0 = rng.normal(size=(B, H)).astype(dtype) if rng.random() < 0.4 else None
        what = rng.integers(4)
        if what == 0:
            X[rng.integers(B), rng.integers(T)] = rng.integers(-3, I + 3)
        elif what == 1:
            Y[rng.integers(B), rng.integers(T)] = rng.integers(-3, O + 3)
        elif what == 2:
            shape = [(B, H), (H,), (B + 1, H), (B, H + 1)][rng.integers(4)]
            a0 = rng.normal(size=shape).astype(dtype)
        f = usual_loss(p, X, Y, a0)
        try:
            want = gate_path(monkeypatch, fastrnn.loss_and_grads, p, X, Y, a0)
        except (TypeError, ValueError, IndexError):
            assert f is None
            declined += 1
            continue
        if f is None:
            declined += 1
            continue
        taken += 1
        assert_same_loss(f, want)
    assert taken > 50 and declined > 50


# The entries keep the parameter arrays they read alive until the kernel has
# returned: the caller's dict is all that holds them otherwise, and its
# values can be rebound while a call runs.  Each test below read freed
# (unmapped: arrays above glibc's largest mmap threshold, 32 MiB) memory,
# and crashed, before the entries held them.

class _Key(str):
    """A dict key equal to its string whose comparison can run code."""
    __hash__ = str.__hash__

    def __eq__(self, other):
        hook = getattr(self, "hook", None)
        if hook is not None:
            self.hook = None
            hook()
        return str.__eq__(self, other)


def _big_wax(H, I):
    """(H, I) float64 in Fortran order, > 32 MiB, zero but its last column."""
    wax = np.zeros((H, I), order="F")
    wax[:, -1] = np.linspace(-1, 1, H)
    return wax


def test_params_rebound_during_the_lookups():
    H, I = 8, 600_000                       # Wax 38 MB
    rng = np.random.default_rng(3)
    small = {"Waa": rng.normal(0, 0.3, (H, H)), "ba": rng.normal(0, 0.1, H),
             "Wya": rng.normal(0, 0.3, (3, H)), "by": rng.normal(0, 0.1, 3)}
    X = np.array([[I - 1, 0, I - 1]])
    want = fastrnn.forward({"Wax": _big_wax(H, I), **small}, X)
    keys = {k: _Key(k) for k in ("Wax", "Waa", "ba", "Wya", "by")}
    p = {keys[k]: v for k, v in small.items()}
    p[keys["Wax"]] = _big_wax(H, I)

    def rebind():   # while the entry looks up "by": the dict's Wax, the last reference, goes
        p[keys["Wax"]] = np.zeros((H, 1), order="F")
    keys["by"].hook = rebind
    got = fastrnn.forward(p, X)
    assert keys["by"].hook is None, "the lookup ran the rebinding"
    assert_same_forward(got, want)   # computed with the Wax it checked


def test_params_rebound_by_another_thread():
    H, O = 4, 1_100_000                     # Wya 35 MB
    p = fastrnn.init_params(5, H, O, dtype=np.float64, seed=0)
    X = np.zeros((1, 2), dtype=np.intp)
    stop = threading.Event()

    def rebind():
        while not stop.is_set():
            p["Wya"] = np.full((O, H), 0.5)
    t = threading.Thread(target=rebind)
    t.start()
    try:
        for _ in range(40):
            probs, A = fastrnn.forward(p, X)
            assert probs.shape == (1, 2, O)
            np.testing.assert_allclose(probs.sum(axis=-1), 1.0, rtol=1e-9)
    finally:
        stop.set()
        t.join()


def test_threads_each_get_their_own_answer():
    """Several threads on the usual entries at once (their own workspaces):
    every answer that of the same call made alone."""
    rng = np.random.default_rng(11)
    jobs = []
    for k in range(6):
        I, H, O, B, T = SIZES[k % len(SIZES)]
        dtype = (np.float32, np.float64)[k % 2]
        p = params(I, H, O, dtype, rng)
        X = ints(rng, 0, I, (B, T), np.intp, "c")
        Y = ints(rng, -1, O, (B, T), np.intp, "c")
        jobs.append((p, X, Y, fastrnn.forward(p, X), fastrnn.loss_and_grads(p, X, Y)))
    errors = []

    def work(job):
        p, X, Y, f, g = job
        try:
            for _ in range(200):
                assert_same_forward(fastrnn.forward(p, X), f)
                assert_same_loss(fastrnn.loss_and_grads(p, X, Y), g)
        except AssertionError as e:   # pragma: no cover - reported below
            errors.append(e)
    threads = [threading.Thread(target=work, args=(j,)) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
