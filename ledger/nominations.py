"""Tiers and nomination flags (优秀共产党员, 先进工作者).

A tier scheme sets thresholds on points *earned* in a period (spending never lowers a
tier; reversals and deductions do). Schemes are data, versioned append-only; a unit's
scheme applies to its subtree, the nearest ancestor's winning, else the default.

Reaching the top tier raises flags inside ``journal.post`` — the one path every point
takes — in the same database transaction as the posting that crossed it: 先进工作者 for a
member with one of the scheme's eligible roles, 优秀共产党员 for a party member. Falling
back below revokes them. Every change is an append-only event naming its transaction;
``nomination_current`` holds each flag's present state under a key that makes a second
raise impossible, and the member's account lock (held by ``post``) orders concurrent
awards of one member.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

from sqlalchemy import bindparam, case, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.errors import DataFileInvalid
from ledger.storage import bulk, datafiles, unit_versions
from ledger.storage.tables import AccountPeriod, Member, NominationCurrent, NominationEvent, OrgUnit, TierScheme
from ledger.values import TxnDraft

ADVANCED_WORKER = "先进工作者"
PARTY_MEMBER = "优秀共产党员"
FLAGS = (ADVANCED_WORKER, PARTY_MEMBER)
DEFAULT_SCHEME_KEY = unit_versions.DEFAULT_KEY

FLAGGED, IN_NOTICE, CONFIRMED, WITHDRAWN, REVOKED = "flagged", "in_notice", "confirmed", "withdrawn", "revoked"
LIVE_STATES = (FLAGGED, IN_NOTICE, CONFIRMED)

SCHEMA_PATH = datafiles.SCHEMAS / "tiers.schema.json"

_schemes = TierScheme.__table__
_events = NominationEvent.__table__
_current = NominationCurrent.__table__
_periods = AccountPeriod.__table__
_members = Member.__table__
_units = OrgUnit.__table__


@dataclass(frozen=True, slots=True)
class Scheme:
    org_unit: str  # "" for the default
    version: int
    tiers: tuple[tuple[str, int], ...]  # (name, points), ascending
    advanced_worker_roles: frozenset[str]
    notice_working_days: int

    @property
    def top(self) -> tuple[str, int]:
        return self.tiers[-1]

    def tier_of(self, points: int) -> str | None:
        reached = [name for name, threshold in self.tiers if points >= threshold]
        return reached[-1] if reached else None

    def next_after(self, points: int) -> tuple[str, int] | None:
        return next(((name, threshold) for name, threshold in self.tiers if points < threshold), None)

    def flags_for(self, points: int, roles: Sequence[str], party_member: bool) -> set[str]:
        if points < self.top[1]:
            return set()
        flags = {PARTY_MEMBER} if party_member else set()
        if self.advanced_worker_roles & set(roles):
            flags.add(ADVANCED_WORKER)
        return flags


DEFAULT_NOTICE_WORKING_DAYS = 5
"""公示: at least five working days before an honour, as public schemes require."""


def _scheme(org_unit: str, version: int, d: dict[str, Any]) -> Scheme:
    return Scheme(
        org_unit=org_unit,
        version=version,
        tiers=tuple((t["name"], t["points"]) for t in d["tiers"]),
        advanced_worker_roles=frozenset(d.get("advanced_worker_roles", ())),
        notice_working_days=d.get("notice_working_days", DEFAULT_NOTICE_WORKING_DAYS),
    )


def default_tiers_text() -> str:
    return resources.files("ledger.data").joinpath("tiers.default.yaml").read_text(encoding="utf-8")


def parse_tiers_file(text: str) -> list[dict[str, Any]]:
    data = datafiles.parse(text, SCHEMA_PATH)
    errors, seen = [], set()
    for i, scheme in enumerate(data["schemes"]):
        key = scheme.get("org_unit") or DEFAULT_SCHEME_KEY
        if key in seen:
            errors.append({"path": f"/schemes/{i}/org_unit", "reason": f"a second scheme for {key or 'the default'}"})
        seen.add(key)
        points = [t["points"] for t in scheme["tiers"]]
        if points != sorted(set(points)):
            errors.append({"path": f"/schemes/{i}/tiers", "reason": "thresholds must rise from tier to tier"})
    if errors:
        raise DataFileInvalid(errors)
    return data["schemes"]


async def current_schemes(conn: AsyncConnection) -> dict[str, Scheme]:
    latest = await unit_versions.latest(conn, _schemes)
    return {key: _scheme(key, version, d) for key, (version, d) in latest.items()}


async def load_schemes(conn: AsyncConnection, definitions: list[dict[str, Any]], by: str, now: datetime) -> list:
    """Store a new version of each scheme that changed; units named must exist."""

    def same(old: dict[str, Any], new: dict[str, Any]) -> bool:
        return _scheme("", 0, old) == _scheme("", 0, new)

    return await unit_versions.store(conn, _schemes, definitions, same, "schemes", by, now)


def scheme_for(path: str, schemes: dict[str, Scheme]) -> Scheme | None:
    """The nearest ancestor's scheme (the unit's own first), else the default."""
    return unit_versions.nearest(path, schemes)


_AFTER = (
    select(
        _periods.c.account_id,
        _periods.c.period,
        _periods.c.earned,
        _members.c.id,
        _members.c.roles,
        _members.c.party_member,
        _units.c.path,
    )
    .join(_members, _members.c.account_id == _periods.c.account_id)
    .join(_units, _units.c.code == _members.c.org_unit)
    .where(
        bulk.OneOf(_periods.c.account_id, "accounts"),
        bulk.OneOf(_periods.c.period, "periods"),
    )
)
_LIVE = select(_current.c.member_id, _current.c.period, _current.c.flag, _current.c.state).where(
    bulk.OneOf(_current.c.member_id, "members"),
    bulk.OneOf(_current.c.period, "periods"),
)


async def evaluate(conn: AsyncConnection, drafts: Sequence[TxnDraft], txn_ids: Sequence[int], now: datetime) -> None:
    """Raise and revoke flags for every member whose earned points in a period changed."""
    last_txn: dict[tuple[int, str], int] = {}
    delta: dict[tuple[int, str], int] = {}
    for draft, txn_id in zip(drafts, txn_ids, strict=True):
        if draft.member_account_id is not None and draft.earned_points:
            key = (draft.member_account_id, draft.period)
            last_txn[key] = txn_id
            delta[key] = delta.get(key, 0) + draft.earned_points
    if not last_txn:
        return
    schemes = await current_schemes(conn)
    if not schemes:
        return
    periods = sorted({period for _, period in last_txn})
    after = await conn.execute(_AFTER, {"accounts": sorted({a for a, _ in last_txn}), "periods": periods})
    # Only a rise to the lowest top threshold can raise a flag, and only a fall below the
    # highest can revoke one: everyone else needs no look at their flags.
    lowest = min(scheme.top[1] for scheme in schemes.values())
    highest = max(scheme.top[1] for scheme in schemes.values())
    rows = [
        r
        for r in after
        if (r.account_id, r.period) in delta
        and (
            (delta[(r.account_id, r.period)] > 0 and r.earned >= lowest)
            or (delta[(r.account_id, r.period)] < 0 and r.earned < highest)
        )
    ]
    if not rows:
        return
    states = {
        (r.member_id, r.period, r.flag): r.state
        for r in await conn.execute(_LIVE, {"members": sorted({r.id for r in rows}), "periods": periods})
    }
    changes = _Changes()
    for row in rows:
        scheme = scheme_for(row.path, schemes)
        if scheme is None:
            continue
        should = scheme.flags_for(row.earned, row.roles, row.party_member)
        txn_id = last_txn[(row.account_id, row.period)]
        for flag in FLAGS:
            state = states.get((row.id, row.period, flag))
            if flag in should and state in (None, REVOKED):
                changes.raise_(row.id, row.period, flag, row.earned, txn_id, now, exists=state is not None)
            elif flag not in should and row.earned < scheme.top[1] and state in LIVE_STATES:
                changes.revoke(row.id, row.period, flag, row.earned, txn_id, now)
    await changes.write(conn)


_EVENT_COLUMNS = ("member_id", "period", "flag", "action", "points", "transaction_id", "actor", "at")
_FLAG_COLUMNS = ("member_id", "period", "flag", "state", "flagged_at", "transaction_id", "objections", "updated_at")


class _Changes:
    """The flag changes of one posting batch, written in three statements whatever their
    number: a settle that lifts thousands of members over the threshold stays one batch."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []  # _EVENT_COLUMNS
        self.inserts: list[tuple[Any, ...]] = []  # _FLAG_COLUMNS
        self.updates: list[dict[str, Any]] = []

    def raise_(
        self, member_id: str, period: str, flag: str, points: int, txn_id: int, now: datetime, exists: bool
    ) -> None:
        self.events.append((member_id, period, flag, "raised", points, txn_id, "system", now))
        if exists:
            self.updates.append(
                {
                    "b_member": member_id,
                    "b_period": period,
                    "b_flag": flag,
                    "b_state": FLAGGED,
                    "b_txn": txn_id,
                    "b_now": now,
                }
            )
        else:
            self.inserts.append((member_id, period, flag, FLAGGED, now, txn_id, 0, now))

    def revoke(self, member_id: str, period: str, flag: str, points: int, txn_id: int, now: datetime) -> None:
        self.events.append((member_id, period, flag, "revoked", points, txn_id, "system", now))
        self.updates.append(
            {"b_member": member_id, "b_period": period, "b_flag": flag, "b_state": REVOKED, "b_txn": None, "b_now": now}
        )

    async def write(self, conn: AsyncConnection) -> None:
        await bulk.insert(conn, _events, _EVENT_COLUMNS, self.events)
        await bulk.insert(conn, _current, _FLAG_COLUMNS, self.inserts)
        if self.updates:
            await conn.execute(_SET_STATE, self.updates)


# A raise of a revoked flag starts it afresh (new transaction, no notice, no objections);
# a revocation keeps the raise's transaction and only changes the state.
_RAISING = bindparam("b_state") == FLAGGED
_SET_STATE = (
    update(_current)
    .where(
        _current.c.member_id == bindparam("b_member"),
        _current.c.period == bindparam("b_period"),
        _current.c.flag == bindparam("b_flag"),
    )
    .values(
        state=bindparam("b_state"),
        updated_at=bindparam("b_now"),
        transaction_id=func.coalesce(bindparam("b_txn"), _current.c.transaction_id),
        flagged_at=case((_RAISING, bindparam("b_now")), else_=_current.c.flagged_at),
        notice_id=case((_RAISING, None), else_=_current.c.notice_id),
        objections=case((_RAISING, 0), else_=_current.c.objections),
    )
)


def _key(member_id: str, period: str, flag: str) -> tuple:
    return _current.c.member_id == member_id, _current.c.period == period, _current.c.flag == flag


async def record_step(
    conn: AsyncConnection,
    member_id: str,
    period: str,
    flag: str,
    state: str | None,
    action: str,
    now: datetime,
    actor: str,
    reason: str | None = None,
    points: int | None = None,
    transaction_id: int | None = None,
    notice_id: int | None = None,
    objection: bool = False,
) -> None:
    """One lifecycle step: an append-only event, and the flag's present state."""
    await conn.execute(
        insert(_events).values(
            member_id=member_id,
            period=period,
            flag=flag,
            action=action,
            points=points,
            transaction_id=transaction_id,
            notice_id=notice_id,
            reason=reason,
            actor=actor,
            at=now,
        )
    )
    values: dict[str, Any] = {"updated_at": now}
    if state is not None:
        values["state"] = state
    if notice_id is not None:
        values["notice_id"] = notice_id
    if objection:
        values["objections"] = _current.c.objections + 1
    await conn.execute(update(_current).where(*_key(member_id, period, flag)).values(**values))
