"""The audit log: one append-only row per write request, saying who made it and how it
ended. The journal already names who recorded each transaction; the audit log also
covers the writes that move no points (members, rewards, rosters, tokens) and the
writes that were refused."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.storage.tables import AuditEntry
from ledger.values import AUDIT_PATH_LENGTH_MAX, IDEMPOTENCY_KEY_LENGTH_MAX

AUDIT_PAGE_SIZE_MAX = 1_000

_audit = AuditEntry.__table__


@dataclass(frozen=True, slots=True)
class Entry:
    principal: str
    role: str
    method: str
    path: str
    status: int
    idempotency_key: str | None = None


_INSERT = insert(_audit)


async def record(conn: AsyncConnection, entries: list[Entry], now: datetime) -> None:
    await conn.execute(
        _INSERT,
        [
            {
                "at": now,
                "principal": e.principal,
                "role": e.role,
                "method": e.method,
                "path": e.path[:AUDIT_PATH_LENGTH_MAX],
                "status": e.status,
                # A refused key may be too long to store whole; the row still says which request.
                "idempotency_key": None
                if e.idempotency_key is None
                else e.idempotency_key[:IDEMPOTENCY_KEY_LENGTH_MAX],
            }
            for e in entries
        ],
    )


async def entries(
    conn: AsyncConnection, principal: str | None, since: datetime | None, limit: int, after: int | None
) -> list[dict[str, Any]]:
    """Oldest first from ``since`` (or the beginning), ``after`` an id for the next page."""
    query = select(_audit).order_by(_audit.c.id).limit(limit)
    if principal is not None:
        query = query.where(_audit.c.principal == principal)
    if since is not None:
        query = query.where(_audit.c.at >= since)
    if after is not None:
        query = query.where(_audit.c.id > after)
    return [dict(row._mapping) for row in await conn.execute(query)]
