"""The reference implementation against central finite differences and hand math."""
import numpy as np
import pytest

import fastrnn
from fastrnn import reference

from problems import MODES, make_problem


def numeric_grad(f, x, eps=1e-6):
    """Central differences of scalar f() with respect to array x (perturbed in place)."""
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        fp = f()
        x[i] = old - eps
        fm = f()
        x[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g


def rel_err(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b), 1e-300)


@pytest.mark.parametrize("mode", MODES)
def test_gradients_match_finite_differences(mode):
    p, X, Y, a0, lengths = make_problem(mode, dtype=np.float64, seed=3)
    if a0 is None:
        a0 = np.zeros((X.shape[0], p["Waa"].shape[0]))
        a0 += np.random.default_rng(9).normal(0, 0.3, a0.shape)
    loss, grads, _ = reference.loss_and_grads(p, X, Y, a0, lengths)
    assert np.isfinite(loss) and loss > 0

    def f():
        return reference.loss_and_grads(p, X, Y, a0, lengths)[0]

    for key in ("Wax", "Waa", "ba", "Wya", "by"):
        p[key] = np.array(p[key], order="C")  # perturbable in place
        num = numeric_grad(f, p[key])
        assert grads[key].shape == p[key].shape
        assert rel_err(grads[key], num) < 1e-6, key
    num = numeric_grad(f, a0)
    assert grads["a0"].shape == a0.shape
    assert rel_err(grads["a0"], num) < 1e-6


def test_dense_gradient_matches_finite_differences_wrt_inputs_is_consistent():
    """Dense inputs: the Wax gradient equals the one of one-hot dense inputs for ids."""
    p, X, Y, a0, lengths = make_problem("lengths", dtype=np.float64, seed=4)
    onehot = np.eye(p["Wax"].shape[1])[X]
    l1, g1, a1 = reference.loss_and_grads(p, X, Y, a0, lengths)
    l2, g2, a2 = reference.loss_and_grads(p, onehot, Y, a0, lengths)
    assert l1 == pytest.approx(l2, rel=1e-12)
    for k in g1:
        np.testing.assert_allclose(g1[k], g2[k], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(a1, a2, rtol=1e-12, atol=1e-14)


def test_two_step_loss_by_hand():
    """I=2, H=1, O=2: every number below is the course's equations worked by hand."""
    p = {"Wax": np.array([[0.5, -1.0]]), "Waa": np.array([[2.0]]), "ba": np.array([0.1]),
         "Wya": np.array([[1.0], [-1.0]]), "by": np.array([0.0, 0.3])}
    X = np.array([[0, 1]])
    Y = np.array([[1, 0]])
    a1 = np.tanh(0.5 + 0.1)                     # a<0> = 0
    a2 = np.tanh(2.0 * a1 - 1.0 + 0.1)
    z1 = np.array([a1, -a1 + 0.3])
    z2 = np.array([a2, -a2 + 0.3])
    expected = -(z1[1] - np.log(np.exp(z1).sum())) - (z2[0] - np.log(np.exp(z2).sum()))
    loss, grads, a_last = reference.loss_and_grads(p, X, Y)
    assert loss == pytest.approx(expected, rel=1e-14)
    assert a_last[0, 0] == pytest.approx(a2, rel=1e-14)
    # fastrnn's public function gives the same number
    assert fastrnn.loss_and_grads(p, X, Y)[0] == pytest.approx(expected, rel=1e-14)
    probs, A = reference.forward(p, X)
    np.testing.assert_allclose(A[0, :, 0], [a1, a2], rtol=1e-14)
    np.testing.assert_allclose(probs[0, 0], np.exp(z1) / np.exp(z1).sum(), rtol=1e-14)


def test_input_term_is_one_hot_product():
    """Wax x<t> for one-hot x<t> is the column gather the reference uses."""
    p, X, _, _, _ = make_problem("steps", seed=5)
    onehot = np.eye(p["Wax"].shape[1])[X]          # (B, T, I)
    probs_ids, A_ids = reference.forward(p, X)
    probs_dense, A_dense = reference.forward(p, onehot)
    np.testing.assert_allclose(A_ids, A_dense, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(probs_ids, probs_dense, rtol=1e-13, atol=1e-15)


def test_padding_is_ignored_and_zero():
    p, X, Y, a0, _ = make_problem("steps", B=2, T=5, seed=6)
    lengths = np.array([5, 2])
    probs, A = reference.forward(p, X, a0, lengths)
    assert not probs[1, 2:].any() and not A[1, 2:].any()
    # the short sequence alone gives the same loss, gradients and last state
    l_pad, g_pad, last_pad = reference.loss_and_grads(p, X[1:], Y[1:], None, [2])
    l_cut, g_cut, last_cut = reference.loss_and_grads(p, X[1:, :2], Y[1:, :2])
    assert l_pad == pytest.approx(l_cut, rel=1e-14)
    for k in g_cut:
        np.testing.assert_allclose(g_pad[k], g_cut[k], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(last_pad, last_cut, rtol=1e-14)
    np.testing.assert_allclose(last_pad[0], A[1, 1], rtol=1e-14)


def test_many_to_one_reads_last_step():
    p, X, _, _, _ = make_problem("steps", B=2, T=5, seed=7)
    lengths = np.array([3, 5])
    y = np.array([2, 4])
    Y_full = np.full((2, 5), -1)
    Y_full[0, 2] = 2
    Y_full[1, 4] = 4
    l1, g1, _ = reference.loss_and_grads(p, X, y, None, lengths)
    l2, g2, _ = reference.loss_and_grads(p, X, Y_full, None, lengths)
    assert l1 == pytest.approx(l2, rel=1e-14)
    for k in g1:
        np.testing.assert_array_equal(g1[k], g2[k])
    probs, _ = reference.forward(p, X, None, lengths)
    assert l1 == pytest.approx(-np.log(probs[0, 2, 2]) - np.log(probs[1, 4, 4]), rel=1e-12)


def _padded_only_inf(mode, dtype):
    """A padded batch whose parameters give inf - inf = NaN at padded steps only.

    The gate replaces padded inputs by id 0 (ids) or zeros (dense).  ids:
    Wax[0, 0] = +inf with ba[0] = -inf, and no real step reads id 0, so a
    real step sees only -inf (tanh = -1) and a padded one inf - inf.  dense:
    Wax[:, 0] = +inf and the real inputs have x[0] = 1, so a real step sees
    +inf (tanh = 1) and a padded one 0 * inf.
    """
    p, X, Y, a0, _ = make_problem("dense" if mode == "dense" else "steps", B=3, T=5,
                                  dtype=dtype, seed=12)
    lengths = np.array([5, 2, 3])
    if mode == "dense":
        X[:, :, 0] = 1
        p["Wax"][:, 0] = np.inf
    else:
        X = 1 + X % (p["Wax"].shape[1] - 1)      # ids in [1, I)
        p["Wax"][0, 0] = np.inf
        p["ba"][0] = -np.inf
    return p, X, Y, lengths


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", ["ids", "dense"])
def test_regression_padded_steps_never_reach_the_reference(mode, dtype):
    """The reference computed padded steps and masked them afterwards, so the
    NaN of inf - inf at a padded step reached dWya through 0 * NaN, while the
    kernels were right.  It now computes only the steps that run."""
    p, X, Y, lengths = _padded_only_inf(mode, dtype)
    # OpenBLAS's sgemm may raise the invalid flag on an inf operand even where
    # the product is a clean inf; what matters is that no NaN comes out
    with np.errstate(invalid="ignore"):
        ref_loss, ref_grads, ref_last = reference.loss_and_grads(p, X, Y, None, lengths)
        ref_probs, ref_A = reference.forward(p, X, None, lengths)
    loss, grads, a_last = fastrnn.loss_and_grads(p, X, Y, None, lengths)
    probs, A = fastrnn.forward(p, X, None, lengths)
    tol = 1e-10 if dtype == np.float64 else 1e-4
    assert np.isfinite(ref_loss)
    np.testing.assert_allclose(loss, ref_loss, rtol=tol)
    for k in ref_grads:
        assert np.isfinite(ref_grads[k]).all(), k
        np.testing.assert_allclose(grads[k], ref_grads[k], rtol=tol, atol=tol, err_msg=k)
    for got, want in ((a_last, ref_last), (probs, ref_probs), (A, ref_A)):
        assert np.isfinite(want).all()
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    # and each sequence alone, trimmed to its length, gives the same sums
    parts = [reference.loss_and_grads(p, X[b:b + 1, :n], Y[b:b + 1, :n])
             for b, n in enumerate(lengths)]
    np.testing.assert_allclose(ref_loss, sum(q[0] for q in parts), rtol=tol)
    for k in ("Wax", "Waa", "ba", "Wya", "by"):
        np.testing.assert_allclose(ref_grads[k], sum(q[1][k] for q in parts), rtol=tol,
                                   atol=tol, err_msg=k)
