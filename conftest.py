"""Root conftest: makes the repository importable for tests and benchmarks."""
