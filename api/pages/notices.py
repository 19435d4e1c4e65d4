"""The public notice (公示) on the desk and on the notice board.

On the desk (``/desk/notices``) an organizer opens a notice for the flags of the unit and
lists the unit's notices; a notice's page prints as the A4 sheet that goes on the notice
board (title, the street office, the names with 序号, the dates, where to object, and the
ledger checkpoint it rests on) and, on screen only, takes objections and, once the notice
has ended, confirms or withdraws each name. The writes are the API's, called by
``static/pages.js``.

The public page (``/notices/{id}/{code}``) is what the QR code on the sheet opens: no
sign-in, and only what a notice board shows — name, unit, flag. Its ``code`` is an HMAC
of the notice id (``ledger.honours.notice_board``), so no other notice's page can be
reached by changing the number.
"""

from __future__ import annotations

from typing import Any

import segno
from litestar import Controller, Request, get
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import Template

from api import routes
from api.access import unit_or_own
from api.dependencies import LedgerDep
from api.pages.desk import QR_SCALE
from api.pages.session import Me, organizer
from ledger import FLAGS, Ledger, NoticeView

NOTICES_SHOWN = 50
"""Notices the desk lists: every notice a unit has opened in years."""

CHECKPOINT_HASH_SHOWN = 16
"""Hex digits of the checkpoint's hash printed on the sheet: 64 bits, enough for anyone
to check the printed notice against the ledger's checkpoints, and short enough to copy."""

Req = Request[Any, Any, Any]


def public_link(request: Req, ledger: Ledger, notice_id: int) -> str:
    """The public page's address as the browser reached this service."""
    path = routes.path(routes.PAGE_NOTICE_PUBLIC, notice_id=notice_id, code=ledger.notice_public_code(notice_id))
    return str(request.base_url).rstrip("/") + path


def _sheet(view: NoticeView, link: str) -> dict[str, Any]:
    """What the printed sheet and the public page both show."""
    flags = [view.notice.flag] if view.notice.flag else list(FLAGS)
    checkpoint = view.notice.checkpoint
    return {
        "notice": view.notice,
        "office": view.office,
        "flags": flags,
        "names": view.names,
        "link": link,
        "qr": segno.make(link, error="m").svg_inline(scale=QR_SCALE),
        "checkpoint": (checkpoint.transaction_id, checkpoint.hash[:CHECKPOINT_HASH_SHOWN]) if checkpoint else None,
    }


class NoticeDeskController(Controller):
    include_in_schema = False
    dependencies = {"actor": Provide(organizer)}

    @get(routes.PAGE_DESK_NOTICES)
    async def notices(self, actor: Me, ledger: LedgerDep) -> Template:
        """The notices of the organizer's subtree, and the form that opens one."""
        code = unit_or_own(actor, None)
        context = {
            "me": actor,
            "unit": await ledger.acting_unit(actor, code, field="unit") if code else None,
            "notices": await ledger.notices(actor, code, NOTICES_SHOWN, None),
            "period": ledger.current_period(),
            "today": ledger.today(),
            "flags": FLAGS,
        }
        return Template(template_name="desk_notices.html", context=context)

    @get(routes.PAGE_DESK_NOTICE)
    async def notice(self, actor: Me, ledger: LedgerDep, request: Req, notice_id: FromPath[int]) -> Template:
        """One notice: the sheet to print, and each name's points, objections and decision."""
        view = await ledger.notice(actor, notice_id)
        context = {
            **_sheet(view, public_link(request, ledger, notice_id)),
            "me": actor,
            "ended": ledger.today() > view.notice.ends_on,
        }
        return Template(template_name="desk_notice.html", context=context)


class PublicNoticeController(Controller):
    include_in_schema = False

    @get(routes.PAGE_NOTICE_PUBLIC)
    async def public(self, ledger: LedgerDep, request: Req, notice_id: FromPath[int], code: FromPath[str]) -> Template:
        """The notice as the board shows it, to anyone holding the link."""
        view = await ledger.public_notice(notice_id, code)
        return Template(template_name="notice_public.html", context=_sheet(view, str(request.url)))
