"""Roll-ups per org unit: points awarded in a subtree by category, and its top members.

Points stay where they were earned. Every journal transaction carries the unit that issued
it (an award's unit is the member's micro-grid at the time of the award unless an activity
or an organizer names another), and a roll-up of a unit counts the transactions issued
inside its subtree: its total by category, and its top list, which ranks each member by
the points they earned from the subtree's units. A member who moves to another micro-grid
keeps what they earned in the old unit's roll-up and earns into the new one's from then
on. A unit's total is therefore the sum of what each member earned from it: its top list,
when ``top`` reaches every member and none is below zero there (a deduction is issued by
the member's unit at the time it is recorded; a line shows only points above zero). Where a
member lives now is only shown, as ``org_unit`` of a line.
A unit moved under another parent takes the points issued inside it along: a roll-up
follows the tree as it is now.

Both are indexed reads of materialized counters, never a scan of the journal: the
categories sum ``unit_period_category`` and the top list ``member_unit_period`` over the
subtree's units (a path-prefix match on ``org_unit.path``).

The month-by-month figures (a desk's chart) have no counter: they sum the subtree's
journal over one year, by the index on (org unit, occurred_at). A year of a community is
a few thousand rows, read when an organizer opens the desk, not on every award.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.errors import InvalidInput
from ledger.journal.periods import check_period
from ledger.org.units import get_unit, in_subtree
from ledger.storage.tables import JournalTxn, Member, MemberUnitPeriod, OrgUnit, UnitPeriodCategory, table_of

LEADERBOARD_SIZE_MAX = 100
"""Top members shown by a roll-up: a page of names, as a notice board would show."""

_units = table_of(OrgUnit)
_counts = table_of(UnitPeriodCategory)
_earned = table_of(MemberUnitPeriod)
_members = table_of(Member)
_txns = table_of(JournalTxn)
MONTHS = 12


@dataclass(frozen=True, slots=True)
class Leader:
    """One line of a leaderboard: a rank, a name and points, never a member id (a
    leaderboard is shown to anyone; two members of one name are told apart by rank)."""

    rank: int
    name: str
    org_unit: str
    """Where the member lives now (the points counted are the subtree's, wherever earned)."""
    earned_points: int


@dataclass(frozen=True, slots=True)
class UnitSummary:
    org_unit: str
    name: str
    period: str
    total_points: int
    by_category: dict[str, int]
    top_members: tuple[Leader, ...]


@dataclass(frozen=True, slots=True)
class Month:
    month: str
    """The month as ``YYYY-MM``."""
    by_category: dict[str, int]


@dataclass(frozen=True, slots=True)
class UnitMonths:
    org_unit: str
    name: str
    period: str
    months: tuple[Month, ...]


async def unit_summary(conn: AsyncConnection, code: str, period: str, top: int) -> UnitSummary:
    if not 1 <= top <= LEADERBOARD_SIZE_MAX:
        raise InvalidInput("top", f"top must be between 1 and {LEADERBOARD_SIZE_MAX}")
    unit = await get_unit(conn, code, field="code")
    subtree = in_subtree(_units.c.path, unit.path)
    categories = await conn.execute(
        select(_counts.c.category, func.sum(_counts.c.points))
        .join(_units, _units.c.code == _counts.c.org_unit)
        .where(subtree, _counts.c.period == period)
        .group_by(_counts.c.category)
        .order_by(_counts.c.category)
    )
    by_category = {category: int(points) for category, points in categories}
    earned = (
        select(_earned.c.account_id, func.sum(_earned.c.points).label("points"))
        .join(_units, _units.c.code == _earned.c.org_unit)
        .where(subtree, _earned.c.period == period)
        .group_by(_earned.c.account_id)
        .subquery()
    )
    leaders = await conn.execute(
        select(_members.c.name, _members.c.org_unit, earned.c.points)
        .join(earned, earned.c.account_id == _members.c.account_id)
        .where(earned.c.points > 0)
        .order_by(earned.c.points.desc(), _members.c.id)
        .limit(top)
    )
    top_members = tuple(Leader(rank, n, u, int(e)) for rank, (n, u, e) in enumerate(leaders, start=1))
    return UnitSummary(unit.code, unit.name, period, sum(by_category.values()), by_category, top_members)


async def monthly_by_category(conn: AsyncConnection, code: str, period: str, tz: tzinfo) -> UnitMonths:
    """Points earned in a subtree per calendar month (in ``tz``) of the work and category:
    awards less reversals and deductions, as the roll-up counts them, dated by when the
    work happened. Months without points are present with no categories."""
    check_period(period)
    unit = await get_unit(conn, code, field="code")
    year = int(period)
    starts = [datetime(year + (m // MONTHS), m % MONTHS + 1, 1, tzinfo=tz) for m in range(MONTHS + 1)]
    # A month is found by comparing with its end instant: portable SQL on both databases,
    # and right in any time zone, where date arithmetic in SQL is not.
    month = case(*((_txns.c.occurred_at < starts[m + 1], m + 1) for m in range(MONTHS)))
    rows = await conn.execute(
        select(month.label("month"), _txns.c.category, func.sum(_txns.c.earned_points))
        .join(_units, _units.c.code == _txns.c.org_unit)
        .where(
            in_subtree(_units.c.path, unit.path),
            _txns.c.occurred_at >= starts[0],
            _txns.c.occurred_at < starts[MONTHS],
            _txns.c.earned_points != 0,
        )
        .group_by(month, _txns.c.category)
    )
    months: list[dict[str, int]] = [{} for _ in range(MONTHS)]
    for number, category, points in rows:
        if points:
            months[number - 1][category] = int(points)
    return UnitMonths(
        unit.code,
        unit.name,
        period,
        tuple(Month(f"{year}-{m + 1:02d}", dict(sorted(categories.items()))) for m, categories in enumerate(months)),
    )
