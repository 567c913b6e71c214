"""Local stand-ins for external services, for tests, benchmarks and ``make run`` on a machine without internet."""
