"""Counting the statements each database transaction sends, for the bench.

On PostgreSQL every statement is a round trip to the server, and at 32 clients the write
path's cost is mostly its round trips, not its rows; on SQLite every statement is a pass
of Python through SQLAlchemy and the driver. So the figure that tells a batch's cost
apart from its size is its statements. ``counting`` hooks SQLAlchemy's
``before_cursor_execute`` on an engine and closes one sample per committed or rolled-back
transaction; the bench turns it on around the awards it measures, and nothing else does
(the hook costs a little on every statement).

An ``executemany`` is one statement here: it is one call to the driver, and SQLite
steps it in C; asyncpg pipelines it in one round trip.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine


@dataclass
class StatementCount:
    """Statements per finished transaction, in the order they finished."""

    per_transaction: list[int] = field(default_factory=list)
    _open: dict[int, int] = field(default_factory=dict)

    def _executed(self, conn: Connection, *_: Any) -> None:
        self._open[id(conn)] = self._open.get(id(conn), 0) + 1

    def _ended(self, conn: Connection) -> None:
        count = self._open.pop(id(conn), 0)
        if count:
            self.per_transaction.append(count)


@contextmanager
def counting(engine: AsyncEngine) -> Iterator[StatementCount]:
    """Count the statements of every transaction on ``engine`` while the block runs."""
    count = StatementCount()
    sync = engine.sync_engine
    hooks = (("before_cursor_execute", count._executed), ("commit", count._ended), ("rollback", count._ended))
    for name, hook in hooks:
        event.listen(sync, name, hook)
    try:
        yield count
    finally:
        for name, hook in hooks:
            event.remove(sync, name, hook)
