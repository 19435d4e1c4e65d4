"""Claims (随手清、即时报、全程跟): work a member reports themselves, reviewed by an organizer.

A claim is pending until reviewed, and pending points count nowhere: no posting exists
until approval. Approval awards by the claim's rule with caps applied (clipped to the
room left), in the same database transaction that marks the claim approved; a decline
keeps the claim with its reason. Nothing is deleted. A claim matching an earlier one of
the same member, rule, local day and reference is flagged as a likely duplicate so the
reviewer sees it; it is not refused, since two patrols on one day are real.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.earning.award_batch import AwardRequest, award_context, draft_award
from ledger.earning.awards import AwardCommand, award_result, check_occurred_at
from ledger.earning.rules import WorkDone, get_rule
from ledger.errors import ClaimNotFound, ClaimNotPending, InvalidInput
from ledger.journal.idempotency import IdempotentRequest
from ledger.journal.posting import post
from ledger.org.members import get_member
from ledger.org.units import get_unit, in_subtree
from ledger.storage.tables import Claim, Member, OrgUnit

CLAIM_PAGE_SIZE_MAX = 200
"""A reviewer's queue page: a screenful of claims with room to spare."""

PENDING, APPROVED, DECLINED = "pending", "approved", "declined"
STATUSES = (PENDING, APPROVED, DECLINED)

_claims = Claim.__table__
_members = Member.__table__
_units = OrgUnit.__table__


@dataclass(frozen=True, slots=True)
class ClaimCommand:
    member_id: str
    rule: str
    work: WorkDone
    occurred_at: datetime
    memo: str = ""
    reference: str | None = None  # the event's id in the reporting platform
    evidence_url: str | None = None


async def submit(conn: AsyncConnection, command: ClaimCommand, created_by: str, now: datetime, tz: tzinfo) -> dict:
    check_occurred_at(command.occurred_at, now)
    await get_member(conn, command.member_id)
    await get_rule(conn, command.rule)
    day = command.occurred_at.astimezone(tz).date().isoformat()
    duplicate = (
        await conn.execute(
            select(_claims.c.id)
            .where(
                _claims.c.member_id == command.member_id,
                _claims.c.rule_code == command.rule,
                _claims.c.day == day,
                _claims.c.reference.is_(None)
                if command.reference is None
                else _claims.c.reference == command.reference,
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


async def get_claim(conn: AsyncConnection, claim_id: int, lock: bool = False) -> dict[str, Any]:
    query = select(_claims).where(_claims.c.id == claim_id)
    row = (await conn.execute(query.with_for_update() if lock else query)).first()
    if row is None:
        raise ClaimNotFound(claim_id)
    return dict(row._mapping)


async def queue(
    conn: AsyncConnection, status: str | None, org_unit: str | None, limit: int, after: int | None
) -> list[dict[str, Any]]:
    """Claims by id, optionally of one status and one subtree (the home units of their members)."""
    if status is not None and status not in STATUSES:
        raise InvalidInput("status", f"status is one of {', '.join(STATUSES)}")
    if not 1 <= limit <= CLAIM_PAGE_SIZE_MAX:
        raise InvalidInput("limit", f"limit must be between 1 and {CLAIM_PAGE_SIZE_MAX}")
    query = select(_claims).order_by(_claims.c.id).limit(limit)
    if status is not None:
        query = query.where(_claims.c.status == status)
    if after is not None:
        query = query.where(_claims.c.id > after)
    if org_unit is not None:
        unit = await get_unit(conn, org_unit)
        query = query.join(_members, _members.c.id == _claims.c.member_id).join(
            _units, and_(_units.c.code == _members.c.org_unit, in_subtree(_units.c.path, unit.path))
        )
    return [dict(row._mapping) for row in await conn.execute(query)]


async def approve(
    conn: AsyncConnection, claim_id: int, reviewer: str, now: datetime, tz: tzinfo, for_update: bool
) -> dict[str, Any]:
    claim = await _pending(conn, claim_id)
    work = WorkDone(claim["quantity"], claim["steps"], claim["handled_within_limit"])
    # The statement names the award by its rule; the claim keeps the transaction's id.
    memo = claim["memo"]
    command = AwardCommand(
        claim["member_id"],
        None,
        None,
        claim["occurred_at"],
        memo,
        evidence_url=claim["evidence_url"],
        rule=claim["rule_code"],
        work=work,
        clip=True,
    )
    request = AwardRequest(command, reviewer, IdempotentRequest(reviewer, f"claim:{claim_id}", ""))
    draft = draft_award(request, await award_context(conn, [request], now, tz, for_update))
    [posted] = await post(conn, [draft], now, for_update=for_update, tz=tz)
    await _decide(conn, claim_id, APPROVED, reviewer, now, None, posted.id)
    # Stored as the idempotent result, so plain JSON: the claim itself is final and re-read.
    return {"claim_id": claim_id, "award": award_result(draft, posted)}


async def decline(conn: AsyncConnection, claim_id: int, reason: str, reviewer: str, now: datetime) -> dict:
    await _pending(conn, claim_id)
    await _decide(conn, claim_id, DECLINED, reviewer, now, reason, None)
    return await get_claim(conn, claim_id)


async def _pending(conn: AsyncConnection, claim_id: int) -> dict[str, Any]:
    claim = await get_claim(conn, claim_id, lock=True)
    if claim["status"] != PENDING:
        raise ClaimNotPending(claim_id, claim["status"])
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
