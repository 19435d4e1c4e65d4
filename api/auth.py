"""Who is calling: the bearer token on every request under ``/v1``.

Two kinds of token are accepted. The operator's bootstrap token (``LEDGER_ADMIN_TOKEN``)
is compared in constant time and is the admin principal ``admin``. Every other token is
a principal stored in the ledger (``ledger.principals``); a serving process keeps what
it looked up for a few seconds (``PRINCIPAL_CACHE_SECONDS``) so a busy token does not
cost a query per request, and checks expiry on every request all the same.
"""

from __future__ import annotations

import hmac
import time

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware.authentication import (
    AbstractAuthenticationMiddleware,
    AuthenticationResult,
)
from litestar.types import ASGIApp

from ledger.errors import Unauthenticated
from ledger.principals import NOT_VALID, TOKEN_LENGTH_MAX, Principal, check_current
from ledger.values import Access

BEARER = "bearer "

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


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    def __init__(self, app: ASGIApp, admin_token: str, key: bytes, cache: PrincipalCache, exclude: list[str]) -> None:
        super().__init__(app, exclude=exclude)
        self._admin_token = admin_token.encode()
        self._key = key
        self._cache = cache

    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        if not header.lower().startswith(BEARER):
            raise _unauthorized("an Authorization: Bearer <token> header is required")
        token = header[len(BEARER) :].strip()
        if hmac.compare_digest(token.encode(), self._admin_token):
            return AuthenticationResult(user=ADMIN, auth=None)
        if len(token) > TOKEN_LENGTH_MAX:
            raise _unauthorized(NOT_VALID)
        ledger = connection.app.state.ledger
        try:
            principal = self._cache.get(token)
            if principal is None:
                principal = await ledger.authenticate(token, self._key)
                self._cache.put(token, principal)
            else:
                check_current(principal, ledger.clock())
        except Unauthenticated as error:
            raise _unauthorized(error.detail) from error
        return AuthenticationResult(user=principal, auth=None)
