"""What reviewers and street offices read about tiers and nominations: a member's tier,
the flags of a subtree, the evidence behind a member's points, and the export rows.

The export is a generator over a server-side cursor: rows leave as they are read, so a
subtree of 100,000 members exports in constant memory. Points by category and the
evidence count come from counters kept by ``journal.post``, never from the journal.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.errors import InvalidInput
from ledger.honours.nominations import REVOKED
from ledger.honours.tiers import FLAGS, current_schemes, scheme_for
from ledger.journal import personal
from ledger.journal.periods import check_period
from ledger.org.members import get_member
from ledger.org.units import get_unit, in_subtree
from ledger.storage.tables import (
    AccountPeriod,
    JournalTxn,
    Member,
    MemberPeriodCategory,
    MemberPeriodEvidence,
    NominationCurrent,
    OrgUnit,
    table_of,
)
from ledger.values import Category

EXPORT_FETCH_ROWS = 1_000
"""Rows per round trip of the export cursor: memory stays at a few MB whatever the size."""

EVIDENCE_PAGE_SIZE_MAX = 500
"""Transactions per evidence page; a year of daily patrols fits in one."""

_current = table_of(NominationCurrent)
_members = table_of(Member)
_units = table_of(OrgUnit)
_periods = table_of(AccountPeriod)
_categories = table_of(MemberPeriodCategory)
_evidence = table_of(MemberPeriodEvidence)
_txns = table_of(JournalTxn)


@dataclass(frozen=True, slots=True)
class Threshold:
    name: str
    points: int


@dataclass(frozen=True, slots=True)
class FlagState:
    flag: str
    state: str


@dataclass(frozen=True, slots=True)
class MemberTier:
    """A member's tier in a period, the scheme's thresholds, and how far the next one is
    (``next_tier`` None at the top, ``points_to_next`` then 0)."""

    member_id: str
    period: str
    earned_points: int
    tier: str | None
    tiers: tuple[Threshold, ...]
    next_tier: str | None
    next_threshold: int | None
    points_to_next: int
    scheme_org_unit: str | None
    flags: tuple[FlagState, ...]


@dataclass(frozen=True, slots=True)
class Nomination:
    """A flag of a member in a period as it stands now (revoked ones are not listed)."""

    member_id: str
    name: str
    org_unit: str
    party_member: bool
    period: str
    flag: str
    state: str
    flagged_at: datetime
    transaction_id: int
    notice_id: int | None
    objections: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class EvidenceLine:
    """A transaction behind a member's points earned in a period."""

    id: int
    kind: str
    category: str
    earned_points: int
    occurred_at: datetime
    recorded_at: datetime
    recorded_by: str
    memo: str
    evidence_url: str | None
    reverses_id: int | None
    extra: dict[str, Any]
    """The transaction's own record (rule, quantity, windows …), as the journal keeps it."""


async def member_tier(conn: AsyncConnection, member_id: str, period: str) -> MemberTier:
    check_period(period)
    member = await get_member(conn, member_id, field="id")
    unit = await get_unit(conn, member.org_unit)
    scheme = scheme_for(unit.path, await current_schemes(conn))
    earned = (
        await conn.execute(
            select(_periods.c.earned).where(_periods.c.account_id == member.account_id, _periods.c.period == period)
        )
    ).scalar_one_or_none() or 0
    flags = (
        await conn.execute(
            select(_current.c.flag, _current.c.state)
            .where(_current.c.member_id == member_id, _current.c.period == period)
            .order_by(_current.c.flag)
        )
    ).all()
    following = scheme.next_after(earned) if scheme else None
    return MemberTier(
        member_id=member_id,
        period=period,
        earned_points=earned,
        tier=scheme.tier_of(earned) if scheme else None,
        tiers=tuple(Threshold(n, p) for n, p in scheme.tiers) if scheme else (),
        next_tier=following[0] if following else None,
        next_threshold=following[1] if following else None,
        points_to_next=following[1] - earned if following else 0,
        scheme_org_unit=(scheme.org_unit or None) if scheme else None,
        flags=tuple(FlagState(f, s) for f, s in flags),
    )


def _flags_query(unit_path: str, period: str, flag: str | None) -> Any:
    query = (
        select(
            _current,
            _members.c.name,
            _members.c.party_member,
            _members.c.org_unit,
            _members.c.account_id,
            _units.c.path,
        )
        .join(_members, _members.c.id == _current.c.member_id)
        .join(_units, and_(_units.c.code == _members.c.org_unit, in_subtree(_units.c.path, unit_path)))
        .where(_current.c.period == period, _current.c.state != REVOKED)
        .order_by(_current.c.member_id, _current.c.flag)
    )
    return query if flag is None else query.where(_current.c.flag == flag)


def _check_filters(period: str, flag: str | None) -> None:
    check_period(period)
    if flag is not None and flag not in FLAGS:
        raise InvalidInput("flag", f"flag is one of {', '.join(FLAGS)}")


async def nominations(conn: AsyncConnection, period: str, org_unit: str, flag: str | None) -> list[Nomination]:
    _check_filters(period, flag)
    unit = await get_unit(conn, org_unit)
    rows = await conn.execute(_flags_query(unit.path, period, flag))
    return [Nomination(**{k: v for k, v in row._mapping.items() if k not in ("account_id", "path")}) for row in rows]


async def evidence(
    conn: AsyncConnection, member_id: str, period: str, limit: int, after: int | None
) -> list[EvidenceLine]:
    """The transactions behind the member's points earned in the period, oldest first."""
    check_period(period)
    if not 1 <= limit <= EVIDENCE_PAGE_SIZE_MAX:
        raise InvalidInput("limit", f"limit must be between 1 and {EVIDENCE_PAGE_SIZE_MAX}")
    await get_member(conn, member_id, field="id")
    query = (
        select(
            _txns.c.id,
            _txns.c.kind,
            _txns.c.category,
            _txns.c.earned_points,
            _txns.c.occurred_at,
            _txns.c.recorded_at,
            _txns.c.recorded_by,
            personal.shown(_txns.c.memo, personal.MEMO),
            personal.shown(_txns.c.evidence_url, personal.EVIDENCE),
            _txns.c.reverses_id,
            _txns.c.extra,
        )
        .where(_txns.c.member_id == member_id, _txns.c.period == period, _txns.c.earned_points != 0)
        .order_by(_txns.c.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(_txns.c.id > after)
    return [EvidenceLine(**row._mapping) for row in await conn.execute(query)]


CATEGORY_COLUMNS = tuple(c.value for c in Category)


@dataclass(frozen=True, slots=True)
class ExportRow:
    """One flag of the nomination list: who, where, what, and how many points of which
    kind (one field per ``Category``, named by its value)."""

    name: str
    member_id: str
    org_path: str
    """The unit's names from the street down, joined by "/"."""
    party_member: bool
    flag: str
    tier: str | None
    earned_points: int
    patrol: int
    task: int
    event_report: int
    diary: int
    activity: int
    other: int
    flagged_at: datetime
    state: str
    objections: int
    evidence: int
    """The transactions behind the period's points."""


async def export_rows(
    conn: AsyncConnection, period: str, org_unit: str | None, flag: str | None
) -> AsyncIterator[ExportRow]:
    """One row per flag in the subtree (the whole ledger without ``org_unit``)."""
    _check_filters(period, flag)
    path = "/" if org_unit is None else (await get_unit(conn, org_unit)).path
    names = {code: name for code, name in await conn.execute(select(_units.c.code, _units.c.name))}
    schemes = await current_schemes(conn)
    flags = _flags_query(path, period, flag).subquery()
    per_category = [
        func.coalesce(func.sum(case((_categories.c.category == c, _categories.c.points), else_=0)), 0).label(c)
        for c in CATEGORY_COLUMNS
    ]
    query = (
        select(
            flags,
            func.coalesce(_periods.c.earned, 0).label("earned"),
            func.coalesce(_evidence.c.transactions, 0).label("evidence"),
            *per_category,
        )
        .outerjoin(_periods, and_(_periods.c.account_id == flags.c.account_id, _periods.c.period == period))
        .outerjoin(_evidence, and_(_evidence.c.account_id == flags.c.account_id, _evidence.c.period == period))
        .outerjoin(_categories, and_(_categories.c.account_id == flags.c.account_id, _categories.c.period == period))
        .group_by(*flags.c, _periods.c.earned, _evidence.c.transactions)
        .order_by(flags.c.member_id, flags.c.flag)
        .execution_options(yield_per=EXPORT_FETCH_ROWS)
    )
    async for row in await conn.stream(query):
        scheme = scheme_for(row.path, schemes)
        yield ExportRow(
            name=row.name,
            member_id=row.member_id,
            org_path="/".join(names.get(code, code) for code in row.path.split("/") if code),
            party_member=row.party_member,
            flag=row.flag,
            tier=scheme.tier_of(row.earned) if scheme else None,
            earned_points=row.earned,
            **{c: getattr(row, c) for c in CATEGORY_COLUMNS},
            flagged_at=row.flagged_at,
            state=row.state,
            objections=row.objections,
            evidence=row.evidence,
        )
