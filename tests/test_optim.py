"""Tests of fastrnn.optim: in-place optimizers and gradient clipping."""

from __future__ import annotations

import doctest
import importlib.util
import math
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

try:
    from fastrnn import optim
except Exception:  # pragma: no cover - package __init__ may need built extensions
    # fastrnn.optim is self-contained (NumPy only): load it straight from the file
    _path = Path(__file__).resolve().parents[1] / "src" / "fastrnn" / "optim.py"
    _spec = importlib.util.spec_from_file_location("fastrnn_optim_standalone", _path)
    optim = importlib.util.module_from_spec(_spec)
    sys.modules[_spec.name] = optim
    _spec.loader.exec_module(optim)

SGD = optim.SGD
Adagrad = optim.Adagrad
Adam = optim.Adam
make_optimizer = optim.make_optimizer
clip_by_value = optim.clip_by_value
clip_by_global_norm = optim.clip_by_global_norm

H, I, O = 4, 3, 2
DTYPES = [np.float32, np.float64]


def tol(dtype):
    return dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)


def make_params(dtype=np.float64, seed=0, learned_a0=False):
    """Random RNN parameters with a Fortran-ordered Wax."""
    rng = np.random.default_rng(seed)
    p = {
        "Wax": np.asfortranarray(rng.standard_normal((H, I))).astype(dtype, order="K"),
        "Waa": rng.standard_normal((H, H)).astype(dtype),
        "ba": rng.standard_normal(H).astype(dtype),
        "Wya": rng.standard_normal((O, H)).astype(dtype),
        "by": rng.standard_normal(O).astype(dtype),
    }
    if learned_a0:
        p["a0"] = rng.standard_normal(H).astype(dtype)
    assert p["Wax"].flags.f_contiguous and not p["Wax"].flags.c_contiguous
    return p


def make_grads(params, seed, fortran_wax=True, extra_a0=True):
    """Random gradients (non-zero); Wax gradient Fortran-ordered by default."""
    rng = np.random.default_rng(1000 + seed)
    g = {k: rng.standard_normal(v.shape).astype(v.dtype) for k, v in params.items()}
    g["Wax"] = (np.asfortranarray if fortran_wax else np.ascontiguousarray)(g["Wax"])
    if extra_a0 and "a0" not in params:
        g["a0"] = rng.standard_normal(H).astype(params["Wax"].dtype)  # ignored
    return g


def copy_params(p):
    return {k: v.copy(order="K") for k, v in p.items()}


def snapshot(p):
    return {k: (id(v), v.__array_interface__["data"][0], v.dtype, v.strides) for k, v in p.items()}


# ---------------------------------------------------------------------------
# independent reference implementations (plain, allocating NumPy)
# ---------------------------------------------------------------------------
def ref_sgd(p0, grads_seq, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    p = {k: v.astype(np.float64) for k, v in p0.items()}
    vel = {k: np.zeros_like(v) for k, v in p.items()}
    for grads in grads_seq:
        for k in p:
            d = grads[k].astype(np.float64) + weight_decay * p[k]
            if momentum:
                vel[k] = momentum * vel[k] + d
                u = d + momentum * vel[k] if nesterov else vel[k]
            else:
                u = d
            p[k] = p[k] - lr * u
    return p


def ref_adagrad(p0, grads_seq, lr, eps):
    p = {k: v.astype(np.float64) for k, v in p0.items()}
    G = {k: np.zeros_like(v) for k, v in p.items()}
    for grads in grads_seq:
        for k in p:
            g = grads[k].astype(np.float64)
            G[k] = G[k] + g * g
            p[k] = p[k] - lr * g / (np.sqrt(G[k]) + eps)
    return p


def ref_adam(p0, grads_seq, lr, betas, eps, weight_decay=0.0):
    b1, b2 = betas
    p = {k: v.astype(np.float64) for k, v in p0.items()}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(x) for k, x in p.items()}
    for t, grads in enumerate(grads_seq, start=1):
        for k in p:
            g = grads[k].astype(np.float64) + weight_decay * p[k]
            m[k] = b1 * m[k] + (1 - b1) * g
            v[k] = b2 * v[k] + (1 - b2) * g**2
            m_hat = m[k] / (1 - b1**t)
            v_hat = v[k] / (1 - b2**t)
            p[k] = p[k] - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


def run(opt_factory, dtype, n_steps=3, fortran_grad=True, learned_a0=False):
    params = make_params(dtype, learned_a0=learned_a0)
    p0 = copy_params(params)
    before = snapshot(params)
    opt = opt_factory(params)
    seq = [make_grads(params, s, fortran_wax=fortran_grad) for s in range(n_steps)]
    for g in seq:
        opt.step(g)
    assert snapshot(params) == before  # same objects, buffers, dtype, layout
    assert params["Wax"].flags.f_contiguous
    return params, p0, seq, opt


def assert_params_close(got, want, dtype):
    assert set(got) == set(want)
    for k in want:
        assert got[k].dtype == dtype, k
        np.testing.assert_allclose(got[k], want[k], err_msg=k, **tol(dtype))


# ---------------------------------------------------------------------------
# exact hand computations on scalars
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, expected",
    [
        (dict(), [0.9, 0.8, 0.7]),
        (dict(momentum=0.9), [0.9, 0.71, 0.439]),
        (dict(momentum=0.9, nesterov=True), [0.81, 0.539, 0.1951]),
        (dict(weight_decay=0.5), [0.85, 0.7075, 0.572125]),
    ],
)
def test_sgd_hand_computed(kwargs, expected):
    p = {"w": np.array([1.0])}
    opt = SGD(p, lr=0.1, **kwargs)
    for want in expected:
        opt.step({"w": np.array([1.0])})
        assert p["w"][0] == pytest.approx(want, rel=1e-12)


def test_adagrad_hand_computed():
    p = {"w": np.array([1.0])}
    opt = Adagrad(p, lr=0.1, eps=1e-8)
    want = 1.0
    for G in (4.0, 8.0, 12.0):
        opt.step({"w": np.array([2.0])})
        want -= 0.1 * 2.0 / (math.sqrt(G) + 1e-8)
        assert p["w"][0] == pytest.approx(want, rel=1e-12)
    assert p["w"][0] == pytest.approx(0.7715543, abs=1e-7)


def test_adam_constant_gradient_moves_lr_per_step():
    # with a constant gradient, m_hat = g and v_hat = g**2 at every step
    p = {"w": np.array([1.0, -1.0])}
    opt = Adam(p, lr=0.01, eps=1e-12)
    for t in range(1, 4):
        opt.step({"w": np.array([0.3, -7.0])})
        np.testing.assert_allclose(p["w"], [1.0 - 0.01 * t, -1.0 + 0.01 * t], rtol=1e-9)


# ---------------------------------------------------------------------------
# random arrays, 3 steps, float32/float64, Fortran-ordered Wax
# ---------------------------------------------------------------------------
SGD_CONFIGS = [
    dict(lr=0.05),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.8, nesterov=True),
    dict(lr=0.05, momentum=0.9, weight_decay=0.01),
    dict(lr=0.05, momentum=0.7, nesterov=True, weight_decay=0.1),
    dict(lr=0.05, weight_decay=0.1),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kwargs", SGD_CONFIGS, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
@pytest.mark.parametrize("fortran_grad", [True, False])
def test_sgd_matches_reference(dtype, kwargs, fortran_grad):
    params, p0, seq, opt = run(lambda p: SGD(p, **kwargs), dtype, fortran_grad=fortran_grad)
    assert_params_close(params, ref_sgd(p0, seq, **kwargs), dtype)
    assert opt.step_count == 3


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fortran_grad", [True, False])
def test_adagrad_matches_reference(dtype, fortran_grad):
    params, p0, seq, _ = run(lambda p: Adagrad(p, lr=0.1, eps=1e-6), dtype, fortran_grad=fortran_grad)
    assert_params_close(params, ref_adagrad(p0, seq, lr=0.1, eps=1e-6), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
@pytest.mark.parametrize("fortran_grad", [True, False])
def test_adam_matches_reference(dtype, weight_decay, fortran_grad):
    kw = dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=weight_decay)
    params, p0, seq, _ = run(lambda p: Adam(p, **kw), dtype, fortran_grad=fortran_grad)
    assert_params_close(params, ref_adam(p0, seq, **kw), dtype)


def test_adam_default_hyperparameters():
    params, p0, seq, opt = run(lambda p: Adam(p), np.float64)
    assert (opt.lr, opt.betas, opt.eps, opt.weight_decay) == (1e-3, (0.9, 0.999), 1e-8, 0.0)
    assert_params_close(params, ref_adam(p0, seq, 1e-3, (0.9, 0.999), 1e-8), np.float64)


@pytest.mark.parametrize("name", ["sgd", "adagrad", "adam"])
def test_learned_a0_is_updated_and_extra_a0_ignored(name):
    # with a0 in params it is updated; with a0 only in grads it is ignored
    with_a0 = make_params(learned_a0=True)
    a0_before = with_a0["a0"].copy()
    make_optimizer(name, with_a0, lr=0.1).step(make_grads(with_a0, 0))
    assert not np.array_equal(with_a0["a0"], a0_before)

    without = make_params()
    g = make_grads(without, 0)
    assert "a0" in g
    make_optimizer(name, without, lr=0.1).step(g)
    assert "a0" not in without


@pytest.mark.parametrize("name", ["sgd", "adagrad", "adam"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_inplace_dtype_and_layout_preserved(name, dtype):
    params = make_params(dtype)
    alias = params["Waa"]  # e.g. a model or kernel holding the array
    before = snapshot(params)
    opt = make_optimizer(name, params, lr=0.1)
    old = alias.copy()
    for s in range(3):
        opt.step(make_grads(params, s))
    assert snapshot(params) == before
    assert params["Waa"] is alias and not np.array_equal(alias, old)
    for k, v in params.items():
        assert v.dtype == dtype
    # state buffers match each parameter's layout
    for key, arr in opt.state_dict().items():
        if "." in key:
            pk = key.split(".", 1)[1]
            assert arr.dtype == dtype and arr.shape == params[pk].shape
            assert arr.flags.f_contiguous == params[pk].flags.f_contiguous


def test_grads_not_modified():
    params = make_params()
    g = make_grads(params, 0)
    g_copy = copy_params(g)
    Adam(params, weight_decay=0.1).step(g)
    SGD(params, momentum=0.9, nesterov=True, weight_decay=0.1).step(g)
    Adagrad(params).step(g)
    for k in g:
        assert np.array_equal(g[k], g_copy[k])


# ---------------------------------------------------------------------------
# lr, names, factory
# ---------------------------------------------------------------------------
def test_lr_settable_and_used():
    p = {"w": np.array([1.0])}
    opt = SGD(p, lr=0.1)
    opt.lr = 0.5
    opt.step({"w": np.array([1.0])})
    assert p["w"][0] == pytest.approx(0.5)
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="lr"):
            opt.lr = bad
    assert opt.lr == 0.5


def test_names_and_factory():
    p = make_params()
    for name, cls in [("sgd", SGD), ("adagrad", Adagrad), ("adam", Adam)]:
        opt = make_optimizer(name, p, lr=0.02)
        assert isinstance(opt, cls) and opt.name == name and opt.lr == 0.02
    assert make_optimizer("ADAM", p).name == "adam"
    assert make_optimizer("sgd", p, momentum=0.5).momentum == 0.5
    with pytest.raises(ValueError, match="rmsprop.*'sgd'.*'adagrad'.*'adam'"):
        make_optimizer("rmsprop", p)
    with pytest.raises(TypeError):
        make_optimizer("sgd", p, betas=(0.9, 0.9))


# ---------------------------------------------------------------------------
# state_dict
# ---------------------------------------------------------------------------
OPT_CONFIGS = [
    ("sgd", dict(lr=0.05)),
    ("sgd", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("adagrad", dict(lr=0.1, eps=1e-7)),
    ("adam", dict(lr=0.01, betas=(0.8, 0.95), weight_decay=0.02)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kwargs", OPT_CONFIGS)
@pytest.mark.parametrize("via_npz", [False, True])
def test_state_dict_round_trip(name, kwargs, dtype, via_npz, tmp_path):
    pa = make_params(dtype)
    a = make_optimizer(name, pa, **kwargs)
    for s in range(2):
        a.step(make_grads(pa, s))
    a.lr = kwargs["lr"] / 2  # e.g. a schedule; must be restored too
    state = a.state_dict()
    assert state["step"].shape == () and state["step"].dtype == np.int64 and int(state["step"]) == 2
    assert state["lr"].shape == () and state["lr"].dtype == np.float64
    for k, v in state.items():
        assert isinstance(v, np.ndarray) and v.dtype != object, k
    if via_npz:
        path = tmp_path / "opt.npz"
        np.savez(path, **state)
        loaded = np.load(path, allow_pickle=False)
    else:
        loaded = state

    pb = copy_params(pa)
    b = make_optimizer(name, pb, **kwargs)
    b.load_state_dict(loaded)
    assert b.step_count == 2 and b.lr == a.lr
    g3 = make_grads(pa, 2)
    a.step(g3)
    b.step(g3)
    for k in pa:
        assert np.array_equal(pa[k], pb[k]), k
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert np.array_equal(sa[k], sb[k]), k


def test_state_dict_is_a_copy():
    p = make_params()
    opt = Adam(p)
    opt.step(make_grads(p, 0))
    s = opt.state_dict()
    m = s["m.Wax"].copy()
    opt.step(make_grads(p, 1))
    assert np.array_equal(s["m.Wax"], m)


def test_state_dict_keys():
    p = make_params()
    assert set(SGD(p).state_dict()) == {"step", "lr", "momentum", "nesterov", "weight_decay"}
    sgd_m = SGD(p, momentum=0.5).state_dict()
    assert {f"v.{k}" for k in p} <= set(sgd_m)
    assert {f"G.{k}" for k in p} <= set(Adagrad(p).state_dict())
    adam = Adam(p).state_dict()
    assert {f"m.{k}" for k in p} | {f"v.{k}" for k in p} | {"beta1", "beta2", "eps"} <= set(adam)


@pytest.mark.parametrize("name", ["sgd", "adagrad", "adam"])
def test_step_count_at_int64_max_refuses_the_next_step(name):
    """A loaded step of 2**63 - 1 (state_dict's int64 maximum): the next
    step is an OverflowError before anything changes, not a state_dict that
    cannot be written afterwards."""
    p = make_params()
    opt = make_optimizer(name, p)
    state = dict(opt.state_dict(), step=np.array(2**63 - 2, dtype=np.int64))
    opt.load_state_dict(state)
    opt.step(make_grads(p, 0))                   # reaches 2**63 - 1
    assert int(opt.state_dict()["step"]) == 2**63 - 1
    before = copy_params(p)
    with pytest.raises(OverflowError, match="step count"):
        opt.step(make_grads(p, 1))
    assert int(opt.state_dict()["step"]) == 2**63 - 1
    for k in p:
        np.testing.assert_array_equal(p[k], before[k])


@pytest.mark.parametrize("compiled", [True, False])
def test_clipping_a_read_only_gradient_names_it_and_changes_nothing(compiled, monkeypatch):
    if not compiled:
        monkeypatch.setattr(optim, "_cupdate", None)
    rng = np.random.default_rng(5)
    g = {"a": rng.standard_normal(4) * 10, "b": rng.standard_normal(3) * 10}
    g["b"].flags.writeable = False
    before = copy_params(g)
    with pytest.raises(ValueError, match="'b' is read-only"):
        clip_by_value(g, 1.0)
    with pytest.raises(ValueError, match="'b' is read-only"):
        clip_by_global_norm(g, 1.0)
    for k in g:
        np.testing.assert_array_equal(g[k], before[k])
    # nothing to write: a norm below max_norm only reads
    assert clip_by_global_norm(g, 1e9) == optim.global_norm(g)


def test_load_state_dict_validation():
    p = make_params()
    opt = Adam(p)
    opt.step(make_grads(p, 0))
    good = opt.state_dict()
    fresh = Adam(copy_params(p))

    bad = dict(good)
    del bad["m.Waa"]
    with pytest.raises(ValueError, match="m.Waa"):
        fresh.load_state_dict(bad)

    bad = dict(good, extra=np.zeros(1))
    with pytest.raises(ValueError, match="extra"):
        fresh.load_state_dict(bad)

    bad = dict(good)
    bad["v.Wya"] = np.zeros((O + 1, H))
    with pytest.raises(ValueError, match="v.Wya"):
        fresh.load_state_dict(bad)

    bad = dict(good)
    bad["m.ba"] = good["m.ba"].astype(np.float32)
    with pytest.raises(ValueError, match="m.ba"):
        fresh.load_state_dict(bad)

    bad = dict(good, step=np.array(1.5))
    with pytest.raises(ValueError, match="step"):
        fresh.load_state_dict(bad)

    # a uint64 step past int64: refused, and the optimizer stays usable
    before = int(fresh.state_dict()["step"])
    bad = dict(good, step=np.array(2**63, dtype=np.uint64))
    with pytest.raises(ValueError, match=r"'step' must be in \[0, 9223372036854775807\]"):
        fresh.load_state_dict(bad)
    assert int(fresh.state_dict()["step"]) == before

    bad = dict(good, lr=np.array(-1.0))
    with pytest.raises(ValueError, match="lr"):
        fresh.load_state_dict(bad)

    bad = dict(good, beta1=np.array(0.5))
    with pytest.raises(ValueError, match="beta1"):
        fresh.load_state_dict(bad)

    # a failed load leaves the optimizer untouched
    assert fresh.step_count == 0
    assert not np.any(fresh.state_dict()["m.Wax"])

    with pytest.raises(ValueError, match="v.Wax"):  # momentum buffers expected
        SGD(copy_params(p), momentum=0.9).load_state_dict(SGD(p).state_dict())
    with pytest.raises(ValueError, match="m.Wax"):  # float32 optimizer, float64 state
        Adam(make_params(np.float32)).load_state_dict(good)


# ---------------------------------------------------------------------------
# argument validation
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "factory, match",
    [
        (lambda p: SGD(p, lr=0), "lr"),
        (lambda p: SGD(p, lr=-0.1), "lr"),
        (lambda p: SGD(p, lr=float("nan")), "lr"),
        (lambda p: SGD(p, lr=float("inf")), "lr"),
        (lambda p: SGD(p, lr="0.1"), "lr"),
        (lambda p: SGD(p, momentum=1.0), "momentum.*1.0"),
        (lambda p: SGD(p, momentum=-0.1), "momentum.*-0.1"),
        (lambda p: SGD(p, nesterov=True), "nesterov"),
        (lambda p: SGD(p, weight_decay=-1.0), "weight_decay"),
        (lambda p: Adagrad(p, lr=-1), "lr.*-1"),
        (lambda p: Adagrad(p, eps=0.0), "eps.*0.0"),
        (lambda p: Adam(p, betas=(1.0, 0.9)), r"betas\[0\].*1.0"),
        (lambda p: Adam(p, betas=(0.9, -0.5)), r"betas\[1\].*-0.5"),
        (lambda p: Adam(p, betas=(0.9,)), "betas"),
        (lambda p: Adam(p, eps=-1e-8), "eps"),
        (lambda p: Adam(p, lr=float("nan")), "lr"),
        (lambda p: Adam(p, weight_decay=float("inf")), "weight_decay"),
    ],
)
def test_bad_hyperparameters(factory, match):
    with pytest.raises(ValueError, match=match):
        factory(make_params())


def test_bad_params():
    with pytest.raises(ValueError, match="empty"):
        SGD({})
    with pytest.raises(TypeError, match="Wax"):
        SGD({"Wax": [[1.0]]})
    with pytest.raises(TypeError, match="Wax"):
        SGD({"Wax": np.zeros((2, 2), dtype=np.int64)})
    ro = np.zeros(3)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="ba"):
        SGD({"ba": ro})


@pytest.mark.parametrize("name", ["sgd", "adagrad", "adam"])
def test_bad_grads(name):
    p = make_params()
    p0 = copy_params(p)
    opt = make_optimizer(name, p, lr=0.1)
    g = make_grads(p, 0)

    missing = {k: v for k, v in g.items() if k != "by"}
    with pytest.raises(ValueError, match="'by'"):
        opt.step(missing)

    wrong_shape = dict(g, Waa=np.zeros((H, H + 1)))
    with pytest.raises(ValueError, match="'Waa'"):
        opt.step(wrong_shape)

    wrong_dtype = dict(g, Wya=g["Wya"].astype(np.float32))
    with pytest.raises(TypeError, match="'Wya'"):
        opt.step(wrong_dtype)

    with pytest.raises(TypeError, match="'ba'"):
        opt.step(dict(g, ba=g["ba"].tolist()))

    # validation happens before any update: nothing moved
    assert opt.step_count == 0
    for k in p:
        assert np.array_equal(p[k], p0[k])

    # rebinding a parameter entry is detected
    p["ba"] = p["ba"].copy()
    with pytest.raises(RuntimeError, match="'ba'"):
        opt.step(g)


# ---------------------------------------------------------------------------
# no per-step allocation
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("sgd", dict(momentum=0.9, nesterov=True, weight_decay=0.01)),
        ("adagrad", {}),
        ("adam", dict(weight_decay=0.01)),
    ],
)
def test_step_does_not_allocate(name, kwargs):
    rng = np.random.default_rng(0)
    Hb, Ib = 256, 128  # 512 KiB for Waa in float64
    params = {
        "Wax": np.asfortranarray(rng.standard_normal((Hb, Ib))),
        "Waa": rng.standard_normal((Hb, Hb)),
        "ba": rng.standard_normal(Hb),
    }
    grads = {k: rng.standard_normal(v.shape) for k, v in params.items()}
    grads["Wax"] = np.asfortranarray(grads["Wax"])
    opt = make_optimizer(name, params, lr=1e-3, **kwargs)
    opt.step(grads)  # warm-up
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        opt.step(grads)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak < 32 * 1024, peak  # far below one parameter array


# ---------------------------------------------------------------------------
# clipping
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_clip_by_value(dtype):
    g = {
        "Wax": np.asfortranarray(np.array([[-7.0, 0.5], [5.0, 12.0], [-5.0, -4.9]], dtype=dtype)),
        "by": np.array([np.nan, -np.inf, 3.0], dtype=dtype),
    }
    arrays = dict(g)
    out = clip_by_value(g, 5)
    assert out is g
    for k in g:
        assert g[k] is arrays[k] and g[k].dtype == dtype
    np.testing.assert_array_equal(g["Wax"], np.array([[-5, 0.5], [5, 5], [-5, -4.9]], dtype=dtype))
    assert g["Wax"].flags.f_contiguous
    assert np.isnan(g["by"][0]) and g["by"][1] == -5 and g["by"][2] == 3


@pytest.mark.parametrize("dtype", DTYPES)
def test_clip_by_global_norm_direction_preserved(dtype):
    params = make_params(dtype)
    g = make_grads(params, 0)
    flat = np.concatenate([v.ravel().astype(np.float64) for v in g.values()])
    true_norm = float(np.linalg.norm(flat))
    arrays = dict(g)
    norm = clip_by_global_norm(g, 1.0)
    assert isinstance(norm, float)
    assert norm == pytest.approx(true_norm, rel=1e-12)
    for k in g:
        assert g[k] is arrays[k] and g[k].dtype == dtype
    assert g["Wax"].flags.f_contiguous
    new = np.concatenate([v.ravel().astype(np.float64) for v in g.values()])
    assert np.linalg.norm(new) == pytest.approx(1.0, rel=1e-6 if dtype == np.float32 else 1e-12)
    cos = float(np.dot(flat, new) / (np.linalg.norm(flat) * np.linalg.norm(new)))
    assert abs(cos - 1.0) <= 1e-12
    np.testing.assert_allclose(new, flat / true_norm, **tol(dtype))


def test_clip_by_global_norm_below_max_unchanged():
    g = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]], dtype=np.float64)}
    before = copy_params(g)
    assert clip_by_global_norm(g, 5.0) == 5.0  # equal: not clipped
    assert clip_by_global_norm(g, 10.0) == 5.0
    for k in g:
        assert np.array_equal(g[k], before[k])


def test_clip_by_global_norm_hand_computed():
    g = {"a": np.array([3.0, 0.0]), "b": np.array([4.0])}
    assert clip_by_global_norm(g, 2.5) == 5.0
    np.testing.assert_allclose(g["a"], [1.5, 0.0], rtol=1e-15)
    np.testing.assert_allclose(g["b"], [2.0], rtol=1e-15)


def test_global_norm_float32_no_overflow():
    # squares overflow float32 (and a float32 dot product) but not float64
    g = {"a": np.full((3, 4), 1e30, dtype=np.float32), "b": np.array([2e30], dtype=np.float32)}
    norm = clip_by_global_norm(g, 1.0)
    expected = math.sqrt(12 * float(np.float32(1e30)) ** 2 + float(np.float32(2e30)) ** 2)
    assert math.isfinite(norm) and norm == pytest.approx(expected, rel=1e-12)
    total = math.sqrt(sum(float(np.sum(v.astype(np.float64) ** 2)) for v in g.values()))
    assert total == pytest.approx(1.0, rel=1e-6)
    assert g["a"].dtype == np.float32


def test_global_norm_float64_extreme_magnitudes():
    big = {"a": np.array([1e200, 1e200]), "b": np.array([1e200])}
    assert clip_by_global_norm(big, 1.0) == pytest.approx(math.sqrt(3) * 1e200, rel=1e-12)
    np.testing.assert_allclose(big["a"], [1 / math.sqrt(3)] * 2, rtol=1e-12)
    tiny = {"a": np.array([3e-200]), "b": np.array([4e-200])}
    assert clip_by_global_norm(tiny, 1.0) == pytest.approx(5e-200, rel=1e-12)
    assert tiny["a"][0] == 3e-200  # unchanged


@pytest.mark.parametrize("bad, expected", [(np.nan, "nan"), (np.inf, "inf"), (-np.inf, "inf")])
@pytest.mark.parametrize("dtype", DTYPES)
def test_clip_by_global_norm_non_finite_policy(bad, expected, dtype):
    g = {"a": np.array([1e3, 2e3], dtype=dtype), "b": np.array([5.0, bad], dtype=dtype)}
    before = copy_params(g)
    norm = clip_by_global_norm(g, 1.0)
    assert math.isnan(norm) if expected == "nan" else norm == math.inf
    for k in g:  # left unchanged
        np.testing.assert_array_equal(g[k], before[k])


def test_clip_by_global_norm_nan_wins_over_inf():
    g = {"a": np.array([np.inf]), "b": np.array([np.nan])}
    assert math.isnan(clip_by_global_norm(g, 1.0))


def test_clip_by_global_norm_empty_and_zero():
    assert clip_by_global_norm({}, 1.0) == 0.0
    g = {"a": np.zeros(3), "b": np.zeros((0, 2))}
    assert clip_by_global_norm(g, 1.0) == 0.0


@pytest.mark.parametrize("compiled", [True, False])
def test_clip_by_global_norm_refuses_gradients_that_share_memory(compiled, monkeypatch):
    """The same array under two keys, or overlapping views, would have its
    shared elements scaled twice: a ValueError naming both keys, nothing
    changed.  Views that share no element (interleaved, or side by side in
    one buffer) are clipped as separate arrays would be."""
    if not compiled:
        monkeypatch.setattr(optim, "_cupdate", None)
    rng = np.random.default_rng(4)
    a = rng.standard_normal(12) * 10
    buf = rng.standard_normal((4, 6)) * 10
    for g, keys in [({"a": a, "z": np.ones(3), "b": a}, ("'a'", "'b'")),
                    ({"x": buf[1:3], "y": buf[2:]}, ("'x'", "'y'")),
                    ({"x": buf, "y": buf[::-1, ::2]}, ("'x'", "'y'")),
                    ({"x": buf[:, 1], "y": buf.T}, ("'x'", "'y'"))]:
        before = copy_params(g)
        with pytest.raises(ValueError, match=f"{keys[0]} and {keys[1]} share memory"):
            clip_by_global_norm(g, 1e-3)
        with pytest.raises(ValueError, match="share memory"):
            clip_by_global_norm(g, 1e9)    # refused whether or not it would scale
        for k in g:
            np.testing.assert_array_equal(g[k], before[k])
    # global_norm counts every key (the norm of the arrays concatenated)
    assert optim.global_norm({"a": a, "b": a}) == pytest.approx(
        math.sqrt(2) * np.linalg.norm(a), rel=1e-14)
    for split in [lambda b: (b[:, ::2], b[:, 1::2]), lambda b: (b[:2], b[2:]),
                  lambda b: (b[:, 0], b[:, 1])]:
        buf = rng.standard_normal((4, 6)) * 10
        g = dict(zip("xy", split(buf)))
        alone = {k: v.copy() for k, v in g.items()}
        norm = clip_by_global_norm(g, 1.0)
        # (a norm's last bit may depend on the layout: see global_norm)
        assert norm == pytest.approx(clip_by_global_norm(alone, 1.0), rel=1e-14) and norm > 1
        for k in g:
            np.testing.assert_allclose(g[k], alone[k], rtol=1e-14)


def test_clip_by_global_norm_finds_one_shared_pair_among_many():
    """Thousands of gradients (the check sorts their extents rather than
    comparing every pair): apart, accepted; one overlap among them, refused
    with its two keys, whatever their order in the mapping."""
    rng = np.random.default_rng(6)
    buf = rng.standard_normal(3000 * 4) * 10
    parts = [buf[4 * i:4 * i + 4] for i in range(3000)]
    order = rng.permutation(3000)
    g = {f"g{i}": parts[i] for i in order}
    assert clip_by_global_norm(g, 1.0) > 1.0
    g["late"] = buf[4 * 1234 + 2:4 * 1234 + 6]     # overlaps g1234 and g1235
    with pytest.raises(ValueError, match="'g123[45]' and 'late' share memory"):
        clip_by_global_norm(g, 1.0)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), "5", None])
def test_clip_bad_arguments(bad):
    g = {"a": np.ones(2)}
    with pytest.raises(ValueError, match="clip"):
        clip_by_value(g, bad)
    with pytest.raises(ValueError, match="max_norm"):
        clip_by_global_norm(g, bad)
    np.testing.assert_array_equal(g["a"], [1.0, 1.0])


def test_clip_bad_grads():
    with pytest.raises(TypeError, match="'a'"):
        clip_by_value({"a": [1.0, 2.0]}, 1.0)
    with pytest.raises(TypeError, match="'a'"):
        clip_by_global_norm({"a": np.array([1, 2])}, 1.0)


def test_docstring_examples():
    result = doctest.testmod(optim, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 8
    assert result.failed == 0


# ---------------------------------------------------------------------------
# comparison with PyTorch (optional)
# ---------------------------------------------------------------------------
TORCH_CONFIGS = [
    ("sgd", dict(lr=0.05, momentum=0.9)),
    ("sgd", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("adagrad", dict(lr=0.1, eps=1e-8)),
    ("adam", dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8)),
    ("adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05)),
]


@pytest.mark.parametrize("name, kwargs", TORCH_CONFIGS)
def test_matches_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    params = make_params(np.float64)
    tparams = {k: torch.tensor(np.ascontiguousarray(v), requires_grad=True) for k, v in params.items()}
    torch_cls = {"sgd": torch.optim.SGD, "adagrad": torch.optim.Adagrad, "adam": torch.optim.Adam}[name]
    topt = torch_cls(list(tparams.values()), **kwargs)
    opt = make_optimizer(name, params, **kwargs)
    for s in range(5):
        g = make_grads(params, s)
        for k, t in tparams.items():
            t.grad = torch.tensor(np.ascontiguousarray(g[k]))
        topt.step()
        opt.step(g)
        for k, t in tparams.items():
            np.testing.assert_allclose(params[k], t.detach().numpy(), rtol=1e-6, atol=1e-12, err_msg=k)


# ---------------------------------------------------------------------------
# the compiled one-pass loops (fastrnn._update) against the ufunc calls
# ---------------------------------------------------------------------------
needs_update = pytest.mark.skipif(getattr(optim, "_cupdate", None) is None,
                                  reason="fastrnn._update not built (optim loaded alone)")

ALL_CONFIGS = ([("sgd", kw) for kw in SGD_CONFIGS]
               + [("adagrad", dict(lr=0.1)), ("adagrad", dict(lr=0.05, eps=1e-3)),
                  ("adam", dict(lr=0.01)),
                  ("adam", dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.02))])


def _twins(name, kwargs, dtype, seed):
    """Two optimizers on equal parameters: the compiled loops and the ufuncs."""
    pa, pb = make_params(dtype, seed=seed), make_params(dtype, seed=seed)
    fast = make_optimizer(name, pa, **kwargs)
    slow = make_optimizer(name, pb, **kwargs)
    slow._compiled = False
    return pa, pb, fast, slow


@needs_update
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kwargs", ALL_CONFIGS, ids=str)
def test_compiled_steps_equal_ufunc_steps_bit_for_bit(name, kwargs, dtype):
    """Same operations, order and dtype: parameters and state come out equal
    to the last bit, step after step (Fortran-ordered Wax and its gradient
    included), and the compiled path is the one taken."""
    pa, pb, fast, slow = _twins(name, kwargs, dtype, seed=5)
    calls = []
    real = getattr(optim._cupdate, name)

    def spy(*args):
        calls.append(real(*args))
        return calls[-1]

    setattr(optim._cupdate, name, spy)
    try:
        for step in range(4):
            g = make_grads(pa, seed=step)
            g["Waa"][0, 0] = 0.0  # an exact zero: sqrt(0) + eps, 0 / x
            fast.step(g)
            slow.step(g)
    finally:
        setattr(optim._cupdate, name, real)
    assert calls and all(calls), calls  # every parameter by the compiled loop
    for k in pa:
        np.testing.assert_array_equal(pa[k], pb[k], err_msg=k)
        assert pa[k].flags.f_contiguous == pb[k].flags.f_contiguous
    sa, sb = fast.state_dict(), slow.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)


@needs_update
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kwargs", ALL_CONFIGS[:2] + ALL_CONFIGS[-3:], ids=str)
def test_compiled_loops_leave_other_layouts_to_the_ufuncs(name, kwargs, dtype):
    """Gradients the loops do not take (strided, C-ordered against a
    Fortran-ordered parameter, read-only is fine) fall back to the ufunc
    calls: the same results as the NumPy path throughout."""
    pa, pb, fast, slow = _twins(name, kwargs, dtype, seed=9)
    for step in range(3):
        g = make_grads(pa, seed=step, fortran_wax=False)  # C-ordered against F-ordered Wax
        wide = np.zeros((H, 2 * H), dtype=dtype)
        wide[:, ::2] = g["Waa"]
        g["Waa"] = wide[:, ::2]  # strided view
        g["ba"].flags.writeable = False  # read-only gradients are fine
        fast.step(g)
        slow.step(g)
    for k in pa:
        np.testing.assert_array_equal(pa[k], pb[k], err_msg=k)


@needs_update
@pytest.mark.parametrize("dtype", DTYPES)
def test_update_loops_refuse_what_they_cannot_take(dtype):
    """Each loop returns False and writes nothing unless every array is a
    contiguous ndarray of the parameter's dtype, shape and order, the
    written ones writeable, the gradient apart from them."""
    u = optim._cupdate
    rng = np.random.default_rng(0)

    def adam(p, g, m, v):
        return u.adam(p, g, m, v, 0.9, 0.999, 1e-8, 0.0, 1e-3, 0.5)

    def refused(make):
        # v >= 0, as Adam's second moments are
        p, g, m, v = make(*[rng.random((3, 4)).astype(dtype) for _ in range(4)])
        before = [np.array(a, copy=True) for a in (p, g, m, v)]
        if adam(p, g, m, v):
            assert not np.array_equal(p, before[0])  # taken: p moved
            return False
        for a, b in zip((p, g, m, v), before):
            np.testing.assert_array_equal(a, b)
        return True

    def read_only(a):
        a.flags.writeable = False
        return a

    assert not refused(lambda p, g, m, v: (p, g, m, v))  # the control: taken
    assert refused(lambda p, g, m, v: (p, g.astype(np.float16), m, v))  # gradient dtype
    assert refused(lambda p, g, m, v: (p, g[:, :3].copy(), m, v))  # shape
    assert refused(lambda p, g, m, v: (p, np.asfortranarray(g), m, v))  # order
    assert refused(lambda p, g, m, v: (p, g, np.asfortranarray(m), v))  # state's order
    assert refused(lambda p, g, m, v: (p, g, m, v.astype(np.float16)))  # state's dtype
    assert refused(lambda p, g, m, v: (read_only(p), g, m, v))  # read-only parameter
    assert refused(lambda p, g, m, v: (p, g, read_only(m), v))  # read-only state
    assert refused(lambda p, g, m, v: (p, p, m, v))  # the gradient is the parameter
    assert refused(lambda p, g, m, v: (p, m, m, v))  # ... or the state
    assert refused(lambda p, g, m, v: (p.astype(np.int64), g, m, v))  # not a float
    assert refused(lambda p, g, m, v: (p, np.ma.masked_array(g), m, v))  # a subclass
    swapped = np.dtype(dtype).newbyteorder()
    assert refused(lambda p, g, m, v: (p.astype(swapped), g, m, v))  # byte order
    assert refused(lambda p, g, m, v: (p, g.astype(swapped), m, v))
    assert refused(lambda p, g, m, v: (p, g, m.astype(swapped), v))
    p, g, G, _ = [rng.standard_normal((3, 4)).astype(dtype) for _ in range(4)]
    assert not u.sgd(p, g, None, 0.1, 0.9, False, 0.0)  # momentum without v
    assert not u.sgd(p, g, G, 0.1, 0.0, False, 0.0)  # v without momentum
    assert not u.adagrad(p, g, None, 0.1, 1e-8)
    assert not u.adagrad(p, g, G[:, ::2], 0.1, 1e-8)
    assert u.sumsq([1.0, 2.0]) is None  # not an ndarray
    assert u.sumsq(np.arange(4.0)[::2]) is None  # strided
    assert u.sumsq(np.arange(4, dtype=np.int32)) is None
    assert u.sumsq(np.arange(4, dtype=swapped)) is None
    assert not u.clip(np.arange(4, dtype=swapped), 1.0)


@needs_update
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 1001])
def test_sumsq_matches_exact_sum(n, dtype):
    """float64 squares (exact for float32 values) summed: within a few float64
    roundings of the exactly rounded sum, for lengths around the eight
    running sums, in C and Fortran order."""
    x = np.random.default_rng(n).standard_normal(n).astype(dtype)
    exact = math.fsum(float(v) * float(v) for v in x.astype(np.float64))
    assert optim._cupdate.sumsq(x) == pytest.approx(exact, rel=1e-15 * max(n, 1), abs=0)
    if n >= 8:
        X = np.asfortranarray(x[: n - n % 4].reshape(4, -1))
        exact = math.fsum(float(v) ** 2 for v in X.ravel().astype(np.float64))
        assert optim._cupdate.sumsq(X) == pytest.approx(exact, rel=1e-15 * n, abs=0)


@needs_update
def test_global_norm_same_with_and_without_the_compiled_sums(monkeypatch):
    """global_norm by the compiled sums and by the NumPy path agree to float64
    rounding, float32 and float64, extreme float64 magnitudes included (the
    compiled sum overflows, and the NumPy path rescales)."""
    rng = np.random.default_rng(3)
    cases = [{"a": rng.standard_normal((5, 7)).astype(np.float32),
              "b": np.asfortranarray(rng.standard_normal((6, 3)).astype(np.float32))},
             {"a": rng.standard_normal(100), "b": rng.standard_normal((3, 3))},
             {"a": np.array([1e200, -1e200, 1e200]), "b": np.array([1e-200])},
             {"a": np.array([3e-200, 4e-200])}]
    fast = [optim.global_norm(g) for g in cases]
    monkeypatch.setattr(optim, "_cupdate", None)
    slow = [optim.global_norm(g) for g in cases]
    for f, s in zip(fast, slow):
        assert f == pytest.approx(s, rel=1e-14)


@needs_update
@pytest.mark.parametrize("dtype", DTYPES)
def test_compiled_clip_by_value_equals_np_clip(dtype):
    """The compiled clip gives np.clip's values bit for bit: NaN kept, +-inf
    and values beyond the bound clipped, -0.0 kept, the bound rounded to the
    dtype (5.3 is not a float32); strided arrays go to np.clip."""
    rng = np.random.default_rng(4)
    x = (rng.standard_normal(40) * 8).astype(dtype)
    x[:6] = [np.nan, np.inf, -np.inf, -0.0, 5.3, -5.3]
    grads = {"a": x.copy(), "b": np.asfortranarray(x[:36].reshape(6, 6)),
             "c": np.repeat(x, 2)[::2]}
    assert not grads["c"].flags.c_contiguous
    want = {k: np.clip(g, -g.dtype.type(5.3), g.dtype.type(5.3)) for k, g in grads.items()}
    clip_by_value(grads, 5.3)
    for k in grads:
        np.testing.assert_array_equal(grads[k], want[k], err_msg=k)
        assert np.array_equal(np.signbit(grads[k]), np.signbit(want[k]))
    assert optim._cupdate.clip(np.zeros(3, dtype), 1.0)
    ro = np.zeros(3, dtype)
    ro.flags.writeable = False
    assert not optim._cupdate.clip(ro, 1.0)
    with pytest.raises(ValueError):
        clip_by_value({"w": ro}, 1.0)  # np.clip's own error for a read-only array


@needs_update
@pytest.mark.parametrize("dtype", DTYPES)
def test_compiled_scale_equals_np_multiply(dtype, monkeypatch):
    """optim._scale (fit's mean over tokens) and clip_by_global_norm's
    rescaling by the compiled loop give np.multiply's values bit for bit:
    special values, the factor rounded to the dtype (0.1 is not a float32),
    C, Fortran and strided arrays (the last by np.multiply); and the loop is
    what ran."""
    import warnings

    info = np.finfo(dtype)
    rng = np.random.default_rng(5)
    x = (rng.standard_normal(50) * 8).astype(dtype)
    x[:8] = [np.nan, np.inf, -np.inf, -0.0, 0.0, info.max, info.tiny, -info.tiny / 4]
    arrays = [x.copy(), np.asfortranarray(x[:48].reshape(6, 8)), np.repeat(x, 2)[::2],
              x[:0].copy()]
    taken = []
    real = optim._cupdate.scale
    monkeypatch.setattr(optim._cupdate, "scale", lambda *a: taken.append(real(*a)) or taken[-1])
    for s in (0.1, 1 / 25, 3.0, 1e-30):
        got = [a.copy(order="K") if a.flags.forc else np.repeat(a, 2)[::2] for a in arrays]
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            want = [np.multiply(a, a.dtype.type(s)) for a in arrays]
            optim._scale(got, s)
        for g, w in zip(got, want):
            assert np.array_equal(g, w, equal_nan=True), s
            assert np.array_equal(np.signbit(g), np.signbit(w)), s   # -0.0 too
    assert taken == [True, True, False, True] * 4   # the strided one by np.multiply
    monkeypatch.undo()
    assert optim._cupdate.scale(np.ones(3, dtype), 0.5)
    assert not optim._cupdate.scale(np.ones(6, dtype)[::2], 0.5)
    ro = np.ones(3, dtype)
    ro.flags.writeable = False
    assert not optim._cupdate.scale(ro, 0.5)
    assert not optim._cupdate.scale(np.ones(3, np.float16), 0.5)
    assert not optim._cupdate.scale(np.ones(3, np.dtype(dtype).newbyteorder()), 0.5)
    # clip_by_global_norm's rescaling: the same with the loop as without it
    g = {"a": (rng.standard_normal((7, 5)) * 10).astype(dtype),
         "b": np.asfortranarray((rng.standard_normal((4, 3)) * 10).astype(dtype))}
    h = {k: v.copy(order="K") for k, v in g.items()}
    calls = []
    monkeypatch.setattr(optim._cupdate, "scale", lambda *a: calls.append(1) or real(*a))
    norm = clip_by_global_norm(g, 1.0)
    assert norm > 1.0 and len(calls) == 2
    monkeypatch.setattr(optim._cupdate, "scale", lambda *a: False)   # np.multiply
    assert clip_by_global_norm(h, 1.0) == norm
    for k in g:
        np.testing.assert_array_equal(g[k], h[k], err_msg=k)


@needs_update
@pytest.mark.parametrize("how", ["raise", "warn", "ignore"])
def test_compiled_scale_reports_floating_point_errors(how):
    """Overflow, underflow and invalid (inf * 0) in the scaling go through
    np.errstate as np.multiply's do; and the factor's rounding to float32."""
    import warnings

    def run(compiled, arr, s):
        a = arr.copy()
        with warnings.catch_warnings(record=True) as records, np.errstate(all=how):
            warnings.simplefilter("always")
            try:
                if compiled:
                    assert optim._cupdate.scale(a, s)
                else:
                    np.multiply(a, a.dtype.type(s), out=a)
            except FloatingPointError:
                return "raised", set()
        return "ok", _fp_kinds(records)

    info = np.finfo(np.float32)
    cases = [(np.float32([info.max, 1.0]), 4.0), (np.float32([info.tiny, 1.0]), 1e-3),
             (np.float32([np.inf, 1.0]), 0.0), (np.float32([1.0, 2.0]), 0.5),
             (np.float32([1.0, 2.0]), 1e39), (np.array([1e300, 1.0]), 1e10)]
    for arr, s in cases:
        fast, slow = run(True, arr, s), run(False, arr, s)
        assert fast[0] == slow[0], (arr, s)
        assert fast[1] == slow[1], (arr, s, fast, slow)
        if how == "raise" and not (arr[0] == 1.0 and s == 0.5):
            assert fast[0] == "raised", (arr, s)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kwargs", ALL_CONFIGS[1:2] + ALL_CONFIGS[-2:], ids=str)
def test_byte_swapped_arrays_give_the_native_results(name, kwargs, dtype):
    """Arrays in the other byte order (e.g. loaded from a big-endian file):
    updates, norms and clipping give the values of native arrays (the
    compiled loops leave them to the ufuncs)."""
    swapped = np.dtype(dtype).newbyteorder()
    pa, pb = make_params(dtype, seed=2), make_params(dtype, seed=2)
    pb = {k: v.astype(swapped, order="K") for k, v in pb.items()}
    oa = make_optimizer(name, pa, **kwargs)
    ob = make_optimizer(name, pb, **kwargs)
    for step in range(3):
        g = make_grads(pa, seed=step)
        gb = {k: v.astype(swapped, order="K") for k, v in g.items()}
        assert optim.global_norm(gb) == pytest.approx(optim.global_norm(g), rel=1e-12)
        oa.step(g)
        ob.step(gb)
    for k in pa:
        np.testing.assert_array_equal(pb[k].astype(dtype), pa[k], err_msg=k)
    x = np.array([-7.0, 0.5, 12.0], dtype=swapped)
    clip_by_value({"x": x}, 5.0)
    np.testing.assert_array_equal(x, np.array([-5.0, 0.5, 5.0], dtype=dtype))


def _fp_kinds(records):
    """The kinds of floating-point error named by RuntimeWarnings."""
    kinds = set()
    for w in records:
        msg = str(w.message)  # "<kind> encountered in <the ufunc or loop>"
        for kind, start in (("overflow", "overflow"), ("underflow", "underflow"),
                            ("invalid", "invalid value"), ("divide", "divide by zero")):
            if msg.startswith(start + " encountered in "):
                kinds.add(kind)
    return kinds


def _troubled(dtype, scenario, seed):
    """Parameters and gradients whose update raises the scenario's flag."""
    info = np.finfo(dtype)
    p = make_params(dtype, seed=seed)
    g = make_grads(p, seed=seed)
    if scenario == "overflow":
        g["Waa"][0, 0] = np.sqrt(info.max) * 4  # its square overflows
        p["ba"][0], g["ba"][0] = -info.max, info.max  # p - lr * g, momentum's sums
    elif scenario == "invalid":
        p["Waa"][1, 1] = g["Waa"][1, 1] = np.inf  # inf - inf, inf / inf
    elif scenario == "underflow":
        g["by"][:] = info.tiny * 4  # lr * g, (1 - b1) * g: subnormal
    return p, g


@needs_update
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scenario", ["clean", "overflow", "invalid", "underflow"])
@pytest.mark.parametrize("name, kwargs", ALL_CONFIGS, ids=str)
def test_compiled_loops_report_floating_point_errors_as_the_ufuncs_do(name, kwargs, scenario,
                                                                      dtype):
    """NumPy's error state applies to the compiled loops as to the ufunc
    calls: with errstate(all="raise") both raise FloatingPointError or
    neither does; with "warn" both warn of the same kinds of error (the
    ufuncs name themselves, the loops the optimizer); with "ignore" neither
    warns and the values agree."""
    import warnings

    def run(compiled, how):
        p, g = _troubled(dtype, scenario, seed=7)
        opt = make_optimizer(name, p, **kwargs)
        opt._compiled = compiled
        with warnings.catch_warnings(record=True) as records, np.errstate(all=how):
            warnings.simplefilter("always")
            try:
                opt.step(g)
            except FloatingPointError:
                return "raised", records, p
        return "ok", records, p

    fast, slow = run(True, "raise"), run(False, "raise")
    assert fast[0] == slow[0]
    fast, slow = run(True, "warn"), run(False, "warn")
    assert _fp_kinds(fast[1]) == _fp_kinds(slow[1])
    if scenario == "clean" or (name, kwargs) in ALL_CONFIGS[:1] + ALL_CONFIGS[-2:-1]:
        # plain SGD and Adam meet every scenario's error, and no other
        assert _fp_kinds(fast[1]) == ({scenario} - {"clean"}), _fp_kinds(fast[1])
    fast, slow = run(True, "ignore"), run(False, "ignore")
    assert not fast[1] and not slow[1]
    for k in fast[2]:
        np.testing.assert_array_equal(fast[2][k], slow[2][k], err_msg=k)


@needs_update
@pytest.mark.parametrize("how", ["raise", "warn"])
def test_float32_roundings_of_the_scalars_report_overflow(how):
    """A learning rate or clipping bound beyond float32's range overflows in
    its rounding to float32 on both paths (optim's dt(lr), dt(c))."""
    import warnings

    for compiled in (True, False):
        p = make_params(np.float32, seed=1)
        opt = SGD(p, lr=1e39)
        opt._compiled = compiled
        g = make_grads(p, seed=1)
        with warnings.catch_warnings(record=True) as records, np.errstate(all=how):
            warnings.simplefilter("always")
            if how == "raise":
                with pytest.raises(FloatingPointError, match="overflow"):
                    opt.step(g)
                with pytest.raises(FloatingPointError, match="overflow"):
                    clip_by_value({"w": np.ones(3, np.float32)}, 1e39)
            else:
                opt.step(g)
                assert "overflow" in _fp_kinds(records)


@needs_update
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, kwargs", ALL_CONFIGS, ids=str)
def test_compiled_steps_equal_ufunc_steps_on_special_values(name, kwargs, dtype):
    """Zeros of both signs, subnormals, values near the overflow threshold,
    infinities and NaNs in the parameters and gradients: the two paths agree
    bit for bit (the sign of zero included) wherever the result is not NaN,
    and on where it is NaN (which NaN an operation passes on may differ)."""
    import warnings

    info = np.finfo(dtype)
    special = np.array([0.0, -0.0, info.tiny / 4, -info.tiny / 4, info.tiny, info.max,
                        -info.max, np.inf, -np.inf, np.nan, 1.0, -2.5], dtype=dtype)
    rng = np.random.default_rng(11)
    pa, pb, fast, slow = _twins(name, kwargs, dtype, seed=11)
    uint = np.uint32 if dtype == np.float32 else np.uint64
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for step in range(3):
            g = make_grads(pa, seed=step)
            for k in ("Waa", "Wax", "by"):
                idx = rng.choice(g[k].size, size=min(g[k].size, special.size),
                                 replace=False)
                g[k].flat[idx] = rng.permutation(special)[: idx.size]
                if step == 0:  # the parameters too, once
                    for p in (pa, pb):
                        p[k].flat[idx] = special[: idx.size]
            fast.step(g)
            slow.step(g)
    for k in pa:
        a, b = pa[k], pb[k]
        assert np.array_equal(np.isnan(a), np.isnan(b)), k
        ok = ~np.isnan(a)
        np.testing.assert_array_equal(a[ok].view(uint), b[ok].view(uint), err_msg=k)


@needs_update
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_compiled_steps_equal_ufunc_steps_random_arrays(data):
    """Random shapes (0-d to 3-d, empty ones included), memory orders,
    dtypes, configurations and values (zeros of both signs, subnormals,
    infinities, NaNs): every parameter and state element equal, bit for bit
    away from NaNs; NaN where the ufuncs give NaN."""
    import warnings

    dtype = data.draw(st.sampled_from(DTYPES))
    name, kwargs = data.draw(st.sampled_from(ALL_CONFIGS))
    shape = tuple(data.draw(st.lists(st.integers(0, 5), max_size=3)))
    order = data.draw(st.sampled_from("CF"))
    n = int(np.prod(shape))
    width = 32 if dtype == np.float32 else 64
    # mostly ordinary values (where a changed rounding shows), some special
    values = st.one_of(st.floats(-10, 10, width=width),
                       st.floats(-10, 10, width=width),
                       st.floats(width=width, allow_nan=True, allow_infinity=True,
                                 allow_subnormal=True))

    def array():
        return np.array(data.draw(st.lists(values, min_size=n, max_size=n)),
                        dtype=dtype).reshape(shape, order=order)

    p0 = array()
    pa, pb = {"w": p0.copy(order="K")}, {"w": p0.copy(order="K")}
    fast, slow = make_optimizer(name, pa, **kwargs), make_optimizer(name, pb, **kwargs)
    slow._compiled = False
    uint = np.uint32 if dtype == np.float32 else np.uint64
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for _ in range(3):
            g = {"w": array()}
            fast.step(g)
            slow.step(g)
    for a, b in [(pa["w"], pb["w"])] + [
            (fast.state_dict()[k], slow.state_dict()[k]) for k in fast.state_dict()
            if "." in k]:
        assert np.array_equal(np.isnan(a), np.isnan(b))
        ok = ~np.isnan(a)
        assert np.array_equal(a[ok].view(uint), b[ok].view(uint))
