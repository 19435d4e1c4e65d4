"""Domain values → response shapes."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

import msgspec

from api import dto
from ledger import (
    Access,
    Activity,
    AwardResult,
    Balance,
    CapRoom,
    Checkpoint,
    Claim,
    Deduction,
    Erased,
    EvidenceLine,
    HeldRedemption,
    ImportReport,
    Member,
    MemberTier,
    Move,
    Nomination,
    NominationState,
    NoticeSummary,
    NoticeView,
    OpenedNotice,
    Principal,
    Recorded,
    Redemption,
    Reversal,
    RewardView,
    Settlement,
    StatementLine,
    StatementPage,
    SweepReport,
    TransactionView,
    Unit,
    UnitCount,
    UnitMonths,
    UnitSummary,
    VerifyReport,
)

Shape = TypeVar("Shape", bound=msgspec.Struct)
Personal = TypeVar("Personal")


READ_FROM: dict[type[msgspec.Struct], type] = {
    dto.ActivityRead: Activity,
    dto.AuditRead: Recorded,
    dto.AwardRead: AwardResult,
    dto.BalanceRead: Balance,
    dto.CapRoomRead: CapRoom,
    dto.CheckpointRead: Checkpoint,
    dto.ClaimRead: Claim,
    dto.DeductionRead: Deduction,
    dto.ErasureRead: Erased,
    dto.EvidenceRead: EvidenceLine,
    dto.HeldRedemptionRead: HeldRedemption,
    dto.MemberTierRead: MemberTier,
    dto.MonthsRead: UnitMonths,
    dto.MoveRead: Move,
    dto.NominationRead: Nomination,
    dto.NominationStateRead: NominationState,
    dto.NoticeRead: OpenedNotice,
    dto.NoticeSummaryRead: NoticeSummary,
    dto.PrincipalRead: Principal,
    dto.RedemptionRead: Redemption,
    dto.ReversalRead: Reversal,
    dto.RewardRead: RewardView,
    dto.SettlementRead: Settlement,
    dto.StatementLineRead: StatementLine,
    dto.SummaryRead: UnitSummary,
    dto.SweepRead: SweepReport,
    dto.VerifyRead: VerifyReport,
}
"""The ledger value each response shape is read from, field by field by name.
``tests/test_views.py`` checks every pair without a request: each field of the shape
(nested shapes too) names a field of its value, so a field the ledger renames fails the
test command the day it is renamed, whether or not a test reads that reply."""


def read(value: object, shape: type[Shape]) -> Shape:
    """The response shape of a ledger value (``READ_FROM``), field by field by name."""
    assert isinstance(value, READ_FROM[shape]), f"{shape.__name__} is read from {READ_FROM[shape].__name__}"
    return msgspec.convert(value, shape, from_attributes=True)


def _fields(value: Any) -> dict[str, Any]:
    """A domain value's fields as they are: ``dataclasses.asdict`` deep-copies every
    value (each timestamp of a statement page), which a read about to be encoded never needs."""
    return {field.name: getattr(value, field.name) for field in fields(value)}


def unit_read(unit: Unit) -> dto.OrgUnitRead:
    return dto.OrgUnitRead(
        code=unit.code,
        name=unit.name,
        level=unit.level,
        parent=unit.parent_code,
        path=unit.ancestry,
        created_at=unit.created_at,
    )


def unit_listed(counted: UnitCount) -> dto.OrgUnitListed:
    read = unit_read(counted.unit)
    return dto.OrgUnitListed(
        **{f: getattr(read, f) for f in read.__struct_fields__},
        members_direct=counted.members_direct,
        members_total=counted.members_total,
    )


def move_page(moves: list[Move], limit: int) -> dto.MovePage:
    next_cursor = str(moves[-1].id) if len(moves) == limit else None
    return dto.MovePage([read(m, dto.MoveRead) for m in moves], next_cursor)


SEES_PARTY_MEMBERSHIP = frozenset({Access.ADMIN, Access.ORGANIZER, Access.MEMBER})
"""Party membership is sensitive personal information (PIPL art. 28): it is shown to an
admin, to an organizer (whose scope the handler has checked: it nominates 优秀共产党员)
and to a member (who reads only their own), never to an auditor, who checks the books.
A phone number is shown to the same readers: an organizer calls the member, an auditor never."""


def personal(viewer: Principal, value: Personal) -> Personal | msgspec.UnsetType:
    """Party membership or a phone number, to a reader in ``SEES_PARTY_MEMBERSHIP``."""
    return value if viewer.role in SEES_PARTY_MEMBERSHIP else msgspec.UNSET


def member_read(member: Member, viewer: Principal) -> dto.MemberRead:
    return dto.MemberRead(
        id=member.id,
        name=member.name,
        org_unit=member.org_unit,
        party_member=personal(viewer, member.party_member),
        phone=personal(viewer, member.phone),
        roles=list(member.roles),
        active=member.active,
        created_at=member.created_at,
    )


def statement_read(member_id: str, page: StatementPage) -> dto.StatementRead:
    return dto.StatementRead(member_id, [read(line, dto.StatementLineRead) for line in page.lines], page.next_cursor)


def transaction_read(view: TransactionView) -> dto.TransactionRead:
    read = _fields(view)
    read["postings"] = [
        dto.PostingRead(account_id=a, account_kind=k, account_owner=o, points=p) for a, k, o, p in view.postings
    ]
    return dto.TransactionRead(**read)


def import_report_read(report: ImportReport) -> dto.ImportReportRead:
    return dto.ImportReportRead(
        **{
            **_fields(report),
            "outcomes": [
                dto.ImportRowRead(
                    o.row,
                    o.key,
                    o.outcome.value,
                    list(o.changed),
                    o.column,
                    o.code,
                    o.reason,
                    o.reason_zh,
                )
                for o in report.outcomes
            ],
            "absent_ids": list(report.absent_ids),
            "ignored_columns": list(report.ignored_columns),
        }
    )


def notice_read(view: NoticeView, today: str) -> dto.NoticeDetailRead:
    names = [
        dto.NoticeNameRead(
            **{**_fields(name), "objections": [dto.ObjectionRead(**_fields(o)) for o in name.objections]}
        )
        for name in view.names
    ]
    summary = read(view.notice, dto.NoticeSummaryRead)
    return dto.NoticeDetailRead(summary, view.office, today > view.notice.ends_on, names)
