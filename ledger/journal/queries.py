"""Reads: balances from the materialized rows (O(1)), statements from the member's
postings (one indexed range scan per page), and single transactions with postings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, bindparam, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.errors import InvalidInput, MemberNotFound, TransactionNotFound
from ledger.journal import personal
from ledger.storage.tables import Account, AccountPeriod, JournalTxn, Lot, PostingRow, table_of
from ledger.storage.tables import Member as MemberRow
from ledger.values import Balance

EXPIRY_NOTICE = timedelta(days=30)
"""How far ahead a balance warns of points about to expire: a month to spend them."""

STATEMENT_PAGE_SIZE_DEFAULT = 50
STATEMENT_PAGE_SIZE_MAX = 500
"""A page a phone scrolls through; 500 lines bounds one response to ~150 KB."""

_accounts = table_of(Account)
_members = table_of(MemberRow)
_periods = table_of(AccountPeriod)
_txns = table_of(JournalTxn)
_postings = table_of(PostingRow)
_lots = table_of(Lot)

# The member's dated lots that still hold points: what expires soon, and when the next does.
_dated = (_lots.c.account_id == _accounts.c.id) & (_lots.c.remaining > 0) & _lots.c.expires_at.is_not(None)
_EXPIRING = (
    select(
        # PostgreSQL's SUM of BIGINT is NUMERIC: cast back to a whole number of points.
        cast(
            func.coalesce(func.sum(case((_lots.c.expires_at <= bindparam("horizon"), _lots.c.remaining), else_=0)), 0),
            BigInteger,
        )
    )
    .where(_dated)
    .scalar_subquery()
)
_NEXT_EXPIRY = select(func.min(_lots.c.expires_at)).where(_dated).scalar_subquery()

_BALANCE = (
    select(
        _members.c.id,
        _accounts.c.available,
        _accounts.c.held,
        _accounts.c.lifetime_earned,
        _periods.c.earned,
        _EXPIRING.label("expiring"),
        _NEXT_EXPIRY.label("next_expiry"),
    )
    .join(_accounts, _accounts.c.id == _members.c.account_id)
    .outerjoin(_periods, (_periods.c.account_id == _accounts.c.id) & (_periods.c.period == bindparam("period")))
    .where(_members.c.id == bindparam("member_id"))
)


async def balance(conn: AsyncConnection, member_id: str, period: str, now: datetime) -> Balance:
    """One statement: the member's materialized balances, the period's earned points, and
    the points that expire within ``EXPIRY_NOTICE`` (from the member's lots, by index)."""
    horizon = now + EXPIRY_NOTICE
    row = (await conn.execute(_BALANCE, {"member_id": member_id, "period": period, "horizon": horizon})).first()
    if row is None:
        raise MemberNotFound(member_id, field="id")
    return Balance(
        member_id=row.id,
        available_points=row.available,
        held_points=row.held,
        lifetime_earned_points=row.lifetime_earned,
        period=period,
        period_earned_points=row.earned or 0,
        expiring_points=row.expiring,
        expiring_before=horizon,
        next_expiry_at=row.next_expiry,
    )


@dataclass(frozen=True, slots=True)
class StatementLine:
    transaction_id: int
    kind: str
    points: int
    category: str
    occurred_at: datetime
    recorded_at: datetime
    memo: str
    balance_after: int
    reverses_id: int | None
    rule: str | None
    """The earning rule an award was computed by (none for a manual award)."""
    reward: str | None
    """The reward a hold, fulfilment or release was for."""


@dataclass(frozen=True, slots=True)
class StatementPage:
    lines: Sequence[StatementLine]
    next_cursor: str | None


_CURSOR_NONE = 2**63 - 1  # "before the end": the first page


def _parse_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not (cursor.isascii() and cursor.isdigit() and len(cursor) <= 19 and int(cursor) < _CURSOR_NONE):
        raise InvalidInput("cursor", "cursor must be a value returned as next_cursor")
    return int(cursor)


_STATEMENT = (
    select(
        _txns.c.id,
        _txns.c.kind,
        _postings.c.amount,
        _txns.c.category,
        _txns.c.occurred_at,
        _txns.c.recorded_at,
        personal.shown(_txns.c.memo, personal.MEMO),
        _postings.c.balance_after,
        _txns.c.reverses_id,
        _txns.c.extra,
    )
    .join(_txns, _txns.c.id == _postings.c.txn_id)
    .where(
        _postings.c.account_id
        == select(_members.c.account_id).where(_members.c.id == bindparam("member_id")).scalar_subquery(),
        _postings.c.txn_id < bindparam("before"),
    )
    .order_by(_postings.c.txn_id.desc())
    .limit(bindparam("limit"))
)
_MEMBER_EXISTS = select(_members.c.id).where(_members.c.id == bindparam("member_id"))


def _line(row: Any) -> StatementLine:
    extra = row.extra or {}
    return StatementLine(
        transaction_id=row.id,
        kind=row.kind,
        points=row.amount,
        category=row.category,
        occurred_at=row.occurred_at,
        recorded_at=row.recorded_at,
        memo=row.memo,
        balance_after=row.balance_after,
        reverses_id=row.reverses_id,
        rule=extra.get("rule"),
        reward=extra.get("reward"),
    )


async def statement(conn: AsyncConnection, member_id: str, limit: int, cursor: str | None) -> StatementPage:
    """Newest first; ``cursor`` continues after the last line of the previous page. One
    indexed range scan; an empty page asks once more whether the member exists at all."""
    if not 1 <= limit <= STATEMENT_PAGE_SIZE_MAX:
        raise InvalidInput("limit", f"limit must be between 1 and {STATEMENT_PAGE_SIZE_MAX}")
    before = _parse_cursor(cursor)
    params = {"member_id": member_id, "before": _CURSOR_NONE if before is None else before, "limit": limit + 1}
    rows = (await conn.execute(_STATEMENT, params)).all()
    if not rows and (await conn.execute(_MEMBER_EXISTS, {"member_id": member_id})).first() is None:
        raise MemberNotFound(member_id, field="id")
    lines = [_line(row) for row in rows[:limit]]
    next_cursor = str(lines[-1].transaction_id) if len(rows) > limit else None
    return StatementPage(lines, next_cursor)


@dataclass(frozen=True, slots=True)
class TransactionView:
    id: int
    kind: str
    category: str
    member_id: str | None
    org_unit: str
    occurred_at: datetime
    recorded_at: datetime
    recorded_by: str
    memo: str
    evidence_url: str | None
    reverses_id: int | None
    reversed_by_id: int | None
    period: str
    earned_points: int
    prev_hash: str
    hash: str
    postings: Sequence[tuple[int, str, str, int]]  # account id, kind, owner, amount


_TRANSACTION = select(
    *(c for c in _txns.c if c.name not in personal.KINDS),
    *(personal.shown(_txns.c[kind], kind) for kind in personal.KINDS),
).where(_txns.c.id == bindparam("id"))


async def transaction(conn: AsyncConnection, transaction_id: int) -> TransactionView:
    row = (await conn.execute(_TRANSACTION, {"id": transaction_id})).first()
    if row is None:
        raise TransactionNotFound(transaction_id)
    postings = (
        await conn.execute(
            select(_postings.c.account_id, _accounts.c.kind, _accounts.c.owner, _postings.c.amount)
            .join(_accounts, _accounts.c.id == _postings.c.account_id)
            .where(_postings.c.txn_id == transaction_id)
            .order_by(_postings.c.account_id)
        )
    ).all()
    reversed_by = (
        await conn.execute(select(_txns.c.id).where(_txns.c.reverses_id == transaction_id))
    ).scalar_one_or_none()
    fields = {name: row._mapping[name] for name in TransactionView.__slots__ if name in row._mapping}
    return TransactionView(**fields, reversed_by_id=reversed_by, postings=[tuple(p) for p in postings])
