"""The training loop around the step: optimizer updates and clipping.

    PYTHONPATH=src python -m pytest bench/bench_optim.py --benchmark-only

At the course's model size (V = 27, H = 50: 8,004 parameters, float32) the
per-parameter NumPy calls of an optimizer step cost more than the training
step itself (18 µs); fastrnn.optim runs them as one compiled pass per
parameter (fastrnn._update).  Each optimizer is timed both ways (``numpy``:
the ufunc calls, ``compiled``: the loops, which give the same bits), and so
are the two clippings.  The gradients are those of a real training step,
averaged over its tokens as ``fit`` does.
"""
import numpy as np
import pytest

import fastrnn
from fastrnn import optim

SIZES = {"course": (27, 50, 25), "small": (65, 128, 64)}


def setup(size, name):
    V, H, T = SIZES[size]
    p = fastrnn.init_params(V, H, seed=0)
    rng = np.random.default_rng(0)
    X, Y = rng.integers(0, V, (1, T)), rng.integers(0, V, (1, T))
    _, grads, _ = fastrnn.loss_and_grads(p, X, Y)
    g = {k: grads[k] / T for k in p}
    g["Wax"] = np.asfortranarray(g["Wax"])  # as loss_and_grads gives it, like Wax
    lr = 1e-6  # the parameters barely move over the benchmark's many steps
    return p, g, optim.make_optimizer(name, p, lr=lr)


@pytest.mark.parametrize("path", ["compiled", "numpy"])
@pytest.mark.parametrize("name", ["adam", "sgd", "adagrad"])
@pytest.mark.parametrize("size", list(SIZES))
def test_optimizer_step(benchmark, size, name, path):
    p, g, opt = setup(size, name)
    opt._compiled = path == "compiled"
    benchmark.group = f"optimizer step, {size} size"
    benchmark(opt.step, g)
    assert opt.step_count > 0


@pytest.mark.parametrize("path", ["compiled", "numpy"])
@pytest.mark.parametrize("how", ["norm", "value"])
def test_clip(benchmark, how, path, monkeypatch):
    p, g, _ = setup("course", "sgd")
    if path == "numpy":
        monkeypatch.setattr(optim, "_cupdate", None)
    benchmark.group = "gradient clipping, course size"
    clip = optim.clip_by_global_norm if how == "norm" else optim.clip_by_value
    benchmark(clip, g, 1e9)  # above the norm: measures the norm, changes nothing
    assert np.isfinite(optim.global_norm(g))
