from __future__ import annotations

from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody

from api import dto, routes, views
from api.dependencies import LedgerDep


class OrgUnitController(Controller):
    tags = ["org tree"]

    @post(routes.ORG_UNITS, summary="Register an org unit under its parent")
    async def create(self, data: JSONBody[dto.OrgUnitCreate], ledger: LedgerDep) -> dto.OrgUnitRead:
        return views.unit_read(await ledger.register_unit(data.code, data.name, data.level, data.parent))

    @get(routes.ORG_UNIT, summary="One org unit")
    async def read(self, code: FromPath[str], ledger: LedgerDep) -> dto.OrgUnitRead:
        return views.unit_read(await ledger.unit(code))
