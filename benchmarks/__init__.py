"""The skae benchmark report: ``python -m benchmarks`` (see README)."""
