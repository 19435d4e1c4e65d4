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

import functools
import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.errors import IdempotencyKeyReused
from ledger.storage.tables import IdempotencyRecord
from ledger.storage.upsert import insert_if_absent


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


@functools.cache
def _claim_statement(dialect: str) -> Any:
    return insert_if_absent(dialect, _table, ("principal", "key")).returning(_table.c.principal, _table.c.key)


_COMPLETE = (
    update(_table)
    .where(_table.c.principal == bindparam("b_principal"), _table.c.key == bindparam("b_key"))
    .values(result=bindparam("b_result"))
)


def _key(request: IdempotentRequest) -> tuple[str, str]:
    return request.principal, request.key


async def claim_many(
    conn: AsyncConnection, requests: Sequence[IdempotentRequest], now: datetime
) -> list[dict[str, Any] | IdempotencyKeyReused | None]:
    """Claim every key in one statement. Per request: None when it claimed its key (do
    the work), the stored result when an earlier request did, or IdempotencyKeyReused.

    Keys must be distinct. They are inserted in sorted order, so two batches that share
    keys wait on each other in the same order and never deadlock."""
    assert len({_key(r) for r in requests}) == len(requests), "deduplicate keys before claiming"
    ordered = sorted(requests, key=_key)
    inserted = await conn.execute(
        _claim_statement(conn.dialect.name),
        [{"principal": r.principal, "key": r.key, "fingerprint": r.fingerprint, "created_at": now} for r in ordered],
    )
    claimed = {tuple(row) for row in inserted}
    taken = [_key(r) for r in ordered if _key(r) not in claimed]
    stored: dict[tuple[str, str], Any] = {}
    if taken:
        rows = await conn.execute(
            select(_table.c.principal, _table.c.key, _table.c.fingerprint, _table.c.result).where(
                tuple_(_table.c.principal, _table.c.key).in_(taken)
            )
        )
        stored = {(row.principal, row.key): row for row in rows}
    outcomes: list[dict[str, Any] | IdempotencyKeyReused | None] = []
    for request in requests:
        if _key(request) in claimed:
            outcomes.append(None)
            continue
        row = stored[_key(request)]
        assert row.result is not None, "a committed claim always carries its result"
        same = row.fingerprint == request.fingerprint
        outcomes.append(row.result if same else IdempotencyKeyReused(request.key))
    return outcomes


async def complete_many(conn: AsyncConnection, results: Sequence[tuple[IdempotentRequest, dict[str, Any]]]) -> None:
    """Store the results of the requests that claimed their keys."""
    if results:
        await conn.execute(
            _COMPLETE,
            [{"b_principal": r.principal, "b_key": r.key, "b_result": result} for r, result in results],
        )


async def release_many(conn: AsyncConnection, requests: Sequence[IdempotentRequest]) -> None:
    """Give back the claims of requests that were refused inside a batch: nothing was
    done for them, so a retry must be evaluated afresh, as a lone refused request is."""
    if requests:
        await conn.execute(
            delete(_table).where(tuple_(_table.c.principal, _table.c.key).in_([_key(r) for r in requests]))
        )


async def once(
    conn: AsyncConnection,
    request: IdempotentRequest,
    now: datetime,
    work: Callable[[], Awaitable[dict[str, Any]]],
) -> tuple[dict[str, Any], bool]:
    """Run ``work`` once per key; returns (result, replayed)."""
    [stored] = await claim_many(conn, [request], now)
    if isinstance(stored, IdempotencyKeyReused):
        raise stored
    if stored is not None:
        return stored, True
    result = await work()
    await complete_many(conn, [(request, result)])
    return result, False
