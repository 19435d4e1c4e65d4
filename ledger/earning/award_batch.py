"""Awards in batches: every award request, alone or coalesced by group commit, is posted
by ``award_many`` inside one database transaction.

The steps, each one statement for the whole batch wherever the database allows:
claim the idempotency keys (``idempotency.once_many``: replays, reused and taken keys,
and a key sent twice in one batch, are answered from what is stored or claimed) and
load the members and units, together; refuse, one by one, the requests the ledger's state refuses (their
key claims are given back, since nothing was done for them); post the rest in one
``journal.post``; store each result under its key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, tzinfo
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.earning.awards import (
    AwardCommand,
    AwardResult,
    award_draft,
    award_result,
    check_form,
    check_occurred_at,
    check_points,
)
from ledger.earning.rules import Rule, Usage, base_points, cap_windows, check_applies, current_rules, held_to_caps
from ledger.errors import (
    LedgerError,
    MemberInactive,
    MemberNotFound,
    OrgUnitNotFound,
    RuleNotFound,
)
from ledger.journal.idempotency import IdempotentRequest, once_many
from ledger.journal.posting import Journal, lock_member_accounts, post
from ledger.org.members import Member, members_and_units, members_and_units_query
from ledger.org.units import Unit
from ledger.storage.bulk import Row
from ledger.values import TxnDraft

AWARD_BATCH_MAX = 128
"""Awards per database transaction under group commit. At ~0.3 ms of work per award a
full batch commits within ~40 ms, inside the 50 ms p99 the service aims for, and its
statements stay far below SQLite's 32,766 bound parameters."""


@dataclass(frozen=True, slots=True)
class AwardRequest:
    command: AwardCommand
    recorded_by: str
    idempotency: IdempotentRequest


AwardOutcome = tuple[AwardResult, bool]  # (result, replayed)


@dataclass
class AwardContext:
    """What a batch loads once for all of its requests."""

    members: dict[str, Member]
    units: dict[str, Unit]
    rules: dict[str, Rule]
    usage: Usage
    now: datetime
    tz: tzinfo
    # A settle awards thousands of members for the same instant by the same rule: its
    # local day and capped windows are worked out once, not once per member.
    days: dict[datetime, date] = field(default_factory=dict)
    windows: dict[tuple[datetime, str], dict[str, str]] = field(default_factory=dict)

    def day(self, at: datetime) -> date:
        if at not in self.days:
            self.days[at] = at.astimezone(self.tz).date()
        return self.days[at]

    def capped_windows(self, at: datetime, rule: Rule) -> dict[str, str]:
        """The windows ``rule`` caps that ``at`` falls in (the others would be rows nobody
        reads). Shared by the drafts of a batch, so never changed once made."""
        if (at, rule.code) not in self.windows:
            windows = cap_windows(at, self.tz)
            self.windows[at, rule.code] = {kind: key for kind, key in windows.items() if kind in rule.caps}
        return self.windows[at, rule.code]


def draft_award(request: AwardRequest, ctx: AwardContext) -> TxnDraft:
    command = request.command
    check_form(command)
    check_occurred_at(command.occurred_at, ctx.now)
    member = ctx.members.get(command.member_id)
    if member is None:
        raise MemberNotFound(command.member_id)
    if not member.active:
        raise MemberInactive(member.id)
    unit = ctx.units.get(command.org_unit or member.org_unit)
    if unit is None:
        raise OrgUnitNotFound(command.org_unit or member.org_unit)
    extra: dict[str, object] = {}
    if command.rule is not None:
        command, extra = _by_rule(command, member, ctx)
    check_points(command.points)
    return award_draft(member, unit.issuance_account_id, unit.code, command, request.recorded_by, ctx.tz, extra)


def _by_rule(command: AwardCommand, member: Member, ctx: AwardContext) -> tuple[AwardCommand, dict[str, object]]:
    """The points a rule gives for the work, held to its caps (usage updated in memory, so
    later requests of the same batch see them)."""
    assert command.rule is not None and command.work is not None
    rule = ctx.rules.get(command.rule)
    if rule is None:
        raise RuleNotFound(command.rule)
    check_applies(rule, member.id, [r.value for r in member.roles], ctx.day(command.occurred_at))
    asked = base_points(rule, command.work)
    windows = ctx.capped_windows(command.occurred_at, rule)
    points = held_to_caps(rule, asked, ctx.usage.used(member.account_id, rule.code, windows), command.clip)
    ctx.usage.add(member.account_id, rule.code, windows, points)
    extra: dict[str, object] = {
        "rule": rule.code,
        "rule_version": rule.version,
        "quantity": command.work.quantity,
        "windows": windows,
    }
    if points != asked:
        extra["clipped_from_points"] = asked
    return replace(command, points=points, category=rule.category), extra


def _members_and_units(requests: Sequence[AwardRequest]) -> tuple[Select[Any], dict[str, Any]]:
    return members_and_units_query(
        {r.command.member_id for r in requests}, {r.command.org_unit for r in requests if r.command.org_unit}
    )


async def award_context(
    conn: AsyncConnection,
    requests: Sequence[AwardRequest],
    now: datetime,
    journal: Journal,
    read: Sequence[Row] | None = None,
) -> AwardContext:
    """What the requests need: their members and units (``read``: the rows of
    ``_members_and_units``, when the caller sent it already), the rules they name, and
    for awards by rule the caps' usage, read under the members' account locks."""
    if read is None:
        read = (await conn.execute(*_members_and_units(requests))).all()
    members, units = members_and_units(read)
    by_rule = [r.command for r in requests if r.command.rule is not None]
    rules = await current_rules(conn, {c.rule for c in by_rule if c.rule is not None}) if by_rule else {}
    accounts = {members[c.member_id].account_id for c in by_rule if c.member_id in members}
    if accounts and journal.for_update:
        # Caps are read-then-written: hold the members' account locks first (the order
        # journal.post takes them in), so a concurrent batch waits instead of reading
        # the same room twice. SQLite's one writer already excludes every other: there
        # the read would only load 10,000 accounts in a settle for nothing.
        await lock_member_accounts(conn, accounts, journal.for_update)
    windows = {w for at in {c.occurred_at for c in by_rule} for w in cap_windows(at, journal.tz).values()}
    return AwardContext(members, units, rules, await Usage.load(conn, accounts, windows), now, journal.tz)


async def award_many(
    conn: AsyncConnection, requests: Sequence[AwardRequest], now: datetime, journal: Journal
) -> list[AwardOutcome | LedgerError]:
    async def work(fresh: Sequence[int], read: Sequence[Row]) -> list[AwardResult | LedgerError]:
        asked = [requests[i] for i in fresh]
        ctx = await award_context(conn, asked, now, journal, read)
        drafts: list[TxnDraft | LedgerError] = []
        for request in asked:
            try:
                drafts.append(draft_award(request, ctx))
            except LedgerError as error:
                drafts.append(error)
        accepted = [d for d in drafts if not isinstance(d, LedgerError)]
        posted = iter(await post(conn, accepted, now, journal) if accepted else [])
        return [d if isinstance(d, LedgerError) else award_result(d, next(posted)) for d in drafts]

    # Every request's member and units, read with the claims (one statement on
    # PostgreSQL): the replays among them need none, but are rare.
    read = _members_and_units(requests)
    return await once_many(conn, [r.idempotency for r in requests], now, work, AwardResult, read)
