"""Integration tests: the sandbox fixtures (`sandbox_session`, `sandbox`, `config`, `scan`) are in tests/conftest.py."""
