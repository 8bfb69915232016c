"""Crash-isolated fuzzing of the public API over random (and bad) arguments.

Every case runs in a forked child process, so a segfault in unchecked C fails
one test (the child dies by a signal) instead of killing the run; a hang is
cut off by SIGALRM the same way.  Hypothesis then shrinks the case as usual.

A case is a plain dict of choices (``spec``): the arrays are built from it,
deterministically, inside the child, so the printed falsifying example is the
reproducer::

    PYTHONPATH=src:tests python -c "import test_fuzz as f; f.run_case({...})"

Outcomes: the call returns a well-formed result, or raises ValueError,
IndexError or TypeError (FastRNNIndexError is both of the first two).  Beyond
not crashing, each case knows what it must do: a case with a definitely bad
argument (an out-of-range id at a counted step, a wrong dtype, ...) must
raise, and a case whose every argument is valid must return.  An index the
gate lets through would read out of bounds silently, without a crash, so
"must raise" is checked as strictly as "must not crash".
"""
import os
import pickle
import signal
import traceback

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import fastrnn

try:
    from fastrnn import sampling
except ImportError:  # the sampling kernel is not built (or not written) yet
    sampling = None

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

ACCEPTED = (ValueError, IndexError, TypeError)
#: Seconds a child may run before SIGALRM ends it (a hang fails like a crash).
CHILD_TIMEOUT = 30

#: Examples per fuzz test; raise it for a long run (FASTRNN_FUZZ_EXAMPLES=5000).
EXAMPLES = int(os.environ.get("FASTRNN_FUZZ_EXAMPLES", "250"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------ isolation

def _child(fn, args, w):
    """Run fn(*args) in the forked child; report through the pipe; never return."""
    try:
        signal.alarm(CHILD_TIMEOUT)
        try:
            fn(*args)
            outcome = ("ok", "")
        except ACCEPTED as exc:
            outcome = ("raised", f"{type(exc).__name__}: {exc}")
        except BaseException:  # noqa: BLE001 - anything else is a finding
            outcome = ("bad", traceback.format_exc())
        os.write(w, pickle.dumps(outcome))
        os.close(w)
    finally:
        os._exit(0)  # no pytest teardown, atexit or buffered output in the child


def run_isolated(fn, *args):
    """fn(*args) in a forked child: ("ok", ""), ("raised", msg) or ("bad", tb).

    Fails the calling test if the child dies by a signal or exits non-zero
    (e.g. an AddressSanitizer report).
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        _child(fn, args, w)
    os.close(w)
    chunks = []
    while True:
        chunk = os.read(r, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        what = "hung (SIGALRM)" if sig == signal.SIGALRM else signal.Signals(sig).name
        pytest.fail(f"child process crashed: {what}; in {fn.__qualname__}{args!r}")
    if os.WEXITSTATUS(status) != 0 or not chunks:  # e.g. a sanitizer's report
        pytest.fail(f"child process crashed: exit status {os.WEXITSTATUS(status)}, "
                    f"no outcome; in {fn.__qualname__}{args!r}")
    return pickle.loads(b"".join(chunks))


def check_outcome(outcome, expect, spec):
    kind, detail = outcome
    assert kind != "bad", f"unexpected exception or bad result for {spec!r}:\n{detail}"
    if expect == "error":
        assert kind == "raised", f"accepted an invalid argument: {spec!r}"
    elif expect == "ok":
        assert kind == "ok", f"rejected a valid call ({detail}): {spec!r}"


# ------------------------------------------------------------------ the specs
#
# A spec is a valid call (every choice of the fixed dictionary is a valid
# argument; NaN and Inf values are valid) with up to two faults from the list
# after it written over it (`with_faults`).
# Shrinking drops the faults that do not matter and heads for the first,
# plainest choice of every list.

def with_faults(valid, faults):
    return st.builds(lambda spec, fs: {**spec, **dict(fs), "faults": [k for k, _ in fs]},
                     valid, st.lists(st.sampled_from(faults), max_size=2,
                                     unique_by=lambda f: f[0]))


def _faults(key, values):
    return [(key, v) for v in values]


SIZE = st.integers(1, 6)
LAYOUTS = ["c", "f", "strided", "readonly", "list", "reversed"]
VALUE_FAULTS = [None, "nan", "inf", "-inf", "huge"]
PARAM_FAULTS = (
    _faults("pdtype", ["float16", "longdouble", "int64", "bool", "complex128", "mixed",
                       "object"])
    + _faults("pbad", ["missing", "extra", "ndim", "shape", "zero_H", "not_dict"]))

batch_spec = with_faults(st.fixed_dictionaries({
    "api": st.sampled_from(["forward", "loss_and_grads"]),
    "seed": st.integers(0, 2**16),
    "I": SIZE, "H": SIZE, "O": SIZE,
    "B": st.integers(1, 6), "T": st.integers(1, 6),
    "pdtype": st.sampled_from(["float64", "float32"]),
    "pfault": st.sampled_from(VALUE_FAULTS),
    "pfault_key": st.sampled_from(fastrnn._validate.PARAM_KEYS),
    "pbad": st.none(),
    "playout": st.sampled_from(LAYOUTS),
    "dense": st.booleans(),
    "xdtype": st.sampled_from(["int64", "int32", "int8", "uint8", "uint16", "uint64",
                               "intp"]),
    "xfault": st.none(),
    "dense_dtype": st.just("match"),
    "dense_fault": st.sampled_from(VALUE_FAULTS),
    "xndim": st.none(),
    "xlayout": st.sampled_from(LAYOUTS),
    "lengths": st.sampled_from(["none", "valid"]),
    "ymode": st.sampled_from(["steps", "per_seq"]),
    "ydtype": st.sampled_from(["int64", "int32", "int8", "uint8", "uint64"]),
    "yfault": st.none(),
    "yignore": st.booleans(),
    "a0": st.sampled_from(["none", "BH", "H", "list", "nan", "inf"]),
}), PARAM_FAULTS
    + _faults("B", [0]) + _faults("T", [0])
    + _faults("xdtype", ["bool", "float64", "object"])
    + _faults("xfault", ["-1", "I", "I+1", "min", "max"])
    + _faults("dense_dtype", ["other_float", "float16"])
    + _faults("xndim", ["1d", "0d", "3d_ids", "2d_float", "4d"])
    + _faults("lengths", ["zero", "T+1", "neg", "huge", "float", "bool", "shape"])
    + _faults("ymode", ["none", "shape", "float", "bool"])
    + _faults("yfault", ["-2", "O", "O+1", "min", "max"])
    + _faults("a0", ["shape", "other_float", "int"]))

SPECIAL = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf, "huge": 1e30}


def _relayout(a, layout):
    """The same values as `a` in another memory layout (or as nested lists)."""
    if layout == "f":
        return np.asfortranarray(a)
    if layout == "strided":
        big = np.zeros(tuple(2 * s for s in a.shape), dtype=a.dtype)
        big[tuple(slice(None, None, 2) for _ in a.shape)] = a
        return big[tuple(slice(None, None, 2) for _ in a.shape)]
    if layout == "readonly":
        a = a.copy()
        a.flags.writeable = False
        return a
    if layout == "list":
        return a.tolist()
    if layout == "reversed":  # negative strides
        flip = tuple(slice(None, None, -1) for _ in a.shape)
        return np.ascontiguousarray(a[flip])[flip]
    return a


def make_params(spec, rng):
    """(params, expect, dtype): expect is "error", "any" or "ok"."""
    I, H, O = spec["I"], spec["H"], spec["O"]
    p = {"Wax": rng.normal(size=(H, I)), "Waa": rng.normal(0, 1 / np.sqrt(H), (H, H)),
         "ba": rng.normal(0, 0.5, H), "Wya": rng.normal(size=(O, H)),
         "by": rng.normal(0, 0.5, O)}
    expect = "ok"
    if spec["pfault"] is not None:
        a = p[spec["pfault_key"]]
        a.flat[rng.integers(a.size)] = SPECIAL[spec["pfault"]]
    kind = spec["pdtype"]
    if kind in ("float64", "float32"):
        p = {k: v.astype(kind) for k, v in p.items()}
    elif kind == "mixed":
        p = {k: v.astype(np.float32 if k == "Waa" else np.float64) for k, v in p.items()}
        expect = "error"
    elif kind == "int64":
        p = {k: np.nan_to_num(v * 3).astype(np.int64) for k, v in p.items()}
        expect = "error"
    elif kind == "bool":
        p = {k: v > 0 for k, v in p.items()}
        expect = "error"
    else:  # float16, longdouble, complex128, object
        p = {k: v.astype(kind) for k, v in p.items()}
        expect = "error"
    layout = spec["playout"]
    p = {k: _relayout(v, layout) for k, v in p.items()}
    if layout == "list":
        # nested lists convert back by their Python element types: floats (from
        # float16/32/64 and object arrays) become float64 alike, so the dtypes
        # that were wrong as arrays are right as lists
        dtype = np.asarray(p["Wax"]).dtype
        dtypes = {np.asarray(v).dtype for v in p.values()}
        expect = "ok" if dtypes <= {np.dtype(np.float64)} else "error"
    else:
        dtype = p["Wax"].dtype
    bad = spec["pbad"]
    if bad is not None:
        expect = "error"
        if bad == "missing":
            del p["ba"]
        elif bad == "extra":
            p["a0"] = np.zeros(H)
        elif bad == "ndim":
            p["ba"] = np.zeros((H, 1), dtype=dtype)
        elif bad == "shape":
            p["Waa"] = np.zeros((H, H + 1), dtype=dtype)
        elif bad == "zero_H":
            p = {"Wax": np.zeros((0, I), dtype), "Waa": np.zeros((0, 0), dtype),
                 "ba": np.zeros(0, dtype), "Wya": np.zeros((O, 0), dtype),
                 "by": np.zeros(O, dtype)}
        elif bad == "not_dict":
            p = list(p.values())
    return p, expect, dtype


def _a0_dtype(a0, a0m, dtype):
    """A float a0 in the parameters' dtype, or in the other float dtype for
    the "other_float" case (a TypeError the gate must raise)."""
    if isinstance(a0, np.ndarray) and a0.dtype.kind == "f":
        if a0m == "other_float":
            return a0.astype(np.float32 if dtype == np.float64 else np.float64)
        if dtype.kind == "f":
            return a0.astype(dtype)
    return a0


def _int_value(code, dtype, lo, hi):
    """An integer of `dtype` outside [lo, hi) for the fault `code` ("-1", "I", ...)."""
    info = np.iinfo(dtype)
    value = {"-1": -1, "-2": -2, "I": hi, "O": hi, "I+1": hi + 1, "O+1": hi + 1,
             "min": int(info.min), "max": int(info.max)}[code]
    if not info.min <= value <= info.max or lo <= value < hi:
        value = int(info.max)  # e.g. -1 or min (= 0) in an unsigned dtype
    return value


def make_batch(spec, rng, dtype):
    """(X, Y, a0, lengths, expect, finite_inputs)."""
    I, H, O, B, T = spec["I"], spec["H"], spec["O"], spec["B"], spec["T"]
    expect = "ok"
    finite = True
    if B < 1 or T < 1:
        expect = "error"
    # lengths first: faults go to counted steps (padding is ignored by contract)
    L = rng.integers(1, T + 1, size=B) if T >= 1 else np.zeros(B, dtype=np.int64)
    lengths = {"none": None, "valid": L}.get(spec["lengths"])
    if spec["lengths"] not in ("none", "valid"):
        expect = "error"
        Lb = L.copy()
        if B >= 1:
            Lb[rng.integers(B)] = {"zero": 0, "T+1": T + 1, "neg": -1, "huge": 2**62,
                                   "float": 1, "bool": 1, "shape": 1}[spec["lengths"]]
        lengths = {"float": Lb.astype(np.float64), "bool": Lb > 0,
                   "shape": np.append(Lb, 1)}.get(spec["lengths"], Lb)
        if B == 0 and spec["lengths"] not in ("float", "bool", "shape"):
            pass  # nothing to corrupt; B = 0 is an error anyway
    counted = L if spec["lengths"] == "valid" else np.full(B, T)

    def counted_position():
        b = int(rng.integers(B))
        return b, int(rng.integers(max(int(counted[b]), 1)))

    if spec["dense"]:
        X = rng.normal(size=(B, T, I)).astype(dtype if dtype.kind == "f" else np.float64)
        if spec["dense_fault"] is not None and B >= 1 and T >= 1:
            b, t = counted_position()
            X[b, t, rng.integers(I)] = SPECIAL[spec["dense_fault"]]
            finite = False
        other = {"match": X.dtype, "float16": np.float16,
                 "other_float": np.float32 if X.dtype == np.float64 else np.float64}
        X = X.astype(other[spec["dense_dtype"]])
        if spec["dense_dtype"] != "match" and spec["xlayout"] != "list":
            expect = "error"  # an ndarray must have the parameters' dtype
    else:
        X = rng.integers(0, I, size=(B, T))
        xdt = spec["xdtype"]
        if xdt in ("bool", "float64", "object"):
            X = X.astype(xdt)
            if not (xdt == "object" and spec["xlayout"] == "list"):
                expect = "error"
        else:
            X = X.astype(xdt)
            if spec["xfault"] is not None and B >= 1 and T >= 1:
                X[counted_position()] = _int_value(spec["xfault"], X.dtype, 0, I)
                expect = "error"
    nd = spec["xndim"]
    if nd is not None:
        expect = "error"
        X = {"1d": lambda x: x.reshape(-1), "0d": lambda x: np.asarray(x.flat[0] if x.size else 0),
             "3d_ids": lambda x: x[..., None] if x.dtype.kind in "iu" else x[..., None, :],
             "2d_float": lambda x: x.astype(np.float64)[..., 0] if x.ndim == 3
             else x.astype(np.float64),
             "4d": lambda x: x[..., None, None] if x.ndim == 2 else x[..., None]}[nd](X)
    X = _relayout(X, spec["xlayout"])

    Y = None
    ym = spec["ymode"] if spec["api"] == "loss_and_grads" else "none"
    if ym in ("steps", "shape", "float", "bool"):
        Y = rng.integers(0, O, size=(B, T + (ym == "shape")))
        if spec["yignore"] and Y.size:
            Y[rng.random(Y.shape) < 0.3] = -1
    elif ym == "per_seq":
        Y = rng.integers(0, O, size=B)
    if Y is not None:
        if ym in ("float", "bool", "shape"):
            expect = "error"
            Y = Y.astype({"float": np.float64, "bool": bool}.get(ym, np.int64))
        else:
            ydt = np.dtype(spec["ydtype"])
            if ydt.kind == "u":
                Y = np.where(Y < 0, 0, Y)  # no -1 in an unsigned dtype
            Y = Y.astype(ydt)
            if spec["yfault"] is not None and Y.size:
                pos = counted_position() if ym == "steps" else int(rng.integers(B))
                Y[pos] = _int_value(spec["yfault"], ydt, -1, O)
                expect = "error"
    elif spec["api"] == "loss_and_grads":
        expect = "error"  # Y is required

    a0m = spec["a0"]
    a0 = {"none": None, "BH": rng.normal(size=(B, H)), "H": rng.normal(size=H),
          "list": rng.normal(size=(B, H)).tolist(), "nan": np.full(H, np.nan),
          "inf": np.full((B, H), np.inf), "shape": rng.normal(size=(B + 1, H)),
          "other_float": rng.normal(size=(B, H)), "int": np.ones((B, H), np.int64)}[a0m]
    a0 = _a0_dtype(a0, a0m, dtype)
    if a0m in ("shape", "other_float", "int"):
        expect = "error"
    if a0m in ("nan", "inf"):
        finite = False
    return X, Y, a0, lengths, expect, finite


def _combine(*expects):
    return "error" if "error" in expects else ("any" if "any" in expects else "ok")


def build_batch_case(spec):
    """(call, expect): call() runs the API on the case and checks its result."""
    rng = np.random.default_rng(spec["seed"])
    with np.errstate(over="ignore", invalid="ignore"):  # casts of inf/NaN/1e30 faults
        p, pexpect, dtype = make_params(spec, rng)
        X, Y, a0, lengths, bexpect, finite = make_batch(spec, rng, dtype)
    finite = finite and spec["pfault"] is None
    B, T, H = spec["B"], spec["T"], spec["H"]
    O = spec["O"]

    def call():
        if spec["api"] == "forward":
            probs, A = fastrnn.forward(p, X, a0, lengths)
            assert probs.shape == (B, T, O) and A.shape == (B, T, H)
            assert probs.dtype == dtype and A.dtype == dtype
            if finite:
                assert np.isfinite(probs).all() and np.isfinite(A).all()
                assert (probs >= 0).all() and (probs <= 1).all()
                assert (np.abs(A) <= 1).all()
        else:
            loss, grads, a_last = fastrnn.loss_and_grads(p, X, Y, a0, lengths)
            assert isinstance(loss, float)
            assert a_last.shape == (B, H) and a_last.dtype == dtype
            assert sorted(grads) == ["Waa", "Wax", "Wya", "a0", "ba", "by"]
            for k, g in grads.items():
                assert g.dtype == dtype, k
            if finite:
                assert np.isfinite(loss) and loss >= 0
                assert all(np.isfinite(g).all() for g in grads.values())

    return call, _combine(pexpect, bexpect)


def run_case(spec):
    """Run one case in this process (to reproduce a failure under a debugger)."""
    call, expect = (build_sample_case if "length" in spec else build_batch_case)(spec)
    print("expect:", expect)
    call()


@FUZZ
@given(spec=batch_spec)
def test_fuzz_forward_and_loss(spec):
    call, expect = build_batch_case(spec)
    check_outcome(run_isolated(call), expect, spec)


# ------------------------------------------------------------------ sampling

sample_spec = with_faults(st.fixed_dictionaries({
    "seed": st.integers(0, 2**16),
    "I": SIZE, "H": SIZE,
    "O_off": st.just(0),
    "pdtype": st.sampled_from(["float64", "float32"]),
    "pfault": st.sampled_from(VALUE_FAULTS),
    "pfault_key": st.sampled_from(fastrnn._validate.PARAM_KEYS),
    "pbad": st.none(),
    "playout": st.sampled_from(LAYOUTS),
    "length": st.sampled_from([5, 0, 1, 40, "np.int64"]),
    "prime": st.sampled_from(["none", "valid", "empty", "empty_float", "list"]),
    "a0": st.sampled_from(["none", "valid", "list", "nan", "inf"]),
    "temperature": st.sampled_from([1.0, 0.5, 2.0, 3, 1e-300, 5e-324, 1e300,
                                    "np.float32"]),
    "top_k": st.sampled_from([None, 1, "min2", "O", "np.int64"]),
    "stop_id": st.sampled_from([None, 0, "O-1"]),
}), PARAM_FAULTS
    + _faults("O_off", [1, -1])
    + _faults("length", [-1, "bool", "float", "str"])
    + _faults("prime", ["-1", "I", "max", "2d", "float", "bool", "uint64"])
    + _faults("a0", ["shape", "other_float", "int"])
    # not 10**400: see test_sample_temperature_huge_int_is_a_clear_error below
    + _faults("temperature", [0.0, -1.0, "nan", "inf", "-inf", "bool", "str", None])
    + _faults("top_k", [0, "O+1", -1, "bool", 2.0])
    + _faults("stop_id", [-1, "O", "bool", 1.0]))


def build_sample_case(spec):
    rng = np.random.default_rng(spec["seed"])
    I = spec["I"]
    O = max(I + spec["O_off"], 1)
    with np.errstate(over="ignore", invalid="ignore"):
        p, expect, dtype = make_params(dict(spec, O=O), rng)
    expects = [expect]
    if O != I:
        expects.append("error")
    H = spec["H"]
    length = {"np.int64": np.int64(7), "bool": True, "float": 5.0, "str": "5"}.get(
        spec["length"], spec["length"])
    if spec["length"] in (-1, "bool", "float", "str"):
        expects.append("error")
    n = length if isinstance(length, (int, np.integer)) and not isinstance(length, bool) else 0
    pr = spec["prime"]
    prime = {"none": None, "valid": rng.integers(0, I, 4), "empty": [],
             "empty_float": np.empty(0), "-1": np.array([0, -1]), "I": np.array([I, 0]),
             "max": np.array([np.iinfo(np.intp).max]), "2d": rng.integers(0, I, (2, 2)),
             "float": np.array([0.0, 1.0]), "bool": np.array([True]),
             "list": rng.integers(0, I, 3).tolist(),
             "uint64": np.array([2**64 - 1], dtype=np.uint64)}[pr]
    if pr in ("-1", "I", "max", "2d", "float", "bool", "uint64"):
        expects.append("error")
    a0m = spec["a0"]
    a0 = {"none": None, "valid": rng.normal(size=H), "list": rng.normal(size=H).tolist(),
          "nan": np.full(H, np.nan), "inf": np.full(H, -np.inf),
          "shape": rng.normal(size=H + 1), "other_float": rng.normal(size=H),
          "int": np.ones(H, np.int64)}[a0m]
    a0 = _a0_dtype(a0, a0m, dtype)
    if a0m in ("shape", "other_float", "int"):
        expects.append("error")
    temp = {"np.float32": np.float32(0.7), "nan": float("nan"), "inf": float("inf"),
            "-inf": float("-inf"), "bool": True, "str": "1"}.get(spec["temperature"],
                                                                   spec["temperature"])
    if spec["temperature"] in (0.0, -1.0, "nan", "inf", "-inf", "bool", "str", None):
        expects.append("error")
    top_k = {"O": O, "min2": min(2, O), "np.int64": np.int64(min(2, O)), "O+1": O + 1,
             "bool": True}.get(spec["top_k"], spec["top_k"])
    if spec["top_k"] in (0, "O+1", -1, "bool", 2.0):
        expects.append("error")
    stop_id = {"O-1": O - 1, "O": O, "bool": False}.get(spec["stop_id"], spec["stop_id"])
    if spec["stop_id"] in (-1, "O", "bool", 1.0):
        expects.append("error")
    seed = spec["seed"]

    def call():
        ids = sampling.sample(p, length, prime=prime, a0=a0, temperature=temp,
                              top_k=top_k, stop_id=stop_id, seed=seed)
        assert ids.dtype == np.intp and ids.ndim == 1
        assert ((ids >= 0) & (ids < O)).all(), ids  # always, NaN params included
        assert len(ids) <= n
        if stop_id is not None and len(ids) < n:
            assert ids[-1] == stop_id and (ids[:-1] != stop_id).all()

    return call, _combine(*expects)


@pytest.mark.skipif(sampling is None, reason="fastrnn.sampling is not available")
@FUZZ
@given(spec=sample_spec)
def test_fuzz_sample(spec):
    call, expect = build_sample_case(spec)
    check_outcome(run_isolated(call), expect, spec)


# ------------------------------------------------------------------ the harness itself

def _segfault():
    import ctypes
    import faulthandler
    faulthandler.disable()  # no traceback dump for this deliberate crash
    ctypes.string_at(0)  # reads address 0


@pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                    reason="AddressSanitizer would report the deliberate segfault")
def test_isolation_reports_a_segfault_as_a_failure():
    """The harness turns a crash in the child into a test failure, not a dead run."""
    with pytest.raises(pytest.fail.Exception, match="crashed: SIG(SEGV|BUS)"):
        run_isolated(_segfault)


def test_isolation_passes_exceptions_through():
    assert run_isolated(int, "x")[0] == "raised"
    assert run_isolated(int, "3") == ("ok", "")
    assert run_isolated(lambda: 1 / 0)[0] == "bad"


# ------------------------------------------------------------------ regressions found by fuzzing

@pytest.mark.parametrize("ydtype", [np.uint8, np.uint16, np.uint32, np.uint64])
def test_regression_unsigned_targets_with_lengths(ydtype):
    """Unsigned Y with padding was refused: the gate wrote IGNORE (-1) into the
    padding of an unsigned copy (255 in uint8), then range-checked it and
    blamed a valid target ("Y has target 0 at [0, 2]; targets must be in
    [0, 1)").  Found by test_fuzz_forward_and_loss."""
    p = fastrnn.init_params(1, 1, dtype=np.float64, seed=0)
    X = np.zeros((1, 3), dtype=np.int64)
    Y = np.zeros((1, 3), dtype=ydtype)
    expected = fastrnn.loss_and_grads(p, X, Y.astype(np.int64), lengths=[2])
    loss, grads, a_last = fastrnn.loss_and_grads(p, X, Y, lengths=[2])
    assert loss == expected[0]
    for k in grads:
        np.testing.assert_array_equal(grads[k], expected[1][k])
    np.testing.assert_array_equal(a_last, expected[2])
    # an out-of-range unsigned target at a counted step is still refused
    Y[0, 1] = 1
    with pytest.raises(IndexError, match=r"Y has target 1 at \[0, 1\]"):
        fastrnn.loss_and_grads(p, X, Y, lengths=[2])


@pytest.mark.skipif(sampling is None, reason="fastrnn.sampling is not available")
def test_regression_sample_temperature_huge_int_is_a_clear_error():
    """float(10**400) raised OverflowError from the gate instead of ValueError."""
    p = fastrnn.init_params(3, 2, seed=0)
    with pytest.raises(ValueError, match="temperature"):
        sampling.sample(p, 2, temperature=10**400)
