"""fastrnn against the GEMM floor, measured interleaved.

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=src python bench/floor.py [--rounds 15] [size ...]

``bench/table.py`` divides each step's median by the floor computed from the
GEMM rate that ``test_gemm_peak`` measured once in the same run, minutes
apart.  On a machine whose speed drifts by up to 2x within minutes that ratio
moves with the drift.  Here every round times one 1024^3 float32 ``np.matmul``
(the peak) right before each size's training step and forward (``time.
process_time``), so both see the same machine; each row reports the median
over rounds of the per-round ratio time / floor, floor = the step's
matrix-product FLOPs (as in table.py) at that round's GEMM rate.  A small
size's time is that of a block of calls (``peer.CALLS``), so that it is not
one call's start from caches the 12 MB GEMM just flushed.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fastrnn  # noqa: E402
from benchutil import SIZES, problem  # noqa: E402
from peer import CALLS  # noqa: E402
from table import flops  # noqa: E402


def cpu(fn, n=1):
    t = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - t) / n


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sizes", nargs="*", default=["small", "large", "word"])
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    n = 1024
    a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
    c = np.empty((n, n), np.float32)
    gemm = lambda: np.matmul(a, b, out=c)  # noqa: E731
    calls = {}
    for size in args.sizes:
        p, X, Y = problem(size)
        calls[size] = {"loss_and_grads": lambda p=p, X=X, Y=Y: fastrnn.loss_and_grads(p, X, Y),
                       "forward": lambda p=p, X=X: fastrnn.forward(p, X)}
    for fn in [gemm] + [f for d in calls.values() for f in d.values()]:
        fn()  # warm up: workspaces, BLAS buffers
    ratios = {(s, f): [] for s in calls for f in calls[s]}
    rates = []
    for _ in range(args.rounds):
        for size, fns in calls.items():
            for func, fn in fns.items():
                rate = 2 * n ** 3 / cpu(gemm)
                rates.append(rate)
                ratios[size, func].append(cpu(fn, CALLS.get(size, 1))
                                          / (flops(func, size) / rate))
    print(f"# {time.strftime('%Y-%m-%dT%H:%M:%S')}, {args.rounds} rounds, GEMM "
          f"{statistics.median(rates) / 1e9:.1f} GFLOP/s (median; "
          f"{min(rates) / 1e9:.1f}-{max(rates) / 1e9:.1f})\n")
    print("| function | size | (V, H, B, T) | fastrnn / floor, median | range |")
    print("| --- | --- | --- | ---: | --- |")
    for (size, func), r in ratios.items():
        print(f"| {func} | {size} | {SIZES[size]} | {statistics.median(r):.2f}x "
              f"| {min(r):.2f}-{max(r):.2f}x |")


if __name__ == "__main__":
    main()
