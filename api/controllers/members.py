from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from litestar import Controller, MediaType, Request, Response, get, patch, post
from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, OpenAPIType, Operation, Schema
from litestar.params import FromPath, JSONBody, QueryParameter

from api import dto, routes, views
from api.access import ADMIN, ADMIN_ONLY, MEMBER, ORGANIZER, OVERSEERS, READERS, WRITERS, allow, unit_or_own
from api.audit import record_read
from api.controllers.nominations import MEDIA_TYPES, attachment
from api.dependencies import LedgerDep
from api.idempotency import IdempotencyKey, created, idempotent_request
from ledger import (
    CODE_LENGTH_MAX,
    MEMBER_PAGE_SIZE_MAX,
    MOVE_PAGE_SIZE_DEFAULT,
    MOVE_PAGE_SIZE_MAX,
    NAME_LENGTH_MAX,
    STATEMENT_PAGE_SIZE_DEFAULT,
    STATEMENT_PAGE_SIZE_MAX,
    InvalidInput,
    MemberChanges,
    member_copy,
)

MEMBER_SEARCH_SIZE_DEFAULT = 20

Req = Request[Any, Any, Any]


@dataclass
class CopyOperation(Operation):
    """The copy answers JSON (its schema is in ``schemas/``) or XLSX: both are described."""

    def __post_init__(self) -> None:
        assert self.responses is not None
        self.responses["200"].content = {  # type: ignore[union-attr]
            MediaType.JSON: OpenAPIMediaType(schema=Schema(type=OpenAPIType.OBJECT)),
            MEDIA_TYPES["xlsx"]: OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)),
        }


class MemberController(Controller):
    tags = ["members"]

    @post(routes.MEMBERS, summary="Register a member in a micro-grid", opt=WRITERS)
    async def create(self, data: JSONBody[dto.MemberCreate], ledger: LedgerDep, request: Req) -> dto.MemberRead:
        member = await ledger.register_member(
            request.user, data.id, data.name, data.org_unit, data.party_member, tuple(data.roles), data.phone
        )
        return views.member_read(member, request.user)

    @get(
        routes.MEMBERS,
        summary="A subtree's members by id, or found by id prefix or part of the name (organizers: their subtree)",
        opt=OVERSEERS,
    )
    async def search(
        self,
        ledger: LedgerDep,
        request: Req,
        q: Annotated[str | None, QueryParameter(min_length=1, max_length=NAME_LENGTH_MAX)] = None,
        org_unit: Annotated[str | None, QueryParameter(max_length=CODE_LENGTH_MAX)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MEMBER_PAGE_SIZE_MAX)] = MEMBER_SEARCH_SIZE_DEFAULT,
        after: Annotated[str | None, QueryParameter(max_length=CODE_LENGTH_MAX)] = None,
    ) -> list[dto.MemberRead]:
        """Without ``q``, a page by id: the next one starts ``after`` the last id of this one,
        and a page shorter than ``limit`` is the last. With ``q``, the best matches, unpaged."""
        unit = unit_or_own(request.user, org_unit)
        if unit is None:
            raise InvalidInput("org_unit", "name the unit whose subtree to list or search")
        if q is None:
            found = await ledger.members(request.user, unit, limit, after)
        elif after is not None:
            raise InvalidInput("after", "a search is not paged: type more of the name or id to narrow it")
        else:
            found = await ledger.search_members(request.user, unit, q, limit)
        await record_read(request, ledger, len(found), org_unit=unit, q=q, after=after, limit=limit)
        return [views.member_read(m, request.user) for m in found]

    @get(routes.MEMBER, summary="One member", opt=READERS)
    async def read(self, member_id: FromPath[str], ledger: LedgerDep, request: Req) -> dto.MemberRead:
        return views.member_read(await ledger.member(request.user, member_id), request.user)

    @patch(
        routes.MEMBER,
        summary="Change a member; a new org_unit moves them (recorded; organizers: both units in their subtree); "
        "active=false deactivates (no new awards)",
        opt=WRITERS,
    )
    async def change(
        self, member_id: FromPath[str], data: JSONBody[dto.MemberPatch], ledger: LedgerDep, request: Req
    ) -> dto.MemberRead:
        changes = MemberChanges(
            name=data.name,
            org_unit=data.org_unit,
            party_member=data.party_member,
            roles=None if data.roles is None else tuple(data.roles),
            active=data.active,
        )
        return views.member_read(await ledger.change_member(request.user, member_id, changes), request.user)

    @get(routes.MEMBER_MOVES, summary="A member's moves between micro-grids, oldest first", opt=READERS)
    async def moves(
        self,
        member_id: FromPath[str],
        ledger: LedgerDep,
        request: Req,
        limit: Annotated[int, QueryParameter(ge=1, le=MOVE_PAGE_SIZE_MAX)] = MOVE_PAGE_SIZE_DEFAULT,
        cursor: Annotated[str | None, QueryParameter(pattern=r"^[0-9]{1,18}$")] = None,
    ) -> dto.MovePage:
        return views.move_page(
            await ledger.member_moves(request.user, member_id, limit, int(cursor) if cursor else None), limit
        )

    @get(routes.MEMBER_BALANCE, summary="Available, held and earned points", opt=READERS)
    async def balance(self, member_id: FromPath[str], ledger: LedgerDep, request: Req) -> dto.BalanceRead:
        return views.read(await ledger.balance(request.user, member_id), dto.BalanceRead)

    @get(routes.MEMBER_STATEMENT, summary="Statement lines, newest first, cursor-paginated", opt=READERS)
    async def statement(
        self,
        member_id: FromPath[str],
        ledger: LedgerDep,
        request: Req,
        limit: Annotated[int, QueryParameter(ge=1, le=STATEMENT_PAGE_SIZE_MAX)] = STATEMENT_PAGE_SIZE_DEFAULT,
        cursor: Annotated[str | None, QueryParameter(max_length=20)] = None,
    ) -> dto.StatementRead:
        return views.statement_read(member_id, await ledger.statement(request.user, member_id, limit, cursor))

    @get(routes.MEMBER_CAPS, summary="Each rule's room left for the member today, this week and this year", opt=READERS)
    async def caps(self, member_id: FromPath[str], ledger: LedgerDep, request: Req) -> list[dto.CapRoomRead]:
        return [views.read(room, dto.CapRoomRead) for room in await ledger.cap_room(request.user, member_id)]

    @post(
        routes.MEMBER_ERASURE,
        summary="Erase a member's personal information on request (Idempotency-Key required)",
        status_code=201,
        opt=ADMIN_ONLY,
    )
    async def erase(
        self,
        member_id: FromPath[str],
        data: JSONBody[dto.ErasureCreate],
        ledger: LedgerDep,
        request: Req,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[dto.ErasureRead]:
        erased, replayed = await ledger.erase_member(
            request.user, member_id, data.reason, idempotent_request(request, data, idempotency_key)
        )
        return created(views.read(erased, dto.ErasureRead), replayed)

    @get(
        routes.MEMBER_EXPORT,
        summary="Everything kept about a member (the member's own copy), as JSON or XLSX (?format=xlsx)",
        opt=allow(ADMIN, ORGANIZER, MEMBER),
        operation_class=CopyOperation,
    )
    async def export(
        self,
        member_id: FromPath[str],
        ledger: LedgerDep,
        request: Req,
        format: Annotated[Literal["json", "xlsx"] | None, QueryParameter()] = None,
    ) -> Response[bytes | dict[str, Any]]:
        """The member itself, an organizer whose subtree holds the member, or an admin.
        Without ``format``, an Accept header naming the XLSX type asks for the workbook;
        the copy's reading is itself recorded, and listed in the next copy."""
        if format is None:
            format = "xlsx" if MEDIA_TYPES["xlsx"] in request.headers.get("accept", "") else "json"
        copy = await ledger.member_copy(request.user, member_id)
        await record_read(request, ledger, copy.rows, member_id, format=format)
        if format == "json":
            return Response(member_copy.json_value(copy), media_type=MediaType.JSON)
        name = member_copy.filename(copy, ledger.tz, format)
        headers = {"Content-Disposition": attachment(name, f"member-copy.{format}")}
        return Response(member_copy.xlsx_bytes(copy, ledger.tz), media_type=MEDIA_TYPES[format], headers=headers)
