"""Posting transactions: the one path by which points move.

``post()`` takes a batch of drafted transactions and, inside the caller's database
transaction, (1) checks each draft's shape, (2) locks the accounts it touches, (3)
replays the postings against the locked balances so that no member's available balance
goes below zero at any step, (4) writes the new materialized balances, and (5) appends
the transactions to the hash chain, (6) books the members' points on lots (journal.lots:
what expires when), and (7) runs the ledger's after-posting steps (the nomination flags
of every member whose points earned in a period changed), in the same database
transaction.

The journal knows no feature: what it needs from them — the expiry date of new points,
the steps after posting — comes in a ``Journal`` value that the service builds once.

Locks are taken in one global order — member-side accounts (available and held) by id,
then the chain head, then org-unit accounts by id — so concurrent writers queue but
never deadlock. Work that locks more than accounts takes its own locks first: a
redemption, then its reward, then ``post``'s. The order is
chosen for the hot rows: every award of a unit debits that unit's issuance account, so a
lock on it held for a whole database transaction would serialize the unit. Unit accounts
are locked only by the holder of the chain head, which every journal write needs anyway,
so they add no waiting of their own; member accounts, rarely contended, are locked
before it and may be waited for without holding up the chain.

A batch is all or nothing: one failing draft fails them all (settling a roster).

Round trips. Batches are committed one at a time (``journal.group_commit``), so on
PostgreSQL a batch's round trips bound the rate of every writer. ``post`` sends two
statements whatever the batch's size: every lock (member-side accounts, the chain head,
the org-unit accounts, in that order) with what the features need read (the latest
expiry policies and tier schemes, ``Journal.versioned``, and the paths of the drafts'
units), and every write (balances, counters, transactions, postings, lots, the chain
head) as one statement of data-modifying ``WITH``s over ``unnest``ed arrays
(``storage.bulk.Writes``) whose own ``SELECT`` is what the steps after posting read of
the state before the writes (``AfterPosting.read_before``). An award batch went from 21
statements to 12 this way, then to 4 (the bench prints them: ``bench.statements``): the
idempotency claims go with the read of the members and units, and the stored replies
with the audit rows, just before the commit (``bulk.at_commit``). What is rarer costs
a statement more: a debit's lots (``journal.lots``), flags that change, a replayed key
(``idempotency.claim_many``), caps' usage under the members' locks (awards by rule).
A server-side function was
the other way to reach a few statements; it was not taken, because the chain's hashes
are computed here, in Python, from the locked head (the same code ``verify`` uses), and
a function would have to repeat that canonical form in SQL, and be migrated with it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import Select, Table, select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.errors import InsufficientPoints
from ledger.journal import chain, counters, lots, personal
from ledger.storage import bulk, unit_versions
from ledger.storage.tables import Account, ChainHead, JournalTxn, PostingRow, table_of
from ledger.values import MEMBER_SIDE_KINDS, AccountKind, TxnDraft

ReadBefore = Callable[[Sequence[TxnDraft]], tuple[Select[Any], Mapping[str, Any]] | None]
"""What a step after posting reads of the database as it was before a batch's writes (a
query and its parameters, or None for nothing): it goes with the writes, as their
statement's own ``SELECT`` on PostgreSQL (``bulk.Writes.read_before``)."""

Step = Callable[
    [AsyncConnection, Sequence[TxnDraft], Sequence[int], datetime, unit_versions.Loaded, Sequence[bulk.Row]],
    Awaitable[None],
]


@dataclass(frozen=True, slots=True)
class AfterPosting:
    """A step run after each posted batch, in its database transaction. ``run`` is given
    (conn, drafts, their transaction ids, recorded at, what was read with the locks, the
    rows ``read_before`` read). One step at most reads before the writes: their
    statement has one ``SELECT``."""

    read_before: ReadBefore
    run: Step


ExpiryDatesFrom = Callable[[unit_versions.Loaded, Sequence[str], datetime], Mapping[str, datetime | None]]
"""When points issued by each of these units at this instant expire (None: never), from
what was read with the locks."""


@dataclass(frozen=True, slots=True)
class Journal:
    """How this ledger posts, given to every feature that posts. ``for_update`` takes row
    locks (PostgreSQL; SQLite's single writer already excludes every other writer);
    ``tz`` is the community's time zone, in which periods and expiry dates are counted."""

    tz: tzinfo
    for_update: bool
    expiry_dates: ExpiryDatesFrom
    after_posting: tuple[AfterPosting, ...] = ()
    versioned: tuple[Table, ...] = ()
    """The versioned tables (``storage.unit_versions``) whose latest versions the expiry
    dates and the steps after posting read, read with the locks of every posting."""


@dataclass(frozen=True, slots=True)
class Posted:
    """A transaction as it landed: its chain position, hash, and balances after it."""

    id: int
    hash: str
    balance_after: dict[int, int]
    drawn: lots.Drawn  # the lots the member's debit drew on, soonest-expiring first


def check_draft(draft: TxnDraft) -> None:
    """Programmer errors: a draft that breaks these was built wrong, not asked for wrong."""
    amounts = [p.amount_points for p in draft.postings]
    accounts = [p.account_id for p in draft.postings]
    assert len(amounts) >= 2, "a transaction has at least two postings"
    assert sum(amounts) == 0, "the postings of a transaction sum to zero"
    assert len(set(accounts)) == len(accounts), "a transaction posts to an account once"
    assert all(isinstance(a, int) and a != 0 for a in amounts), "postings are non-zero integers"
    assert draft.occurred_at.tzinfo is not None


@dataclass(slots=True)
class _Locked:
    kind: str
    owner: str
    available: int


# Statements are built once: building a SQLAlchemy statement costs about as much as
# executing it, and these run for every batch of every write.
_accounts = table_of(Account)
_head = table_of(ChainHead)
_SELECT_ACCOUNTS = (
    select(_accounts.c.id, _accounts.c.kind, _accounts.c.owner, _accounts.c.available)
    .where(bulk.OneOf(_accounts.c.id, "ids"))
    .order_by(_accounts.c.id)
)
_MEMBER_SIDE = _accounts.c.kind.in_(MEMBER_SIDE_KINDS)
_LOCK_MEMBER_ACCOUNTS = {
    # take row locks? → statement
    for_update: (
        _SELECT_ACCOUNTS.where(_MEMBER_SIDE).with_for_update() if for_update else _SELECT_ACCOUNTS.where(_MEMBER_SIDE)
    )
    for for_update in (True, False)
}


@functools.cache
def _lock_all_sql(dialect: Dialect, versioned: tuple[Table, ...]) -> str:
    """PostgreSQL: every lock of a posting and the reads made for the features, in one
    statement (one round trip instead of a statement each). The locks keep the global
    order: each one waits on the one before it. The member-side accounts are locked
    first, by id; the chain head's row only passes once they all are (its condition
    counts them); the org-unit accounts are joined to the locked head, so none of them
    is read, and locked, before it. The reads see the database as the statement began,
    which is right for what they read: the versions and paths only change by appends
    and moves that no posting depends on the order of. ``$1`` the account ids, ``$2``
    the units whose paths are read."""
    kinds = ", ".join(f"'{kind}'" for kind in MEMBER_SIDE_KINDS)
    reads = "".join(f", {unit_versions.latest_json_sql(dialect, table)} AS {table.name}" for table in versioned)
    return f"""WITH member_side AS (
  SELECT id, kind, owner, available FROM account
  WHERE id = ANY($1::BIGINT[]) AND kind IN ({kinds}) ORDER BY id FOR UPDATE
), head AS (
  SELECT last_txn_id, last_hash FROM chain_head
  WHERE id = 1 AND (SELECT count(*) FROM member_side) >= 0 FOR UPDATE
), units AS (
  SELECT account.id, account.kind, account.owner, account.available FROM account JOIN head ON true
  WHERE account.id = ANY($1::BIGINT[]) AND account.kind NOT IN ({kinds}) ORDER BY account.id FOR UPDATE OF account
)
SELECT head.last_txn_id, head.last_hash,
  (SELECT json_agg(json_build_array(id, kind, owner, available)) FROM member_side) AS member_side,
  (SELECT json_agg(json_build_array(id, kind, owner, available)) FROM units) AS units,
  (SELECT json_agg(json_build_array(code, path)) FROM org_unit WHERE code = ANY($2::VARCHAR[])) AS paths{reads}
FROM head"""


_TXN_COLUMNS = (*chain.HASHED_FIELDS, "prev_hash", "hash")
_POSTING_COLUMNS = ("txn_id", "account_id", "amount", "balance_after")


async def _lock_member_side(conn: AsyncConnection, account_ids: set[int], for_update: bool) -> dict[int, _Locked]:
    """Lock the member-side accounts among ``account_ids``."""
    rows = await conn.execute(_LOCK_MEMBER_ACCOUNTS[for_update], {"ids": sorted(account_ids)})
    # Unpacked, not read by name: a settle locks 10,000 accounts.
    return {account_id: _Locked(kind, owner, available) for account_id, kind, owner, available in rows}


async def lock_member_accounts(conn: AsyncConnection, account_ids: set[int], for_update: bool) -> dict[int, int]:
    """Take the member-account locks ``post`` will take, ahead of it, for work that reads
    what those locks protect (balances, cap usage) before posting; the available balances."""
    locked = await _lock_member_side(conn, account_ids, for_update)
    return {account_id: account.available for account_id, account in locked.items()}


def _read_all_sql(dialect: Dialect, versioned: tuple[Table, ...], accounts: int, units: int) -> str:
    """SQLite: what ``_lock_all_sql`` reads, in one statement (its single writer already
    excludes every other writer, so nothing is locked; a statement is a pass of Python
    through the driver). Its parameters: ``accounts`` ids, then ``units`` codes."""
    reads = "".join(f", {unit_versions.latest_json_sql(dialect, table)} AS {table.name}" for table in versioned)
    ids, codes = ", ".join("?" * accounts), ", ".join("?" * units)
    return f"""SELECT last_txn_id, last_hash,
  (SELECT json_group_array(json_array(id, kind, owner, available)) FROM account WHERE id IN ({ids})) AS accounts,
  (SELECT json_group_array(json_array(code, path)) FROM org_unit WHERE code IN ({codes})) AS paths{reads}
FROM chain_head WHERE id = 1"""


@dataclass(slots=True)
class _Locks:
    head: tuple[int, str]
    accounts: dict[int, _Locked]
    loaded: unit_versions.Loaded


def _locked(rows: list[list[Any]] | None) -> dict[int, _Locked]:
    return {account_id: _Locked(kind, owner, available) for account_id, kind, owner, available in rows or ()}


async def _lock(conn: AsyncConnection, account_ids: set[int], units: set[str], journal: Journal) -> _Locks:
    """Lock the accounts among ``account_ids`` and the chain head, in the global order,
    and read what the journal's features need for a batch issued by ``units``."""
    ids, codes = sorted(account_ids), sorted(units)
    if conn.dialect.name == "postgresql":
        assert journal.for_update, "PostgreSQL writers take row locks"
        sql = _lock_all_sql(conn.dialect, journal.versioned)
        row = (await conn.exec_driver_sql(sql, (ids, codes))).one()._mapping
        # The driver hands JSON over decoded.
        accounts = _locked(row["member_side"]) | _locked(row["units"])
        latest = {t.name: unit_versions.latest_from_json(row[t.name]) for t in journal.versioned}
        paths = dict(row["paths"] or ())
        return _Locks((row["last_txn_id"], row["last_hash"]), accounts, unit_versions.Loaded(latest, paths))
    sql = _read_all_sql(conn.dialect, journal.versioned, len(ids), len(codes))
    row = (await conn.exec_driver_sql(sql, (*ids, *codes))).one()._mapping
    # SQLite hands JSON over as text.
    accounts = _locked(json.loads(row["accounts"]))
    latest = {t.name: unit_versions.latest_from_json(json.loads(row[t.name])) for t in journal.versioned}
    paths = dict(json.loads(row["paths"]))
    return _Locks((row["last_txn_id"], row["last_hash"]), accounts, unit_versions.Loaded(latest, paths))


def _replay(drafts: Sequence[TxnDraft], locked: dict[int, _Locked]) -> list[dict[int, int]]:
    """Apply the drafts in order; the balance after each posting, per draft."""
    after: list[dict[int, int]] = []
    for draft in drafts:
        balances: dict[int, int] = {}
        for posting in draft.postings:
            account = locked[posting.account_id]
            new = account.available + posting.amount_points
            if new < 0 and account.kind != AccountKind.ISSUANCE.value:
                member = account.owner if account.kind in MEMBER_SIDE_KINDS else None
                raise InsufficientPoints(member, account.available, -posting.amount_points)
            account.available = new
            balances[posting.account_id] = new
        after.append(balances)
    return after


async def _write_balances(writes: bulk.Writes, drafts: Sequence[TxnDraft], locked: dict[int, _Locked]) -> None:
    earned: dict[int, int] = {}
    for draft in drafts:
        if draft.member_account_id is not None and draft.earned_points:
            earned[draft.member_account_id] = earned.get(draft.member_account_id, 0) + draft.earned_points
    await writes.update(
        _accounts,
        ("id",),
        [(account_id, account.available, earned.get(account_id, 0)) for account_id, account in sorted(locked.items())],
        set_=("available",),
        add=("lifetime_earned",),
    )
    # The held column of a member's account mirrors the member's held account, so a
    # balance read stays one row.
    held = [
        (AccountKind.MEMBER.value, account.owner, account.available)
        for account in locked.values()
        if account.kind == AccountKind.HELD.value
    ]
    await writes.update(_accounts, ("kind", "owner"), held, set_=("held",))
    await counters.write(
        writes,
        counters.tally(
            entry
            for d in drafts
            for entry in counters.increments(
                d.kind.value, d.member_account_id, d.earned_points, d.period, d.org_unit, d.category.value, d.extra
            )
        ),
    )


async def post(
    conn: AsyncConnection, drafts: Sequence[TxnDraft], recorded_at: datetime, journal: Journal
) -> list[Posted]:
    """Post ``drafts`` in order, all or nothing."""
    assert drafts, "post at least one transaction"
    for draft in drafts:
        check_draft(draft)
    account_ids = {p.account_id for d in drafts for p in d.postings}
    locks = await _lock(conn, account_ids, {d.org_unit for d in drafts}, journal)
    head, locked = locks.head, locks.accounts
    assert len(locked) == len(account_ids), "every posting names an existing account"
    balances_after = _replay(drafts, locked)
    # The writes read nothing of each other: they go together (one statement on
    # PostgreSQL), with what the steps after posting read of the state before them.
    async with bulk.writing(conn) as writes:
        reads = [step.read_before(drafts) for step in journal.after_posting]
        before = [writes.read_before(*read) if read is not None else [] for read in reads]
        await _write_balances(writes, drafts, locked)
        # The chain holds digests of memos and evidence URLs, their text erasable apart
        # (``journal.personal``).
        chained = await personal.sealed(writes, drafts)
        sealed = await _append_to_chain(writes, chained, balances_after, recorded_at, head)
        txn_ids = [txn_id for txn_id, _ in sealed]
        kinds = {account_id: account.kind for account_id, account in locked.items()}
        dates = functools.partial(journal.expiry_dates, locks.loaded)
        drawn = await lots.book(conn, writes, drafts, txn_ids, kinds, recorded_at, dates)
    for step, rows in zip(journal.after_posting, before, strict=True):
        await step.run(conn, drafts, txn_ids, recorded_at, locks.loaded, rows)
    return [
        Posted(txn_id, digest, after, taken)
        for (txn_id, digest), after, taken in zip(sealed, balances_after, drawn, strict=True)
    ]


async def _append_to_chain(
    writes: bulk.Writes,
    drafts: Sequence[TxnDraft],
    balances_after: list[dict[int, int]],
    recorded_at: datetime,
    head: tuple[int, str],
) -> list[tuple[int, str]]:
    """Seal and insert the transactions; each one's id and hash."""
    txn_id, prev_hash = head
    txn_rows: list[tuple[object, ...]] = []
    posting_rows: list[tuple[int, int, int, int]] = []
    sealed: list[tuple[int, str]] = []
    for draft, after in zip(drafts, balances_after, strict=True):
        txn_id += 1
        row = _txn_row(txn_id, draft, recorded_at)
        postings = [(p.account_id, p.amount_points) for p in draft.postings]
        row["prev_hash"] = prev_hash
        row["hash"] = prev_hash = chain.link(prev_hash, row, postings)
        txn_rows.append(tuple(row[c] for c in _TXN_COLUMNS))
        posting_rows.extend((txn_id, a, amount, after[a]) for a, amount in postings)
        sealed.append((txn_id, prev_hash))
    await writes.insert(table_of(JournalTxn), _TXN_COLUMNS, txn_rows)
    await writes.insert(table_of(PostingRow), _POSTING_COLUMNS, posting_rows)
    await writes.update(_head, ("id",), [(1, txn_id, prev_hash)], set_=("last_txn_id", "last_hash"))
    return sealed


def _txn_row(txn_id: int, draft: TxnDraft, recorded_at: datetime) -> dict[str, object]:
    return {
        "id": txn_id,
        "kind": draft.kind.value,
        "category": draft.category.value,
        "member_id": draft.member_id,
        "org_unit": draft.org_unit,
        "occurred_at": draft.occurred_at,
        "recorded_at": recorded_at,
        "recorded_by": draft.recorded_by,
        "memo": draft.memo,
        "evidence_url": draft.evidence_url,
        "reverses_id": draft.reverses_id,
        "period": draft.period,
        "earned_points": draft.earned_points,
        "extra": dict(draft.extra),
    }
