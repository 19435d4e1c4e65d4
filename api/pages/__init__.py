"""Web pages in Chinese for people: a resident's points page and an organizer's desk.

Server-rendered with Jinja templates (``api/templates``); a small plain script and a
stylesheet (``api/static``) are served by the service itself, so a page needs nothing
from any other host and works on a network with no way out. Pages live outside ``/v1``:
they sign people in with a cookie (``session``) and show failures as Chinese pages,
never problem+json.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from pathlib import Path

from litestar import Router
from litestar.datastructures import CacheControlHeader, ResponseHeader
from litestar.exceptions import HTTPException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from api import routes
from api.auth import PAGE_HEADER
from api.pages import zh
from api.pages.desk import DeskController
from api.pages.import_desk import ImportDeskController
from api.pages.landing import LandingController
from api.pages.notices import NoticeDeskController, PublicNoticeController
from api.pages.resident import ResidentController
from api.pages.review import ReviewController
from api.pages.session import (
    SessionController,
    SignInRequired,
    on_http_error,
    on_ledger_error,
    on_sign_in_required,
    on_unexpected,
)
from api.pages.shop_desk import ShopDeskController
from ledger import LedgerError

HERE = Path(__file__).resolve().parent.parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

STATIC_CACHE_SECONDS = 3600
"""How long a browser reuses the stylesheet and script: an hour saves a phone on a slow
link the refetch on every page, and a new release is picked up the same day."""


CONTENT_SECURITY_POLICY = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
"""The browser runs only this service's own script and loads nothing from another host (a
page that names one breaks in the tests, not later offline); inline styles carry the bars'
widths and colours. No other site may frame the desk to trick a click."""

PUBLIC = {"exclude_from_auth": True}
"""Opt that keeps the API's bearer middleware off the pages, which sign people in
themselves (``session``), and off the static files, which are public."""


def pages_router() -> Router:
    return Router(
        path="/",
        opt=PUBLIC,
        response_headers=[ResponseHeader(name="Content-Security-Policy", value=CONTENT_SECURITY_POLICY)],
        route_handlers=[
            SessionController,
            ResidentController,
            DeskController,
            ReviewController,
            ShopDeskController,
            ImportDeskController,
            # The public notice and the landing page.
            NoticeDeskController,
            PublicNoticeController,
            LandingController,
        ],
        exception_handlers={
            SignInRequired: on_sign_in_required,
            LedgerError: on_ledger_error,
            HTTPException: on_http_error,
            Exception: on_unexpected,
        },
    )


def static_router() -> Router:
    return create_static_files_router(
        path=routes.STATIC,
        directories=[STATIC],
        cache_control=CacheControlHeader(max_age=STATIC_CACHE_SECONDS),
        include_in_schema=False,
        opt=PUBLIC,
    )


def template_config(tz: tzinfo) -> TemplateConfig[JinjaTemplateEngine]:
    """Templates with the filters the pages format with, in the ledger's time zone."""

    def local(moment: datetime | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
        return "" if moment is None else moment.astimezone(tz).strftime(pattern)

    def configure(engine: JinjaTemplateEngine) -> None:
        engine.engine.filters.update(
            local=local,
            category=lambda c: zh.CATEGORIES.get(c, c),
            kind=lambda k: zh.KINDS.get(k, k),
            state=lambda s: zh.REDEMPTION_STATES.get(s, s),
            window=lambda w: zh.WINDOWS.get(w, w),
            skip_reason=lambda r: zh.SKIP_REASONS.get(r, r),
            claim_state=lambda s: zh.CLAIM_STATES.get(s, s),
            work_unit=lambda u: zh.WORK_UNITS.get(u, u),
            nomination_state=lambda s: zh.NOMINATION_STATES.get(s, s),
        )
        engine.engine.globals.update(routes=routes, zh_script=zh.for_script(), page_header=PAGE_HEADER)

    return TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=configure)
