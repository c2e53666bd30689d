"""Benchmarks: each prints figures and the conditions they were measured under (README.md)."""
