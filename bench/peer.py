"""fastrnn against PyTorch, measured interleaved.

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 PYTHONPATH=src \
        python bench/peer.py [--rounds 15] [size ...]

``bench/bench_kernels.py`` times fastrnn and PyTorch one after the other,
seconds to minutes apart; on a machine whose speed drifts by up to 2x within
minutes the ratio of two such medians moved from 12x to 34x between runs
(course-size forward).  Here every round times a block of fastrnn calls and
a block of the same call in PyTorch back to back (the order alternating from
round to round), and each row reports the median over
rounds of the per-round ratio PyTorch / fastrnn.  The PyTorch model is
``bench_kernels.py``'s (same weights; needs torch).  ``--timer cpu`` (the
default, ``time.process_time``) for one thread; with several threads the CPU
time adds up every thread's, so use ``--timer wall`` (``time.perf_counter``)
there.
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

#: calls per block, so that a block takes a few milliseconds at least
CALLS = {"course": 200, "small": 5, "large": 1, "word": 1}


TIMERS = {"cpu": time.process_time, "wall": time.perf_counter}


def block(fn, n, timer):
    t = timer()
    for _ in range(n):
        fn()
    return (timer() - t) / n


def pair(size):
    """{function: (fastrnn call, PyTorch call)} for one size."""
    from bench_kernels import torch_calls

    p, X, Y = problem(size)
    torch_step, torch_forward = torch_calls(p, X, Y)
    assert abs(torch_step() / fastrnn.loss_and_grads(p, X, Y)[0] - 1) < 1e-4
    np.testing.assert_allclose(torch_forward().numpy(), fastrnn.forward(p, X)[0],
                               atol=1e-4)
    return {"loss_and_grads": (lambda: fastrnn.loss_and_grads(p, X, Y), torch_step),
            "forward": (lambda: fastrnn.forward(p, X), torch_forward)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sizes", nargs="*", default=list(SIZES))
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--timer", choices=sorted(TIMERS), default="cpu")
    args = ap.parse_args(argv)
    timer = TIMERS[args.timer]
    try:
        import torch  # noqa: F401
    except ImportError:
        sys.exit("bench/peer.py needs PyTorch (pip install torch==2.13.0)")
    calls = {size: pair(size) for size in args.sizes}
    ratios = {(s, f): [] for s in calls for f in calls[s]}
    times = {(s, f): [] for s in calls for f in calls[s]}
    for fns in calls.values():   # warm up: workspaces, PyTorch's first calls
        for ours, theirs in fns.values():
            for _ in range(3):
                ours(), theirs()
    for r in range(args.rounds):
        for size, fns in calls.items():
            for func, (ours, theirs) in fns.items():
                n = CALLS.get(size, 1)
                if r % 2:
                    b, a = block(theirs, n, timer), block(ours, n, timer)
                else:
                    a, b = block(ours, n, timer), block(theirs, n, timer)
                ratios[size, func].append(b / a)
                times[size, func].append(a)
    print(f"# {time.strftime('%Y-%m-%dT%H:%M:%S')}, {args.rounds} rounds, {args.timer} time, "
          f"torch threads {torch.get_num_threads()}, fastrnn threads "
          f"{fastrnn.get_num_threads()}\n")
    print("| function | size | (V, H, B, T) | fastrnn (ms), median | PyTorch / fastrnn, "
          "median | range |")
    print("| --- | --- | --- | ---: | ---: | --- |")
    for (size, func), r in ratios.items():
        print(f"| {func} | {size} | {SIZES[size]} | "
              f"{statistics.median(times[size, func]) * 1e3:.3f} | "
              f"{statistics.median(r):.1f}x | {min(r):.1f}-{max(r):.1f}x |")


if __name__ == "__main__":
    main()
