"""Every write under ``/v1`` leaves an audit row naming its principal and its outcome,
and every read of personal data in bulk a row saying who read what (``record_read``).

A write that commits stores its row in its own database transaction (see
``ledger.access.audit``): the middleware names the request before the handler runs, with
the status its route answers on success. A request that committed nothing (refused,
failed) has its row stored before the response starts, so a client that has seen the
answer to a write can find it in ``GET /v1/audit``. A row that fails to be stored after
the answer is logged loudly; the answer stands (it has happened).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from litestar import Request
from litestar.enums import ScopeType
from litestar.handlers import HTTPRouteHandler
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from api.idempotency import HEADER as IDEMPOTENCY_HEADER
from api.ratelimit import WRITE_METHODS
from ledger import Ledger, Principal, audit

_log = logging.getLogger("api.audit")
_IDEMPOTENCY = IDEMPOTENCY_HEADER.lower().encode()
_storing: set[asyncio.Task[None]] = set()  # rows stored beside a 5xx answer, kept until done


class AuditMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal = scope.get("user")
        if scope["type"] != ScopeType.HTTP or scope["method"] not in WRITE_METHODS or principal is None:
            await self.app(scope, receive, send)
            return
        key = next((v.decode("latin-1") for k, v in scope["headers"] if k == _IDEMPOTENCY), None)
        handler = scope["route_handler"]
        assert isinstance(handler, HTTPRouteHandler)  # an HTTP scope is served by an HTTP handler
        success = handler.status_code
        entry = audit.Entry(principal.id, principal.role.value, scope["method"], scope["path"], success, key)

        with audit.serving(entry) as pending:

            async def audited_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    row = audit.answered(pending, message["status"])
                    if row is not None:
                        stored = _store(scope["app"].state.ledger, row)
                        if row.status < 500:
                            await stored
                        else:
                            task = asyncio.ensure_future(stored)
                            _storing.add(task)
                            task.add_done_callback(_storing.discard)
                await send(message)

            await self.app(scope, receive, audited_send)


async def _store(ledger: Ledger, row: audit.Entry) -> None:
    try:
        await ledger.record_audit(row)
    except Exception:
        _log.exception("a write was answered but its audit row was not stored: %s", row)


T = TypeVar("T")


async def record_read(
    request: Request[Any, Any, Any],
    ledger: Ledger,
    rows: int | None,
    subject: str | None = None,
    actor: Principal | None = None,
    **filters: object,
) -> None:
    """Store the row of a read of personal data before the data is answered: a row
    that cannot be stored fails the read, for nothing is shown unrecorded. ``actor``: the
    principal of a page, signed in by cookie (``request.user`` under ``/v1``)."""
    principal = actor or request.user
    await ledger.record_audit(
        audit.read(principal.id, principal.role.value, request.url.path, rows, subject, **filters)
    )


async def counted(
    rows: AsyncIterator[T], request: Request[Any, Any, Any], ledger: Ledger, **filters: object
) -> AsyncIterator[T]:
    """A streamed read's rows, recorded once the stream ends (or is dropped) with the
    number of rows actually sent: a streamed export's length is known only then."""
    sent = 0
    try:
        async for row in rows:
            sent += 1
            yield row
    finally:
        await record_read(request, ledger, sent, None, None, **filters)
