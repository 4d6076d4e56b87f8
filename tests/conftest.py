"""Shared by every test: the real-Docker bench fixtures (tests/bench/fixtures.py)."""

pytest_plugins = ["bench.fixtures"]
