"""Domain values → response shapes."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

import msgspec

from api import dto
from ledger import (
    Access,
    Balance,
    Checkpoint,
    ImportReport,
    Member,
    Move,
    NoticeSummary,
    NoticeView,
    Principal,
    StatementPage,
    TransactionView,
    Unit,
    UnitCount,
    VerifyReport,
)

Shape = TypeVar("Shape", bound=msgspec.Struct)
Personal = TypeVar("Personal")


def read(value: object, shape: type[Shape]) -> Shape:
    """The response shape of a ledger value, field by field by name (nested values too).
    A field the ledger renamed fails here, in every test that reads it, not silently."""
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
    return dto.MovePage([dto.MoveRead(**_fields(m)) for m in moves], next_cursor)


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


def balance_read(balance: Balance) -> dto.BalanceRead:
    return dto.BalanceRead(**_fields(balance))


def statement_read(member_id: str, page: StatementPage) -> dto.StatementRead:
    return dto.StatementRead(
        member_id=member_id,
        lines=[dto.StatementLineRead(**_fields(line)) for line in page.lines],
        next_cursor=page.next_cursor,
    )


def transaction_read(view: TransactionView) -> dto.TransactionRead:
    read = _fields(view)
    read["postings"] = [
        dto.PostingRead(account_id=a, account_kind=k, account_owner=o, points=p) for a, k, o, p in view.postings
    ]
    return dto.TransactionRead(**read)


def verify_read(report: VerifyReport) -> dto.VerifyRead:
    return dto.VerifyRead(
        ok=report.ok,
        transactions=report.transactions,
        postings=report.postings,
        accounts=report.accounts,
        last_hash=report.last_hash,
        checkpoints=report.checkpoints,
        erased_verbatim=report.erased_verbatim,
        problems=report.problems,
    )


def checkpoint_read(checkpoint: Checkpoint) -> dto.CheckpointRead:
    return dto.CheckpointRead(**_fields(checkpoint))


def principal_read(principal: Principal) -> dto.PrincipalRead:
    return dto.PrincipalRead(
        id=principal.id,
        role=principal.role,
        label=principal.label,
        org_unit=principal.org_unit,
        member_id=principal.member_id,
        created_at=principal.created_at,
        created_by=principal.created_by,
        expires_at=principal.expires_at,
        revoked_at=principal.revoked_at,
    )


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


def notice_summary_read(summary: NoticeSummary) -> dto.NoticeSummaryRead:
    checkpoint = checkpoint_read(summary.checkpoint) if summary.checkpoint else None
    return dto.NoticeSummaryRead(**{**_fields(summary), "checkpoint": checkpoint})


def notice_read(view: NoticeView, today: str) -> dto.NoticeDetailRead:
    names = [
        dto.NoticeNameRead(
            **{**_fields(name), "objections": [dto.ObjectionRead(**_fields(o)) for o in name.objections]}
        )
        for name in view.names
    ]
    return dto.NoticeDetailRead(notice_summary_read(view.notice), view.office, today > view.notice.ends_on, names)
