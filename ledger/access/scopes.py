"""Whether a principal's org subtree covers what a request touches.

A request touches *subjects*: a member, a unit, or a record that belongs to one (an
activity, a claim, a redemption, a transaction, a reward, a notice, another principal). Each
subject resolves, in one indexed query, to the path of the unit it belongs to and,
when it is a member's, to that member. The rule is then the same everywhere:

* an admin, and an auditor without a unit, cover everything;
* an organizer, and an auditor with a unit, cover what lies inside their subtree;
* a member covers only their own records.

Which *roles* may call an endpoint at all is declared by the HTTP layer; this module
answers only "inside or outside". A subject that does not exist is reported as not
found, with the field that named it, whoever asks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.access.principals import Principal
from ledger.errors import (
    AccessDenied,
    ActivityNotFound,
    ClaimNotFound,
    LedgerError,
    MemberNotFound,
    NoticeNotFound,
    OrgUnitNotFound,
    PrincipalNotFound,
    RedemptionNotFound,
    RewardNotFound,
    TransactionNotFound,
)
from ledger.values import Access

Kind = Literal["member", "unit", "activity", "claim", "redemption", "transaction", "reward", "principal", "notice"]

MEMBERS_PER_QUERY = 1_000
"""Roster members resolved per query: within SQLite's oldest limit of 999 bound
parameters plus one, and a 10,000-line roster still takes only ten queries."""

DENIED_NAMED_MAX = 20
"""How many out-of-scope members a refusal lists; its count says how many in all."""

ROOT_PATH = "/"
"""Where an unscoped principal belongs: only the unscoped cover it."""

_OWNED_BY_MEMBER = """
    SELECT r.{key}, u.path, m.id FROM {table} r
    JOIN member m ON m.id = r.member_id JOIN org_unit u ON u.code = m.org_unit
    WHERE r.{key} IN :keys"""
_OWNED_BY_UNIT = """
    SELECT r.{key}, u.path, NULL FROM {table} r JOIN org_unit u ON u.code = r.org_unit WHERE r.{key} IN :keys"""

# Each query answers (key, unit path, member id or NULL) for the subjects of one kind.
_RESOLVE: dict[Kind, str] = {
    "member": "SELECT m.id, u.path, m.id FROM member m JOIN org_unit u ON u.code = m.org_unit WHERE m.id IN :keys",
    "unit": "SELECT code, path, NULL FROM org_unit WHERE code IN :keys",
    "activity": _OWNED_BY_UNIT.format(table="activity", key="id"),
    "reward": _OWNED_BY_UNIT.format(table="reward", key="code"),
    "notice": _OWNED_BY_UNIT.format(table="notice", key="id"),
    "claim": _OWNED_BY_MEMBER.format(table="claim", key="id"),
    "redemption": _OWNED_BY_MEMBER.format(table="redemption", key="id"),
    # A transaction is its member's (where the member lives now) or, with no member, its unit's.
    "transaction": """
        SELECT t.id, u.path, t.member_id FROM journal_txn t
        LEFT JOIN member m ON m.id = t.member_id
        JOIN org_unit u ON u.code = COALESCE(m.org_unit, t.org_unit)
        WHERE t.id IN :keys""",
    "principal": f"""
        SELECT p.id, COALESCE(mu.path, u.path, '{ROOT_PATH}'), p.member_id FROM principal p
        LEFT JOIN member m ON m.id = p.member_id LEFT JOIN org_unit mu ON mu.code = m.org_unit
        LEFT JOIN org_unit u ON u.code = p.org_unit
        WHERE p.id IN :keys""",
}
_QUERIES = {kind: text(sql).bindparams(bindparam("keys", expanding=True)) for kind, sql in _RESOLVE.items()}

_NOT_FOUND: dict[Kind, Callable[[str | int, str], LedgerError]] = {
    "member": lambda key, field: MemberNotFound(str(key), field=field),
    "unit": lambda key, field: OrgUnitNotFound(str(key), field=field),
    "activity": lambda key, _: ActivityNotFound(int(key)),
    "claim": lambda key, _: ClaimNotFound(int(key)),
    "redemption": lambda key, _: RedemptionNotFound(int(key)),
    "transaction": lambda key, _: TransactionNotFound(int(key)),
    "reward": lambda key, field: RewardNotFound(str(key), field=field),
    "principal": lambda key, _: PrincipalNotFound(str(key)),
    "notice": lambda key, field: NoticeNotFound(int(key), field=field),
}


Owner = tuple[str, str | None]
"""Where a subject belongs: its unit's path and, when it is a member's, the member's id."""


@dataclass(frozen=True, slots=True)
class Subject:
    kind: Kind
    key: str | int
    field: str
    """The request field that named the subject: a refusal points at it."""


def member(member_id: str, field: str = "member_id") -> Subject:
    return Subject("member", member_id, field)


def unit(code: str, field: str = "org_unit") -> Subject:
    return Subject("unit", code, field)


def covers(principal: Principal, path: str, member_id: str | None) -> bool:
    if principal.role is Access.MEMBER:
        return member_id is not None and member_id == principal.member_id
    return principal.covers(path)


def _denied(principal: Principal, subject: Subject) -> AccessDenied:
    where = f"member {principal.member_id!r}" if principal.role is Access.MEMBER else f"unit {principal.org_unit!r}"
    return AccessDenied(
        f"{subject.field} {subject.key!r} is outside what this {principal.role.value} token covers ({where})",
        field=subject.field,
    )


def unscoped(principal: Principal) -> bool:
    """An admin covers the whole tree without a lookup (an unknown subject fails in the work)."""
    return principal.role is Access.ADMIN


async def authorize(conn: AsyncConnection, principal: Principal, subjects: Sequence[Subject]) -> None:
    """Refuse unless every subject exists and lies inside the principal's scope. An
    admin, or no subject, costs no statement (``refusals``)."""
    [refused] = await refusals(conn, [(principal, subjects)])
    if refused is not None:
        raise refused


async def refusals(
    conn: AsyncConnection, checks: Sequence[tuple[Principal, Sequence[Subject]]]
) -> list[LedgerError | None]:
    """For each (principal, subjects), the error that refuses it, or None: the first
    subject, in order, that does not exist or lies outside. The subjects of every check
    are resolved together, one query per kind, so a group-committed batch of awards or
    holds is checked in one or two statements, and a batch of admins' in none."""
    owners = await _owners(conn, [s for principal, subjects in checks if not unscoped(principal) for s in subjects])
    return [None if unscoped(principal) else _refusal(principal, subjects, owners) for principal, subjects in checks]


def _refusal(
    principal: Principal, subjects: Sequence[Subject], owners: dict[tuple[Kind, str | int], Owner]
) -> LedgerError | None:
    for subject in subjects:
        owner = owners.get((subject.kind, subject.key))
        if owner is None:
            return _NOT_FOUND[subject.kind](subject.key, subject.field)
        if not covers(principal, *owner):
            return _denied(principal, subject)
    return None


async def _owners(conn: AsyncConnection, subjects: Sequence[Subject]) -> dict[tuple[Kind, str | int], Owner]:
    keys: dict[Kind, set[str | int]] = {}
    for subject in subjects:
        keys.setdefault(subject.kind, set()).add(subject.key)
    owners: dict[tuple[Kind, str | int], Owner] = {}
    for kind, wanted in keys.items():
        for key, path, member_id in await conn.execute(_QUERIES[kind], {"keys": sorted(wanted, key=str)}):
            owners[kind, key] = (path, member_id)
    return owners


async def authorize_members(conn: AsyncConnection, principal: Principal, member_ids: Sequence[str], field: str) -> None:
    """Refuse unless every named member lies inside the scope; unknown ids are left to
    the caller, which reports them line by line as it always does."""
    if principal.unit_path is None and principal.role is not Access.MEMBER:
        return
    outside: list[str] = []
    unique = sorted(set(member_ids))
    for start in range(0, len(unique), MEMBERS_PER_QUERY):
        chunk = unique[start : start + MEMBERS_PER_QUERY]
        rows = await conn.execute(_QUERIES["member"], {"keys": chunk})
        outside.extend(member_id for member_id, path, _ in rows if not covers(principal, path, member_id))
    if outside:
        raise AccessDenied(
            f"{len(outside)} member(s) lie outside unit {principal.org_unit!r}: "
            + ", ".join(outside[:DENIED_NAMED_MAX]),
            field=field,
            members_outside=outside[:DENIED_NAMED_MAX],
            members_outside_count=len(outside),
        )
