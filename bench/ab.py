"""Two builds of fastrnn against each other, interleaved.

    python bench/ab.py TREE_A TREE_B [--what forward] [--size small] [--rounds 10]

TREE_A and TREE_B are source trees with the extensions built in place
(``python setup.py build_ext --inplace``), e.g. a clone of the last commit
and the working tree.  Each round runs one fresh process per build, the
order alternating from round to round, each timing blocks of calls on one
thread (CPU time, best of 5 blocks); the row reports both medians and the
median of the per-round ratios B / A.  A change to a kernel is judged by
that ratio: on a shared machine two runs minutes apart differ more than
most changes do.  ``--what``: ``forward`` or ``loss_and_grads``, with
``--dtype float64`` for the float64 path.
"""
import argparse
import os
import statistics
import subprocess
import sys

CHILD = r"""
import sys, time
sys.path.insert(0, sys.argv[4])
import numpy as np, fastrnn
from benchutil import problem
size, what, dtype = sys.argv[1], sys.argv[2], getattr(np, sys.argv[3])
p, X, Y = problem(size, dtype=dtype)
f = (lambda: fastrnn.forward(p, X)) if what == "forward" else (
    lambda: fastrnn.loss_and_grads(p, X, Y))
n = {"course": 3000, "small": 60, "large": 2, "word": 3}[size]
for _ in range(n // 5 + 1):
    f()
best = float("inf")
for _ in range(5):
    t = time.process_time()
    for _ in range(n):
        f()
    best = min(best, (time.process_time() - t) / n)
print(best * 1e6)
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("tree_a")
    ap.add_argument("tree_b")
    ap.add_argument("--what", choices=("forward", "loss_and_grads"), default="forward")
    ap.add_argument("--size", choices=("course", "small", "large", "word"), default="small")
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--rounds", type=int, default=10)
    args = ap.parse_args(argv)
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    times = {args.tree_a: [], args.tree_b: []}
    for i in range(args.rounds):
        order = (args.tree_a, args.tree_b) if i % 2 == 0 else (args.tree_b, args.tree_a)
        for tree in order:
            out = subprocess.run(
                [sys.executable, "-c", CHILD, args.size, args.what, args.dtype, here],
                env=dict(env, PYTHONPATH=os.path.join(os.path.abspath(tree), "src")),
                capture_output=True, text=True, check=True)
            times[tree].append(float(out.stdout.strip()))
    a, b = times[args.tree_a], times[args.tree_b]
    ratios = [y / x for x, y in zip(a, b)]
    print(f"{args.what} {args.size} {args.dtype}: A {statistics.median(a):.2f} us, "
          f"B {statistics.median(b):.2f} us, B/A {statistics.median(ratios):.3f} "
          f"(rounds {min(ratios):.3f}-{max(ratios):.3f})")


if __name__ == "__main__":
    main()
