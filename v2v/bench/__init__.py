"""Benchmarks: ``python -m v2v.bench NAME ...`` prints figures and ratios (not tests)."""
