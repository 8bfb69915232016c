"""Shared sizes and problem factory for the benchmarks."""
import numpy as np
import pytest

import fastrnn

#: (V, H, B, T): the sizes named in the performance issue.
SIZES = {
    "course": (27, 50, 1, 25),
    "small": (65, 128, 32, 64),
    "large": (65, 512, 64, 128),
    "word": (10000, 256, 32, 35),
}


def problem(size, dtype=np.float32, seed=0):
    """Language-model shaped batch: params, X (B, T) ids, Y (B, T) next ids."""
    V, H, B, T = SIZES[size]
    rng = np.random.default_rng(seed)
    p = fastrnn.init_params(V, H, dtype=dtype, seed=seed)
    ids = rng.integers(0, V, size=(B, T + 1))
    return p, ids[:, :-1], ids[:, 1:]


def torch_or_skip():
    return pytest.importorskip("torch")


def run(benchmark, fn, size):
    """Fewer rounds for the slow sizes so a full run stays in minutes."""
    if size in ("large", "word"):
        return benchmark.pedantic(fn, rounds=7, iterations=1, warmup_rounds=1)
    return benchmark(fn)
