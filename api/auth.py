"""Who is calling: the bearer token on every request under ``/v1``, or the web pages'
sign-in cookie.

Two kinds of token are accepted. The operator's bootstrap token (``LEDGER_ADMIN_TOKEN``)
is compared in constant time and is the admin principal ``admin``. Every other token is
a principal stored in the ledger (``ledger.access.principals``); a serving process keeps what
it looked up for a few seconds (``PRINCIPAL_CACHE_SECONDS``) so a busy token does not
cost a query per request, and checks expiry on every request all the same.

A person signed in to the web pages (``api.pages``) carries the same token in an
HttpOnly cookie, and the pages' scripts call the API with it: the middleware takes the
Authorization header first, else the cookie. ``Authenticator`` is the one lookup both
the middleware and the pages use.
"""

from __future__ import annotations

import hmac
import time
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware.authentication import (
    AbstractAuthenticationMiddleware,
    AuthenticationResult,
)
from litestar.types import ASGIApp

from api.ratelimit import WRITE_METHODS
from ledger import NOT_VALID, TOKEN_LENGTH_MAX, Access, AccessDenied, Ledger, Principal, Unauthenticated, check_current

BEARER = "bearer "

SESSION_COOKIE = "glp_session"
"""The cookie that carries a signed-in person's token (HttpOnly, SameSite=Strict)."""

PAGE_HEADER = "X-Ledger-Page"
"""Sent by the pages' own scripts with every write they make with the cookie.

A write authenticated by the cookie alone could be forged by another site that makes the
browser send a form (cross-site request forgery). SameSite=Strict already keeps the
cookie off such requests in current browsers; a custom header is the second fence: a
page on another origin cannot set it without the CORS preflight this service never
grants, and an HTML form cannot set it at all. Bearer-token callers are unaffected."""

ADMIN = Principal(id="admin", role=Access.ADMIN, label="bootstrap admin (LEDGER_ADMIN_TOKEN)")

PRINCIPAL_CACHE_SIZE_MAX = 10_000
"""Tokens remembered per process: a city's organizers and the members signed in within
a few seconds fit; past it the cache starts afresh rather than grow."""


class Unauthorized(NotAuthorizedException):
    problem_code = "unauthenticated"


def _unauthorized(detail: str) -> Unauthorized:
    return Unauthorized(detail, headers={"WWW-Authenticate": 'Bearer realm="ledger"'})


class PrincipalCache:
    """Token → principal for ``ttl`` seconds; a revocation in this process forgets at once."""

    def __init__(self, ttl: float) -> None:
        self._ttl = ttl
        self._entries: dict[str, tuple[Principal, float]] = {}

    def get(self, token: str) -> Principal | None:
        entry = self._entries.get(token)
        if entry is None or time.monotonic() - entry[1] > self._ttl:
            return None
        return entry[0]

    def put(self, token: str, principal: Principal) -> None:
        if len(self._entries) >= PRINCIPAL_CACHE_SIZE_MAX:
            self._entries.clear()
        self._entries[token] = (principal, time.monotonic())

    def forget(self, principal_id: str) -> None:
        for token in [t for t, (p, _) in self._entries.items() if p.id == principal_id]:
            del self._entries[token]


class Authenticator:
    """Token → principal: the bootstrap admin token, or a stored token (cached)."""

    def __init__(self, admin_token: str, key: bytes, cache: PrincipalCache) -> None:
        self._admin_token = admin_token.encode()
        self._key = key
        self._cache = cache

    async def principal(self, ledger: Ledger, token: str) -> Principal:
        """The principal ``token`` stands for, or ``Unauthenticated``."""
        if hmac.compare_digest(token.encode(), self._admin_token):
            return ADMIN
        if len(token) > TOKEN_LENGTH_MAX:
            raise Unauthenticated(NOT_VALID)
        principal = self._cache.get(token)
        if principal is None:
            principal = await ledger.authenticate(token, self._key)
            self._cache.put(token, principal)
        else:
            check_current(principal, ledger.clock())
        return principal


def _token(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    header = connection.headers.get("authorization", "")
    if header:
        if not header.lower().startswith(BEARER):
            raise _unauthorized("the Authorization header must read Bearer <token>")
        return header[len(BEARER) :].strip()
    token = connection.cookies.get(SESSION_COOKIE)
    if not token:
        raise _unauthorized("an Authorization: Bearer <token> header is required")
    if connection.scope.get("method") in WRITE_METHODS and connection.headers.get(PAGE_HEADER) != "1":
        raise AccessDenied(f"a write signed in by cookie must carry the {PAGE_HEADER} header", field=PAGE_HEADER)
    return token


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    def __init__(self, app: ASGIApp, authenticator: Authenticator, exclude: list[str]) -> None:
        super().__init__(app, exclude=exclude)
        self._authenticator = authenticator

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        token = _token(connection)
        try:
            principal = await self._authenticator.principal(connection.app.state.ledger, token)
        except Unauthenticated as error:
            raise _unauthorized(error.detail) from error
        return AuthenticationResult(user=principal, auth=None)
