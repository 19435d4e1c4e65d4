"""Deductions (扣分): points taken back for cause — a falsified record, say — with a reason.

A deduction moves points from the member back to the issuing unit and lowers the points
earned in the period of the misconduct. It never takes a balance below zero: it is
clipped to what is available and the clipped amount is reported. Points already spent
stay spent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.earning.awards import check_occurred_at, check_points
from ledger.errors import NothingToDeduct
from ledger.journal.idempotency import Reply
from ledger.journal.periods import period_of
from ledger.journal.posting import Journal, lock_member_accounts, post
from ledger.org.members import get_member
from ledger.org.units import get_unit
from ledger.values import Category, Posting, TxnDraft, TxnKind


@dataclass(frozen=True, slots=True)
class DeductionCommand:
    member_id: str
    points: int
    reason: str
    occurred_at: datetime  # when the misconduct happened: its period loses the points
    category: Category = Category.OTHER


@dataclass(frozen=True, slots=True)
class Deduction(Reply):
    """A deduction posted: what was asked, what the balance allowed, and the balance after."""

    transaction_id: int
    member_id: str
    requested_points: int
    deducted_points: int
    clipped_points: int
    available_points: int
    hash: str


async def deduct(
    conn: AsyncConnection, command: DeductionCommand, recorded_by: str, now: datetime, journal: Journal
) -> Deduction:
    check_points(command.points)
    check_occurred_at(command.occurred_at, now)
    member = await get_member(conn, command.member_id)
    unit = await get_unit(conn, member.org_unit)
    available = (await lock_member_accounts(conn, {member.account_id}, journal.for_update))[member.account_id]
    points = min(command.points, available)
    if points == 0:
        raise NothingToDeduct(member.id, command.points)
    draft = TxnDraft(
        kind=TxnKind.DEDUCTION,
        category=command.category,
        member_id=member.id,
        org_unit=unit.code,
        occurred_at=command.occurred_at,
        recorded_by=recorded_by,
        memo=command.reason,
        postings=(Posting(member.account_id, -points), Posting(unit.issuance_account_id, points)),
        period=period_of(command.occurred_at, journal.tz),
        member_account_id=member.account_id,
        earned_points=-points,
    )
    [posted] = await post(conn, [draft], now, journal)
    return Deduction(
        transaction_id=posted.id,
        member_id=member.id,
        requested_points=command.points,
        deducted_points=points,
        clipped_points=command.points - points,
        available_points=posted.balance_after[member.account_id],
        hash=posted.hash,
    )
