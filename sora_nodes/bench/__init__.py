"""Benchmarks that print ratios measured side by side in one run (`sora bench ...`). Never used by tests for timing."""
