"""Tiers and nomination flags (优秀共产党员, 先进工作者).

Thresholds come from the tier schemes (``honours.tiers``); spending never lowers a
tier, reversals and deductions do.

Reaching the top tier raises flags inside ``journal.post`` — the one path every point
takes — in the same database transaction as the posting that crossed it: 先进工作者 for a
member with one of the scheme's eligible roles, 优秀共产党员 for a party member. Falling
back below revokes them. Every change is an append-only event naming its transaction —
the one that crossed the threshold, also when a group-commit batch holds several of the
member's (``deciding_transaction``). ``nomination_current`` holds each flag's present
state under a key that makes a second raise impossible, and the member's account lock
(held by ``post``) orders concurrent awards of one member.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, case, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.honours.tiers import FLAGS, TABLE, scheme_for, schemes_from
from ledger.storage import bulk, unit_versions
from ledger.storage.tables import AccountPeriod, Member, NominationCurrent, NominationEvent, OrgUnit, table_of
from ledger.values import TxnDraft

FLAGGED, IN_NOTICE, CONFIRMED, WITHDRAWN, REVOKED = "flagged", "in_notice", "confirmed", "withdrawn", "revoked"
LIVE_STATES = (FLAGGED, IN_NOTICE, CONFIRMED)

_events = table_of(NominationEvent)
_current = table_of(NominationCurrent)
_periods = table_of(AccountPeriod)
_members = table_of(Member)
_units = table_of(OrgUnit)


_BEFORE = (
    select(
        _members.c.account_id,
        _members.c.id,
        _members.c.roles,
        _members.c.party_member,
        _units.c.path,
        _periods.c.period,
        _periods.c.earned,
    )
    .join(_units, _units.c.code == _members.c.org_unit)
    .outerjoin(_periods, (_periods.c.account_id == _members.c.account_id) & bulk.OneOf(_periods.c.period, "periods"))
    .where(bulk.OneOf(_members.c.account_id, "accounts"))
)
"""The members a batch earned points for, with what they had earned in its periods before
it (no row for a period they had not earned in yet)."""
_LIVE = select(_current.c.member_id, _current.c.period, _current.c.flag, _current.c.state).where(
    bulk.OneOf(_current.c.member_id, "members"),
    bulk.OneOf(_current.c.period, "periods"),
)


def _steps(drafts: Sequence[TxnDraft], txn_ids: Sequence[int]) -> dict[tuple[int, str], list[tuple[int, int]]]:
    """Per (member account, period) whose earned points the batch changed: its
    transactions and the points each earned, in posting order."""
    steps: dict[tuple[int, str], list[tuple[int, int]]] = {}
    for draft, txn_id in zip(drafts, txn_ids, strict=True):
        if draft.member_account_id is not None and draft.earned_points:
            steps.setdefault((draft.member_account_id, draft.period), []).append((txn_id, draft.earned_points))
    return steps


def read_before(drafts: Sequence[TxnDraft]) -> tuple[Select[Any], dict[str, Any]] | None:
    """What ``evaluate`` reads of the members before the batch's writes: sent with them
    (``journal.posting.AfterPosting``), it costs no round trip of its own."""
    keys = _steps(drafts, range(len(drafts)))
    if not keys:
        return None
    return _BEFORE, {"accounts": sorted({a for a, _ in keys}), "periods": sorted({p for _, p in keys})}


async def evaluate(
    conn: AsyncConnection,
    drafts: Sequence[TxnDraft],
    txn_ids: Sequence[int],
    now: datetime,
    loaded: unit_versions.Loaded,
    before: Sequence[bulk.Row],
) -> None:
    """Raise and revoke flags for every member whose earned points in a period changed,
    by the tier schemes the posting read with its locks (``Journal.versioned`` names
    ``tiers.TABLE``) and what ``read_before`` read: the points after the batch are those
    before it and the batch's own, as its counters add them.

    A flag names the transaction that decided it, even when a group-commit batch holds
    several of the member's transactions (see ``deciding_transaction``)."""
    steps = _steps(drafts, txn_ids)
    if not steps:
        return
    schemes = schemes_from(loaded.latest[TABLE.name])
    if not schemes:
        return
    delta = {key: sum(points for _, points in batch) for key, batch in steps.items()}
    members: dict[int, _Earner] = {}
    earned_before: dict[tuple[int, str], int] = {}
    for account_id, member_id, roles, party_member, path, period, earned in before:
        members[account_id] = _Earner(member_id, roles, party_member, path)
        if period is not None:
            earned_before[(account_id, period)] = earned
    # Only a rise to the lowest top threshold can raise a flag, and only a fall below the
    # highest can revoke one: everyone else needs no look at their flags.
    lowest = min(scheme.top[1] for scheme in schemes.values())
    highest = max(scheme.top[1] for scheme in schemes.values())
    rows = [
        (account_id, period, members[account_id], earned_before.get((account_id, period), 0) + change)
        for (account_id, period), change in sorted(delta.items())
        if account_id in members
        and (
            (change > 0 and earned_before.get((account_id, period), 0) + change >= lowest)
            or (change < 0 and earned_before.get((account_id, period), 0) + change < highest)
        )
    ]
    if not rows:
        return
    periods = sorted({period for _, period in steps})
    states = {
        (r.member_id, r.period, r.flag): r.state
        for r in await conn.execute(_LIVE, {"members": sorted({m.id for _, _, m, _ in rows}), "periods": periods})
    }
    changes = _Changes()
    for account_id, period, earner, earned in rows:
        scheme = scheme_for(earner.path, schemes)
        if scheme is None:
            continue
        should = scheme.flags_for(earned, earner.roles, earner.party_member)
        key = (account_id, period)
        txn_id = deciding_transaction(earned - delta[key], steps[key], scheme.top[1])
        for flag in FLAGS:
            state = states.get((earner.id, period, flag))
            if flag in should and state in (None, REVOKED):
                changes.raise_(earner.id, period, flag, earned, txn_id, now, exists=state is not None)
            elif flag not in should and earned < scheme.top[1] and state in LIVE_STATES:
                changes.revoke(earner.id, period, flag, earned, txn_id, now)
    await changes.write(conn)


@dataclass(frozen=True, slots=True)
class _Earner:
    id: str
    roles: list[str]
    party_member: bool
    path: str


def deciding_transaction(before_points: int, steps: Sequence[tuple[int, int]], threshold_points: int) -> int:
    """The transaction a flag change names, from the member's points earned before a batch
    and the batch's ``steps`` for them ((transaction id, points earned), in posting order).

    The batch leaves the member on one side of the threshold: at or above it (a raise) or
    below it (a revocation). The change names the last transaction that crossed to that
    side, the one after which the member stayed there: at 280 with twenty 2-point awards
    in one batch, the award that took 298 to 300, not the last; after +5 (over), −6
    (under), +6 (over again) in one batch, the +6. A member already on that side before
    the batch who never left it (a flag the scheme, party membership or roles only now
    allow) is decided by the batch's first transaction, the first that found them there.
    In practice a batch moves one member's points one way (award batches and settles only
    award, and ``journal.lots`` refuses a batch that opens a member's lot and draws on
    one), but the rule holds for any mix.
    """
    assert steps, "a batch that changed the member's points has at least one step"
    ends_at_or_above = before_points + sum(points for _, points in steps) >= threshold_points
    deciding, points = steps[0][0], before_points
    for txn_id, earned in steps:
        was_at_or_above = points >= threshold_points
        points += earned
        if was_at_or_above != ends_at_or_above and (points >= threshold_points) == ends_at_or_above:
            deciding = txn_id
    return deciding


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


def _key(member_id: str, period: str, flag: str) -> tuple[ColumnElement[bool], ...]:
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
