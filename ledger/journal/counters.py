"""Earned-points counters kept beside the journal, in the same database transaction.

Views of "points earned" are read far more often than the journal could be summed: per
member account and period (tiers, balances), per member, rule and cap window (caps), per
issuing org unit, period and category (roll-up totals), and per member, issuing org unit
and period (roll-up top lists). ``increments`` is the one
definition of what a transaction adds to each: ``journal.post`` writes its tallies, and
``verify`` recomputes them from the journal and compares.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.storage import bulk
from ledger.storage.tables import (
    AccountPeriod,
    MemberPeriodCategory,
    MemberPeriodEvidence,
    MemberUnitPeriod,
    RuleUsage,
    UnitPeriodCategory,
    table_of,
)

COUNTERS: dict[str, tuple[Table, tuple[str, ...], str]] = {
    "account_period": (table_of(AccountPeriod), ("account_id", "period"), "earned"),
    "rule_usage": (table_of(RuleUsage), ("account_id", "rule_code", "window"), "points"),
    "unit_period_category": (table_of(UnitPeriodCategory), ("org_unit", "period", "category"), "points"),
    "member_period_category": (table_of(MemberPeriodCategory), ("account_id", "period", "category"), "points"),
    "member_period_evidence": (table_of(MemberPeriodEvidence), ("account_id", "period"), "transactions"),
    "member_unit_period": (table_of(MemberUnitPeriod), ("account_id", "org_unit", "period"), "points"),
}

Key = tuple[Any, ...]
Tallies = dict[str, defaultdict[Key, int]]


def increments(
    kind: str,
    member_account_id: int | None,
    earned_points: int,
    period: str,
    org_unit: str,
    category: str,
    extra: Mapping[str, Any],
) -> Iterator[tuple[str, Key, int]]:
    """What one transaction adds to each counter."""
    if not earned_points:
        return
    if member_account_id is not None:
        yield "account_period", (member_account_id, period), earned_points
        yield "member_period_category", (member_account_id, period, category), earned_points
        yield "member_unit_period", (member_account_id, org_unit, period), earned_points
        # Evidence: an award stands behind points until a reversal takes it back.
        if kind == "award" and earned_points > 0:
            yield "member_period_evidence", (member_account_id, period), 1
        elif kind == "reversal" and earned_points < 0:
            yield "member_period_evidence", (member_account_id, period), -1
        for window in extra.get("windows", {}).values() if extra.get("rule") else ():
            yield "rule_usage", (member_account_id, extra["rule"], window), earned_points
    yield "unit_period_category", (org_unit, period, category), earned_points


def tally(entries: Iterable[tuple[str, Key, int]], into: Tallies | None = None) -> Tallies:
    tallies = into if into is not None else {name: defaultdict(int) for name in COUNTERS}
    for name, key, points in entries:
        tallies[name][key] += points
    return tallies


async def write(writes: bulk.Writes, tallies: Tallies) -> None:
    for name, rows in tallies.items():
        table, keys, counter = COUNTERS[name]
        await writes.add_to_counters(table, keys, counter, [(*key, points) for key, points in sorted(rows.items())])


async def mismatches(conn: AsyncConnection, computed: Tallies) -> Iterator[dict[str, Any]]:
    """Every counter row that differs from what the journal says, and every missing row."""
    found = []
    for name, (table, keys, counter) in COUNTERS.items():
        expected = computed[name]
        seen = set()
        for row in await conn.execute(select(*(table.c[k] for k in keys), table.c[counter])):
            key, materialized = tuple(row[:-1]), row[-1]
            seen.add(key)
            if materialized != expected.get(key, 0):
                found.append(
                    {
                        "counter": name,
                        **dict(zip(keys, key, strict=True)),
                        "materialized": materialized,
                        "computed": expected.get(key, 0),
                    }
                )
        for key, points in expected.items():
            if key not in seen and points:
                found.append(
                    {"counter": name, **dict(zip(keys, key, strict=True)), "materialized": None, "computed": points}
                )
    return iter(found)
