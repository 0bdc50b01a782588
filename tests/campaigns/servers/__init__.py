"""Local servers that speak each provider's protocol, for tests, the benchmark and the demo."""
