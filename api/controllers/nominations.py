"""Tiers, nomination flags, the 公示 lifecycle, evidence and the nomination export."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal
from urllib.parse import quote

import msgspec
from litestar import Controller, Request, get, post
from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, OpenAPIType, Operation, Schema
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import Stream

from api import dto, routes, views
from api.access import ADMIN_ONLY, EVERYONE, OVERSEERS, READERS, WRITERS, unit_or_own
from api.audit import counted, record_read
from api.dependencies import LedgerDep
from ledger import CODE_LENGTH_MAX, EVIDENCE_PAGE_SIZE_MAX, NOTICE_PAGE_SIZE_MAX, exports

PeriodParam = Annotated[str | None, QueryParameter(pattern=r"^[0-9]{4}$")]
FlagParam = Annotated[Literal["先进工作者", "优秀共产党员"] | None, QueryParameter()]
UnitParam = Annotated[str, QueryParameter(min_length=1, max_length=CODE_LENGTH_MAX)]
EVIDENCE_PAGE_SIZE_DEFAULT = 100
NOTICE_PAGE_SIZE_DEFAULT = 50
"""Notices per page unless asked: every notice a street has opened in years."""
Req = Request[Any, Any, Any]
RFC8187_ATTR_CHARS = "!#$&+-.^_`|~"
"""The punctuation RFC 8187's attr-char allows unencoded in ``filename*``; the rest is %-encoded."""
MEDIA_TYPES = {
    # Litestar appends "; charset=<the response's encoding>" to every text/ media type
    # itself, so a charset written here would be sent twice.
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass
class ExportOperation(Operation):
    """The export answers CSV or XLSX, as its ``format`` asks: both are described."""

    def __post_init__(self) -> None:
        assert self.responses is not None
        self.responses["200"].content = {  # type: ignore[union-attr]
            media_type: OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY))
            for media_type in MEDIA_TYPES.values()
        }


def _scheme(s: Any) -> dto.SchemeRead:
    return dto.SchemeRead(
        s.org_unit or None,
        s.version,
        [dto.TierRead(n, p) for n, p in s.tiers],
        sorted(s.advanced_worker_roles),
        s.notice_working_days,
    )


class TierController(Controller):
    tags = ["tiers and nominations"]

    @get(routes.TIERS, summary="The current tier schemes (the default and per-unit overrides)", opt=EVERYONE)
    async def schemes(self, ledger: LedgerDep) -> list[dto.SchemeRead]:
        return [_scheme(s) for s in await ledger.tier_schemes()]

    @post(
        routes.TIERS,
        summary="Load tier schemes (the tiers file as JSON); changed schemes get a new version",
        opt=ADMIN_ONLY,
    )
    async def load(self, data: JSONBody[dict[str, Any]], ledger: LedgerDep, request: Req) -> dto.SchemesLoaded:
        created = await ledger.load_tiers(request.user, json.dumps(data, ensure_ascii=False))
        return dto.SchemesLoaded([dto.SchemeVersionRead(s.key or None, s.version) for s in created])

    @get(routes.MEMBER_TIER, summary="Tier, points earned in the period, and the points to the next tier", opt=READERS)
    async def member_tier(
        self, member_id: FromPath[str], ledger: LedgerDep, request: Req, period: PeriodParam = None
    ) -> dto.MemberTierRead:
        return views.read(await ledger.member_tier(request.user, member_id, period), dto.MemberTierRead)

    @get(routes.MEMBER_EVIDENCE, summary="The transactions behind a member's points in a period", opt=READERS)
    async def evidence(
        self,
        member_id: FromPath[str],
        ledger: LedgerDep,
        request: Req,
        period: PeriodParam = None,
        limit: Annotated[int, QueryParameter(ge=1, le=EVIDENCE_PAGE_SIZE_MAX)] = EVIDENCE_PAGE_SIZE_DEFAULT,
        cursor: Annotated[str | None, QueryParameter(pattern=r"^[0-9]{1,18}$")] = None,
    ) -> dto.EvidencePage:
        rows = await ledger.evidence(request.user, member_id, period, limit, int(cursor) if cursor else None)
        await record_read(request, ledger, len(rows), member_id, period=period, cursor=cursor)
        next_cursor = str(rows[-1].id) if len(rows) == limit else None
        lines = [views.read(r, dto.EvidenceRead) for r in rows]
        return dto.EvidencePage(member_id, period or ledger.current_period(), lines, next_cursor)

    @get(routes.NOMINATIONS, summary="Current flags in a subtree", opt=OVERSEERS)
    async def nominations(
        self, ledger: LedgerDep, request: Req, org_unit: UnitParam, period: PeriodParam = None, flag: FlagParam = None
    ) -> list[dto.NominationRead]:
        rows = await ledger.nominations(request.user, period, org_unit, flag)
        await record_read(request, ledger, len(rows), org_unit=org_unit, period=period, flag=flag)
        return [
            msgspec.structs.replace(
                views.read(row, dto.NominationRead),
                party_member=views.personal(request.user, row.party_member),
            )
            for row in rows
        ]

    @post(routes.NOTICES, summary="Open a public notice (公示) for the flags of a subtree", opt=WRITERS)
    async def notice(self, data: JSONBody[dto.NoticeCreate], ledger: LedgerDep, request: Req) -> dto.NoticeRead:
        opened = await ledger.open_notice(request.user, data.period, data.org_unit, data.flag, data.working_days)
        return views.read(opened, dto.NoticeRead)

    @get(
        routes.NOTICES,
        summary="Public notices (公示) of a subtree, newest first (an organizer's own by default)",
        opt=OVERSEERS,
    )
    async def notices(
        self,
        ledger: LedgerDep,
        request: Req,
        org_unit: Annotated[str | None, QueryParameter(min_length=1, max_length=CODE_LENGTH_MAX)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=NOTICE_PAGE_SIZE_MAX)] = NOTICE_PAGE_SIZE_DEFAULT,
        cursor: Annotated[str | None, QueryParameter(pattern=r"^[0-9]{1,18}$")] = None,
    ) -> dto.NoticePage:
        org_unit = unit_or_own(request.user, org_unit)
        found = await ledger.notices(request.user, org_unit, limit, int(cursor) if cursor else None)
        next_cursor = str(found[-1].id) if len(found) == limit else None
        return dto.NoticePage([views.read(n, dto.NoticeSummaryRead) for n in found], next_cursor)

    @get(
        routes.NOTICE,
        summary="A public notice with its names, units, points, flags, objections and its last day",
        opt=OVERSEERS,
    )
    async def notice_detail(self, notice_id: FromPath[int], ledger: LedgerDep, request: Req) -> dto.NoticeDetailRead:
        return views.notice_read(await ledger.notice(request.user, notice_id), ledger.today())

    @post(routes.NOMINATION_OBJECTIONS, summary="Record an objection against a name on notice", opt=WRITERS)
    async def objection(
        self, data: JSONBody[dto.ObjectionCreate], ledger: LedgerDep, request: Req
    ) -> dto.NominationStateRead:
        objected = await ledger.object_to(request.user, data.member_id, data.period, data.flag, data.reason)
        return views.read(objected, dto.NominationStateRead)

    @post(
        routes.NOMINATION_DECISIONS, summary="Confirm (after the notice) or withdraw a flag, with a reason", opt=WRITERS
    )
    async def decision(
        self, data: JSONBody[dto.DecisionCreate], ledger: LedgerDep, request: Req
    ) -> dto.NominationStateRead:
        row = await ledger.decide(
            request.user, data.member_id, data.period, data.flag, data.decision == "confirm", data.reason
        )
        return views.read(row, dto.NominationStateRead)

    @get(
        routes.EXPORT_NOMINATIONS,
        summary="The nomination list as CSV (UTF-8 with BOM) or XLSX, streamed (an organizer's own subtree by default)",
        opt=OVERSEERS,
        operation_class=ExportOperation,
    )
    async def export(
        self,
        ledger: LedgerDep,
        request: Req,
        org_unit: Annotated[str | None, QueryParameter(min_length=1, max_length=CODE_LENGTH_MAX)] = None,
        period: PeriodParam = None,
        flag: FlagParam = None,
        format: Annotated[Literal["csv", "xlsx"], QueryParameter()] = "csv",
    ) -> Stream:
        org_unit = unit_or_own(request.user, org_unit)
        # Errors (unknown unit, bad period) surface here, before the body starts.
        export = await ledger.export_nominations(request.user, period, org_unit, flag)
        filters = {"org_unit": org_unit, "period": export.period, "flag": flag, "format": format}
        export = replace(export, rows=counted(export.rows, request, ledger, **filters))
        chunks = (
            exports.csv_with_bom(export, ledger.tz)
            if format == "csv"
            else (exports.file_chunks(await exports.write_xlsx(export, ledger.tz)))
        )
        disposition = attachment(exports.filename(export, format), f"nominations-{export.period}.{format}")
        return Stream(chunks, media_type=MEDIA_TYPES[format], headers={"Content-Disposition": disposition})


def attachment(filename: str, ascii_fallback: str) -> str:
    """An RFC 6266 attachment: the UTF-8 name as ``filename*`` (RFC 8187), which every
    current browser uses, after a plain ASCII ``filename`` for clients that know no other."""
    assert ascii_fallback.isascii() and not set('"\\') & set(ascii_fallback)
    return f"attachment; filename=\"{ascii_fallback}\"; filename*=UTF-8''{quote(filename, safe=RFC8187_ATTR_CHARS)}"
