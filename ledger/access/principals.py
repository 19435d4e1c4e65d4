"""Principals: who may call the ledger, in which role, over which part of the org tree.

A token reads ``glp_<id>.<secret>``. The id finds the principal's row by primary key; the
secret proves the caller holds the token. Only HMAC-SHA256(server key, secret) is
stored, so a copy of the database is not a set of working tokens, and the key lives
outside the database. The secret is 256 random bits, not a password a person chose:
a keyed fast hash resists guessing as well as a slow one would, and verifying it costs
microseconds on every request instead of argon2's tens of milliseconds.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.errors import InvalidInput, PrincipalNotFound, Unauthenticated
from ledger.org.members import get_member
from ledger.org.units import get_unit
from ledger.storage.tables import OrgUnit, PrincipalRow, table_of
from ledger.values import Access

TOKEN_PREFIX = "glp_"
TOKEN_ID_BYTES = 8
"""64 random bits name a principal: unique among any number of tokens a city issues."""

TOKEN_SECRET_BYTES = 32
"""256 bits: beyond guessing, so the stored hash needs no work factor."""

TOKEN_LENGTH_MAX = len(TOKEN_PREFIX) + 2 * TOKEN_ID_BYTES + 1 + 64
"""Longer than any token this module issues: a longer header is refused unread."""

PRINCIPAL_PAGE_SIZE_MAX = 500

_PRINCIPAL_ID = re.compile(f"[0-9a-f]{{{2 * TOKEN_ID_BYTES}}}")
"""How ``create_principal`` names a principal (``secrets.token_hex``)."""

_principals = table_of(PrincipalRow)
_units = table_of(OrgUnit)

NOT_VALID = "the bearer token is not valid"


@dataclass(frozen=True, slots=True)
class Principal:
    id: str
    role: Access
    label: str
    org_unit: str | None = None
    unit_path: str | None = None
    """The subtree the principal acts in ("/street/community/"); None is the whole tree."""
    member_id: str | None = None
    created_at: datetime | None = None
    created_by: str | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    @classmethod
    def admin(cls, principal_id: str) -> Principal:
        """An admin that holds no token: the command line, the demo, the service's own
        timer, a benchmark. What it writes is recorded as ``principal_id``'s."""
        return cls(id=principal_id, role=Access.ADMIN, label=principal_id)

    def covers(self, path: str) -> bool:
        """Whether a unit with this path lies inside the principal's subtree."""
        return self.unit_path is None or path.startswith(self.unit_path)


def token_hash(key: bytes, secret: str) -> str:
    return hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()


_SELECT = select(_principals, _units.c.path.label("unit_path")).outerjoin(
    _units, _units.c.code == _principals.c.org_unit
)


def _principal(row: RowMapping | Mapping[str, Any]) -> Principal:
    return Principal(
        id=row["id"],
        role=Access(row["role"]),
        label=row["label"],
        org_unit=row["org_unit"],
        unit_path=row["unit_path"],
        member_id=row["member_id"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
    )


async def _find(conn: AsyncConnection, principal_id: str) -> tuple[Principal, str] | None:
    row = (await conn.execute(_SELECT.where(_principals.c.id == principal_id))).first()
    return None if row is None else (_principal(row._mapping), row.token_hash)


async def get_principal(conn: AsyncConnection, principal_id: str) -> Principal:
    found = await _find(conn, principal_id)
    if found is None:
        raise PrincipalNotFound(principal_id)
    return found[0]


async def _check_shape(
    conn: AsyncConnection, role: Access, org_unit: str | None, member_id: str | None
) -> tuple[str | None, str | None]:
    """Each role names exactly what it needs: an organizer a unit, a member themself."""
    if role is Access.MEMBER:
        if member_id is None:
            raise InvalidInput("member_id", "a member token names the member it belongs to")
        if org_unit is not None:
            raise InvalidInput("org_unit", "a member token acts for one member, not a unit")
        await get_member(conn, member_id, field="member_id")
        return None, member_id
    if member_id is not None:
        raise InvalidInput("member_id", f"only a member token names a member, not an {role.value} token")
    if role is Access.ORGANIZER and org_unit is None:
        raise InvalidInput("org_unit", "an organizer token names the unit whose subtree it acts in")
    if role is Access.ADMIN and org_unit is not None:
        raise InvalidInput("org_unit", "an admin token acts on the whole tree")
    if org_unit is not None:
        await get_unit(conn, org_unit)
    return org_unit, None


async def create_principal(
    conn: AsyncConnection,
    *,
    role: Access,
    label: str,
    org_unit: str | None,
    member_id: str | None,
    expires_at: datetime | None,
    created_by: str,
    now: datetime,
    key: bytes,
) -> tuple[Principal, str]:
    """A new principal and its token: the only time the token exists outside the caller."""
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("expires_at", "a token's expiry must lie in the future")
    org_unit, member_id = await _check_shape(conn, role, org_unit, member_id)
    principal_id = secrets.token_hex(TOKEN_ID_BYTES)
    secret = secrets.token_urlsafe(TOKEN_SECRET_BYTES)
    await conn.execute(
        _principals.insert().values(
            id=principal_id,
            role=role.value,
            org_unit=org_unit,
            member_id=member_id,
            label=label,
            token_hash=token_hash(key, secret),
            created_at=now,
            created_by=created_by,
            expires_at=expires_at,
        )
    )
    return await get_principal(conn, principal_id), f"{TOKEN_PREFIX}{principal_id}.{secret}"


async def authenticate(conn: AsyncConnection, token: str, key: bytes, now: datetime) -> Principal:
    """The principal a token belongs to, if the token is whole, current and not revoked.

    An unknown id and a wrong secret get the same answer; only the holder of the real
    token learns that it expired or was revoked."""
    principal_id, _, secret = token.removeprefix(TOKEN_PREFIX).partition(".")
    if not token.startswith(TOKEN_PREFIX) or not secret or not _PRINCIPAL_ID.fullmatch(principal_id):
        raise Unauthenticated(NOT_VALID)  # refused unread: a malformed id never reaches a query
    found = await _find(conn, principal_id)
    if found is None or not hmac.compare_digest(found[1], token_hash(key, secret)):
        raise Unauthenticated(NOT_VALID)
    principal = found[0]
    check_current(principal, now)
    return principal


def check_current(principal: Principal, now: datetime) -> None:
    if principal.revoked_at is not None:
        raise Unauthenticated(f"the token was revoked at {principal.revoked_at.isoformat()}", reason="revoked")
    if principal.expires_at is not None and principal.expires_at <= now:
        raise Unauthenticated(f"the token expired at {principal.expires_at.isoformat()}", reason="expired")


async def revoke_principal(conn: AsyncConnection, principal_id: str, by: str, now: datetime) -> Principal:
    """Revoke once; revoking again keeps the first time and who did it."""
    principal = await get_principal(conn, principal_id)
    if principal.revoked_at is None:
        await conn.execute(
            update(_principals).where(_principals.c.id == principal_id).values(revoked_at=now, revoked_by=by)
        )
        principal = await get_principal(conn, principal_id)
    return principal


async def list_principals(conn: AsyncConnection, limit: int, after: str | None) -> list[Principal]:
    query = _SELECT.order_by(_principals.c.id).limit(limit)
    if after is not None:
        query = query.where(_principals.c.id > after)
    return [_principal(row._mapping) for row in await conn.execute(query)]
