"""The Litestar application, built in one place."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from litestar import Litestar, Router
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import Provide
from litestar.handlers import BaseRouteHandler
from litestar.middleware.base import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.routes import HTTPRoute

from api import routes
from api.access import check_declared, require_role
from api.apidocs import assets_router, render_plugins
from api.audit import AuditMiddleware
from api.auth import Authenticator, BearerTokenMiddleware, PrincipalCache
from api.controllers.earning import (
    ActivityController,
    ClaimController,
    DeductionController,
    RuleController,
    SummaryController,
)
from api.controllers.imports import ImportController
from api.controllers.members import MemberController
from api.controllers.nominations import TierController
from api.controllers.org_units import OrgUnitController
from api.controllers.principals import AuditController, PrincipalController
from api.controllers.shop import RedemptionController, RewardController, SweepController
from api.controllers.transactions import (
    AwardController,
    LedgerController,
    TransactionController,
)
from api.dependencies import provide_ledger
from api.openapi import document_operations
from api.pages import pages_router, static_router, template_config
from api.problems import problem_details_plugin
from api.ratelimit import WriteLimiter, limit_writes
from api.settings import Settings
from api.strict import strict_request
from ledger import Database, Ledger, zone

OPENAPI_PATH = routes.OPENAPI

GC_YOUNG_OBJECTS = 50_000
"""Allocations (less frees) between two collections of the youngest generation; Python's
default is 700. Once what startup built is frozen, the oldest generation holds only what
requests left behind, so it counts as "grown by a quarter" again and again while a large
settle allocates: seven full collections of the settle's own objects in one settle of
10,000 members, a fifth of its CPU. Collecting every 50,000 allocations (a few MB of
young objects at most) leaves one or none."""

_log = logging.getLogger("api.timers")


async def sweep_every(ledger: Ledger, seconds: float) -> None:
    """Sweep on a timer for as long as the process serves. The sweep is safe to run in
    every worker at once, so no worker is singled out for it."""
    await _every(seconds, ledger.sweep, "sweep")


async def checkpoint_every(ledger: Ledger, seconds: float) -> None:
    """Seal the chain head on a timer when it has moved; safe in every worker at once,
    like the sweep (the workers take turns on the chain head's lock)."""
    await _every(seconds, ledger.checkpoint_if_moved, "checkpoint")


async def _every(seconds: float, work: Callable[[], Awaitable[object]], name: str) -> None:
    """Run ``work`` every ``seconds`` while the process serves; a failure is logged and
    the next round tries again."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await work()
        except Exception:
            _log.exception("%s failed; retrying in %s s", name, seconds)


async def admit(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """The API's one guard: the role, then the write rate. A coroutine, because Litestar
    runs a plain function guard in a worker thread (a thread hop per request, and the
    rate limiter's buckets changed from several threads); and one guard, because
    Litestar copies the route handler for every guard it calls."""
    require_role(connection, handler)
    limit_writes(connection, handler)


def create_app(settings: Settings, ledger: Ledger | None = None) -> Litestar:
    """The service. Pass ``ledger`` to share one with the caller (tests, benchmarks);
    otherwise the app opens the database in ``settings`` and closes it on shutdown."""
    assert settings.admin_token, "an admin token is required to serve the API"

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        db = Database(settings.database_url)
        app.state.ledger = Ledger(
            db,
            settings.timezone,
            hold_ttl=timedelta(hours=settings.hold_ttl_hours),
            checkpoint_key=settings.checkpoint_key,
        )
        # What is built by now (modules, the app, the ledger) lives as long as the process:
        # frozen, the collector's full passes stop walking it again and again while a large
        # settle allocates (a sixth of the CPU of settling 10,000 members).
        gc.freeze()
        gc.set_threshold(GC_YOUNG_OBJECTS, *gc.get_threshold()[1:])
        timers = [
            asyncio.create_task(every(app.state.ledger, seconds))
            for every, seconds in (
                (sweep_every, settings.sweep_interval_seconds),
                (checkpoint_every, settings.checkpoint_interval_seconds),
            )
            if seconds > 0
        ]
        try:
            yield
        finally:
            for timer in timers:
                timer.cancel()
            await db.dispose()

    v1 = Router(
        path=routes.API_PREFIX,
        route_handlers=[
            OrgUnitController,
            SummaryController,
            MemberController,
            RuleController,
            DeductionController,
            ActivityController,
            ClaimController,
            TierController,
            RewardController,
            RedemptionController,
            SweepController,
            AwardController,
            TransactionController,
            LedgerController,
            PrincipalController,
            AuditController,
            ImportController,
        ],
        security=[{"bearer": []}],
        guards=[admit],
        before_request=strict_request,
    )
    cache = PrincipalCache(settings.principal_cache_seconds)
    authenticator = Authenticator(settings.admin_token, settings.token_key, cache)
    app = Litestar(
        route_handlers=[v1, pages_router(), static_router(), assets_router()],
        dependencies={"ledger": Provide(provide_ledger, sync_to_thread=False)},
        middleware=[
            DefineMiddleware(
                BearerTokenMiddleware,
                authenticator=authenticator,
                exclude=[f"^{OPENAPI_PATH}"],
            ),
            AuditMiddleware,
        ],
        plugins=[problem_details_plugin()],
        state=State(
            {
                "ledger": ledger,
                "settings": settings,
                "principal_cache": cache,
                "authenticator": authenticator,
                "write_limiter": WriteLimiter(settings.writes_per_second, settings.write_burst),
            }
        ),
        lifespan=[] if ledger is not None else [lifespan],
        request_max_body_size=settings.request_body_bytes_max,
        template_config=template_config(zone(settings.timezone)),
        openapi_config=OpenAPIConfig(
            title="Grid points ledger",
            version="1",
            path=OPENAPI_PATH,
            render_plugins=render_plugins(),
            components=Components(security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")}),
        ),
    )
    api_handlers = [
        (route.path, h)
        for route in app.routes
        if isinstance(route, HTTPRoute) and route.path.startswith(routes.API_PREFIX)
        for h in route.route_handlers
    ]
    check_declared(h for _, h in api_handlers)
    document_operations((path, h) for path, h in api_handlers if h.http_methods != {"OPTIONS"})
    return app
