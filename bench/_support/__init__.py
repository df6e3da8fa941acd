"""Shared plumbing of the benchmarks (not a benchmark itself: `make bench` runs bench/*.py only)."""
