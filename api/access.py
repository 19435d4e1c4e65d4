"""Which roles may call an endpoint: every handler under ``/v1`` declares it.

A handler says ``opt=allow(Access.ADMIN, Access.ORGANIZER)``; one guard on the API
router refuses every other role with 403, and ``check_declared`` refuses to build an
app in which a handler forgot to say. Whether the principal's org subtree covers the
member or unit a request touches is the ledger's question: each ``Ledger`` method takes
the acting principal (``actor``, here ``request.user``) and checks its scope inside the
method's own transaction, so a handler makes one ledger call.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from ledger import Access, AccessDenied, Principal

ROLES = "roles"

ADMIN, ORGANIZER, MEMBER, AUDITOR = Access.ADMIN, Access.ORGANIZER, Access.MEMBER, Access.AUDITOR


def allow(*roles: Access) -> dict[str, Any]:
    return {ROLES: frozenset(roles)}


EVERYONE = allow(*Access)
READERS = allow(ADMIN, AUDITOR, ORGANIZER, MEMBER)  # a member's own records, or any in scope
OVERSEERS = allow(ADMIN, AUDITOR, ORGANIZER)  # units' records: not a member's to see
WRITERS = allow(ADMIN, ORGANIZER)
ADMIN_ONLY = allow(ADMIN)


def require_role(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    principal: Principal = connection.user
    roles: frozenset[Access] | None = handler.opt.get(ROLES)
    if roles is None:
        return  # Litestar's own OPTIONS answer: it says which methods a path has, nothing more
    if principal.role not in roles:
        allowed = ", ".join(sorted(r.value for r in roles))
        raise AccessDenied(
            f"a {principal.role.value} token may not {connection.scope.get('method')} {connection.url.path} "
            f"(allowed: {allowed})",
            role=principal.role.value,
            allowed_roles=sorted(r.value for r in roles),
        )


def check_declared(handlers: Iterable[BaseRouteHandler]) -> None:
    missing = [str(h) for h in handlers if ROLES not in h.opt and getattr(h, "http_methods", None) != {"OPTIONS"}]
    assert not missing, f"handlers that do not declare their roles: {missing}"


def unit_or_own(principal: Principal, org_unit: str | None) -> str | None:
    """A list's unit: the one asked for, or the principal's own when it has one, so
    an organizer who names no unit sees their subtree rather than a refusal."""
    return org_unit if org_unit is not None else principal.org_unit
