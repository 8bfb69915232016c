"""Benchmarks run with `pytest bench --benchmark-only` (or once each with
`--benchmark-disable`, as CI does).  A plain `pytest` run skips them."""
import pytest


def pytest_collection_modifyitems(config, items):
    if config.getoption("benchmark_only", False) or config.getoption("benchmark_disable", False):
        return
    skip = pytest.mark.skip(reason="benchmark: run with --benchmark-only or --benchmark-disable")
    for item in items:
        if "benchmark" in getattr(item, "fixturenames", ()):
            item.add_marker(skip)
