"""The audit log: one append-only row per write request, saying who made it and how it
ended. The journal already names who recorded each transaction; the audit log also
covers the writes that move no points (members, rewards, rosters, tokens) and the
writes that were refused.

Reads of personal data in bulk (member lists and searches, evidence, nomination
exports, a resident's copy) leave a row too (``kind`` "read"): who read, which route,
with which filter, how many rows, and about whom when it is one member's data. A read
must not become a write on its path, so its row goes through the ledger's audit group
commit, shared with the other rows arriving at the same moment, and is stored before
the answer leaves: no personal data is shown without its row.

A write's row is stored in the same database transaction as the write, so no committed
write is ever without its row, even when the process dies right after the commit. The
HTTP layer names the request it serves with ``serving`` before the handler runs; every
write transaction of the ledger then stores that request's row before it commits (group
commits store one row per request they commit). A request whose transaction never
committed (refused, failed) has its row stored after the answer, as it changed nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.storage import bulk
from ledger.storage.tables import AuditEntry, table_of
from ledger.values import AUDIT_DETAIL_LENGTH_MAX, AUDIT_PATH_LENGTH_MAX, IDEMPOTENCY_KEY_LENGTH_MAX

AUDIT_PAGE_SIZE_MAX = 1_000

WRITE, READ = "write", "read"
"""The kinds of row: a write request, or a read of personal data."""

_audit = table_of(AuditEntry)


@dataclass(frozen=True, slots=True)
class Entry:
    principal: str
    role: str
    method: str
    path: str
    status: int
    idempotency_key: str | None = None
    kind: str = WRITE
    subject: str | None = None
    """The member whose data a read showed; None for a read of many, or a write."""
    detail: str | None = None
    """A read's filter, as ``key=value`` pairs."""
    rows: int | None = None
    """How many rows a read showed."""


SEARCH_FILTERS = frozenset({"q"})
"""Filters that carry what a reader typed (a name, a phone) rather than a unit or a period."""


def read(
    principal: str, role: str, path: str, rows: int | None, subject: str | None = None, **filters: object
) -> Entry:
    """The row of a read of personal data: the filters that are set, in a stable order. A
    search's words are not kept, only their length: they are often the very name or phone
    a resident may have erased, and the audit row outlives an erasure."""
    shown = {
        k: f"({len(str(v))} characters)" if k in SEARCH_FILTERS and v is not None else v for k, v in filters.items()
    }
    detail = " ".join(f"{k}={v}" for k, v in sorted(shown.items()) if v is not None) or None
    return Entry(principal, role, "GET", path, 200, kind=READ, subject=subject, detail=detail, rows=rows)


@dataclass(slots=True)
class Pending:
    """A write request being served. ``entry.status`` is the status its success answers;
    ``stored`` is set once a committed transaction holds its row."""

    entry: Entry
    stored: bool = False


_serving: ContextVar[Pending | None] = ContextVar("audit_serving", default=None)


@contextmanager
def serving(entry: Entry) -> Iterator[Pending]:
    """Name the write request the current task serves, for the ledger's transactions."""
    pending = Pending(entry)
    token = _serving.set(pending)
    try:
        yield pending
    finally:
        _serving.reset(token)


def current() -> Pending | None:
    return _serving.get()


def answered(pending: Pending, status: int) -> Entry | None:
    """The row still to store once the request is answered: none when a committed
    transaction already holds a row with this status. When the answer differs from the
    committed row (the write committed, then answering it failed) a second row says how
    it ended; the log is append-only, so the first is never rewritten."""
    if pending.stored and pending.entry.status == status:
        return None
    return replace(pending.entry, status=status)


_INSERT = insert(_audit)
_COLUMNS = tuple(c.name for c in _audit.c if c.name != "id")
"""The columns a row is stored with (``_row``), its id left to the database."""


def _row(e: Entry, now: datetime) -> dict[str, Any]:
    return {
        "at": now,
        "principal": e.principal,
        "role": e.role,
        "method": e.method,
        "path": e.path[:AUDIT_PATH_LENGTH_MAX],
        "status": e.status,
        # A refused key may be too long to store whole; the row still says which request.
        "idempotency_key": None if e.idempotency_key is None else e.idempotency_key[:IDEMPOTENCY_KEY_LENGTH_MAX],
        "kind": e.kind,
        "subject": e.subject,
        "detail": None if e.detail is None else e.detail[:AUDIT_DETAIL_LENGTH_MAX],
        "rows": e.rows,
    }


async def record(conn: AsyncConnection, entries: list[Entry], now: datetime) -> None:
    await conn.execute(_INSERT, [_row(e, now) for e in entries])


async def store(conn: AsyncConnection, requests: Sequence[Pending | None], now: datetime) -> list[Pending]:
    """Store the rows of the requests a transaction is about to commit, once each; hand the
    result to ``committed`` after the commit, so a rolled-back row is not taken as stored.
    No ids are asked back: SQLite returns them for a batch of rows only row by row, one
    statement each."""
    unstored = [p for p in requests if p is not None and not p.stored]
    # With the transaction's last statement (nothing reads them before the commit): one
    # statement with the stored replies on PostgreSQL.
    async with bulk.at_commit(conn) as writes:
        rows = [_row(p.entry, now) for p in unstored]
        await writes.insert(_audit, _COLUMNS, [tuple(row[c] for c in _COLUMNS) for row in rows])
    return unstored


def committed(stored: list[Pending]) -> None:
    for pending in stored:
        pending.stored = True


@dataclass(frozen=True, slots=True)
class Recorded:
    """A request as the audit log keeps it: a write, or a read of personal data in bulk."""

    id: int
    at: datetime
    principal: str
    role: str
    method: str
    path: str
    status: int
    idempotency_key: str | None
    kind: str
    subject: str | None  # the member whose data a read showed
    detail: str | None  # a read's filter
    rows: int | None  # how many rows a read showed


async def entries(
    conn: AsyncConnection,
    principal: str | None,
    since: datetime | None,
    limit: int,
    after: int | None,
    subject: str | None = None,
) -> list[Recorded]:
    """Oldest first from ``since`` (or the beginning), ``after`` an id for the next page;
    ``subject`` the reads of one member's data."""
    query = select(_audit).order_by(_audit.c.id).limit(limit)
    if principal is not None:
        query = query.where(_audit.c.principal == principal)
    if subject is not None:
        query = query.where(_audit.c.subject == subject)
    if since is not None:
        query = query.where(_audit.c.at >= since)
    if after is not None:
        query = query.where(_audit.c.id > after)
    return [Recorded(**row._mapping) for row in await conn.execute(query)]
