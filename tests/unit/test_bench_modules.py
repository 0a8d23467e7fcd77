"""The benchmarks run by hand, not in CI: at least they must import, so a rename in
the code they measure breaks here and not on the next person's machine."""

import importlib

import pytest


@pytest.mark.parametrize("name", ["foundation", "audit", "docs", "routing", "signing"])
def test_each_benchmark_imports(name):
    module = importlib.import_module(f"bench.{name}")
    assert callable(module.main)
