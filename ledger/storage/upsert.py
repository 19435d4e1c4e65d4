"""Dialect-aware inserts that skip rows already there: both SQLite and PostgreSQL speak
``INSERT … ON CONFLICT``, but SQLAlchemy builds the statement from each dialect's own
``insert``. (Counters that add on conflict are written by ``ledger.bulk``.)"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite


@functools.cache
def _if_absent_statement(dialect: str, table: Table, keys: tuple[str, ...]) -> Any:
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    return statement.on_conflict_do_nothing(index_elements=list(keys))


def insert_if_absent(dialect: str, table: Table, keys: Sequence[str]) -> Any:
    """An ``INSERT … ON CONFLICT DO NOTHING`` for ``table`` (built once per dialect)."""
    return _if_absent_statement(dialect, table, tuple(keys))
