"""Local provider servers for loyalty's tests and benches (127.0.0.1 only)."""
