"""The nomination lifecycle: a flag is a recommendation, not an honour.

A street office opens a public notice (公示) for the flags of its subtree and period;
the notice runs for a number of working days (Monday to Friday; public holidays are not
known to the ledger, so an office that must skip them asks for more days). Objections can
be recorded against a name while it is on notice. When the notice has ended each flag is
confirmed, or withdrawn with a reason at any point before. Every step is an append-only
event with who and when.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.errors import InvalidInput, NominationNotFound, NominationStateConflict
from ledger.honours.nominations import (
    CONFIRMED,
    FLAGGED,
    IN_NOTICE,
    WITHDRAWN,
    record_step,
)
from ledger.honours.tiers import FLAGS, current_schemes, scheme_for
from ledger.journal.checkpoints import Checkpoint
from ledger.org.units import get_unit, in_subtree
from ledger.storage.tables import Member, NominationCurrent, Notice, OrgUnit, table_of

NOTICE_WORKING_DAYS_MAX = 30
"""A notice longer than six weeks is a typing slip, not a notice."""

_current = table_of(NominationCurrent)
_notices = table_of(Notice)
_members = table_of(Member)
_units = table_of(OrgUnit)


def add_working_days(start: date, days: int) -> date:
    """The last day of a notice that starts on ``start`` and runs ``days`` working days."""
    day, counted = start, 0
    while True:
        if day.weekday() < 5:
            counted += 1
            if counted == days:
                return day
        day += timedelta(days=1)


def _check_flag(flag: str | None) -> None:
    if flag is not None and flag not in FLAGS:
        raise InvalidInput("flag", f"flag is one of {', '.join(FLAGS)}")


@dataclass(frozen=True, slots=True)
class OpenedNotice:
    """A notice just opened: ``names`` put on it, the last day ``ends_on`` (inclusive)."""

    id: int
    period: str
    org_unit: str
    flag: str | None
    working_days: int
    ends_on: str
    names: int
    checkpoint: Checkpoint | None = None
    """Sealed as the notice opened, in its transaction, after its names were read."""


@dataclass(frozen=True, slots=True)
class NominationState:
    """Where a member's flag stands after an objection or a decision (``ends_on`` the last
    day of the notice it is on, None when on none)."""

    member_id: str
    period: str
    flag: str
    state: str
    objections: int
    notice_id: int | None
    ends_on: str | None


async def open_notice(
    conn: AsyncConnection,
    period: str,
    org_unit: str,
    flag: str | None,
    working_days: int | None,
    by: str,
    now: datetime,
    tz: tzinfo,
) -> OpenedNotice:
    """Put every flagged name of the subtree (and flag) on notice."""
    _check_flag(flag)
    unit = await get_unit(conn, org_unit)
    if working_days is None:
        scheme = scheme_for(unit.path, await current_schemes(conn))
        working_days = scheme.notice_working_days if scheme else 5
    if not 1 <= working_days <= NOTICE_WORKING_DAYS_MAX:
        raise InvalidInput("working_days", f"working_days must be between 1 and {NOTICE_WORKING_DAYS_MAX}")
    ends_on = add_working_days(now.astimezone(tz).date(), working_days).isoformat()
    notice_id = (
        await conn.execute(
            insert(_notices)
            .values(
                period=period,
                org_unit=org_unit,
                flag=flag,
                working_days=working_days,
                ends_on=ends_on,
                opened_by=by,
                opened_at=now,
            )
            .returning(_notices.c.id)
        )
    ).scalar_one()
    query = (
        select(_current.c.member_id, _current.c.flag)
        .join(_members, _members.c.id == _current.c.member_id)
        .join(_units, and_(_units.c.code == _members.c.org_unit, in_subtree(_units.c.path, unit.path)))
        .where(_current.c.period == period, _current.c.state == FLAGGED)
        .order_by(_current.c.member_id, _current.c.flag)
    )
    if flag is not None:
        query = query.where(_current.c.flag == flag)
    names = (await conn.execute(query)).all()
    for member_id, member_flag in names:
        await record_step(conn, member_id, period, member_flag, IN_NOTICE, "noticed", now, by, notice_id=notice_id)
    return OpenedNotice(notice_id, period, org_unit, flag, working_days, ends_on, len(names))


async def record_checkpoint(conn: AsyncConnection, notice_id: int, checkpoint_id: int) -> None:
    """Name the checkpoint sealed as the notice opened (sealed after its names were read)."""
    await conn.execute(update(_notices).where(_notices.c.id == notice_id).values(checkpoint_id=checkpoint_id))


async def _state(conn: AsyncConnection, member_id: str, period: str, flag: str) -> dict[str, Any]:
    _check_flag(flag)
    row = (
        await conn.execute(
            select(_current, _notices.c.ends_on)
            .outerjoin(_notices, _notices.c.id == _current.c.notice_id)
            .where(_current.c.member_id == member_id, _current.c.period == period, _current.c.flag == flag)
            .with_for_update(of=_current)
        )
    ).first()
    if row is None:
        raise NominationNotFound(member_id, period, flag)
    return dict(row._mapping)


async def _nomination(conn: AsyncConnection, member_id: str, period: str, flag: str) -> NominationState:
    row = await _state(conn, member_id, period, flag)
    return NominationState(
        row["member_id"], row["period"], row["flag"], row["state"], row["objections"], row["notice_id"], row["ends_on"]
    )


async def object_to(
    conn: AsyncConnection, member_id: str, period: str, flag: str, reason: str, by: str, now: datetime
) -> NominationState:
    current = await _state(conn, member_id, period, flag)
    if current["state"] != IN_NOTICE:
        raise NominationStateConflict(member_id, flag, current["state"], "objections are taken while on notice")
    await record_step(conn, member_id, period, flag, None, "objection", now, by, reason=reason, objection=True)
    return await _nomination(conn, member_id, period, flag)


async def decide(
    conn: AsyncConnection,
    member_id: str,
    period: str,
    flag: str,
    confirm: bool,
    reason: str,
    by: str,
    now: datetime,
    tz: tzinfo,
) -> NominationState:
    current = await _state(conn, member_id, period, flag)
    if confirm:
        if current["state"] != IN_NOTICE:
            raise NominationStateConflict(member_id, flag, current["state"], "only a name on notice is confirmed")
        if now.astimezone(tz).date().isoformat() <= current["ends_on"]:
            raise NominationStateConflict(
                member_id, flag, current["state"], f"the notice runs until {current['ends_on']} inclusive"
            )
        await record_step(conn, member_id, period, flag, CONFIRMED, "confirmed", now, by, reason=reason)
    else:
        if current["state"] not in (FLAGGED, IN_NOTICE):
            raise NominationStateConflict(member_id, flag, current["state"], "only an open flag is withdrawn")
        await record_step(conn, member_id, period, flag, WITHDRAWN, "withdrawn", now, by, reason=reason)
    return await _nomination(conn, member_id, period, flag)
