"""Benchmarks: `python -m bench` writes docs/benchmarks.md."""
