"""fastrnn against PyTorch, each library alone in its own process.

    PYTHONPATH=src python bench/alone.py [--threads 2] [--pairs 6] [size ...]

``bench/peer.py`` interleaves the two libraries in one process, which on
several threads measures how they disturb each other: PyTorch's OpenMP
threads keep spinning after its calls, and fastrnn's thread pool, seeing its
worker wait, backs off to one thread.  Here each measurement is a fresh
process running one library only (``OMP_NUM_THREADS`` and
``OPENBLAS_NUM_THREADS`` set to ``--threads``), the two alternating pair by
pair so that the machine's drift falls on both; each process reports the
median over 15 blocks of 10 calls (wall time), and each row the ratios
PyTorch / fastrnn of the pairs and their median.  Needs PyTorch.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FUNCS = ("loss_and_grads", "forward")


def measure(lib, size, blocks=15, calls=10):
    """{function: median ms a call} for one library, in this process."""
    sys.path.insert(0, HERE)
    import fastrnn
    from benchutil import problem

    p, X, Y = problem(size)
    if lib == "torch":
        import torch

        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
        from bench_kernels import torch_calls

        fns = dict(zip(FUNCS, torch_calls(p, X, Y)))
    else:
        fns = {"loss_and_grads": lambda: fastrnn.loss_and_grads(p, X, Y),
               "forward": lambda: fastrnn.forward(p, X)}
    out = {}
    for name, f in fns.items():
        for _ in range(3):
            f()
        ts = []
        for _ in range(blocks):
            t = time.perf_counter()
            for _ in range(calls):
                f()
            ts.append((time.perf_counter() - t) / calls * 1e3)
        out[name] = statistics.median(ts)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sizes", nargs="*", default=["small"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=6)
    ap.add_argument("--child", nargs=2, metavar=("LIB", "SIZE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(measure(*args.child)))
        return
    try:
        import torch  # noqa: F401
    except ImportError:
        sys.exit("bench/alone.py needs PyTorch (pip install torch==2.13.0)")
    n = str(args.threads)
    env = dict(os.environ, OMP_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n, MKL_NUM_THREADS=n)
    print(f"# {time.strftime('%Y-%m-%dT%H:%M:%S')}, {args.pairs} pairs, "
          f"{args.threads} thread(s), wall time, each library alone in its process\n")
    print("| function | size | fastrnn (ms), median | PyTorch (ms), median "
          "| PyTorch / fastrnn by pair | median |")
    print("| --- | --- | ---: | ---: | --- | ---: |")
    for size in args.sizes:
        runs = {"fastrnn": [], "torch": []}
        for i in range(args.pairs):
            for lib in (("fastrnn", "torch") if i % 2 == 0 else ("torch", "fastrnn")):
                out = subprocess.run(
                    [sys.executable, "-W", "ignore", os.path.abspath(__file__),
                     "--child", lib, size],
                    env=env, capture_output=True, text=True, check=True)
                runs[lib].append(json.loads(out.stdout.strip().splitlines()[-1]))
        for func in FUNCS:
            ours = [r[func] for r in runs["fastrnn"]]
            theirs = [r[func] for r in runs["torch"]]
            ratios = [t / o for o, t in zip(ours, theirs)]
            print(f"| {func} | {size} | {statistics.median(ours):.3f} | "
                  f"{statistics.median(theirs):.3f} | "
                  f"{', '.join(f'{r:.1f}x' for r in ratios)} | "
                  f"{statistics.median(ratios):.1f}x |")


if __name__ == "__main__":
    main()
