"""Awards and reversals: the two ways points move in the foundation of the ledger.

An award moves points from an org unit's issuance account to a member's account and
raises the member's points earned in the period the work happened. A reversal posts
the mirror image of an earlier transaction, in that transaction's period, so that a
wrong award is undone without editing anything; it is refused when the member has
already spent the points (the balance would go below zero).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.earning.rules import WorkDone
from ledger.errors import (
    AlreadyReversed,
    InsufficientPoints,
    InvalidInput,
    NotReversible,
    TransactionNotFound,
)
from ledger.journal.idempotency import Reply
from ledger.journal.periods import period_of
from ledger.journal.posting import Posted
from ledger.org.members import Member, get_member
from ledger.storage.tables import JournalTxn, Lot, PostingRow, table_of
from ledger.values import (
    AWARD_POINTS_MAX,
    EARLIEST_OCCURRED_AT,
    REVERSIBLE_KINDS,
    Category,
    Posting,
    TxnDraft,
    TxnKind,
)

CLOCK_SKEW_ALLOWANCE = timedelta(minutes=5)
"""An ``occurred_at`` this far ahead of the server clock is still accepted: a phone's
clock drifts, and refusing a patrol logged "in the future" by seconds helps nobody."""


@dataclass(frozen=True, slots=True)
class AwardCommand:
    """An award of ``points`` in a ``category``, or of a ``rule`` for ``work`` done."""

    member_id: str
    points: int | None
    category: Category | None
    occurred_at: datetime
    memo: str
    evidence_url: str | None = None
    org_unit: str | None = None  # the issuing unit; the member's micro-grid by default
    rule: str | None = None
    work: WorkDone | None = None
    clip: bool = False  # award what a cap leaves instead of refusing


def check_form(command: AwardCommand) -> None:
    """An award names points and a category, or a rule and the work done: not both."""
    if command.rule is None:
        if command.work is not None:
            raise InvalidInput("quantity", "a quantity goes with a rule; a manual award names points and a category")
        if command.points is None:
            raise InvalidInput("points", "an award names points and a category, or a rule and a quantity")
        if command.category is None:
            raise InvalidInput("category", "a manual award names its category")
        return
    if command.points is not None or command.category is not None:
        raise InvalidInput("rule", "a rule computes the points and the category: send rule and quantity, not points")
    if command.work is None:
        raise InvalidInput("quantity", f"rule {command.rule!r} needs the quantity of work done")


def check_occurred_at(occurred_at: datetime, now: datetime) -> None:
    if occurred_at.tzinfo is None:
        raise InvalidInput("occurred_at", "occurred_at needs a time zone offset")
    if occurred_at > now + CLOCK_SKEW_ALLOWANCE:
        raise InvalidInput("occurred_at", "occurred_at is in the future")
    if occurred_at < EARLIEST_OCCURRED_AT:
        raise InvalidInput("occurred_at", "occurred_at is before 2000")


def check_points(points: int | None) -> None:
    if points is None:
        raise InvalidInput("points", "an award names its points, or a rule that computes them")
    if not 1 <= points <= AWARD_POINTS_MAX:
        raise InvalidInput("points", f"points must be between 1 and {AWARD_POINTS_MAX}", points=points)


@dataclass(frozen=True, slots=True)
class AwardResult(Reply):
    """What an award request answers, and what a replay of it answers again."""

    transaction_id: int
    member_id: str
    points: int
    category: str
    available_points: int
    hash: str
    rule: str | None = None
    rule_version: int | None = None
    clipped_from_points: int | None = None


@dataclass(frozen=True, slots=True)
class Reversal(Reply):
    """A reversal posted: ``points`` is what the original earned (the reversal takes it
    back); the member's ``available_points`` after it, None for a member-less original."""

    transaction_id: int
    reverses_id: int
    member_id: str | None
    points: int
    available_points: int | None
    hash: str


def award_result(draft: TxnDraft, posted: Posted) -> AwardResult:
    assert draft.member_account_id is not None and draft.member_id is not None
    rule, version, clipped = (draft.extra.get(k) for k in ("rule", "rule_version", "clipped_from_points"))
    assert isinstance(rule, str | None) and isinstance(version, int | None) and isinstance(clipped, int | None)
    return AwardResult(
        transaction_id=posted.id,
        member_id=draft.member_id,
        points=draft.earned_points,
        available_points=posted.balance_after[draft.member_account_id],
        hash=posted.hash,
        category=draft.category.value,
        rule=rule,
        rule_version=version,
        clipped_from_points=clipped,
    )


def reversal_result(transaction_id: int, draft: TxnDraft, posted: Posted) -> Reversal:
    return Reversal(
        transaction_id=posted.id,
        reverses_id=transaction_id,
        member_id=draft.member_id,
        points=draft.earned_points,
        available_points=posted.balance_after.get(draft.member_account_id or -1),
        hash=posted.hash,
    )


def award_draft(
    member: Member,
    issuance_account_id: int,
    issuing_unit: str,
    command: AwardCommand,
    recorded_by: str,
    tz: tzinfo,
    extra: dict[str, object] | None = None,
) -> TxnDraft:
    """The transaction of a manual award, or of a rule award once its points are known
    (``command.points`` and ``command.category`` filled in, ``extra`` naming the rule)."""
    assert command.points is not None and command.category is not None
    return TxnDraft(
        kind=TxnKind.AWARD,
        category=command.category,
        member_id=member.id,
        org_unit=issuing_unit,
        occurred_at=command.occurred_at,
        recorded_by=recorded_by,
        memo=command.memo,
        evidence_url=command.evidence_url,
        postings=(
            Posting(issuance_account_id, -command.points),
            Posting(member.account_id, command.points),
        ),
        period=period_of(command.occurred_at, tz),
        member_account_id=member.account_id,
        earned_points=command.points,
        extra=extra or {},
    )


_txns = table_of(JournalTxn)
_postings = table_of(PostingRow)


async def reversal_of(conn: AsyncConnection, transaction_id: int) -> int | None:
    query = select(_txns.c.id).where(_txns.c.reverses_id == transaction_id)
    return (await conn.execute(query)).scalar_one_or_none()


async def prepare_reversal(conn: AsyncConnection, transaction_id: int, reason: str, recorded_by: str) -> TxnDraft:
    original = (await conn.execute(select(_txns).where(_txns.c.id == transaction_id))).first()
    if original is None:
        raise TransactionNotFound(transaction_id)
    if original.kind not in REVERSIBLE_KINDS:
        raise NotReversible(transaction_id, original.kind)
    existing = await reversal_of(conn, transaction_id)
    if existing is not None:
        raise AlreadyReversed(transaction_id, existing)
    postings = (
        await conn.execute(
            select(_postings.c.account_id, _postings.c.amount)
            .where(_postings.c.txn_id == transaction_id)
            .order_by(_postings.c.account_id)
        )
    ).all()
    member_account_id = None
    if original.member_id is not None:
        member_account_id = (await get_member(conn, original.member_id)).account_id
    return TxnDraft(
        kind=TxnKind.REVERSAL,
        category=Category(original.category),
        member_id=original.member_id,
        org_unit=original.org_unit,
        # The correction belongs to the period of the work it corrects.
        occurred_at=original.occurred_at,
        recorded_by=recorded_by,
        memo=reason,
        postings=tuple(Posting(p.account_id, -p.amount) for p in postings),
        reverses_id=transaction_id,
        period=original.period,
        member_account_id=member_account_id,
        earned_points=-original.earned_points,
        # The rule and cap windows of the original: its counters, cap room included, go back.
        extra=dict(original.extra),
        # Taking back an award takes what is left of its own points first.
        draw_first=tuple(await _lots_opened_by(conn, transaction_id)),
    )


_lots = table_of(Lot)


async def _lots_opened_by(conn: AsyncConnection, transaction_id: int) -> list[int]:
    return list((await conn.execute(select(_lots.c.id).where(_lots.c.txn_id == transaction_id))).scalars())


def already_spent(error: InsufficientPoints, transaction_id: int) -> InsufficientPoints:
    """Restate an overdraft met while reversing: the member spent the points already."""
    fields = error.fields()
    available, needed = fields["available_points"], fields["needed_points"]
    return InsufficientPoints(
        fields["member_id"],
        available,
        needed,
        detail=f"transaction {transaction_id} cannot be reversed: the member has already spent "
        f"the points ({available} available, {needed} to take back)",
    )
