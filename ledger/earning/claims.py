"""Claims (随手清、即时报、全程跟): work a member reports themselves, reviewed by an organizer.

A claim is pending until reviewed, and pending points count nowhere: no posting exists
until approval. Approval awards by the claim's rule with caps applied (clipped to the
room left), in the same database transaction that marks the claim approved; a decline
keeps the claim with its reason. Nothing is deleted.

A claim is checked when submitted as an award by its rule would be checked, caps aside:
the rule is active that day, pays the member's roles, and counts the work (a patrol's
steps, a diary's length). A claim that no reviewer could approve as it stands is refused
then, naming the field, instead of waiting in the queue for a decline. Caps are left to
approval, since a reversal may give room back before the reviewer gets to it.

A claim with a reference (the event's id in the reporting platform) matching an earlier
one of the same member, rule and local day is flagged as a likely duplicate so the
reviewer sees both side by side; it is not refused, since a report may be resubmitted
with a better photo. Claims without a reference are never flagged: two patrols on one
day are real, and nothing tells them apart but the reviewer's eye.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Self

from sqlalchemy import and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.earning.award_batch import AwardRequest, award_context, draft_award
from ledger.earning.awards import AwardCommand, AwardResult, award_result, check_occurred_at
from ledger.earning.rules import WorkDone, base_points, check_applies, get_rule
from ledger.errors import ClaimNotFound, ClaimNotPending, InvalidInput, LedgerError, MemberInactive
from ledger.journal.idempotency import IdempotentRequest, Reply
from ledger.journal.posting import Journal, post
from ledger.org.members import get_member
from ledger.org.units import get_unit, in_subtree
from ledger.storage.tables import Claim as ClaimRow
from ledger.storage.tables import JournalTxn, Member, OrgUnit, table_of

CLAIM_PAGE_SIZE_MAX = 200
"""A reviewer's queue page: a screenful of claims with room to spare."""

CLAIM_REVIEW_BATCH_MAX = 100
"""Claims decided in one bulk review: a reviewer's screenful ticked at once. Each is its
own database transaction, so a batch takes about a hundred short commits at most."""

PENDING, APPROVED, DECLINED = "pending", "approved", "declined"
STATUSES = (PENDING, APPROVED, DECLINED)

_claims = table_of(ClaimRow)
_members = table_of(Member)
_units = table_of(OrgUnit)
_txns = table_of(JournalTxn)

# Every claim read carries the points its approval awarded (None until approved), so a
# reviewer's history and a resident's list say "approved, 5 points" without a second read.
_READ = select(_claims, _txns.c.earned_points.label("awarded_points")).outerjoin(
    _txns, _txns.c.id == _claims.c.transaction_id
)


@dataclass(frozen=True, slots=True)
class ClaimCommand:
    member_id: str
    rule: str
    work: WorkDone
    occurred_at: datetime
    memo: str = ""
    reference: str | None = None  # the event's id in the reporting platform
    evidence_url: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """A reviewer's decision on one claim of a bulk review: approve, or decline for a reason."""

    claim_id: int
    approve: bool
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    id: int
    member_id: str
    rule_code: str
    quantity: int
    steps: int | None
    handled_within_limit: bool
    reference: str | None
    occurred_at: datetime
    day: str
    memo: str
    evidence_url: str | None
    possible_duplicate_of: int | None
    status: str
    created_by: str
    created_at: datetime
    reviewed_by: str | None
    reviewed_at: datetime | None
    decision_reason: str | None
    transaction_id: int | None
    awarded_points: int | None
    """What the approval awarded (caps applied); None until approved."""


@dataclass(frozen=True, slots=True)
class Decided(Reply):
    """The stored answer to a decision on a claim: an approval's award, none for a
    decline (the claim itself is final and re-read)."""

    claim_id: int
    award: AwardResult | None = None

    @classmethod
    def replayed(cls, stored: Mapping[str, Any]) -> Self:
        award = stored.get("award")
        return cls(stored["claim_id"], None if award is None else AwardResult.replayed(award))


@dataclass(frozen=True, slots=True)
class Reviewed:
    """How one decision of a bulk review ended: its stored answer and whether it was
    replayed, or why the ledger refused it."""

    decision: Decision
    result: Decided | None
    replayed: bool = False
    refused: LedgerError | None = None
    claim: Claim | None = None
    """The claim as it stands after the decision (None when refused)."""


@dataclass(frozen=True, slots=True)
class Approved:
    """An approved claim as it now stands, and the award its approval posted."""

    claim: Claim
    award: AwardResult


def check_decisions(decisions: list[Decision]) -> None:
    """A bulk review names each claim once, at most a batch of them, and gives each decline
    its reason; InvalidInput names the line at fault and nothing is decided."""
    if not 1 <= len(decisions) <= CLAIM_REVIEW_BATCH_MAX:
        raise InvalidInput("decisions", f"a review decides between 1 and {CLAIM_REVIEW_BATCH_MAX} claims")
    seen: set[int] = set()
    for i, decision in enumerate(decisions):
        if decision.claim_id in seen:
            raise InvalidInput(f"decisions[{i}].claim_id", f"claim {decision.claim_id} is named twice")
        if not decision.approve and not decision.reason:
            raise InvalidInput(f"decisions[{i}].reason", "a decline gives its reason")
        seen.add(decision.claim_id)


async def submit(conn: AsyncConnection, command: ClaimCommand, created_by: str, now: datetime, tz: tzinfo) -> Claim:
    check_occurred_at(command.occurred_at, now)
    member = await get_member(conn, command.member_id)
    if not member.active:
        raise MemberInactive(member.id)
    rule = await get_rule(conn, command.rule)
    local_day = command.occurred_at.astimezone(tz).date()
    check_applies(rule, member.id, [r.value for r in member.roles], local_day)
    base_points(rule, command.work)
    day = local_day.isoformat()
    duplicate = None
    if command.reference is not None:
        duplicate = (
            await conn.execute(
                select(_claims.c.id)
                .where(
                    _claims.c.member_id == command.member_id,
                    _claims.c.rule_code == command.rule,
                    _claims.c.day == day,
                    _claims.c.reference == command.reference,
                )
                .order_by(_claims.c.id)
                .limit(1)
            )
        ).scalar_one_or_none()
    row = {
        "member_id": command.member_id,
        "rule_code": command.rule,
        "quantity": command.work.quantity,
        "steps": command.work.steps,
        "handled_within_limit": command.work.handled_within_limit,
        "reference": command.reference,
        "occurred_at": command.occurred_at,
        "day": day,
        "memo": command.memo,
        "evidence_url": command.evidence_url,
        "possible_duplicate_of": duplicate,
        "status": PENDING,
        "created_by": created_by,
        "created_at": now,
    }
    claim_id = (await conn.execute(insert(_claims).values(**row).returning(_claims.c.id))).scalar_one()
    return await get_claim(conn, claim_id)


async def get_claim(conn: AsyncConnection, claim_id: int, lock: bool = False) -> Claim:
    query = _READ.where(_claims.c.id == claim_id)
    # FOR UPDATE OF claim: the journal row joined in is append-only and needs no lock.
    row = (await conn.execute(query.with_for_update(of=_claims) if lock else query)).first()
    if row is None:
        raise ClaimNotFound(claim_id)
    return Claim(**row._mapping)


async def queue(
    conn: AsyncConnection, status: str | None, org_unit: str | None, limit: int, after: int | None
) -> list[Claim]:
    """Claims by id, optionally of one status and one subtree (the home units of their members)."""
    if status is not None and status not in STATUSES:
        raise InvalidInput("status", f"status is one of {', '.join(STATUSES)}")
    if not 1 <= limit <= CLAIM_PAGE_SIZE_MAX:
        raise InvalidInput("limit", f"limit must be between 1 and {CLAIM_PAGE_SIZE_MAX}")
    query = _READ.order_by(_claims.c.id).limit(limit)
    if status is not None:
        query = query.where(_claims.c.status == status)
    if after is not None:
        query = query.where(_claims.c.id > after)
    if org_unit is not None:
        unit = await get_unit(conn, org_unit)
        query = query.join(_members, _members.c.id == _claims.c.member_id).join(
            _units, and_(_units.c.code == _members.c.org_unit, in_subtree(_units.c.path, unit.path))
        )
    return [Claim(**row._mapping) for row in await conn.execute(query)]


async def member_claims(conn: AsyncConnection, member_id: str, limit: int, before: int | None) -> list[Claim]:
    """A member's own claims, newest first (``before`` an id for the next page): what the
    resident follows, each with its state, the points awarded or the reason declined."""
    if not 1 <= limit <= CLAIM_PAGE_SIZE_MAX:
        raise InvalidInput("limit", f"limit must be between 1 and {CLAIM_PAGE_SIZE_MAX}")
    await get_member(conn, member_id)
    query = _READ.where(_claims.c.member_id == member_id).order_by(_claims.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(_claims.c.id < before)
    return [Claim(**row._mapping) for row in await conn.execute(query)]


async def approve(conn: AsyncConnection, claim_id: int, reviewer: str, now: datetime, journal: Journal) -> Decided:
    claim = await _pending(conn, claim_id)
    work = WorkDone(claim.quantity, claim.steps, claim.handled_within_limit)
    # The statement names the award by its rule; the claim keeps the transaction's id.
    command = AwardCommand(
        claim.member_id,
        None,
        None,
        claim.occurred_at,
        claim.memo,
        evidence_url=claim.evidence_url,
        rule=claim.rule_code,
        work=work,
        clip=True,
    )
    request = AwardRequest(command, reviewer, IdempotentRequest(reviewer, f"claim:{claim_id}", ""))
    draft = draft_award(request, await award_context(conn, [request], now, journal))
    [posted] = await post(conn, [draft], now, journal)
    await _decide(conn, claim_id, APPROVED, reviewer, now, None, posted.id)
    return Decided(claim_id, award_result(draft, posted))


async def decline(conn: AsyncConnection, claim_id: int, reason: str, reviewer: str, now: datetime) -> Claim:
    await _pending(conn, claim_id)
    await _decide(conn, claim_id, DECLINED, reviewer, now, reason, None)
    return await get_claim(conn, claim_id)


async def _pending(conn: AsyncConnection, claim_id: int) -> Claim:
    claim = await get_claim(conn, claim_id, lock=True)
    if claim.status != PENDING:
        raise ClaimNotPending(claim_id, claim.status)
    return claim


async def _decide(
    conn: AsyncConnection,
    claim_id: int,
    status: str,
    reviewer: str,
    now: datetime,
    reason: str | None,
    transaction_id: int | None,
) -> None:
    await conn.execute(
        update(_claims)
        .where(_claims.c.id == claim_id)
        .values(
            status=status,
            reviewed_by=reviewer,
            reviewed_at=now,
            decision_reason=reason,
            transaction_id=transaction_id,
        )
    )
