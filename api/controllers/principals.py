"""Tokens (principals) and the audit log of writes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from api import dto, routes, views
from api.access import ADMIN, ADMIN_ONLY, AUDITOR, ORGANIZER, WRITERS, allow
from api.dependencies import LedgerDep
from ledger import (
    AUDIT_PAGE_SIZE_MAX,
    CODE_LENGTH_MAX,
    PRINCIPAL_PAGE_SIZE_MAX,
    AccessDenied,
    InvalidInput,
)

PRINCIPAL_PAGE_SIZE_DEFAULT = 100
AUDIT_PAGE_SIZE_DEFAULT = 100

Req = Request[Any, Any, Any]
SinceParam = Annotated[str | None, QueryParameter(max_length=64, schema_extra={"format": "date-time"})]


def _instant(text: str | None) -> datetime | None:
    """An ISO 8601 time with its zone. Read here, not by Litestar, which would also take
    a bare number (``since=-901``) as seconds from 1970 and answer for the wrong time."""
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise InvalidInput("since", "give an ISO 8601 time with its zone, e.g. 2026-01-01T00:00:00+08:00")
    return when


class PrincipalController(Controller):
    tags = ["tokens and audit"]

    @post(
        routes.TOKENS,
        summary="Create a token (shown once): admins any role; organizers member tokens for their subtree",
        opt=WRITERS,
    )
    async def create(self, data: JSONBody[dto.TokenCreate], ledger: LedgerDep, request: Req) -> dto.TokenCreated:
        principal, token = await ledger.create_principal(
            request.user,
            role=data.role,
            label=data.label,
            org_unit=data.org_unit,
            member_id=data.member_id,
            expires_at=data.expires_at,
            key=request.app.state.settings.token_key,
        )
        return dto.TokenCreated(views.read(principal, dto.PrincipalRead), token)

    @get(routes.TOKENS, summary="Every token's principal (never the token itself)", opt=ADMIN_ONLY)
    async def list(
        self,
        ledger: LedgerDep,
        limit: Annotated[int, QueryParameter(ge=1, le=PRINCIPAL_PAGE_SIZE_MAX)] = PRINCIPAL_PAGE_SIZE_DEFAULT,
        cursor: Annotated[str | None, QueryParameter(max_length=CODE_LENGTH_MAX)] = None,
    ) -> dto.PrincipalPage:
        found = await ledger.principals(limit, cursor)
        next_cursor = found[-1].id if len(found) == limit else None
        return dto.PrincipalPage([views.read(p, dto.PrincipalRead) for p in found], next_cursor)

    @get(routes.TOKEN, summary="One token's principal", opt=allow(ADMIN, ORGANIZER, AUDITOR))
    async def read(self, principal_id: FromPath[str], ledger: LedgerDep, request: Req) -> dto.PrincipalRead:
        return views.read(await ledger.principal(request.user, principal_id), dto.PrincipalRead)

    @post(routes.TOKEN_REVOKE, summary="Revoke a token; it stops working at once", status_code=200, opt=WRITERS)
    async def revoke(self, principal_id: FromPath[str], ledger: LedgerDep, request: Req) -> dto.PrincipalRead:
        principal = await ledger.revoke_principal(request.user, principal_id)
        request.app.state.principal_cache.forget(principal_id)
        return views.read(principal, dto.PrincipalRead)


class AuditController(Controller):
    tags = ["tokens and audit"]

    @get(
        routes.AUDIT,
        summary="Writes, oldest first: who made each, how it ended",
        opt=allow(ADMIN, AUDITOR),
    )
    async def list(
        self,
        ledger: LedgerDep,
        request: Req,
        principal: Annotated[str | None, QueryParameter(max_length=CODE_LENGTH_MAX)] = None,
        since: SinceParam = None,
        limit: Annotated[int, QueryParameter(ge=1, le=AUDIT_PAGE_SIZE_MAX)] = AUDIT_PAGE_SIZE_DEFAULT,
        cursor: Annotated[str | None, QueryParameter(pattern=r"^[0-9]{1,18}$")] = None,
    ) -> dto.AuditPage:
        if request.user.unit_path is not None:
            raise AccessDenied("the audit log is read by admins and by auditors of the whole tree")
        found = await ledger.audit(request.user, principal, _instant(since), limit, int(cursor) if cursor else None)
        next_cursor = str(found[-1].id) if len(found) == limit else None
        return dto.AuditPage([views.read(row, dto.AuditRead) for row in found], next_cursor)
