"""Every kernel path once, at small sizes: the default run of tools/valgrind.sh.

Not collected by a plain ``pytest`` (tools/ is not a test path); run it with
``PYTHONPATH=src pytest tools/memcheck_cases.py``.  The tests in tests/ cover
the same paths with more sizes and seeds, but with too many NumPy-reference
computations for valgrind's ~30x slowdown; here each case calls a kernel on a
few elements and checks the result against fastrnn.reference once.

Paths: token ids and dense inputs; full length and padded (lengths); ignored
targets and one target per sequence; a0 given (B, H) and shared (H,); the
kernels' own packed products (_packgemm.h: 6-row blocks, 1-5 leftover rows
with several panels at once, partial last panels through the tile; BLAS for
the larger output-layer products); one sequence's steps in one call; H = 1;
float32 and float64; the BLAS wrappers in all four transposes; the float32
tanh/exp row operations on odd lengths (vector loop and remainder); sampling
with prime, a0, temperature, top_k, stop_id, length 0 and NaN parameters;
fastrnn.optim's compiled loops (each optimizer, clipping, the norm).

Memcheck reports an uninitialised value only where it decides a branch, an
address or a system call, which for a kernel output left unwritten is some
later comparison deep in NumPy, with no fastrnn frame in the stack.  So every
output is also written to /dev/null (`defined`): write(2) of uninitialised
bytes is reported as such, and tools/valgrind.sh counts it as a finding.
"""
import os
import sys

import numpy as np
import pytest

import fastrnn
from fastrnn import reference

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from problems import MODES, make_problem  # noqa: E402

try:
    from fastrnn import sampling
except ImportError:
    sampling = None

DTYPES = [np.float64, np.float32]
_DEVNULL = os.open(os.devnull, os.O_WRONLY)


def defined(*arrays):
    """Under valgrind, an error here means a kernel left part of an output unwritten."""
    for a in arrays:
        os.write(_DEVNULL, np.ascontiguousarray(a).tobytes())

TOL = {np.float64: 1e-10, np.float32: 1e-4}


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30)


def up(p):
    return {k: v.astype(np.float64) for k, v in p.items()}


def check(p, X, Y, a0, lengths, dtype):
    loss, grads, a_last = fastrnn.loss_and_grads(p, X, Y, a0, lengths)
    probs, A = fastrnn.forward(p, X, a0, lengths)
    defined(np.float64(loss), a_last, probs, A, *grads.values())
    Xr = X.astype(np.float64) if X.dtype.kind == "f" else X
    a0r = None if a0 is None else np.asarray(a0, np.float64)
    rloss, rgrads, ra_last = reference.loss_and_grads(up(p), Xr, Y, a0r, lengths)
    rprobs, rA = reference.forward(up(p), Xr, a0r, lengths)
    tol = TOL[dtype]
    assert abs(loss - rloss) <= tol * abs(rloss)
    for k in rgrads:
        assert rel(grads[k], rgrads[k]) <= tol, k
    assert rel(a_last, ra_last) <= tol and rel(probs, rprobs) <= tol and rel(A, rA) <= tol


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", MODES)
def test_every_mode(mode, dtype):
    check(*make_problem(mode, I=5, H=3, O=4, B=5, T=4, dtype=dtype, seed=1), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("I,H,O,B,T", [(1, 1, 1, 1, 1), (2, 1, 3, 4, 3), (3, 6, 2, 2, 7)])
@pytest.mark.parametrize("mode", ["steps", "all", "many_to_one"])
def test_edge_shapes(I, H, O, B, T, mode, dtype):
    check(*make_problem(mode, I=I, H=H, O=O, B=B, T=T, dtype=dtype, seed=T), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("I,H,O,B,T", [(5, 8, 9, 1, 3), (6, 13, 17, 7, 4), (4, 64, 8, 5, 2)])
@pytest.mark.parametrize("mode", ["steps", "lengths", "dense"])
def test_own_products(I, H, O, B, T, mode, dtype):
    check(*make_problem(mode, I=I, H=H, O=O, B=B, T=T, dtype=dtype, seed=H), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("H", [1, 9, 50, 112])
@pytest.mark.parametrize("mode", ["steps", "all"])
def test_one_sequence(H, mode, dtype):
    # B = 1, every step in one call (fr_rec1, H <= 112 float32, 56 float64):
    # its states stored by whole vectors where the rows left have room (the
    # padding lands in the next row), the last rows element by element; full
    # length and padded
    p, X, Y, a0, lengths = make_problem(mode, I=4, H=H, O=5, B=1, T=5, dtype=dtype,
                                        seed=H)
    if mode == "all":
        lengths = np.array([3])
    check(p, X, Y, a0, lengths, dtype)


@pytest.mark.parametrize("mode", ["steps", "lengths"])
def test_weight_gradients_in_blocks_of_rows(mode):
    # float32 dWaa, dWya over 4200 rows of 8 (16 packed) columns: the kernels'
    # own product in blocks of 4096 rows and a partial one (_mm)
    check(*make_problem(mode, I=5, H=8, O=6, B=70, T=60, dtype=np.float32, seed=3),
          np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("accumulate", [False, True])
@pytest.mark.parametrize("trans_w", [False, True])
@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (5, 9, 3), (6, 33, 7), (4, 3, 2),
                                   (1, 40, 5), (3, 20, 260), (7, 17, 2)])
@pytest.mark.parametrize("tail", [False, True])   # n = 1, 9, 17, 33: a tail of one column
def test_packed_gemm(m, n, k, trans_a, trans_w, accumulate, tail, dtype):
    from fastrnn._kernels import _packed_gemm
    rng = np.random.default_rng(m + n + k)
    A = rng.normal(size=(k, m) if trans_a else (m, k)).astype(dtype)
    W = rng.normal(size=(n, k) if trans_w else (k, n)).astype(dtype)
    C = rng.normal(size=(m, n)).astype(dtype)
    want = ((A.T if trans_a else A).astype(np.float64) @ (W.T if trans_w else W)
            + (C if accumulate else 0))
    _packed_gemm(trans_a, A, trans_w, W, C, accumulate, tail)
    defined(C)
    assert rel(C, want) <= TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_gemm(ta, tb, dtype):
    from fastrnn._blas import gemm_
    rng = np.random.default_rng(0)
    m, n, k = 3, 5, 2
    A = rng.normal(size=(k, m) if ta else (m, k)).astype(dtype)
    Bm = rng.normal(size=(n, k) if tb else (k, n)).astype(dtype)
    C = rng.normal(size=(m, n)).astype(dtype)
    want = 2 * ((A.T if ta else A) @ (Bm.T if tb else Bm)) + 0.5 * C
    gemm_(ta, tb, dtype(2), A, Bm, dtype(0.5), C)
    defined(C)
    np.testing.assert_allclose(C, want, rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("n", [1, 7, 13])
def test_rowops(n):
    kernels = pytest.importorskip("fastrnn._kernels")
    if not hasattr(kernels, "_fast_tanhf"):
        pytest.skip("no float32 row operations in this build")
    x = np.linspace(-100, 100, n, dtype=np.float32)
    x[0] = np.nan
    for f in (kernels._fast_tanhf, kernels._fast_expf):
        y = x.copy()
        f(y)
        defined(y)
        assert np.isnan(y[0])


SAMPLE_CASES = [
    {"prime": [1, 2, 0], "a0": "random"}, {"temperature": 0.3, "top_k": 1},
    {"top_k": 3, "stop_id": 2, "temperature": 5.0}, {"prime": [4], "length": 0},
    {"nan": "Wya"}, {"nan": "Waa", "top_k": 2},
]


@pytest.mark.skipif(sampling is None, reason="fastrnn.sampling is not available")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", SAMPLE_CASES, ids=str)
def test_sample(case, dtype):
    p = fastrnn.init_params(6, 4, dtype=dtype, seed=1)
    kw = dict(case)
    length = kw.pop("length", 12)
    if kw.get("a0") == "random":
        kw["a0"] = np.random.default_rng(0).uniform(-1, 1, 4).astype(dtype)
    key = kw.pop("nan", None)
    if key:
        p[key].flat[0] = np.nan
    ids = sampling.sample(p, length, seed=3, **kw)
    defined(ids)
    assert len(ids) <= length and ((ids >= 0) & (ids < 6)).all()
    if key is None:
        np.testing.assert_array_equal(ids, reference.sample(p, length, seed=3, **kw))


OPTIM_CASES = [("sgd", {"lr": 0.1}), ("sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True,
                                              "weight_decay": 0.01}),
               ("adagrad", {"lr": 0.1}), ("adam", {"lr": 0.01, "weight_decay": 0.01})]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,kwargs", OPTIM_CASES, ids=str)
def test_optimizer_loops(name, kwargs, dtype):
    # fastrnn._update's loops (one compiled pass per parameter) on odd sizes
    # (vector loop and remainder), a Fortran-ordered parameter, a 0-d and an
    # empty one, against the ufunc calls; then clipping and the global norm
    from fastrnn import optim
    rng = np.random.default_rng(5)
    shapes = {"W": (7, 5), "b": (13,), "s": (), "e": (0, 3)}

    def params():
        p = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
        p["W"] = np.asfortranarray(p["W"])
        return p

    pa = params()
    pb = {k: v.copy(order="K") for k, v in pa.items()}
    fast = optim.make_optimizer(name, pa, **kwargs)
    slow = optim.make_optimizer(name, pb, **kwargs)
    slow._compiled = False
    for _ in range(2):
        g = {k: (np.asfortranarray if k == "W" else np.asarray)(
            rng.standard_normal(s).astype(dtype)) for k, s in shapes.items()}
        fast.step(g)
        slow.step(g)
    defined(*pa.values(), *fast.state_dict().values())
    for k in pa:
        np.testing.assert_array_equal(pa[k], pb[k])
    norm = optim.clip_by_global_norm(g, 0.5)
    optim.clip_by_value(g, 0.1)
    defined(np.float64(norm), *g.values())
    assert all(np.abs(v).max(initial=0) <= 0.1 for v in g.values())
