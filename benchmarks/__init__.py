"""Benchmarks: each reports rates with a baseline measured in the same run (`make bench`)."""
