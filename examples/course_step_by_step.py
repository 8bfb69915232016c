"""One forward and one backward pass, the course's way and fastrnn's way.

The course (Sequence Models, week 1, "Building your Recurrent Neural Network
- Step by Step") writes the RNN for column vectors: x<t> is a one-hot
(n_x, 1), a<t> is (n_a, 1), and every step is

    a<t> = tanh(Waa a<t-1> + Wax x<t> + ba)          ŷ<t> = softmax(Wya a<t> + by)

Below are its rnn_cell_forward / rnn_forward / rnn_cell_backward /
rnn_backward written out in NumPy for a single example, with the
cross-entropy loss L = -Σ_t log ŷ<t>[y<t>] on top.  fastrnn computes the
same thing with one call each (fastrnn.forward, fastrnn.loss_and_grads) on
token ids of shape (B, T) = (1, T_x), the one-hot never built.  The script
prints the largest differences and asserts that they are below 1e-10
(float64).

    PYTHONPATH=src python examples/course_step_by_step.py [--text dinosaurus] [--n-a 5]
"""
import argparse

import numpy as np

import fastrnn

TOL = 1e-10


# ---------------------------------------------------------------------------
# the course's functions (column vectors, one example: m = 1)
# ---------------------------------------------------------------------------
def softmax(x):
    e_x = np.exp(x - np.max(x, axis=0, keepdims=True))
    return e_x / e_x.sum(axis=0, keepdims=True)


def rnn_cell_forward(xt, a_prev, parameters):
    """One time step.  xt (n_x, 1), a_prev (n_a, 1) -> a_next (n_a, 1), yt_pred (n_y, 1)."""
    Wax, Waa, Wya = parameters["Wax"], parameters["Waa"], parameters["Wya"]
    ba, by = parameters["ba"], parameters["by"]
    a_next = np.tanh(Waa @ a_prev + Wax @ xt + ba)
    yt_pred = softmax(Wya @ a_next + by)
    cache = (a_next, a_prev, xt, parameters)
    return a_next, yt_pred, cache


def rnn_forward(x, a0, parameters):
    """x (n_x, m, T_x), a0 (n_a, m) -> a (n_a, m, T_x), y_pred (n_y, m, T_x), caches."""
    n_x, m, T_x = x.shape
    n_y, n_a = parameters["Wya"].shape
    a = np.zeros((n_a, m, T_x))
    y_pred = np.zeros((n_y, m, T_x))
    caches = []
    a_next = a0
    for t in range(T_x):
        a_next, yt_pred, cache = rnn_cell_forward(x[:, :, t], a_next, parameters)
        a[:, :, t] = a_next
        y_pred[:, :, t] = yt_pred
        caches.append(cache)
    return a, y_pred, (caches, x)


def rnn_cell_backward(da_next, cache):
    """Gradients through a<t> = tanh(Waa a<t-1> + Wax x<t> + ba), given dL/da<t>."""
    a_next, a_prev, xt, parameters = cache
    Wax, Waa = parameters["Wax"], parameters["Waa"]
    dtanh = (1 - a_next ** 2) * da_next          # dL/dz, z = Waa a<t-1> + Wax x<t> + ba
    dxt = Wax.T @ dtanh
    dWax = dtanh @ xt.T
    da_prev = Waa.T @ dtanh
    dWaa = dtanh @ a_prev.T
    dba = np.sum(dtanh, axis=1, keepdims=True)
    return {"dxt": dxt, "da_prev": da_prev, "dWax": dWax, "dWaa": dWaa, "dba": dba}


def rnn_backward(da, caches):
    """da (n_a, m, T_x): dL/da<t> from the outputs -> gradients of the RNN cell and a0."""
    caches, x = caches
    a1, a0, x1, parameters = caches[0]
    n_a, m, T_x = da.shape
    n_x = x1.shape[0]
    dx = np.zeros((n_x, m, T_x))
    dWax = np.zeros((n_a, n_x))
    dWaa = np.zeros((n_a, n_a))
    dba = np.zeros((n_a, 1))
    da_prevt = np.zeros((n_a, m))
    for t in reversed(range(T_x)):
        g = rnn_cell_backward(da[:, :, t] + da_prevt, caches[t])
        dx[:, :, t] = g["dxt"]
        dWax += g["dWax"]
        dWaa += g["dWaa"]
        dba += g["dba"]
        da_prevt = g["da_prev"]
    return {"dx": dx, "da0": da_prevt, "dWax": dWax, "dWaa": dWaa, "dba": dba}


def output_backward(y_pred, a, Y, parameters):
    """Cross-entropy on softmax outputs: dL/dz<t> = ŷ<t> - y<t> (y one-hot)."""
    n_y, m, T_x = y_pred.shape
    Wya = parameters["Wya"]
    dWya = np.zeros_like(Wya)
    dby = np.zeros((n_y, 1))
    da = np.zeros(a.shape)
    loss = 0.0
    for t in range(T_x):
        y = np.zeros((n_y, m))
        y[Y[t], 0] = 1.0
        loss -= float(np.sum(y * np.log(y_pred[:, :, t])))
        dz = y_pred[:, :, t] - y
        dWya += dz @ a[:, :, t].T
        dby += np.sum(dz, axis=1, keepdims=True)
        da[:, :, t] = Wya.T @ dz
    return loss, {"dWya": dWya, "dby": dby}, da


# ---------------------------------------------------------------------------
def max_diff(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--text", default="dinosaurus",
                    help="characters of one example: x<t> = text[t], y<t> = text[t+1]")
    ap.add_argument("--n-a", type=int, default=5, help="hidden size n_a")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    if len(args.text) < 2:
        ap.error("--text needs at least 2 characters")

    vocab = fastrnn.Vocabulary.from_text(args.text, level="char")
    ids = vocab.encode(args.text)
    X, Y = ids[:-1], ids[1:]
    n_x = n_y = len(vocab)
    n_a, T_x = args.n_a, len(X)

    rng = np.random.default_rng(args.seed)
    # the course's shapes: biases are columns (n_a, 1), (n_y, 1)
    course = {"Wax": rng.normal(0, 0.5, (n_a, n_x)), "Waa": rng.normal(0, 0.5, (n_a, n_a)),
              "Wya": rng.normal(0, 0.5, (n_y, n_a)), "ba": rng.normal(0, 0.5, (n_a, 1)),
              "by": rng.normal(0, 0.5, (n_y, 1))}
    a0 = rng.normal(0, 0.5, (n_a, 1))
    x = np.zeros((n_x, 1, T_x))
    x[X, 0, np.arange(T_x)] = 1.0                       # x<t> one-hot (n_x, 1)

    # --- the course --------------------------------------------------------
    a, y_pred, caches = rnn_forward(x, a0, course)
    loss, out_grads, da = output_backward(y_pred, a, Y, course)
    cell_grads = rnn_backward(da, caches)

    # --- fastrnn: same numbers, batch of one, ids (1, T_x) -------------------
    params = {k: (v.ravel() if k in ("ba", "by") else v) for k, v in course.items()}
    probs, A = fastrnn.forward(params, X[None], a0=a0.ravel())      # (1, T_x, n_y), (1, T_x, n_a)
    f_loss, grads, a_last = fastrnn.loss_and_grads(params, X[None], Y[None], a0=a0.ravel())

    print(f"one example: {args.text!r}, n_x = n_y = {n_x}, n_a = {n_a}, T_x = {T_x}")
    rows = [
        ("y_pred  (n_y, 1, T_x) vs probs (1, T_x, n_y)", y_pred[:, 0, :].T, probs[0]),
        ("a       (n_a, 1, T_x) vs A     (1, T_x, n_a)", a[:, 0, :].T, A[0]),
        ("a<T_x>  (n_a, 1)      vs a_last (1, n_a)", a[:, :, -1].T, a_last),
        ("loss", loss, f_loss),
        ("dWax    (n_a, n_x)", cell_grads["dWax"], grads["Wax"]),
        ("dWaa    (n_a, n_a)", cell_grads["dWaa"], grads["Waa"]),
        ("dba     (n_a, 1)      vs (n_a,)", cell_grads["dba"].ravel(), grads["ba"]),
        ("dWya    (n_y, n_a)", out_grads["dWya"], grads["Wya"]),
        ("dby     (n_y, 1)      vs (n_y,)", out_grads["dby"].ravel(), grads["by"]),
        ("da0     (n_a, 1)      vs (n_a,)", cell_grads["da0"].ravel(), grads["a0"]),
    ]
    print(f"loss = {loss:.12f} (course), {f_loss:.12f} (fastrnn)")
    print("max |course - fastrnn|:")
    worst = 0.0
    for name, ours, theirs in rows:
        d = max_diff(ours, theirs)
        worst = max(worst, d)
        print(f"  {name:<48s} {d:.2e}")
    assert worst < TOL, f"course and fastrnn differ by {worst:.3e} (> {TOL})"
    print(f"all agree to < {TOL:g} (largest difference {worst:.2e})")


if __name__ == "__main__":
    main()
