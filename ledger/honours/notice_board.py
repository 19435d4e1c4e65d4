"""What a public notice (公示) shows: the notices of a subtree, and one notice with its names.

A notice's names are the flags its opening put on notice (the ``noticed`` events that name
it). What became of each name on this notice is read from the flag's later events, up to
the next time the flag was raised or noticed again: objections while on notice, then
confirmed, withdrawn or revoked. So a notice printed again a month later still lists the
names it opened with, each with its outcome, even when a flag has since started afresh.

Names sort by their unit's place in the tree, then member id, in Python: the databases
collate Chinese text differently, and two printings of one notice must read the same.

A notice board shows the public only a name, the unit and the flag. The page that shows
it is reached without signing in, by a link that carries a code only the service can make
(``public_code``: an HMAC of the notice id under the ledger's checkpoint key), so the
links of other notices cannot be guessed from one.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.errors import InvalidInput, NoticeNotFound
from ledger.honours.nominations import CONFIRMED, IN_NOTICE, REVOKED, WITHDRAWN
from ledger.journal.checkpoints import Checkpoint
from ledger.org.units import PATH_SEPARATOR, get_unit, in_subtree
from ledger.storage.tables import AccountPeriod, Member, NominationEvent, Notice, OrgUnit, table_of
from ledger.storage.tables import Checkpoint as CheckpointRow

NOTICE_PAGE_SIZE_MAX = 200
"""Notices per page of the listing: a street opens a handful a year, so a page is years."""

PUBLIC_CODE_HEX_LENGTH = 32
"""Hex digits of a public link's code: 128 bits, beyond guessing, and short enough for a
QR code a phone reads off a notice board."""

PUBLIC_CODE_LABEL = b"ledger-public-notice-v1"
"""Keeps the link codes apart from the checkpoint seals made under the same key."""

_notices = table_of(Notice)
_events = table_of(NominationEvent)
_members = table_of(Member)
_units = table_of(OrgUnit)
_periods = table_of(AccountPeriod)
_checkpoints = table_of(CheckpointRow)

# What ends a flag's time on a notice: its outcome, or a new cycle of the flag.
_OUTCOMES = {"confirmed": CONFIRMED, "withdrawn": WITHDRAWN, "revoked": REVOKED}
_NEW_CYCLE = {"raised", "noticed"}


@dataclass(frozen=True, slots=True)
class NoticeSummary:
    id: int
    period: str
    org_unit: str
    unit_name: str
    flag: str | None
    working_days: int
    opened_on: str
    ends_on: str
    opened_at: datetime
    opened_by: str
    names: int
    checkpoint: Checkpoint | None


@dataclass(frozen=True, slots=True)
class Objection:
    reason: str
    by: str
    at: datetime


@dataclass(frozen=True, slots=True)
class NoticeName:
    member_id: str
    name: str
    org_unit: str
    unit_name: str
    flag: str
    earned_points: int
    """Points earned in the notice's period, as the ledger holds them now."""
    state: str
    """The name's outcome on this notice: in_notice, confirmed, withdrawn or revoked."""
    objections: tuple[Objection, ...]


@dataclass(frozen=True, slots=True)
class NoticeView:
    notice: NoticeSummary
    office: str
    """The street office the notice is published by: the top of the notice unit's line."""
    names: tuple[NoticeName, ...]


def public_code(key: bytes, notice_id: int) -> str:
    """The code in the public link of a notice."""
    digest = hmac.new(key, PUBLIC_CODE_LABEL + b":" + str(notice_id).encode(), hashlib.sha256).hexdigest()
    return digest[:PUBLIC_CODE_HEX_LENGTH]


def public_code_matches(key: bytes, notice_id: int, code: str) -> bool:
    # Bytes: compare_digest refuses a str with other than ASCII, which an address may hold.
    return hmac.compare_digest(public_code(key, notice_id).encode(), code.encode())


_NAME_COUNT = (
    select(func.count())
    .where(_events.c.notice_id == _notices.c.id, _events.c.action == "noticed")
    .correlate(_notices)
    .scalar_subquery()
)
_CHECKPOINT_FIELDS = tuple(f.name for f in fields(Checkpoint))
_SUMMARY = (
    select(
        _notices,
        _units.c.name.label("unit_name"),
        _units.c.path.label("unit_path"),
        _NAME_COUNT.label("names"),
        *(_checkpoints.c[name].label(f"cp_{name}") for name in _CHECKPOINT_FIELDS),
    )
    .join(_units, _units.c.code == _notices.c.org_unit)
    .outerjoin(_checkpoints, _checkpoints.c.id == _notices.c.checkpoint_id)
)


def _summary(row: Any, tz: tzinfo) -> NoticeSummary:
    values = row._mapping
    checkpoint = None
    if values["cp_id"] is not None:
        checkpoint = Checkpoint(**{name: values[f"cp_{name}"] for name in _CHECKPOINT_FIELDS})
    return NoticeSummary(
        id=values["id"],
        period=values["period"],
        org_unit=values["org_unit"],
        unit_name=values["unit_name"],
        flag=values["flag"],
        working_days=values["working_days"],
        opened_on=values["opened_at"].astimezone(tz).date().isoformat(),
        ends_on=values["ends_on"],
        opened_at=values["opened_at"],
        opened_by=values["opened_by"],
        names=values["names"],
        checkpoint=checkpoint,
    )


async def listing(
    conn: AsyncConnection, root_path: str | None, limit: int, before: int | None, tz: tzinfo
) -> list[NoticeSummary]:
    """The notices of units in the subtree at ``root_path`` (all, without one), newest
    first; ``before`` a notice id for the next page."""
    if not 1 <= limit <= NOTICE_PAGE_SIZE_MAX:
        raise InvalidInput("limit", f"limit must be between 1 and {NOTICE_PAGE_SIZE_MAX}")
    query = _SUMMARY.order_by(_notices.c.id.desc()).limit(limit)
    if root_path is not None:
        query = query.where(in_subtree(_units.c.path, root_path))
    if before is not None:
        query = query.where(_notices.c.id < before)
    return [_summary(row, tz) for row in await conn.execute(query)]


_NOTICED = (
    select(
        _events.c.id,
        _events.c.member_id,
        _events.c.flag,
        _members.c.name,
        _members.c.org_unit,
        _units.c.name.label("unit_name"),
        _units.c.path,
        func.coalesce(_periods.c.earned, 0).label("earned"),
    )
    .join(_members, _members.c.id == _events.c.member_id)
    .join(_units, _units.c.code == _members.c.org_unit)
    .outerjoin(_periods, and_(_periods.c.account_id == _members.c.account_id, _periods.c.period == _events.c.period))
    .where(_events.c.notice_id == bindparam("notice_id"), _events.c.action == "noticed")
)
_later = _events.alias("later")
_AFTER = (
    select(_events.c.id.label("noticed_id"), _later.c.action, _later.c.reason, _later.c.actor, _later.c.at)
    .join(
        _later,
        and_(
            _later.c.member_id == _events.c.member_id,
            _later.c.period == _events.c.period,
            _later.c.flag == _events.c.flag,
            _later.c.id > _events.c.id,
        ),
    )
    .where(_events.c.notice_id == bindparam("notice_id"), _events.c.action == "noticed")
    .order_by(_later.c.id)
)


def _outcomes(rows: Sequence[Any]) -> tuple[dict[int, str], dict[int, list[Objection]]]:
    """Per noticed event (by id): the name's outcome on the notice, if it has one yet, and
    the objections against it while it was there."""
    states: dict[int, str] = {}
    objections: dict[int, list[Objection]] = {}
    closed: set[int] = set()
    for row in rows:
        if row.noticed_id in closed:
            continue
        if row.action == "objection":
            objections.setdefault(row.noticed_id, []).append(Objection(row.reason or "", row.actor, row.at))
        elif row.action in _OUTCOMES or row.action in _NEW_CYCLE:
            if row.action in _OUTCOMES:
                states[row.noticed_id] = _OUTCOMES[row.action]
            closed.add(row.noticed_id)
    return states, objections


async def view(conn: AsyncConnection, notice_id: int, tz: tzinfo) -> NoticeView:
    row = (await conn.execute(_SUMMARY.where(_notices.c.id == notice_id))).first()
    if row is None:
        raise NoticeNotFound(notice_id)
    summary = _summary(row, tz)
    office = await get_unit(conn, row.unit_path.strip(PATH_SEPARATOR).split(PATH_SEPARATOR)[0])
    params = {"notice_id": notice_id}
    states, objections = _outcomes((await conn.execute(_AFTER, params)).all())
    noticed = sorted((await conn.execute(_NOTICED, params)).all(), key=lambda r: (r.path, r.member_id, r.flag))
    names = tuple(
        NoticeName(
            member_id=r.member_id,
            name=r.name,
            org_unit=r.org_unit,
            unit_name=r.unit_name,
            flag=r.flag,
            earned_points=r.earned,
            state=states.get(r.id, IN_NOTICE),
            objections=tuple(objections.get(r.id, ())),
        )
        for r in noticed
    )
    return NoticeView(summary, office.name, names)
