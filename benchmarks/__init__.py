"""Performance harness: ``python -m benchmarks.run`` (JSON lines), a PyTorch reference, analytic FLOPs."""
