"""Who is calling: the bearer token on every request under ``/v1``.

Until principals are stored in the ledger there is one admin token, taken from the
settings and compared in constant time.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware.authentication import (
    AbstractAuthenticationMiddleware,
    AuthenticationResult,
)
from litestar.types import ASGIApp

BEARER = "bearer "


@dataclass(frozen=True, slots=True)
class Principal:
    id: str
    role: str


ADMIN = Principal(id="admin", role="admin")


def _unauthorized(detail: str) -> NotAuthorizedException:
    return NotAuthorizedException(detail, headers={"WWW-Authenticate": 'Bearer realm="ledger"'})


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    def __init__(self, app: ASGIApp, admin_token: str, exclude: list[str]) -> None:
        super().__init__(app, exclude=exclude)
        self._admin_token = admin_token.encode()

    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        if not header.lower().startswith(BEARER):
            raise _unauthorized("an Authorization: Bearer <token> header is required")
        token = header[len(BEARER) :].strip().encode()
        if not hmac.compare_digest(token, self._admin_token):
            raise _unauthorized("the bearer token is not valid")
        return AuthenticationResult(user=ADMIN, auth=None)
