"""The packages keep to the layering their docstrings state: each package of ``ledger``
imports only what its ``May import:`` line names, and only the journal writes journal
rows. Read from the source (no import runs), so a new module is checked the day it lands."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import ledger

LEDGER = Path(ledger.__file__).parent
PACKAGES = sorted(p.name for p in LEDGER.iterdir() if (p / "__init__.py").exists() and p.name != "data")

JOURNAL_TABLES = frozenset({"JournalTxn", "PostingRow", "ChainHead", "Account", "AccountPeriod", "Lot"})
"""The rows ``journal.post`` keeps exact together: transactions, postings, the chain head,
the materialized balances and per-period counters, and the lots."""

WRITES = frozenset({"insert", "update", "delete"})


def _modules(package: str) -> list[Path]:
    return sorted((LEDGER / package).rglob("*.py"))


def _imported(path: Path) -> set[str]:
    """The ``ledger`` packages and top modules ``path`` imports (``ledger.org``, ``ledger.values``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "ledger" and len(parts) > 1:
                found.add(".".join(parts[:2]))
    return found


def _allowed(package: str) -> set[str]:
    doc = ast.get_docstring(ast.parse((LEDGER / package / "__init__.py").read_text(encoding="utf-8"))) or ""
    line = re.search(r"May import:(.*?)(?:\n\n|$)", doc, re.S)
    assert line, f"ledger.{package}'s docstring says what it may import"
    return set(re.findall(r"ledger\.\w+", line.group(1))) | {f"ledger.{package}"}


def test_each_package_imports_only_what_its_docstring_allows():
    """A package's import of a sibling its ``May import:`` line does not name is a layering break."""
    breaks = {
        f"{path.relative_to(LEDGER)} imports {name}"
        for package in PACKAGES
        for path in _modules(package)
        for name in _imported(path) - _allowed(package)
    }
    assert set() == breaks


def test_the_journal_knows_no_feature():
    """The journal imports nothing of earning, the shop, honours or access."""
    features = {"ledger.earning", "ledger.shop", "ledger.honours", "ledger.access"}
    assert {} == {
        str(p.relative_to(LEDGER)): _imported(p) & features for p in _modules("journal") if _imported(p) & features
    }


def _journal_writes(path: Path) -> list[str]:
    """``insert``/``update``/``delete`` statements on a journal table in ``path``: on the table
    itself (``insert(table_of(Lot))``) or a module name bound to it (``_lots = table_of(Lot)``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))

    def journal_table(node: ast.AST) -> bool:
        return (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", "") == "table_of"
            and len(node.args) == 1
            and isinstance(node.args[0], ast.Name)
            and node.args[0].id in JOURNAL_TABLES
        )

    aliases = {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and journal_table(node.value)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    writes = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        function = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        on_bulk = isinstance(node.func, ast.Attribute) and getattr(node.func.value, "id", "") == "bulk"
        # bulk.insert(conn, table, ...) names the table second; insert(table) first.
        table = node.args[1] if on_bulk and len(node.args) > 1 else node.args[0] if function in WRITES else None
        if table is not None and (journal_table(table) or (isinstance(table, ast.Name) and table.id in aliases)):
            writes.append(f"{path.relative_to(LEDGER)}:{node.lineno}")
    return writes


def test_only_the_journal_writes_journal_rows():
    """Outside ``ledger.journal`` (and the migrations that shape the tables) no statement
    inserts, updates or deletes transactions, postings, balances, counters, lots or the head."""
    outside = [
        path
        for path in LEDGER.rglob("*.py")
        if not path.is_relative_to(LEDGER / "journal") and not path.is_relative_to(LEDGER / "storage" / "migrations")
    ]
    assert [] == [write for path in outside for write in _journal_writes(path)]
    assert _journal_writes(LEDGER / "journal" / "posting.py"), "the check finds the journal's own writes"


CONTROLLERS = Path(ledger.__file__).parent.parent / "api" / "controllers"


def _ledger_calls(statements: list[ast.stmt]) -> int:
    """The most ``await ledger.…(…)`` calls one run through ``statements`` can make: the
    branches of an ``if`` are alternatives, everything else adds up."""
    total = 0
    for statement in statements:
        if isinstance(statement, ast.If):
            total += _awaited(statement.test) + max(_ledger_calls(statement.body), _ledger_calls(statement.orelse))
        else:
            total += _awaited(statement)
    return total


def _awaited(node: ast.AST) -> int:
    return sum(
        isinstance(n, ast.Await)
        and isinstance(n.value, ast.Call)
        and isinstance(n.value.func, ast.Attribute)
        and isinstance(n.value.func.value, ast.Name)
        and n.value.func.value.id == "ledger"
        for n in ast.walk(node)
    )


def test_each_handler_makes_one_ledger_call():
    """A handler is DTO in, one ledger call, DTO out: the ledger checks the actor's scope
    inside that call's own transaction, so no handler authorizes first and then works."""
    handlers = {
        f"{path.stem}.{node.name}": _ledger_calls(node.body)
        for path in sorted(CONTROLLERS.glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.AsyncFunctionDef)
    }
    assert len(handlers) > 50, "the controllers were not found"
    assert {name: calls for name, calls in handlers.items() if calls > 1} == {}
