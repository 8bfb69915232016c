"""Numerical policy of the kernels: non-finite values, extreme logits, long sequences.

* NaN (or Inf) in the parameters, dense inputs or a0 is data, not an error: it
  propagates as NaN through the outputs (never a crash, never an exception),
  exactly where the NumPy reference puts it.  Padding never contributes.
* Logits of +-1000 (float64) and +-90 (float32) give a finite loss and
  gradient: the softmax and the cross-entropy are computed as exp(z - max z).
* Exploding gradients stay finite, and clip_by_global_norm rescales them
  without turning them.
* On contractive weights float32 follows float64 over T = 200 steps.
"""
import warnings

import numpy as np
import pytest

import fastrnn
from fastrnn import reference
from fastrnn.optim import clip_by_global_norm, global_norm

from problems import make_problem

DTYPES = [np.float64, np.float32]
KEYS = ("Wax", "Waa", "ba", "Wya", "by")


def up(p):
    return {k: np.asarray(v, dtype=np.float64) for k, v in p.items()}


def outputs(f, p, X, Y, a0, lengths):
    """Every array of loss_and_grads and forward, by name."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the reference's inf - inf
        if f is reference:
            p = up(p)
            X = X.astype(np.float64) if X.dtype.kind == "f" else X
            a0 = None if a0 is None else np.asarray(a0, dtype=np.float64)
        loss, grads, a_last = f.loss_and_grads(p, X, Y, a0, lengths)
        probs, A = f.forward(p, X, a0, lengths)
    out = {"loss": np.array(loss), "a_last": a_last, "probs": probs, "A": A}
    out.update({f"d{k}": g for k, g in grads.items()})
    return out


def poison(p, X, key, value, rng):
    """Put `value` into one element of params[key] that the batch reads."""
    if key == "Wax" and X.dtype.kind != "f":
        p[key][rng.integers(p[key].shape[0]), X[0, 0]] = value  # a column x<1> selects
    else:
        p[key].flat[rng.integers(p[key].size)] = value


# ---------------------------------------------------------------- NaN / Inf

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["steps", "dense", "a0_shared", "many_to_one"])
@pytest.mark.parametrize("key", KEYS)
def test_nan_in_a_parameter_propagates(key, mode, dtype):
    p, X, Y, a0, lengths = make_problem(mode, dtype=dtype, seed=5)
    poison(p, X, key, np.nan, np.random.default_rng(5))
    out = outputs(fastrnn, p, X, Y, a0, lengths)
    assert np.isnan(out["loss"])
    assert np.isnan(out["probs"]).any()
    assert any(np.isnan(out[f"d{k}"]).any() for k in KEYS)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("where", ["dense", "a0"])
def test_nan_in_an_input_propagates(where, dtype):
    p, X, Y, a0, lengths = make_problem("all", dtype=dtype, seed=7)
    if where == "dense":
        X[0, 0, 1] = np.nan  # sequence 0 is full length: a counted step
    else:
        a0[1, 0] = np.nan
    out = outputs(fastrnn, p, X, Y, a0, lengths)
    assert np.isnan(out["loss"])
    b = 0 if where == "dense" else 1
    assert np.isnan(out["probs"][b, 0]).all() and np.isnan(out["A"][b, 0]).any()
    # the other sequences do not see it in the forward pass
    others = [i for i in range(X.shape[0]) if i != b]
    assert np.isfinite(out["probs"][others]).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["steps", "dense", "a0", "ignore"])
@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_parameters_match_the_reference(value, key, mode, dtype):
    """Where non-finite values come out (and the finite values around them) is
    the reference's answer: the kernels add none of their own and lose none.
    In float64 the kinds (NaN, +inf, -inf) agree too.  In float32 they may
    not: the kernels' expf gives exp(-inf) = 1e-38, not 0 (see _rowops.h), so
    a -inf logit has probability 1e-38 and 1e-38 * -inf = -inf reaches dWax
    where the reference has 0 * -inf = NaN.
    (Modes without padding: see test_padding_never_contributes_non_finite.)"""
    p, X, Y, a0, lengths = make_problem(mode, dtype=dtype, seed=9)
    poison(p, X, key, value, np.random.default_rng(9))
    got = outputs(fastrnn, p, X, Y, a0, lengths)
    want = outputs(reference, p, X, Y, a0, lengths)
    tol = 1e-9 if dtype == np.float64 else 1e-3
    for name in want:
        g, w = got[name].astype(np.float64), want[name]
        np.testing.assert_array_equal(np.isfinite(g), np.isfinite(w), err_msg=name)
        if dtype == np.float64:
            np.testing.assert_array_equal(np.isnan(g), np.isnan(w), err_msg=name)
            np.testing.assert_array_equal(np.isposinf(g), np.isposinf(w), err_msg=name)
        finite = np.isfinite(w)
        np.testing.assert_allclose(g[finite], w[finite], rtol=tol, atol=tol, err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs_in_padding_change_nothing(value, dtype):
    p, X, Y, a0, lengths = make_problem("all", B=4, T=6, dtype=dtype, seed=11)
    base = outputs(fastrnn, p, X, Y, a0, lengths)
    Xp = X.copy()
    for b, n in enumerate(lengths):
        Xp[b, n:] = value
    out = outputs(fastrnn, p, Xp, Y, a0, lengths)
    for name in base:
        np.testing.assert_array_equal(out[name], base[name], err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("key,value", [
    ("Wax", np.inf), ("Wax", -np.inf), ("ba", np.inf), ("Wya", np.inf),
    # regression: dnext = dz @ Waa over padded rows (dz = 0) was 0 * inf = NaN
    # and reached the sequence's last real step
    ("Waa", np.inf),
])
def test_padding_never_contributes_non_finite(key, value, dtype):
    """A padded batch gives the sum of its sequences run one by one, trimmed to
    their lengths, even where 0 * Inf = NaN would appear at a padded step."""
    p, X, Y, a0, lengths = make_problem("all", B=4, T=6, dtype=dtype, seed=13)
    p[key].flat[0] = value
    loss, grads, a_last = fastrnn.loss_and_grads(p, X, Y, a0, lengths)
    parts = [fastrnn.loss_and_grads(p, X[b:b + 1, :n], Y[b:b + 1, :n], a0[b:b + 1])
             for b, n in enumerate(lengths)]
    tol = 1e-10 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(loss, sum(q[0] for q in parts), rtol=tol)
    for k in KEYS:
        total = sum(q[1][k].astype(np.float64) for q in parts)
        np.testing.assert_array_equal(np.isfinite(grads[k]), np.isfinite(total), err_msg=k)
        np.testing.assert_allclose(grads[k], total, rtol=tol, atol=tol, err_msg=k)
    np.testing.assert_allclose(grads["a0"], np.concatenate([q[1]["a0"] for q in parts]),
                               rtol=tol, atol=tol)
    np.testing.assert_allclose(a_last, np.concatenate([q[2] for q in parts]), rtol=tol,
                               atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("B", [1, 2])
def test_a_non_finite_last_state_before_padding_adds_nothing(B, dtype):
    # one step, its state NaN in one unit (Waa[7, 8] * a<0> = NaN * 0), its
    # target ignored, then padding: the first padded step's dz (zero) met
    # that state in dWaa's product, and 0 * NaN put NaN in a column the
    # reference (and the sequence alone) leaves finite
    p = fastrnn.init_params(5, 10, dtype=dtype, seed=0)
    p["Waa"][7, 8] = np.nan
    X = np.array([[1, 2, 3, 4], [0, 1, 2, 3]])[:B]
    Y = np.array([[-1, 0, 1, 1], [-1, 2, 2, 0]])[:B]
    lengths = [1] * B
    loss, grads, _ = fastrnn.loss_and_grads(p, X, Y, lengths=lengths)
    parts = [fastrnn.loss_and_grads(p, X[b:b + 1, :n], Y[b:b + 1, :n])
             for b, n in enumerate(lengths)]
    ref = reference.loss_and_grads(up(p), X, Y, lengths=lengths)
    for k in KEYS:
        total = sum(q[1][k].astype(np.float64) for q in parts)
        np.testing.assert_array_equal(np.isnan(grads[k]), np.isnan(total), err_msg=k)
        np.testing.assert_array_equal(np.isnan(grads[k]), np.isnan(ref[1][k]), err_msg=k)
    assert not np.isnan(grads["Waa"]).all()

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_sample_with_non_finite_parameters_stays_in_range(key, value, dtype):
    sampling = pytest.importorskip("fastrnn.sampling")
    p = fastrnn.init_params(6, 4, dtype=dtype, seed=3)
    p[key].flat[0] = value
    for top_k in (None, 3):
        ids = sampling.sample(p, 30, prime=[1, 2], top_k=top_k, seed=0)
        assert len(ids) == 30 and ((ids >= 0) & (ids < 6)).all()


# ---------------------------------------------------------------- extreme logits

#: The largest logit magnitude each dtype must handle: exp(90) overflows float32
#: (max 3.4e38) and exp(1000) float64, so only exp(z - max z) survives.
BIG = {np.float64: 1000.0, np.float32: 90.0}


def big_logit_params(dtype, L):
    """H = 2, O = 4: a<t> = tanh(ba) = (1, -1) at every step (Wax = Waa = 0,
    tanh(30) rounds to 1), so the logits Wya a + by are
    (L, -L, 0, L) with L split between Wya a and by."""
    p = {"Wax": np.zeros((2, 3)), "Waa": np.zeros((2, 2)), "ba": np.array([30.0, -30.0]),
         "Wya": np.array([[L / 4, -L / 4], [-L / 4, L / 4], [0, 0], [L / 2, 0]]),
         "by": np.array([L / 2, -L / 2, 0.0, L / 2])}
    return {k: v.astype(dtype) for k, v in p.items()}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sign", [1, -1])
def test_huge_logits_give_a_finite_loss_and_gradient(sign, dtype):
    L = sign * BIG[dtype]
    p = big_logit_params(dtype, L)
    X = np.array([[0, 1, 2, 0], [2, 2, 1, 0]])
    Y = np.array([[0, 1, 2, 3], [1, 1, -1, 0]])
    z = np.array([L, -L, 0.0, L])
    lse = z.max() + np.log(np.exp(z - z.max()).sum())     # computed safely in float64
    expected = sum(lse - z[y] for y in Y.ravel() if y >= 0)
    loss, grads, a_last = fastrnn.loss_and_grads(p, X, Y)
    assert np.isfinite(loss)
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(loss, expected, rtol=rtol)
    for k, g in grads.items():
        assert np.isfinite(g).all(), k
    # dby = sum over counted steps of softmax(z) - onehot(y)
    prob = np.exp(z - lse)
    dby = sum(prob - np.eye(4)[y] for y in Y.ravel() if y >= 0)
    np.testing.assert_allclose(grads["by"], dby, rtol=rtol, atol=rtol)
    rloss, rgrads, _ = reference.loss_and_grads(up(p), X, Y)
    np.testing.assert_allclose(loss, rloss, rtol=rtol)
    for k in grads:
        np.testing.assert_allclose(grads[k], rgrads[k], rtol=rtol, atol=rtol * abs(L), err_msg=k)
    probs, A = fastrnn.forward(p, X)
    assert np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(-1), 1, rtol=rtol)
    np.testing.assert_allclose(probs[0, 0], prob, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_equal_huge_logits_are_uniform(dtype):
    L = BIG[dtype]
    p = big_logit_params(dtype, L)
    p["Wya"][:] = 0
    p["by"][:] = L                      # every logit L: log-softmax = -log 4
    loss, grads, _ = fastrnn.loss_and_grads(p, np.zeros((1, 3), int), np.array([[0, 1, 3]]))
    np.testing.assert_allclose(loss, 3 * np.log(4), rtol=1e-6)
    assert all(np.isfinite(g).all() for g in grads.values())



@pytest.mark.parametrize("impl", ["kernel", "reference"])
@pytest.mark.parametrize("dtype, L", [(np.float64, 1e16), (np.float64, -3e17),
                                      (np.float32, 1e4), (np.float32, -6e5)])
def test_logits_far_from_zero_keep_their_log(impl, dtype, L):
    # the cross-entropy as (max - z[y]) + log(sum): with max + log(sum) first,
    # the log (here log 4) was rounded away next to logits of 1e16 (float64
    # loss 0.0) and lost ~1e-3 next to float32 logits of 1e4
    p = big_logit_params(dtype, L)
    p["Wya"][:] = 0
    p["by"][:] = L
    X, Y = np.zeros((1, 3), int), np.array([[0, 1, 3]])
    f = (fastrnn if impl == "kernel" else reference)
    loss = f.loss_and_grads(p, X, Y)[0]
    np.testing.assert_allclose(loss, 3 * np.log(4), rtol=1e-12 if dtype == np.float64 else 1e-6)
    np.testing.assert_allclose(f.forward(p, X)[0], 0.25, rtol=1e-6)

# ---------------------------------------------------------------- long sequences

def orthogonal(H, seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(H, H)))
    return q * np.sign(np.diag(r))


@pytest.mark.parametrize("dtype", DTYPES)
def test_exploding_gradients_are_clipped_without_turning(dtype):
    """Waa = 1.4 Q (Q orthogonal) at the fixed point a = 0 (zero inputs, a0 and
    ba), where tanh' = 1: dL/da<t> grows as 1.4**(T - t), about 1e29 at T = 200,
    large but finite in float32 too."""
    V, H, B, T = 5, 8, 2, 200
    rng = np.random.default_rng(0)
    p = {"Wax": np.zeros((H, V)), "Waa": 1.4 * orthogonal(H, 0), "ba": np.zeros(H),
         "Wya": rng.normal(size=(V, H)), "by": rng.normal(size=V)}
    p = {k: v.astype(dtype) for k, v in p.items()}
    X = rng.integers(0, V, size=(B, T))
    Y = rng.integers(0, V, size=(B, T))
    loss, grads, _ = fastrnn.loss_and_grads(p, X, Y)
    assert np.isfinite(loss)
    assert all(np.isfinite(g).all() for g in grads.values())
    norm = global_norm(grads)
    assert 1e20 < norm < 1e35, norm   # exploded, still finite
    # the exploded numbers are still the right ones
    rloss, rgrads, _ = reference.loss_and_grads(up(p), X, Y)
    tol = 1e-9 if dtype == np.float64 else 1e-3
    for k in grads:
        rel = np.linalg.norm(grads[k] - rgrads[k]) / max(np.linalg.norm(rgrads[k]), 1e-300)
        assert rel <= tol, (k, rel)

    before = {k: g.astype(np.float64) for k, g in grads.items()}
    assert clip_by_global_norm(grads, 5.0) == norm
    after = {k: g.astype(np.float64) for k, g in grads.items()}
    assert all(np.isfinite(g).all() for g in after.values())
    np.testing.assert_allclose(global_norm(grads), 5.0, rtol=1e-6)
    # direction unchanged: after = before * (5 / norm), the same factor everywhere
    u = np.concatenate([g.ravel() for g in before.values()])
    v = np.concatenate([g.ravel() for g in after.values()])
    cos = u @ v / (np.linalg.norm(u) * np.linalg.norm(v))
    np.testing.assert_allclose(cos, 1.0, rtol=1e-7)
    for k in before:
        np.testing.assert_allclose(after[k], before[k] * (5.0 / norm),
                                   rtol=1e-6 if dtype == np.float32 else 1e-14,
                                   atol=1e-30, err_msg=k)
    # and the step it feeds stays finite
    stepped = {k: p[k] - dtype(0.1) * grads[k] for k in p}
    loss2, grads2, _ = fastrnn.loss_and_grads(stepped, X, Y)
    assert np.isfinite(loss2)


def test_contractive_float32_follows_float64_over_200_steps():
    """||Waa|| = 0.5: errors are forgotten, not amplified, so float32 stays
    within 1e-4 of float64 over T = 200 (same numbers: float32 params upcast)."""
    V, H, B, T = 20, 16, 3, 200
    rng = np.random.default_rng(1)
    p32 = fastrnn.init_params(V, H, dtype=np.float32, seed=1)
    p32["Waa"] = (0.5 * orthogonal(H, 1)).astype(np.float32)
    p32["Wax"] = rng.normal(0, 1, (H, V)).astype(np.float32)
    p32["ba"] = rng.normal(0, 0.3, H).astype(np.float32)
    p32["by"] = rng.normal(0, 0.3, V).astype(np.float32)
    p64 = up(p32)
    X = rng.integers(0, V, size=(B, T))
    Y = rng.integers(0, V, size=(B, T))
    lengths = np.array([T, T - 37, 1])
    l32, g32, a32 = fastrnn.loss_and_grads(p32, X, Y, lengths=lengths)
    l64, g64, a64 = fastrnn.loss_and_grads(p64, X, Y, lengths=lengths)
    assert abs(l32 - l64) <= 1e-5 * abs(l64)
    for k in g64:
        rel = np.linalg.norm(g32[k] - g64[k]) / np.linalg.norm(g64[k])
        assert rel <= 1e-4, (k, rel)
    np.testing.assert_allclose(a32, a64, atol=1e-5)
    probs32, A32 = fastrnn.forward(p32, X, lengths=lengths)
    probs64, A64 = fastrnn.forward(p64, X, lengths=lengths)
    np.testing.assert_allclose(probs32, probs64, atol=1e-5)
    np.testing.assert_allclose(A32, A64, atol=1e-5)
