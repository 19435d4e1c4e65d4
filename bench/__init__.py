"""Benchmarks of the ledger: ``python -m bench --help``."""
