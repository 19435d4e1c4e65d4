"""Exactly-once writes: a client key claimed in the same database transaction as the work.

A key belongs to the ledger, not to a token: it is unique ledger-wide, and the first
request with it inserts ``(key, principal, fingerprint)`` *before* doing its work. A
concurrent duplicate's insert then waits on the unique index until the first commits
(PostgreSQL) or on the write lock (SQLite), finds the row, and is answered from it
without doing the work again. If the first fails, its claim rolls back with it and the
duplicate does the work itself.

A request finding its key held is answered, in this order of precedence:

1. ``IdempotencyKeyTaken`` when another principal holds it, whatever the body: a client
   that changed its token between an attempt and its retry must not be awarded twice,
   and no principal is shown another's stored answer;
2. ``IdempotencyKeyReused`` when the same principal sent another request (fingerprint);
3. the stored result, as a replay.

Results of refused requests are not stored: nothing changed, so a retry is evaluated afresh.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime
from typing import Any, Self, TypeVar, get_args, get_type_hints

from sqlalchemy import Select, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.errors import Conflict, IdempotencyKeyReused, IdempotencyKeyTaken, LedgerError
from ledger.storage import bulk
from ledger.storage.tables import IdempotencyRecord, table_of
from ledger.storage.upsert import insert_if_absent


@dataclass(frozen=True, slots=True)
class IdempotentRequest:
    principal: str
    key: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Held:
    """A key an earlier, committed request holds: that request and its stored result."""

    holder: IdempotentRequest
    result: dict[str, Any]


class Reply:
    """A typed result that an exactly-once write stores with its key and a retry replays.

    Subclasses are frozen dataclasses of JSON values and timestamps (or of nested ``Reply``
    values, which override ``replayed``). A field added in a later release must have a
    default: a reply stored before it then replays with the default, and a field that a
    release dropped is ignored, so a retry that spans an upgrade is answered, not refused.
    """

    __slots__ = ()

    def stored(self) -> dict[str, Any]:
        """The reply as the JSON column keeps it: timestamps as ISO 8601 text."""
        stored: dict[str, Any] = _json(self)
        return stored

    @classmethod
    def replayed(cls, stored: Mapping[str, Any]) -> Self:
        known = _timestamp_fields(cls)  # type: ignore[arg-type]  # a class is hashable
        values = {
            name: datetime.fromisoformat(value) if known.get(name) and isinstance(value, str) else value
            for name, value in stored.items()
            if name in known
        }
        return cls(**values)  # a subclass's dataclass constructor


def _json(value: Any) -> Any:
    """``value`` as JSON keeps it, a dataclass as the dict of its fields (what
    ``dataclasses.asdict`` gives, without its deep copy of every value: every reply of
    every batch passes here)."""
    if isinstance(value, datetime):
        return value.isoformat()
    names = _field_names(type(value))  # type: ignore[arg-type]  # a class is hashable
    if names is not None:
        return {name: _json(getattr(value, name)) for name in names}
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value


@functools.cache
def _field_names(kind: type) -> tuple[str, ...] | None:
    """A dataclass's fields in their order; None for any other type."""
    return tuple(f.name for f in fields(kind)) if is_dataclass(kind) else None


@functools.cache
def _timestamp_fields(reply: type[Reply]) -> dict[str, bool]:
    """Each field of ``reply`` by name: whether it holds a timestamp (stored as text)."""
    hints = get_type_hints(reply)
    return {f.name: datetime in (hints[f.name], *get_args(hints[f.name])) for f in fields(reply)}  # type: ignore[arg-type]


R = TypeVar("R", bound=Reply)


def fingerprint(*parts: Any) -> str:
    """A stable digest of what a request asks for (route and body, canonically encoded)."""
    encoded = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


def item_request(batch: IdempotentRequest, item: str, *parts: Any) -> IdempotentRequest:
    """One item of a batch request under a key of its own: the digest of the batch's key
    and the item's name, fingerprinted by what is asked of that item. Each item is then
    exactly-once by itself, so a retry of the batch with its key replays the items done,
    does the ones refused before afresh, and refuses an item asked something else."""
    digest = hashlib.sha256(batch.key.encode()).hexdigest()
    return IdempotentRequest(batch.principal, f"{digest}:{item}", fingerprint(*parts))


def refusal(holder: IdempotentRequest, request: IdempotentRequest) -> Conflict | None:
    """Why ``request`` may not be answered as a retry of ``holder``, the request that
    holds its key (see the order of precedence above), or None when it is one."""
    assert holder.key == request.key
    if holder.principal != request.principal:
        return IdempotencyKeyTaken(request.key)
    if holder.fingerprint != request.fingerprint:
        return IdempotencyKeyReused(request.key)
    return None


def answer(held: Held, request: IdempotentRequest) -> dict[str, Any] | Conflict:
    """The stored result for a retry of the holder, else the refusal."""
    return refusal(held.holder, request) or held.result


_table = table_of(IdempotencyRecord)


@functools.cache
def _claim_statement(dialect: str) -> Any:
    return insert_if_absent(dialect, _table, ("key",)).returning(_table.c.key)


_CLAIM_COLUMNS = ("principal", "key", "fingerprint", "created_at")
Read = tuple[Select[Any], Mapping[str, Any]]
"""A query and its parameters."""


async def claim_many(
    conn: AsyncConnection, requests: Sequence[IdempotentRequest], now: datetime, read: Read | None = None
) -> tuple[list[Held | None], list[bulk.Row]]:
    """Claim every key in one statement. Per request: None when it claimed its key (do
    the work), else what holds the key (``answer`` says what the request is told); and
    the rows of ``read``, a read the work needs whatever the claims (one statement with
    the claims on PostgreSQL, a round trip less: its first column is never NULL).

    Keys must be distinct. They are inserted in sorted order, so two batches that share
    keys wait on each other in the same order and never deadlock."""
    assert len({r.key for r in requests}) == len(requests), "deduplicate keys before claiming"
    ordered = sorted(requests, key=lambda r: r.key)
    read_rows: list[bulk.Row] = []
    if conn.dialect.name == "postgresql" and read is not None:
        claimed, read_rows = await _claim_and_read(conn, ordered, now, read)
    else:
        claims = [dict(zip(_CLAIM_COLUMNS, (r.principal, r.key, r.fingerprint, now), strict=True)) for r in ordered]
        inserted = await conn.execute(_claim_statement(conn.dialect.name), claims)
        claimed = set(inserted.scalars())
        if read is not None:
            read_rows = list(await conn.execute(*read))
    taken = [r.key for r in ordered if r.key not in claimed]
    held: dict[str, Held] = {}
    if taken:
        # A key held by a batch that committed while this one waited for it is not in the
        # claiming statement's snapshot: read in a statement of its own.
        rows = await conn.execute(
            select(_table.c.principal, _table.c.key, _table.c.fingerprint, _table.c.result).where(
                _table.c.key.in_(taken)
            )
        )
        for row in rows:
            assert row.result is not None, "a committed claim always carries its result"
            held[row.key] = Held(IdempotentRequest(row.principal, row.key, row.fingerprint), row.result)
    return [None if r.key in claimed else held[r.key] for r in requests], read_rows


async def _claim_and_read(
    conn: AsyncConnection, ordered: Sequence[IdempotentRequest], now: datetime, read: Read
) -> tuple[set[str], list[bulk.Row]]:
    """PostgreSQL: the claims as a data-modifying ``WITH`` over ``unnest``ed arrays
    (inserted in array order), and ``read`` as the statement's ``SELECT``: the keys
    claimed, and the read's rows."""
    query, params = read
    read_sql, parameters = bulk.positional(conn.dialect, query, params)
    insert = bulk.insert_sql(conn.dialect, _table, _CLAIM_COLUMNS, len(parameters) + 1)
    rows = [(r.principal, r.key, r.fingerprint, now) for r in ordered]
    parameters += bulk.column_values(conn, _table, _CLAIM_COLUMNS, rows)
    sql = (
        f"WITH claimed AS ({insert} ON CONFLICT (key) DO NOTHING RETURNING key) "
        f"SELECT c.claimed_keys, r.* FROM (SELECT json_agg(key) AS claimed_keys FROM claimed) AS c "
        f"LEFT JOIN ({read_sql}) AS r ON true"
    )
    result: list[tuple[Any, ...]] = [tuple(row) for row in await conn.exec_driver_sql(sql, tuple(parameters))]
    claimed = set(result[0][0] or ())
    found = [row[1:] for row in result if row[1] is not None]
    return claimed, list(bulk.processed(conn.dialect, query, found))


async def complete_many(conn: AsyncConnection, results: Sequence[tuple[IdempotentRequest, dict[str, Any]]]) -> None:
    """Store the results of the requests that claimed their keys, with the transaction's
    last statement (``bulk.at_commit``: nothing reads them before the commit)."""
    async with bulk.at_commit(conn) as writes:
        await writes.update(_table, ("key",), [(r.key, result) for r, result in results], set_=("result",))


async def release_many(conn: AsyncConnection, requests: Sequence[IdempotentRequest]) -> None:
    """Give back the claims of requests that were refused inside a batch: nothing was
    done for them, so a retry must be evaluated afresh, as a lone refused request is."""
    if requests:
        await conn.execute(delete(_table).where(_table.c.key.in_([r.key for r in requests])))


async def once_many(
    conn: AsyncConnection,
    requests: Sequence[IdempotentRequest],
    now: datetime,
    work: Callable[[Sequence[int], Sequence[bulk.Row]], Awaitable[Sequence[R | LedgerError]]],
    reply: type[R],
    read: Read | None = None,
) -> list[tuple[R, bool] | LedgerError]:
    """``once`` for a batch of requests sharing one database transaction (group commit).

    ``work`` is given the positions of the requests that claimed their keys, in arrival
    order, and the rows of ``read`` (sent with the claims: ``claim_many``), and answers
    each with its result or the ledger error that refuses it; each request's outcome is
    its result and whether it was replayed from the one stored under its key.

    A key sent twice in one batch is claimed once, by the first request with it; each
    later one is answered as a retry of the first (``refusal``): a replay, or refused when
    it comes from another principal or asks something else. Either way it never works.
    The claims of refused requests are given back, as a lone refused request's roll back."""
    first_index: dict[str, int] = {}
    for i, request in enumerate(requests):
        first_index.setdefault(request.key, i)
    unique = sorted(first_index.values())
    claims, rows = await claim_many(conn, [requests[i] for i in unique], now, read)
    held = {requests[i].key: claim for i, claim in zip(unique, claims, strict=True) if claim is not None}
    fresh = [i for i in unique if requests[i].key not in held]
    outcomes: dict[int, tuple[R, bool] | LedgerError] = {}
    done = await work(fresh, rows) if fresh else []
    assert len(done) == len(fresh), "one result or refusal per claimed request"
    for i, result in zip(fresh, done, strict=True):
        outcomes[i] = result if isinstance(result, LedgerError) else (result, False)
    await release_many(
        conn, [requests[i] for i, result in zip(fresh, done, strict=True) if isinstance(result, LedgerError)]
    )
    await complete_many(
        conn, [(requests[i], r.stored()) for i, r in zip(fresh, done, strict=True) if not isinstance(r, LedgerError)]
    )
    for i, request in enumerate(requests):
        if request.key in held:
            answered = answer(held[request.key], request)
            outcomes[i] = answered if isinstance(answered, LedgerError) else (reply.replayed(answered), True)
        elif first_index[request.key] != i:
            first = outcomes[first_index[request.key]]
            retry = first if isinstance(first, LedgerError) else (first[0], True)
            outcomes[i] = refusal(requests[first_index[request.key]], request) or retry
    return [outcomes[i] for i in range(len(requests))]


async def once(
    conn: AsyncConnection,
    request: IdempotentRequest,
    now: datetime,
    work: Callable[[], Awaitable[R]],
    reply: type[R],
) -> tuple[R, bool]:
    """Run ``work`` once per key; returns (result, replayed)."""
    [held], _ = await claim_many(conn, [request], now)
    if held is not None:
        answered = answer(held, request)
        if isinstance(answered, Conflict):
            raise answered
        return reply.replayed(answered), True
    result = await work()
    await complete_many(conn, [(request, result.stored())])
    return result, False
