"""Imports of the org tree and members from XLSX or CSV, and the templates to fill in.

The file is the raw request body (``curl --data-binary @members.xlsx``, or a page's
``fetch`` with the file as its body), its format told by its first bytes: a multipart form
would wrap the same bytes in a second format to parse, for no gain to either client.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath, QueryParameter

from api import dto, routes, views
from api.access import WRITERS
from api.controllers.nominations import MEDIA_TYPES, ExportOperation
from api.dependencies import LedgerDep
from api.settings import IMPORT_BODY_BYTES_MAX
from ledger import NotFound, imports

Req = Request[Any, Any, Any]
DryRun = Annotated[bool, QueryParameter(description="report every row's outcome and write nothing (the default)")]
TEMPLATE_KINDS: dict[str, imports.Kind] = {"org-units": "org_units", "members": "members"}


@dataclass
class ImportOperation(Operation):
    """The request body is the file itself, XLSX or CSV: described, as Litestar cannot
    see a body the handler reads raw."""

    def __post_init__(self) -> None:
        binary = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
        content = {media_type: OpenAPIMediaType(schema=binary) for media_type in MEDIA_TYPES.values()}
        self.request_body = RequestBody(content=content, required=True)


def _post(path: str, summary: str) -> post:
    return post(
        path,
        summary=summary,
        opt=WRITERS,
        status_code=200,  # a report; an apply that is refused is a problem (import_refused)
        request_max_body_size=IMPORT_BODY_BYTES_MAX,
        operation_class=ImportOperation,
    )


class ImportController(Controller):
    tags = ["imports"]

    @_post(routes.IMPORT_ORG_UNITS, "Import org units (编码, 名称, 层级, 上级) from XLSX or CSV; dry run by default")
    async def org_units(self, request: Req, ledger: LedgerDep, dry_run: DryRun = True) -> dto.ImportReportRead:
        file = io.BytesIO(await request.body())
        return views.import_report_read(await ledger.import_units(request.user, file, dry_run=dry_run))

    @_post(routes.IMPORT_MEMBERS, "Import members (成员编号, 姓名, 微网格 …) from XLSX or CSV; dry run by default")
    async def members(self, request: Req, ledger: LedgerDep, dry_run: DryRun = True) -> dto.ImportReportRead:
        file = io.BytesIO(await request.body())
        report = await ledger.import_members(request.user, file, dry_run=dry_run)
        return views.import_report_read(report)

    @get(
        routes.IMPORT_TEMPLATE,
        summary="A file to fill in: org-units.xlsx, org-units.csv, members.xlsx or members.csv",
        opt=WRITERS,
        operation_class=ExportOperation,
    )
    async def template(self, name: FromPath[str]) -> Response[bytes]:
        stem, _, extension = name.rpartition(".")
        if stem not in TEMPLATE_KINDS or extension not in MEDIA_TYPES:
            raise NotFound(f"no template {name!r}: org-units.xlsx, org-units.csv, members.xlsx or members.csv")
        return Response(
            imports.template(TEMPLATE_KINDS[stem], extension),  # type: ignore[arg-type]
            media_type=MEDIA_TYPES[extension].partition(";")[0],  # Litestar adds a text type's charset itself
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
