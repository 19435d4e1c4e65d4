"""Imports on the organizer's desk (``/desk/import``): the org tree or a member list from
an office's spreadsheet, checked first and written only when asked.

The page itself only describes the two kinds and links their templates. The work is done
from ``static/pages.js`` with the API's own import routes: the chosen file is read once
into memory and sent as the raw body for a dry run (预检), whose report is shown row by
row; 确认导入 sends those very bytes again with ``dry_run=false``, and is offered only when
the dry run refused nothing and neither the file nor the kind was changed since. The
API scopes both calls to the organizer's subtree, as it does for any bearer token.
"""

from __future__ import annotations

from dataclasses import dataclass

from litestar import Controller, get
from litestar.di import Provide
from litestar.response import Template

from api import routes
from api.dependencies import LedgerDep
from api.pages import zh
from api.pages.session import Me, organizer
from api.settings import IMPORT_BODY_BYTES_MAX
from ledger import imports

BYTES_PER_MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ImportKind:
    """One of the two files the desk imports, as the page offers it."""

    name: str
    """The API's and the templates' name for it (``org-units``, ``members``)."""
    title: str
    hint: str
    columns: tuple[imports.Column, ...]

    @property
    def api(self) -> str:
        return routes.api({"org-units": routes.IMPORT_ORG_UNITS, "members": routes.IMPORT_MEMBERS}[self.name])

    def template(self, extension: str) -> str:
        return routes.api(routes.IMPORT_TEMPLATE, name=f"{self.name}.{extension}")

    @property
    def headers(self) -> dict[str, str]:
        """A changed field as the file's column is headed (``org_unit`` → 微网格)."""
        return {column.key: column.headers[0] for column in self.columns}


KINDS = (
    ImportKind(
        "org-units", "组织架构", "街道、社区、网格、微网格，每行一个单位，上级可以写在本文件中", imports.UNIT_COLUMNS
    ),
    ImportKind(
        "members",
        "成员名单",
        "每行一位成员，微网格须已在系统中；电话仅管理员、本辖区组织者和本人可见",
        imports.MEMBER_COLUMNS,
    ),
)


class ImportDeskController(Controller):
    include_in_schema = False
    dependencies = {"actor": Provide(organizer)}

    @get(routes.PAGE_DESK_IMPORT)
    async def page(self, actor: Me, ledger: LedgerDep) -> Template:
        context = {
            "me": actor,
            "unit": await ledger.unit(actor.org_unit) if actor.org_unit else None,
            "kinds": KINDS,
            "max_mb": IMPORT_BODY_BYTES_MAX // BYTES_PER_MB,
            "script": {
                "bytes_max": IMPORT_BODY_BYTES_MAX,
                "outcomes": zh.IMPORT_OUTCOMES,
                "fields": {kind.name: kind.headers for kind in KINDS},
            },
        }
        return Template(template_name="desk_import.html", context=context)
