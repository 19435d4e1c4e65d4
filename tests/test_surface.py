"""The public surface of the domain core, and its independence from HTTP."""

import ast
import subprocess
import sys
from pathlib import Path

import api
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


def test_the_web_layer_imports_the_core_only_through_its_surface():
    """``api`` names nothing of ``ledger`` but what ``ledger/__init__`` exports."""
    deep = []
    for path in sorted(Path(api.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            modules += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            deep += [f"{path.name}:{node.lineno} {m}" for m in modules if m.startswith("ledger.")]
    assert [] == deep
