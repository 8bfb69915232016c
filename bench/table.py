"""Markdown table from a pytest-benchmark JSON file of bench_kernels.py.

    pytest bench/bench_kernels.py --benchmark-only --benchmark-json=out.json
    python bench/table.py out.json
"""
import json
import sys
from collections import defaultdict


def main(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    med = defaultdict(dict)  # (function, size) -> impl -> median seconds
    for b in data["benchmarks"]:
        name = b["name"]  # test_loss_and_grads_fastrnn[small]
        if "[" not in name or not name.startswith(("test_loss_and_grads", "test_forward")):
            continue
        base, size = name[:-1].split("[")
        func, impl = base[len("test_"):].rsplit("_", 1)
        med[(func, size)][impl] = b["stats"]["median"]
    print("| function | size | fastrnn (ms) | reference (ms) | PyTorch (ms) "
          "| reference / fastrnn | PyTorch / fastrnn |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    order = ["course", "small", "large", "word"]
    for (func, size) in sorted(med, key=lambda k: (k[0] != "loss_and_grads", order.index(k[1]))):
        m = med[(func, size)]
        fr = m.get("fastrnn")
        cells = [f"{m[k] * 1e3:.3f}" if k in m else "–" for k in ("fastrnn", "reference", "torch")]
        ratios = [f"{m[k] / fr:.1f}x" if k in m and fr else "–" for k in ("reference", "torch")]
        print(f"| {func} | {size} | " + " | ".join(cells + ratios) + " |")
    info = data.get("machine_info", {})
    print(f"\nmachine: {info.get('cpu', {}).get('brand_raw', '?')}, "
          f"{info.get('cpu', {}).get('count', '?')} cores; python {info.get('python_version')}; "
          f"date {data.get('datetime', '?')[:19]}")


if __name__ == "__main__":
    main(sys.argv[1])
