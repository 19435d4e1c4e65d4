"""The public surface of the domain core, and its independence from HTTP."""

import subprocess
import sys

import ledger


def test_all_is_sorted_and_resolves():
    """`ledger.__all__` is sorted and every name in it exists."""
    assert sorted(ledger.__all__) == ledger.__all__
    assert [name for name in ledger.__all__ if not hasattr(ledger, name)] == []


def test_core_does_not_import_litestar():
    """Importing the domain core loads no web framework."""
    code = "import sys, ledger, ledger.service, ledger.verify; print('litestar' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "False" == out.stdout.strip()
