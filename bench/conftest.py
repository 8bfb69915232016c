"""Benchmarks run with `pytest bench --benchmark-only` (or once each with
`--benchmark-disable`, as CI does).  A plain `pytest` run skips them.

Each calibrated benchmark (not `pedantic`) times rounds of at least
MIN_ROUND_S: with pytest-benchmark's default (5 µs) a course-size `forward`
(~5 µs) ran one call a round, and each round also timed part of the timer
itself (`time.process_time`, a system call of ~0.6 µs, read twice), which
made that call look 1.3x slower than in rounds of many calls
(`bench/peer.py`'s blocks).  Give `--benchmark-min-time` to override."""
import pytest

MIN_ROUND_S = 0.0005


def pytest_collection_modifyitems(config, items):
    if config.getoption("benchmark_only", False) or config.getoption("benchmark_disable", False):
        given = any(a.startswith("--benchmark-min-time") for a in config.invocation_params.args)
        if not given:
            for item in items:
                if ("benchmark" in getattr(item, "fixturenames", ())
                        and item.get_closest_marker("benchmark") is None):
                    item.add_marker(pytest.mark.benchmark(min_time=MIN_ROUND_S))
        return
    skip = pytest.mark.skip(reason="benchmark: run with --benchmark-only or --benchmark-disable")
    for item in items:
        if "benchmark" in getattr(item, "fixturenames", ()):
            item.add_marker(skip)
