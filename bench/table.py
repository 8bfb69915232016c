"""Markdown table from a pytest-benchmark JSON file of bench_kernels.py.

    pytest bench/bench_kernels.py --benchmark-only --benchmark-json=out.json
    python bench/table.py out.json [out2.json ...]

With several files (repeated runs on a noisy machine), each cell is the
median of the runs' medians.

The floor column is the step's matrix-product FLOPs (6·V·H·B·T + 6·H²·B·T for
a training step, a third of that for forward) at the float32 GEMM rate that
``test_gemm_peak`` measured in the same run.
"""
import json
import statistics
import sys
from collections import defaultdict

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from benchutil import SIZES  # noqa: E402


def flops(func, size):
    V, H, B, T = SIZES[size]
    step = 6 * V * H * B * T + 6 * H * H * B * T
    return step if func == "loss_and_grads" else step / 3


def main(paths):
    runs = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            runs.append(json.load(f))
    data = runs[-1]
    per = defaultdict(list)  # benchmark name -> [median seconds per run]
    flop = {}
    for run in runs:
        for b in run["benchmarks"]:
            per[b["name"]].append(b["stats"]["median"])
            if "flop" in b.get("extra_info", {}):
                flop[b["name"]] = b["extra_info"]["flop"]
    med = defaultdict(dict)  # (function, size) -> impl -> median seconds
    peak = {}
    for name, values in per.items():  # test_loss_and_grads_fastrnn[small]
        value = statistics.median(values)
        if name.startswith("test_gemm_peak["):
            peak[name[len("test_gemm_peak["):-1]] = flop[name] / value
        if "[" not in name or not name.startswith(("test_loss_and_grads", "test_forward")):
            continue
        base, size = name[:-1].split("[")
        func, impl = base[len("test_"):].rsplit("_", 1)
        med[(func, size)][impl] = value
    gf = peak.get("float32")
    for dt, rate in sorted(peak.items()):
        print(f"GEMM peak {dt}: {rate / 1e9:.1f} GFLOP/s")
    print()
    print("| function | size | fastrnn (ms) | reference (ms) | PyTorch (ms) "
          "| reference / fastrnn | PyTorch / fastrnn | floor (ms) | fastrnn / floor |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    order = ["course", "small", "large", "word"]
    for (func, size) in sorted(med, key=lambda k: (k[0] != "loss_and_grads", order.index(k[1]))):
        m = med[(func, size)]
        fr = m.get("fastrnn")
        if fr is None and "fastrnn64" in m:
            print(f"| {func} float64 | {size} | {m['fastrnn64'] * 1e3:.3f} | – | – | – | – "
                  "| – | – |")
            continue
        cells = [f"{m[k] * 1e3:.3f}" if k in m else "–" for k in ("fastrnn", "reference", "torch")]
        ratios = [f"{m[k] / fr:.1f}x" if k in m and fr else "–" for k in ("reference", "torch")]
        floor = flops(func, size) / gf if gf else None
        ratios += [f"{floor * 1e3:.3f}" if floor else "–",
                   f"{fr / floor:.2f}x" if floor and fr else "–"]
        print(f"| {func} | {size} | " + " | ".join(cells + ratios) + " |")
        if "fastrnn64" in m:
            ratio = f"float64 / float32 = {m['fastrnn64'] / fr:.2f}x" if fr else "–"
            print(f"| {func} float64 | {size} | {m['fastrnn64'] * 1e3:.3f} | – | – | – | – "
                  f"| – | {ratio} |")
    info = data.get("machine_info", {})
    print(f"\nmachine: {info.get('cpu', {}).get('brand_raw', '?')}, "
          f"{info.get('cpu', {}).get('count', '?')} cores; python {info.get('python_version')}; "
          f"runs: {', '.join(r.get('datetime', '?')[:19] for r in runs)}")


if __name__ == "__main__":
    main(sys.argv[1:])
