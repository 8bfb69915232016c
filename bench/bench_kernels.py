"""loss_and_grads and forward: fastrnn vs fastrnn.reference vs PyTorch CPU.

    pytest bench --benchmark-only --benchmark-group-by=param:size

float32 at the issue's four sizes; PyTorch (nn.RNN with the same weights,
one-hot input through an Embedding of Wax.T, Linear, cross_entropy with
reduction="sum") only where torch is importable.  float64 for fastrnn at the
large size.  ``test_gemm_peak`` measures this machine's GEMM rate in the same
run, so that ``bench/table.py`` can state the floor (the step's matrix-product
FLOPs at that rate) from a measurement rather than a quoted number.
"""
import numpy as np
import pytest

import fastrnn
from fastrnn import reference

from benchutil import SIZES, problem, run, torch_or_skip

SIZE_NAMES = list(SIZES)


@pytest.mark.parametrize("size", SIZE_NAMES)
def test_loss_and_grads_fastrnn(benchmark, size):
    p, X, Y = problem(size)
    benchmark.group = f"loss_and_grads {size}"
    loss = run(benchmark, lambda: fastrnn.loss_and_grads(p, X, Y), size)
    assert np.isfinite(loss[0])


@pytest.mark.parametrize("size", ["small", "large"])
def test_loss_and_grads_fastrnn64(benchmark, size):
    p, X, Y = problem(size, dtype=np.float64)
    benchmark.group = f"loss_and_grads {size}"
    loss = run(benchmark, lambda: fastrnn.loss_and_grads(p, X, Y), size)
    assert np.isfinite(loss[0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gemm_peak(benchmark, dtype):
    """One 1024^3 GEMM through NumPy (the same OpenBLAS as SciPy's here): the
    rate, 2 * 1024^3 / median, is the peak the floor is computed from."""
    rng = np.random.default_rng(0)
    n = 1024
    a, b = (rng.standard_normal((n, n)).astype(dtype) for _ in range(2))
    c = np.empty((n, n), dtype)
    benchmark.group = "gemm peak"
    benchmark.extra_info["flop"] = 2 * n ** 3
    benchmark.pedantic(lambda: np.matmul(a, b, out=c), rounds=15, iterations=1,
                       warmup_rounds=2)
    np.testing.assert_allclose(c[:2, :2], a[:2] @ b[:, :2], rtol=1e-3)


@pytest.mark.parametrize("size", SIZE_NAMES)
def test_loss_and_grads_reference(benchmark, size):
    p, X, Y = problem(size)
    benchmark.group = f"loss_and_grads {size}"
    loss = benchmark.pedantic(lambda: reference.loss_and_grads(p, X, Y),
                              rounds=3 if size in ("large", "word") else 10, iterations=1)
    assert np.isfinite(loss[0])


def torch_model(p):
    torch = torch_or_skip()
    H, V = p["Wax"].shape
    emb = torch.nn.Embedding(V, H)
    rnn = torch.nn.RNN(H, H, batch_first=True, bias=True)
    lin = torch.nn.Linear(H, p["Wya"].shape[0])
    with torch.no_grad():
        emb.weight.copy_(torch.from_numpy(np.ascontiguousarray(p["Wax"].T)))
        rnn.weight_ih_l0.copy_(torch.eye(H))   # x<t> already projected by the Embedding
        rnn.weight_hh_l0.copy_(torch.from_numpy(p["Waa"]))
        rnn.bias_ih_l0.copy_(torch.from_numpy(p["ba"]))
        rnn.bias_hh_l0.zero_()
        lin.weight.copy_(torch.from_numpy(p["Wya"]))
        lin.bias.copy_(torch.from_numpy(p["by"]))
    return torch, emb, rnn, lin


def torch_calls(p, X, Y):
    """(training step, forward) of torch_model(p) on X, Y: the PyTorch peers
    of loss_and_grads (returns the loss) and forward (returns the softmax)."""
    torch, emb, rnn, lin = torch_model(p)
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    mods = (emb, rnn, lin)

    def step():
        for m in mods:
            m.zero_grad(set_to_none=True)
        out, _ = rnn(emb(Xt))
        loss = torch.nn.functional.cross_entropy(
            lin(out).reshape(-1, lin.out_features), Yt.reshape(-1), reduction="sum")
        loss.backward()
        return float(loss.detach())

    def fwd():
        with torch.no_grad():
            out, _ = rnn(emb(Xt))
            return torch.softmax(lin(out), dim=-1)

    return step, fwd


@pytest.mark.parametrize("size", SIZE_NAMES)
def test_loss_and_grads_torch(benchmark, size):
    p, X, Y = problem(size)
    step, _ = torch_calls(p, X, Y)
    benchmark.group = f"loss_and_grads {size}"
    loss = run(benchmark, step, size)
    ref = fastrnn.loss_and_grads(p, X, Y)[0]
    assert loss == pytest.approx(ref, rel=1e-4)


@pytest.mark.parametrize("size", SIZE_NAMES)
def test_forward_fastrnn(benchmark, size):
    p, X, _ = problem(size)
    benchmark.group = f"forward {size}"
    probs, _ = run(benchmark, lambda: fastrnn.forward(p, X), size)
    assert probs.shape[-1] == p["Wya"].shape[0]


@pytest.mark.parametrize("size", SIZE_NAMES)
def test_forward_reference(benchmark, size):
    p, X, _ = problem(size)
    benchmark.group = f"forward {size}"
    probs, _ = benchmark.pedantic(lambda: reference.forward(p, X),
                                  rounds=3 if size in ("large", "word") else 10, iterations=1)
    assert probs.shape[-1] == p["Wya"].shape[0]


@pytest.mark.parametrize("size", SIZE_NAMES)
def test_forward_torch(benchmark, size):
    p, X, Y = problem(size)
    _, fwd = torch_calls(p, X, Y)
    benchmark.group = f"forward {size}"
    probs = run(benchmark, fwd, size)
    np.testing.assert_allclose(probs.numpy(), fastrnn.forward(p, X)[0], atol=1e-4)


@pytest.mark.parametrize("impl", ["fastrnn", "reference"])
def test_generation_step(benchmark, impl):
    """One time step of one sequence (V=65, H=128), as in generation: per-call overhead."""
    p = fastrnn.init_params(65, 128, seed=0)
    x = np.array([[3]])
    a0 = np.zeros((1, 128), np.float32)
    f = fastrnn.forward if impl == "fastrnn" else reference.forward
    benchmark.group = "forward one step (65, 128, 1, 1)"
    probs, _ = benchmark(lambda: f(p, x, a0))
    assert probs.shape == (1, 1, 65)
