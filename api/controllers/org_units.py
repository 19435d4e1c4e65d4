from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody

from api import dto, routes, views
from api.access import EVERYONE, WRITERS
from api.dependencies import LedgerDep
from ledger import Access, AccessDenied, scopes


class OrgUnitController(Controller):
    tags = ["org tree"]

    @post(
        routes.ORG_UNITS,
        summary="Register an org unit under its parent (organizers: in their subtree)",
        opt=WRITERS,
    )
    async def create(
        self, data: JSONBody[dto.OrgUnitCreate], ledger: LedgerDep, request: Request[Any, Any, Any]
    ) -> dto.OrgUnitRead:
        if request.user.role is not Access.ADMIN:
            if data.parent is None:
                raise AccessDenied("only an admin opens a street office", field="parent")
            await ledger.authorize(request.user, scopes.unit(data.parent, field="parent"))
        return views.unit_read(await ledger.register_unit(data.code, data.name, data.level, data.parent))

    @get(routes.ORG_UNIT, summary="One org unit", opt=EVERYONE)
    async def read(self, code: FromPath[str], ledger: LedgerDep) -> dto.OrgUnitRead:
        return views.unit_read(await ledger.unit(code))
