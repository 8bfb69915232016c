"""Generation: fastrnn.sampling.sample vs fastrnn.reference.sample vs PyTorch.

    PYTHONPATH=src python -m pytest bench/bench_sample.py --benchmark-only

One sequence of 1000 tokens at V = 65 (I = O = 65), H = 128, float32: the size
of the per-token target (<= 2 µs a token).  Each test stores its best time per
token, in µs, as extra_info["us_per_token"] (in --benchmark-json) and prints it
(shown with -s).  PyTorch (a loop of raw tensor ops, the same inverse-CDF draw)
runs only where torch is importable.
"""
import numpy as np
import pytest

import fastrnn
from fastrnn import reference
from fastrnn.sampling import sample

V, H, LENGTH = 65, 128, 1000


def params(dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    p = fastrnn.init_params(V, H, dtype=dtype, seed=seed)
    p["ba"] = rng.normal(0, 0.1, H).astype(dtype)
    p["by"] = rng.normal(0, 0.5, V).astype(dtype)
    return p


def per_token(benchmark, name):
    if benchmark.stats is None:  # --benchmark-disable: ran once, not timed
        return
    us = benchmark.stats.stats.min / LENGTH * 1e6
    benchmark.extra_info["us_per_token"] = round(us, 4)
    print(f"\n{name}: {us:.3f} µs per token (best of {benchmark.stats.stats.rounds})")


@pytest.mark.parametrize("top_k", [None, 10])
def test_sample_fastrnn(benchmark, top_k):
    p = params()
    benchmark.group = "sample V=65 H=128 float32, 1000 tokens"
    ids = benchmark(lambda: sample(p, LENGTH, top_k=top_k, seed=0))
    assert ids.shape == (LENGTH,)
    per_token(benchmark, f"fastrnn.sampling.sample top_k={top_k}")


def test_sample_fastrnn_float64(benchmark):
    p = params(np.float64)
    benchmark.group = "sample V=65 H=128 float64, 1000 tokens"
    ids = benchmark(lambda: sample(p, LENGTH, seed=0))
    assert ids.shape == (LENGTH,)
    per_token(benchmark, "fastrnn.sampling.sample float64")


def test_sample_reference(benchmark):
    p = params()
    benchmark.group = "sample V=65 H=128 float32, 1000 tokens"
    ids = benchmark.pedantic(lambda: reference.sample(p, LENGTH, seed=0), rounds=5,
                             iterations=1, warmup_rounds=1)
    np.testing.assert_array_equal(ids, sample(p, LENGTH, seed=0))
    per_token(benchmark, "fastrnn.reference.sample")


def test_sample_torch(benchmark):
    torch = pytest.importorskip("torch")
    p = params()
    Waa, ba, Wya, by = (torch.from_numpy(np.ascontiguousarray(p[k]))
                        for k in ("Waa", "ba", "Wya", "by"))
    WaxT = torch.from_numpy(np.ascontiguousarray(p["Wax"].T))

    def run():
        u = np.random.default_rng(0).random(LENGTH)
        ids = []
        with torch.no_grad():
            a = torch.zeros(H)
            for t in range(LENGTH):
                z = torch.mv(Wya, a) + by
                cdf = torch.cumsum(torch.softmax(z.double(), 0), 0)
                # inverse CDF: the number of entries <= u is the first index > u
                k = min(int((cdf <= u[t] * float(cdf[-1])).sum()), V - 1)
                ids.append(k)
                a = torch.tanh(torch.mv(Waa, a) + WaxT[k] + ba)
        return ids

    benchmark.group = "sample V=65 H=128 float32, 1000 tokens"
    ids = benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
    assert len(ids) == LENGTH and all(0 <= k < V for k in ids)
    per_token(benchmark, "torch loop")
