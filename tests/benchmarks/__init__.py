"""Benchmarks (``make bench``), outside the default test run: see docs/performance.md."""
