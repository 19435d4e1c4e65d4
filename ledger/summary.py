"""Roll-ups per org unit: points awarded in a subtree by category, and its top members.

Both are indexed reads of materialized counters, never a scan of the journal: the
categories sum ``unit_period_category`` over the subtree's units (a path-prefix match on
``org_unit.path``), and the leaderboard reads ``account_period`` for the subtree's members.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.errors import InvalidInput
from ledger.org import get_unit, in_subtree
from ledger.tables import Account, AccountPeriod, Member, OrgUnit, UnitPeriodCategory

LEADERBOARD_SIZE_MAX = 100
"""Top members shown by a roll-up: a page of names, as a notice board would show."""

_units = OrgUnit.__table__
_counts = UnitPeriodCategory.__table__
_periods = AccountPeriod.__table__
_members = Member.__table__
_accounts = Account.__table__


async def unit_summary(conn: AsyncConnection, code: str, period: str, top: int) -> dict[str, Any]:
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
    leaders = await conn.execute(
        select(_members.c.id, _members.c.name, _members.c.org_unit, _periods.c.earned)
        .join(_periods, _periods.c.account_id == _members.c.account_id)
        .join(_units, _units.c.code == _members.c.org_unit)
        .where(subtree, _periods.c.period == period, _periods.c.earned > 0)
        .order_by(_periods.c.earned.desc(), _members.c.id)
        .limit(top)
    )
    return {
        "org_unit": unit.code,
        "name": unit.name,
        "period": period,
        "total_points": sum(by_category.values()),
        "by_category": by_category,
        "top_members": [
            {"rank": rank, "member_id": m, "name": n, "org_unit": u, "earned_points": e}
            for rank, (m, n, u, e) in enumerate(leaders, start=1)
        ],
    }
