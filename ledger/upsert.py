"""Dialect-aware upserts: both SQLite and PostgreSQL speak ``INSERT … ON CONFLICT``,
but SQLAlchemy builds the statement from each dialect's own ``insert``."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


@functools.cache
def _counter_statement(dialect: str, table: Table, keys: tuple[str, ...], counter: str) -> Any:
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    return statement.on_conflict_do_update(
        index_elements=list(keys), set_={counter: table.c[counter] + statement.excluded[counter]}
    )


async def add_to_counter(
    conn: AsyncConnection,
    table: Table,
    keys: Sequence[str],
    counter: str,
    rows: list[dict[str, Any]],
) -> None:
    """Insert each row, or add its ``counter`` to the row already there."""
    await conn.execute(_counter_statement(conn.dialect.name, table, tuple(keys), counter), rows)


@functools.cache
def _if_absent_statement(dialect: str, table: Table, keys: tuple[str, ...]) -> Any:
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    return statement.on_conflict_do_nothing(index_elements=list(keys))


def insert_if_absent(dialect: str, table: Table, keys: Sequence[str]) -> Any:
    """An ``INSERT … ON CONFLICT DO NOTHING`` for ``table`` (built once per dialect)."""
    return _if_absent_statement(dialect, table, tuple(keys))
