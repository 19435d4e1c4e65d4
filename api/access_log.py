"""The access log: one line per request, and a request id the client sees.

Each line names the method, the path, the status, the time taken, the principal and the
request id: enough to find a complaint's request ("I pressed 兑换 at 10:02 and it failed")
without keeping anything a line must never hold. So it never holds a token, a body or the
query string (a sign-in link carries its token there). The request id is the client's own
``X-Request-Id`` when it sends a short printable one (a proxy in front may set it), else a
new one; it is echoed on the response, so a resident's screenshot of an error names the line.
"""

from __future__ import annotations

import logging
import time
import uuid

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID = REQUEST_ID_HEADER.lower().encode()

REQUEST_ID_LENGTH_MAX = 64
"""A client's request id longer than this is replaced: ids are UUIDs or shorter, and a
log line is not a place for whatever a client chooses to send."""

_log = logging.getLogger("api.access")


def _request_id(scope: Scope) -> str:
    sent = next((v for k, v in scope["headers"] if k == _REQUEST_ID), b"").decode("latin-1")
    if sent and len(sent) <= REQUEST_ID_LENGTH_MAX and sent.isascii() and sent.isprintable() and " " not in sent:
        return sent
    return uuid.uuid4().hex


class AccessLog:
    """Wraps the whole application, so a request no route matched is logged too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        started = time.perf_counter()
        status = 500  # what the client gets if the application fails before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (_REQUEST_ID, request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            principal = getattr(scope.get("user"), "id", "-")
            milliseconds = (time.perf_counter() - started) * 1000
            _log.info(
                "%s %s %d %.1fms principal=%s request=%s",
                scope["method"],
                scope["path"],
                status,
                milliseconds,
                principal,
                request_id,
            )
