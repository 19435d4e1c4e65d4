"""Exactly-once writes: a client key claimed in the same database transaction as the work.

The first request with a key inserts ``(principal, key, fingerprint)`` *before* doing its
work. A concurrent duplicate's insert then waits on the unique index until the first
commits (PostgreSQL) or on the write lock (SQLite), finds the row, and returns the stored
result without doing the work again. If the first fails, its claim rolls back with it and
the duplicate does the work itself. A key reused for a different request (another
fingerprint) is refused. Results of refused requests are not stored: nothing changed, so
a retry is evaluated afresh.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.errors import IdempotencyKeyReused
from ledger.tables import IdempotencyRecord
from ledger.upsert import insert_if_absent


@dataclass(frozen=True, slots=True)
class IdempotentRequest:
    principal: str
    key: str
    fingerprint: str


def fingerprint(*parts: Any) -> str:
    """A stable digest of what a request asks for (route and body, canonically encoded)."""
    encoded = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


_table = IdempotencyRecord.__table__


async def _claim(conn: AsyncConnection, request: IdempotentRequest, now: datetime) -> dict[str, Any] | None:
    """Claim the key; the stored result if another request already holds it."""
    inserted = await conn.execute(
        insert_if_absent(conn, _table, ("principal", "key"))
        .values(principal=request.principal, key=request.key, fingerprint=request.fingerprint, created_at=now)
        .returning(_table.c.key)
    )
    if inserted.first() is not None:
        return None
    row = (
        await conn.execute(
            select(_table.c.fingerprint, _table.c.result).where(
                _table.c.principal == request.principal, _table.c.key == request.key
            )
        )
    ).one()
    if row.fingerprint != request.fingerprint:
        raise IdempotencyKeyReused(request.key)
    assert row.result is not None, "a committed claim always carries its result"
    return row.result


async def once(
    conn: AsyncConnection,
    request: IdempotentRequest,
    now: datetime,
    work: Callable[[], Awaitable[dict[str, Any]]],
) -> tuple[dict[str, Any], bool]:
    """Run ``work`` once per key; returns (result, replayed)."""
    stored = await _claim(conn, request, now)
    if stored is not None:
        return stored, True
    result = await work()
    await conn.execute(
        update(_table).where(_table.c.principal == request.principal, _table.c.key == request.key).values(result=result)
    )
    return result, False
