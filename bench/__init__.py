"""Benchmarks (not tests): figures printed beside raw baselines. See bench/README.md."""
