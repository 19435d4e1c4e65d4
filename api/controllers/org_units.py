from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter

from api import dto, routes, views
from api.access import EVERYONE, OVERSEERS, WRITERS, unit_or_own
from api.dependencies import LedgerDep
from ledger import (
    CODE_LENGTH_MAX,
    MOVE_PAGE_SIZE_DEFAULT,
    MOVE_PAGE_SIZE_MAX,
    UNIT_PAGE_SIZE_MAX,
    UnitChanges,
)

UNIT_PAGE_SIZE_DEFAULT = 100

Req = Request[Any, Any, Any]


class OrgUnitController(Controller):
    tags = ["org tree"]

    @post(
        routes.ORG_UNITS,
        summary="Register an org unit under its parent (organizers: in their subtree)",
        opt=WRITERS,
    )
    async def create(self, data: JSONBody[dto.OrgUnitCreate], ledger: LedgerDep, request: Req) -> dto.OrgUnitRead:
        return views.unit_read(await ledger.register_unit(request.user, data.code, data.name, data.level, data.parent))

    @get(
        routes.ORG_UNITS,
        summary="The units of a subtree in tree order, with their active members (organizers: their subtree)",
        opt=OVERSEERS,
    )
    async def list(
        self,
        ledger: LedgerDep,
        request: Req,
        under: Annotated[str | None, QueryParameter(max_length=CODE_LENGTH_MAX)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=UNIT_PAGE_SIZE_MAX)] = UNIT_PAGE_SIZE_DEFAULT,
        cursor: Annotated[str | None, QueryParameter(max_length=CODE_LENGTH_MAX)] = None,
    ) -> dto.OrgUnitPage:
        root = unit_or_own(request.user, under)
        found = await ledger.units(request.user, root, limit, cursor)
        next_cursor = found[-1].unit.code if len(found) == limit else None
        return dto.OrgUnitPage([views.unit_listed(u) for u in found], next_cursor)

    @get(routes.ORG_UNIT, summary="One org unit", opt=EVERYONE)
    async def read(self, code: FromPath[str], ledger: LedgerDep) -> dto.OrgUnitRead:
        return views.unit_read(await ledger.unit(code))

    @patch(
        routes.ORG_UNIT,
        summary="Rename a unit, or move it with its subtree under another parent (organizers: both in their subtree)",
        opt=WRITERS,
    )
    async def change(
        self, code: FromPath[str], data: JSONBody[dto.OrgUnitPatch], ledger: LedgerDep, request: Req
    ) -> dto.OrgUnitRead:
        changes = UnitChanges(name=data.name, parent=data.parent)
        return views.unit_read(await ledger.change_unit(request.user, code, changes))

    @get(routes.ORG_UNIT_MOVES, summary="A unit's moves under other parents, oldest first", opt=OVERSEERS)
    async def moves(
        self,
        code: FromPath[str],
        ledger: LedgerDep,
        request: Req,
        limit: Annotated[int, QueryParameter(ge=1, le=MOVE_PAGE_SIZE_MAX)] = MOVE_PAGE_SIZE_DEFAULT,
        cursor: Annotated[str | None, QueryParameter(pattern=r"^[0-9]{1,18}$")] = None,
    ) -> dto.MovePage:
        return views.move_page(
            await ledger.unit_moves(request.user, code, limit, int(cursor) if cursor else None), limit
        )
