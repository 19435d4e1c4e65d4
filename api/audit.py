"""Every write under ``/v1`` leaves an audit row naming its principal and its outcome.

The row is written before the response starts: a client that has seen the answer to a
write can find that write in ``GET /v1/audit``. A write that fails to be audited is
still answered (it has happened) and the failure is logged loudly.
"""

from __future__ import annotations

import logging

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from api.idempotency import HEADER as IDEMPOTENCY_HEADER
from api.ratelimit import WRITE_METHODS
from ledger.access.audit import Entry

_log = logging.getLogger("api.audit")
_IDEMPOTENCY = IDEMPOTENCY_HEADER.lower().encode()


class AuditMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return

        async def audited_send(message: Message) -> None:
            principal = scope.get("user")
            if message["type"] == "http.response.start" and principal is not None:
                key = next((v.decode("latin-1") for k, v in scope["headers"] if k == _IDEMPOTENCY), None)
                entry = Entry(
                    principal.id, principal.role.value, scope["method"], scope["path"], message["status"], key
                )
                try:
                    await scope["app"].state.ledger.record_audit(entry)
                except Exception:
                    _log.exception("a write was answered but its audit row was not stored: %s", entry)
            await send(message)

        await self.app(scope, receive, audited_send)
