"""Activities and their rosters: a haircut day or a tea-art event, settled in one step.

An organizer records the activity (unit, rule, start and end), puts its roster — who took
part and how much (hours, say); putting it again replaces it — and settles it: every
participant is awarded by the activity's rule in ONE ``journal.post``, all or nothing in
the database, with caps clipped and each participant's outcome reported (awarded, clipped,
or why not: inactive, not eligible, cap reached). Settling is final and happens once: the
activity row is locked while it settles, so two settles cannot both pass the check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime
from operator import attrgetter
from typing import Any, Self

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.earning.award_batch import AwardRequest, award_context, draft_award
from ledger.earning.awards import AwardCommand, check_occurred_at
from ledger.earning.rules import WorkDone, check_quantity, get_rule
from ledger.errors import ActivityNotFound, AlreadySettled, InvalidInput, LedgerError, MemberNotFound
from ledger.journal.idempotency import IdempotentRequest, Reply
from ledger.journal.posting import Journal, post
from ledger.org.members import find_members, get_member
from ledger.org.units import get_unit, in_subtree
from ledger.storage.tables import Activity as ActivityRow
from ledger.storage.tables import ActivityParticipant, OrgUnit, table_of
from ledger.values import QUANTITY_MAX, TxnDraft

ROSTER_SIZE_MAX = 10_000
"""The largest roster one settle posts: a street-wide event. It bounds the settle's single
database transaction (20,000 postings) and the request body (~500 KB)."""

ACTIVITY_PAGE_SIZE_MAX = 100
"""Activities listed at once: a community holds a few a week, so a page is months of them."""

_activities = table_of(ActivityRow)
_participants = table_of(ActivityParticipant)
_units = table_of(OrgUnit)


@dataclass(frozen=True, slots=True)
class Participant:
    member_id: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Activity:
    """An activity with its roster (empty in a listing); ``settlement`` its totals once
    settled (``activity_id``, ``awarded``, ``skipped``, ``points``), as stored with it."""

    id: int
    name: str
    org_unit: str
    rule_code: str
    starts_at: datetime
    ends_at: datetime
    organizer: str
    created_by: str
    created_at: datetime
    settled_at: datetime | None
    settled_by: str | None
    settlement: dict[str, int] | None
    roster: tuple[Participant, ...]


@dataclass(frozen=True, slots=True)
class SettlementLine(Reply):
    """One participant's outcome: awarded (with its transaction once posted) or skipped
    with the refusal's code as ``reason`` and its ``detail``."""

    member_id: str
    status: str
    points: int
    reason: str | None = None
    detail: str | None = None
    clipped_from_points: int | None = None
    transaction_id: int | None = None


_LINE_FIELDS = tuple(f.name for f in fields(SettlementLine))
_line_values = attrgetter(*_LINE_FIELDS)


@dataclass(frozen=True, slots=True)
class Settlement(Reply):
    """A settlement (or its preview: no transactions) and its totals."""

    activity_id: int
    awarded: int
    skipped: int
    points: int
    lines: tuple[SettlementLine, ...]

    @classmethod
    def replayed(cls, stored: Mapping[str, Any]) -> Self:
        lines = tuple(SettlementLine.replayed(line) for line in stored["lines"])
        return cls(stored["activity_id"], stored["awarded"], stored["skipped"], stored["points"], lines)

    def stored(self) -> dict[str, Any]:
        """What ``Reply.stored`` makes of it, written out: the generic walk (``asdict``
        deep-copies every value of every line) was a sixth of a 10,000-line settle's CPU.
        Every field of a line is a JSON scalar, so each line is its values as they are."""
        names = _LINE_FIELDS
        return {
            "activity_id": self.activity_id,
            "awarded": self.awarded,
            "skipped": self.skipped,
            "points": self.points,
            "lines": [dict(zip(names, _line_values(line), strict=True)) for line in self.lines],
        }

    def totals(self) -> dict[str, int]:
        """What the activity keeps of its settlement: everything but the lines (read field by
        field: storing the whole reply would encode every line only to drop it)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "lines"}


@dataclass(frozen=True, slots=True)
class ActivityCommand:
    name: str
    org_unit: str
    rule: str
    starts_at: datetime
    ends_at: datetime
    organizer: str  # the member who organized it


async def create_activity(conn: AsyncConnection, command: ActivityCommand, created_by: str, now: datetime) -> Activity:
    if command.ends_at < command.starts_at:
        raise InvalidInput("ends_at", "an activity ends after it starts")
    for field in ("starts_at", "ends_at"):
        if getattr(command, field).tzinfo is None:
            raise InvalidInput(field, f"{field} needs a time zone offset")
    await get_unit(conn, command.org_unit)
    await get_rule(conn, command.rule)
    await get_member(conn, command.organizer, field="organizer")
    row = {
        "name": command.name,
        "org_unit": command.org_unit,
        "rule_code": command.rule,
        "starts_at": command.starts_at,
        "ends_at": command.ends_at,
        "organizer": command.organizer,
        "created_by": created_by,
        "created_at": now,
    }
    activity_id = (await conn.execute(insert(_activities).values(**row).returning(_activities.c.id))).scalar_one()
    return await get_activity(conn, activity_id)


async def get_activity(conn: AsyncConnection, activity_id: int, lock: bool = False) -> Activity:
    query = select(_activities).where(_activities.c.id == activity_id)
    row = (await conn.execute(query.with_for_update() if lock else query)).first()
    if row is None:
        raise ActivityNotFound(activity_id)
    roster = (
        await conn.execute(
            select(_participants.c.member_id, _participants.c.quantity)
            .where(_participants.c.activity_id == activity_id)
            .order_by(_participants.c.member_id)
        )
    ).all()
    return Activity(**row._mapping, roster=tuple(Participant(m, q) for m, q in roster))


async def list_activities(conn: AsyncConnection, org_unit: str, limit: int, before: int | None) -> list[Activity]:
    """The activities of ``org_unit``'s subtree, newest first, without their rosters: where
    an organizer finds an activity again to finish its roster or see its settlement."""
    if not 1 <= limit <= ACTIVITY_PAGE_SIZE_MAX:
        raise InvalidInput("limit", f"limit must be between 1 and {ACTIVITY_PAGE_SIZE_MAX}")
    unit = await get_unit(conn, org_unit)
    query = (
        select(_activities)
        .join(_units, _units.c.code == _activities.c.org_unit)
        .where(in_subtree(_units.c.path, unit.path))
        .order_by(_activities.c.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(_activities.c.id < before)
    return [Activity(**row._mapping, roster=()) for row in await conn.execute(query)]


async def put_roster(conn: AsyncConnection, activity_id: int, participants: list[tuple[str, int]]) -> Activity:
    """Replace the roster. Every member must exist and appear once, and every quantity lie
    within the activity's rule (``rules.check_quantity``)."""
    activity = await get_activity(conn, activity_id, lock=True)
    if activity.settled_at is not None:
        raise AlreadySettled(activity_id)
    if len(participants) > ROSTER_SIZE_MAX:
        raise InvalidInput("participants", f"a roster has at most {ROSTER_SIZE_MAX} participants")
    # Each line is held to the rule's own maximum now, not at settle: the organizer fixes
    # the line named while the roster is in hand, instead of finding it skipped later.
    rule = await get_rule(conn, activity.rule_code)
    seen: set[str] = set()
    for i, (member_id, quantity) in enumerate(participants):
        if member_id in seen:
            raise InvalidInput(f"participants[{i}].member_id", f"{member_id!r} appears twice on the roster")
        if not 1 <= quantity <= QUANTITY_MAX:
            raise InvalidInput(
                f"participants[{i}].quantity",
                f"quantity must be between 1 and {QUANTITY_MAX}",
                quantity_max=QUANTITY_MAX,
            )
        check_quantity(rule, quantity, field=f"participants[{i}].quantity")
        seen.add(member_id)
    known = await find_members(conn, seen)
    for i, (member_id, _) in enumerate(participants):
        if member_id not in known:
            raise MemberNotFound(member_id, field=f"participants[{i}].member_id")
    await conn.execute(delete(_participants).where(_participants.c.activity_id == activity_id))
    if participants:
        await conn.execute(
            insert(_participants),
            [{"activity_id": activity_id, "member_id": m, "quantity": q} for m, q in participants],
        )
    return await get_activity(conn, activity_id)


async def _outcomes(
    conn: AsyncConnection, activity: Activity, settled_by: str, now: datetime, journal: Journal
) -> tuple[list[SettlementLine], list[TxnDraft]]:
    """Each participant's line (awarded with the points, or skipped with the reason) and
    the drafts to post: what a settle would do now, decided before anything is written."""
    if activity.settled_at is not None:
        raise AlreadySettled(activity.id)
    check_occurred_at(activity.ends_at, now)
    if activity.ends_at > now:
        raise InvalidInput("ends_at", "an activity is settled after it ends")
    requests = [
        AwardRequest(
            AwardCommand(
                p.member_id,
                None,
                None,
                activity.ends_at,
                activity.name,
                org_unit=activity.org_unit,
                rule=activity.rule_code,
                work=WorkDone(p.quantity),
                clip=True,
            ),
            settled_by,
            IdempotentRequest(settled_by, f"activity:{activity.id}:{p.member_id}", ""),
        )
        for p in activity.roster
    ]
    ctx = await award_context(conn, requests, now, journal)
    lines: list[SettlementLine] = []
    drafts: list[TxnDraft] = []
    for request in requests:
        try:
            draft = draft_award(request, ctx)
        except LedgerError as refused:
            lines.append(SettlementLine(request.command.member_id, "skipped", 0, refused.code, refused.detail))
            continue
        drafts.append(draft)
        clipped = draft.extra.get("clipped_from_points")
        assert isinstance(clipped, int | None)
        lines.append(SettlementLine(request.command.member_id, "awarded", draft.earned_points, None, None, clipped))
    return lines, drafts


async def preview(conn: AsyncConnection, activity_id: int, now: datetime, journal: Journal) -> Settlement:
    """The settlement as it would be if settled now, written nowhere: an organizer checks
    the roster's points, caps and refusals before the one step that cannot be undone."""
    activity = await get_activity(conn, activity_id)
    # Written nowhere, so nothing to lock.
    lines, _ = await _outcomes(conn, activity, "preview", now, replace(journal, for_update=False))
    return _summary(activity_id, lines)


async def settle(
    conn: AsyncConnection, activity_id: int, settled_by: str, now: datetime, journal: Journal
) -> Settlement:
    activity = await get_activity(conn, activity_id, lock=True)
    lines, drafts = await _outcomes(conn, activity, settled_by, now, journal)
    summary = _summary(activity_id, await _post_and_number(conn, drafts, lines, now, journal))
    await conn.execute(
        update(_activities)
        .where(_activities.c.id == activity_id)
        .values(settled_at=now, settled_by=settled_by, settlement=summary.totals())
    )
    return summary


async def _post_and_number(
    conn: AsyncConnection,
    drafts: list[TxnDraft],
    lines: list[SettlementLine],
    now: datetime,
    journal: Journal,
) -> list[SettlementLine]:
    """The lines, each awarded one numbered with the transaction posted for it."""
    if not drafts:
        return lines
    posted = iter(await post(conn, drafts, now, journal))
    # Made anew, not ``replace``d: ``replace`` looks up the fields for every line.
    return [
        SettlementLine(line.member_id, "awarded", line.points, None, None, line.clipped_from_points, next(posted).id)
        if line.status == "awarded"
        else line
        for line in lines
    ]


def _summary(activity_id: int, lines: list[SettlementLine]) -> Settlement:
    awarded = [line for line in lines if line.status == "awarded"]
    points = sum(line.points for line in awarded)
    return Settlement(activity_id, len(awarded), len(lines) - len(awarded), points, tuple(lines))
