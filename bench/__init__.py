"""Benchmarks of the suite (not timed tests): `.venv/bin/python bench/bench.py --help`."""
