"""Dialect-aware upserts: both SQLite and PostgreSQL speak ``INSERT … ON CONFLICT``,
but SQLAlchemy builds the statement from each dialect's own ``insert``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


def _insert(conn: AsyncConnection, table: Table) -> Any:
    dialect = conn.dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def add_to_counter(
    conn: AsyncConnection,
    table: Table,
    keys: Sequence[str],
    counter: str,
    rows: list[dict[str, Any]],
) -> None:
    """Insert each row, or add its ``counter`` to the row already there."""
    statement = _insert(conn, table)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={counter: table.c[counter] + statement.excluded[counter]},
    )
    await conn.execute(statement, rows)


def insert_if_absent(conn: AsyncConnection, table: Table, keys: Sequence[str]) -> Any:
    """An ``INSERT … ON CONFLICT DO NOTHING`` for ``table``."""
    return _insert(conn, table).on_conflict_do_nothing(index_elements=list(keys))
