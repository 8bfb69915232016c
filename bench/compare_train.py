"""End-to-end training: ``fastrnn train`` against the same model in PyTorch.

    PYTHONPATH=src python bench/compare_train.py CORPUS [--steps 300] [--threads 1,2] [--repeats 3]

For each thread count, runs, alternately and each in its own subprocess,
``bench/torch_train.py`` (``torch.set_num_threads(N)``) and fastrnn's
``LanguageModel.fit`` with the settings of ``fastrnn train CORPUS`` (char
level, H=256, B=32, T=64, Adam lr 2e-3, clip norm 5, float32, zero initial
state, seed 0, last 10% held out, no progress bar), with
``OPENBLAS_NUM_THREADS=OMP_NUM_THREADS=MKL_NUM_THREADS=N``.  Both start from
the same parameters and train on the same windows; both evaluate the
held-out loss every ``--eval-every`` steps with the same algorithm
(``LanguageModel.loss``'s streams, windows and carried state) and after the
last step.  Evaluation time is excluded from the training times (wall and
CPU, measured inside each process) and so from tokens/s; the totals with
evaluations, imports and data preparation (wall around the subprocess, CPU
from ``getrusage(RUSAGE_CHILDREN)``) are reported too.

"Time to the PyTorch loss": the PyTorch run's held-out loss after ``--steps``
steps is the target; the training time of each run at its first evaluation
at or below the target (fastrnn keeps training, up to ``--steps`` more
steps, if it is not there yet at ``--steps``).  With evaluations every 50
steps this is an upper bound at a 50-step resolution.

Prints markdown tables (medians over the repeats, CPU alongside wall since
the machine may be shared) and, with ``--json-out``, writes every run.
Needs PyTorch; without it, says so and exits with status 0.
"""
from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


# -- the fastrnn worker (run in a subprocess) ----------------------------------------
def fastrnn_worker(args) -> dict:
    """``fastrnn train CORPUS`` through the Python API, the evaluations timed apart."""
    import numpy as np

    from fastrnn.cli import TRAIN_DEFAULTS as d
    from fastrnn.data import TBPTTBatches, split_ids
    from fastrnn.models import LanguageModel

    with open(args.corpus, "rb") as f:
        text = f.read().decode("utf-8-sig")  # as the CLI reads it
    # as cli._cmd_train builds the model, the data and the fit call
    model = LanguageModel.from_text(text, args.hidden, level="char", max_vocab=None,
                                    dtype=d["dtype"], seed=args.seed,
                                    init_state=d["init_state"])
    ids = model.vocab.encode(text)
    train_ids, val_ids = split_ids(ids, args.val_fraction)
    val = val_ids if val_ids.size >= 2 else None
    fit_kwargs = dict(seq_len=args.seq_len, batch_size=args.batch_size,
                      optimizer=d["optimizer"], lr=args.lr, clip=args.clip or None,
                      clip_mode=d["clip_mode"], val_data=val, eval_every=args.eval_every,
                      progress=False)

    # Time the evaluations apart: fit calls self.loss(val) then the callback.
    history = []
    clock = {"paused_w": 0.0, "paused_c": 0.0, "enter": None}
    loss = model.loss

    def timed_loss(data, **kw):
        clock["enter"] = (time.perf_counter(), time.process_time())
        return loss(data, **kw)

    def callback(info):
        ew, ec = clock["enter"] if info["val_loss"] is not None else (
            time.perf_counter(), time.process_time())
        history.append({"step": info["step"], "train_loss": info["train_loss"],
                        "val_loss": info["val_loss"],
                        "train_wall_s": ew - w0 - clock["paused_w"],
                        "train_cpu_s": ec - c0 - clock["paused_c"]})
        clock["paused_w"] += time.perf_counter() - ew
        clock["paused_c"] += time.process_time() - ec

    model.loss = timed_loss
    w0, c0 = time.perf_counter(), time.process_time()
    model.fit(train_ids, steps=args.steps, callback=callback, **fit_kwargs)
    total_wall, total_cpu = time.perf_counter() - w0, time.process_time() - c0
    main_history = list(history)
    # keep going (not counted in tokens/s) until the PyTorch loss is reached
    extra = 0
    if args.target is not None and val is not None:
        while (min(h["val_loss"] for h in history) > args.target
               and extra < args.max_extra_steps):
            model.fit(train_ids, steps=args.eval_every, callback=callback, **fit_kwargs)
            extra += args.eval_every
    batches = TBPTTBatches(train_ids, args.batch_size, args.seq_len)
    tokens = sum(batches[i % len(batches)][0].size for i in range(args.steps))
    last = main_history[-1]
    return {
        "impl": "fastrnn", "threads": int(os.environ.get("OPENBLAS_NUM_THREADS", 0)),
        "steps": args.steps, "tokens": tokens, "vocab_size": len(model.vocab),
        "tokens_per_sec": tokens / last["train_wall_s"],
        "tokens_per_cpu_sec": tokens / last["train_cpu_s"],
        "final_val_loss": last["val_loss"],
        "wall_s": last["train_wall_s"], "cpu_s": last["train_cpu_s"],
        "total_wall_s": total_wall, "total_cpu_s": total_cpu,
        "extra_steps": extra, "history": history,
        "dtype": str(np.dtype(d["dtype"])),
    }


# -- the driver ---------------------------------------------------------------------
def run_child(cmd: list[str], threads: int) -> dict:
    env = dict(os.environ)
    for var in THREAD_VARS:
        env[var] = str(threads)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise RuntimeError(f"{cmd[:3]} failed with status {proc.returncode}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["process_wall_s"] = wall
    res["process_cpu_s"] = ((after.ru_utime - before.ru_utime)
                            + (after.ru_stime - before.ru_stime))
    return res


def common_args(args) -> list[str]:
    return [args.corpus, "--steps", str(args.steps), "--hidden", str(args.hidden),
            "--batch-size", str(args.batch_size), "--seq-len", str(args.seq_len),
            "--lr", repr(args.lr), "--clip", repr(args.clip),
            "--val-fraction", repr(args.val_fraction), "--seed", str(args.seed),
            "--eval-every", str(args.eval_every)]


def time_to(history: list[dict], target: float):
    """(step, train wall, train CPU) at the first evaluation at or below `target`."""
    for h in history:
        if h["val_loss"] is not None and h["val_loss"] <= target:
            return h["step"], h["train_wall_s"], h["train_cpu_s"]
    return None


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(x, spec):
    return "n/a" if x is None else format(x, spec)


def report(runs: dict, args, threads: list[int]) -> str:
    lines = []
    lines.append(f"{args.steps} steps of {args.batch_size} x {args.seq_len} characters, "
                 f"H={args.hidden}, Adam lr {args.lr:g}, clip norm {args.clip:g}; held-out "
                 f"loss every {args.eval_every} steps (excluded from the training times); "
                 f"median of {args.repeats} run(s)")
    lines.append("")
    lines.append("| threads | impl | tokens/s (wall) | tokens/CPU-s | train wall s | "
                 "train CPU s | held-out loss | total wall s | total CPU s |")
    lines.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    speed = []
    for n in threads:
        for impl in ("pytorch", "fastrnn"):
            rs = runs[n][impl]
            lines.append(
                f"| {n} | {impl} | {med(r['tokens_per_sec'] for r in rs):,.0f} | "
                f"{med(r['tokens_per_cpu_sec'] for r in rs):,.0f} | "
                f"{med(r['wall_s'] for r in rs):.1f} | {med(r['cpu_s'] for r in rs):.1f} | "
                f"{med(r['final_val_loss'] for r in rs):.4f} | "
                f"{med(r['process_wall_s'] for r in rs):.1f} | "
                f"{med(r['process_cpu_s'] for r in rs):.1f} |")
        f, t = runs[n]["fastrnn"], runs[n]["pytorch"]
        speed.append((n, med(r["tokens_per_sec"] for r in f) / med(r["tokens_per_sec"] for r in t),
                      med(r["tokens_per_cpu_sec"] for r in f)
                      / med(r["tokens_per_cpu_sec"] for r in t)))
    lines.append("")
    lines.append("| threads | fastrnn / pytorch tokens/s (wall) | per CPU-second |")
    lines.append("|---:|---:|---:|")
    for n, rw, rc in speed:
        lines.append(f"| {n} | {rw:.2f}x | {rc:.2f}x |")
    lines.append("")
    lines.append("Training time to reach the PyTorch run's final held-out loss "
                 f"(target; first evaluation at or below it, {args.eval_every}-step resolution):")
    lines.append("")
    lines.append("| threads | target | impl | step | wall s | CPU s | "
                 "pytorch / fastrnn wall | CPU |")
    lines.append("|---:|---:|---|---:|---:|---:|---:|---:|")
    for n in threads:
        rows = {}
        for impl in ("pytorch", "fastrnn"):
            got = [r["time_to_target"] for r in runs[n][impl]]
            reached = [g for g in got if g is not None]
            rows[impl] = (med(g[0] for g in reached), med(g[1] for g in reached),
                          med(g[2] for g in reached), len(reached), len(got))
        target = med(r["final_val_loss"] for r in runs[n]["pytorch"])
        for impl in ("pytorch", "fastrnn"):
            step, wall, cpu, k, m = rows[impl]
            ratio_w = ratio_c = ""
            if impl == "fastrnn" and wall and rows["pytorch"][1]:
                ratio_w = f"{rows['pytorch'][1] / wall:.2f}x"
                ratio_c = f"{rows['pytorch'][2] / cpu:.2f}x"
            miss = "" if k == m else f" ({m - k} of {m} runs never reached it)"
            lines.append(f"| {n} | {target:.4f} | {impl} | {fmt(step, '.0f')}{miss} | "
                         f"{fmt(wall, '.1f')} | {fmt(cpu, '.1f')} | {ratio_w} | {ratio_c} |")
    checks = [r.get("final_val_loss_fastrnn_eval") for n in threads
              for r in runs[n]["pytorch"]]
    diffs = [abs(c - r["final_val_loss"]) for c, r in
             zip(checks, (r for n in threads for r in runs[n]["pytorch"]))
             if c is not None]
    if diffs:
        lines.append("")
        lines.append("PyTorch's evaluation against fastrnn's LanguageModel.loss on the same "
                     f"weights: max difference {max(diffs):.2e} nats/char.")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("corpus", help="UTF-8 text file, e.g. tinyshakespeare.txt")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--threads", default="1,2",
                   help="comma-separated thread counts (default: 1,2)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--clip", type=float, default=5.0)
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json-out", metavar="FILE", help="write every run's JSON here")
    # worker mode (internal)
    p.add_argument("--worker", choices=("fastrnn",), help=argparse.SUPPRESS)
    p.add_argument("--target", type=float, help=argparse.SUPPRESS)
    p.add_argument("--max-extra-steps", type=int, default=None, help=argparse.SUPPRESS)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.worker == "fastrnn":
        if args.max_extra_steps is None:
            args.max_extra_steps = args.steps
        print(json.dumps(fastrnn_worker(args)))
        return 0
    if importlib.util.find_spec("torch") is None:
        print("compare_train.py: PyTorch is not installed; nothing to compare")
        return 0
    args.threads = [int(x) for x in args.threads.split(",")]
    print(f"# {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}", flush=True)
    runs = {n: {"pytorch": [], "fastrnn": []} for n in args.threads}
    base = common_args(args)
    for n in args.threads:
        for k in range(args.repeats):
            t = run_child([sys.executable, os.path.join(HERE, "torch_train.py"), *base,
                           "--threads", str(n), "--json"], n)
            target = t["final_val_loss"]
            t["time_to_target"] = time_to(t["history"], target)
            runs[n]["pytorch"].append(t)
            f = run_child([sys.executable, os.path.abspath(__file__), *base,
                           "--worker", "fastrnn", "--target", repr(target)], n)
            f["target"] = target
            f["time_to_target"] = time_to(f["history"], target)
            runs[n]["fastrnn"].append(f)
            print(f"threads {n} run {k + 1}: pytorch {t['tokens_per_sec']:,.0f} tok/s "
                  f"(val {t['final_val_loss']:.4f}), fastrnn {f['tokens_per_sec']:,.0f} tok/s "
                  f"(val {f['final_val_loss']:.4f}); load average "
                  f"{os.getloadavg()[0]:.2f}", flush=True)
            if args.json_out:  # after every run, so an interrupted session keeps them
                with open(args.json_out, "w") as fh:
                    json.dump({"args": vars(args), "runs": runs}, fh, indent=1)
        # a table per thread count as soon as it is done (a session may be cut short)
        print()
        print(report(runs, args, [n]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
