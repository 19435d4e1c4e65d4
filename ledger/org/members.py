"""Members: the people who earn and spend points. Never deleted, only deactivated.

A member moves to another micro-grid only through ``change_member``, which keeps the move
in the append-only ``member_move`` (who, when, from, to): the member's history. Points
earned before the move stay with the old unit's roll-up (ledger.earning.summary).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, Select, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.errors import AlreadyExists, InvalidInput, MemberNotFound
from ledger.journal.accounts import open_account
from ledger.org.units import Move, Unit, get_unit, in_subtree, moves, unit_from_row
from ledger.storage.bulk import OneOf
from ledger.storage.tables import Member as MemberRow
from ledger.storage.tables import MemberMove, OrgUnit, table_of
from ledger.values import PHONE_LENGTH_MAX, AccountKind, Level, Role

PSEUDONYM_PREFIX = "已注销-"
"""An erased member's name: "deregistered" and a short tag, so lists stay readable."""

PSEUDONYM_HEX_DIGITS = 4
"""Hex digits of the id's digest in a pseudonym: enough to tell apart the erased members a
list shows together, too few to find the id again from a digest among millions."""

_PHONE_CHARACTERS = frozenset("0123456789+- ()")


def pseudonym(member_id: str) -> str:
    """The stable name an erased member is shown by: ``已注销-7f3a``."""
    return PSEUDONYM_PREFIX + hashlib.sha256(member_id.encode()).hexdigest()[:PSEUDONYM_HEX_DIGITS]


def phone_well_formed(phone: str) -> bool:
    """Up to ``PHONE_LENGTH_MAX`` digits and the marks a number is written with."""
    return bool(phone.strip()) and len(phone) <= PHONE_LENGTH_MAX and set(phone) <= _PHONE_CHARACTERS


def check_phone(phone: str | None) -> None:
    if phone is not None and not phone_well_formed(phone):
        raise InvalidInput(
            "phone", f"a phone number is up to {PHONE_LENGTH_MAX} digits, spaces, '+', '-' and parentheses"
        )


@dataclass(frozen=True, slots=True)
class Member:
    id: str
    name: str
    org_unit: str
    party_member: bool
    roles: tuple[Role, ...]
    active: bool
    account_id: int
    created_at: datetime
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class MemberChanges:
    """Fields a PATCH may change; None leaves a field as it is."""

    name: str | None = None
    org_unit: str | None = None
    party_member: bool | None = None
    roles: tuple[Role, ...] | None = None
    active: bool | None = None


_members = table_of(MemberRow)
_units = table_of(OrgUnit)
_moves = table_of(MemberMove)


def _member(row: RowMapping | Mapping[str, Any]) -> Member:
    return Member(**{**{name: row[name] for name in Member.__slots__}, "roles": tuple(Role(r) for r in row["roles"])})


async def find_member(conn: AsyncConnection, member_id: str) -> Member | None:
    row = (await conn.execute(select(_members).where(_members.c.id == member_id))).first()
    return None if row is None else _member(row._mapping)


_FIND_MEMBERS = select(_members).where(OneOf(_members.c.id, "ids"))


async def find_members(conn: AsyncConnection, member_ids: Iterable[str]) -> dict[str, Member]:
    rows = await conn.execute(_FIND_MEMBERS, {"ids": list(set(member_ids))})
    return {row.id: _member(row._mapping) for row in rows}


_UNIT_NAMES = tuple(_units.c.keys())
_MEMBER_NAMES = tuple(_members.c.keys())
_MEMBERS_AND_UNITS = (
    select(*(c.label(f"u_{c.name}") for c in _units.c), *(c.label(f"m_{c.name}") for c in _members.c))
    .select_from(_units.outerjoin(_members, (_members.c.org_unit == _units.c.code) & OneOf(_members.c.id, "ids")))
    .where(
        OneOf(_units.c.code, "codes")
        | _units.c.code.in_(select(_members.c.org_unit).where(OneOf(_members.c.id, "ids")).scalar_subquery())
    )
)


def members_and_units_query(member_ids: Iterable[str], codes: Iterable[str]) -> tuple[Select[Any], dict[str, Any]]:
    """One read of the members ``member_ids`` (those that exist), their home units and
    the units ``codes``: a unit per row (its code first, never NULL), with one of the
    members it is home to, or none. An award batch sends it with its idempotency claims
    (``idempotency.claim_many``), so it costs no round trip of its own on PostgreSQL."""
    return _MEMBERS_AND_UNITS, {"ids": sorted(set(member_ids)), "codes": sorted(set(codes))}


def members_and_units(rows: Iterable[Sequence[Any]]) -> tuple[dict[str, Member], dict[str, Unit]]:
    """``members_and_units_query``'s rows as the members and units by id and code."""
    members: dict[str, Member] = {}
    units: dict[str, Unit] = {}
    width = len(_UNIT_NAMES)
    for row in rows:
        if row[0] not in units:  # a unit's row repeats for each of its members
            units[row[0]] = unit_from_row(dict(zip(_UNIT_NAMES, row[:width], strict=True)))
        if row[width] is not None:
            member = _member(dict(zip(_MEMBER_NAMES, row[width:], strict=True)))
            members[member.id] = member
    return members, units


async def get_member(conn: AsyncConnection, member_id: str, field: str = "member_id") -> Member:
    member = await find_member(conn, member_id)
    if member is None:
        raise MemberNotFound(member_id, field=field)
    return member


async def _check_home(conn: AsyncConnection, code: str) -> None:
    unit = await get_unit(conn, code)
    if unit.level is not Level.MICRO_GRID:
        raise InvalidInput(
            "org_unit",
            f"a member belongs to a micro_grid, and {code!r} is a {unit.level.value}",
            level=unit.level.value,
        )


async def register_member(
    conn: AsyncConnection,
    member_id: str,
    name: str,
    org_unit: str,
    party_member: bool,
    roles: tuple[Role, ...],
    now: datetime,
    phone: str | None = None,
) -> Member:
    check_phone(phone)
    await _check_home(conn, org_unit)
    if await find_member(conn, member_id) is not None:
        raise AlreadyExists(f"member {member_id!r} already exists", member_id=member_id, field="id")
    row = {
        "id": member_id,
        "name": name,
        "org_unit": org_unit,
        "phone": phone,
        "party_member": party_member,
        "roles": sorted({r.value for r in roles}),
        "active": True,
        "account_id": await open_account(conn, AccountKind.MEMBER, member_id),
        "created_at": now,
    }
    await open_account(conn, AccountKind.HELD, member_id)
    await conn.execute(insert(_members).values(**row))
    return _member(row)


async def change_member(
    conn: AsyncConnection, member_id: str, changes: MemberChanges, by: str, now: datetime
) -> Member:
    """Change a member's fields; a new ``org_unit`` is a move, recorded as one. On
    PostgreSQL the member's row is locked first, so that of two moves at once the second
    records that it moved the member from where the first left them."""
    query = select(_members).where(_members.c.id == member_id)
    row = (await conn.execute(query.with_for_update() if conn.dialect.name == "postgresql" else query)).first()
    if row is None:
        raise MemberNotFound(member_id, field="member_id")
    member = _member(row._mapping)
    fields = ("name", "party_member", "active")
    values: dict[str, Any] = {name: getattr(changes, name) for name in fields if getattr(changes, name) is not None}
    if changes.org_unit is not None and changes.org_unit != member.org_unit:
        await _move(conn, member, changes.org_unit, by, now)
    if changes.roles is not None:
        values["roles"] = sorted({r.value for r in changes.roles})
    if values:
        await conn.execute(update(_members).where(_members.c.id == member_id).values(**values))
    return await get_member(conn, member_id)


async def replace_with_pseudonym(conn: AsyncConnection, member_id: str) -> tuple[str, str | None]:
    """Erase the member's name and phone: the name becomes the member's pseudonym. The name
    and phone that were (copies of them elsewhere are scrubbed too)."""
    member = await get_member(conn, member_id, field="id")
    await conn.execute(update(_members).where(_members.c.id == member_id).values(name=pseudonym(member_id), phone=None))
    return member.name, member.phone


async def _move(conn: AsyncConnection, member: Member, to: str, by: str, now: datetime) -> None:
    await _check_home(conn, to)
    await conn.execute(update(_members).where(_members.c.id == member.id).values(org_unit=to))
    await conn.execute(
        insert(_moves).values(member_id=member.id, from_unit=member.org_unit, to_unit=to, moved_by=by, moved_at=now)
    )


async def member_moves(conn: AsyncConnection, member_id: str, limit: int, after: int | None) -> list[Move]:
    """A member's moves between micro-grids, oldest first, after the move ``after``."""
    await get_member(conn, member_id, field="member_id")
    return await moves(conn, _moves, _moves.c.member_id, member_id, limit, after)


MEMBER_PAGE_SIZE_MAX = 500
"""Members per page of a unit's list: a micro-grid's residents fit in one page, a
community's in a few, and a page of 500 short rows is well under a megabyte."""


async def list_members(conn: AsyncConnection, org_unit: str, limit: int, after: str | None) -> list[Member]:
    """Members of ``org_unit``'s subtree by id, active or not, after the id ``after``."""
    if not 1 <= limit <= MEMBER_PAGE_SIZE_MAX:
        raise InvalidInput("limit", f"limit must be between 1 and {MEMBER_PAGE_SIZE_MAX}")
    unit = await get_unit(conn, org_unit)
    query = (
        select(_members)
        .join(_units, _units.c.code == _members.c.org_unit)
        .where(in_subtree(_units.c.path, unit.path))
        .order_by(_members.c.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(_members.c.id > after)
    return [_member(row._mapping) for row in await conn.execute(query)]


MEMBER_SEARCH_SIZE_MAX = 50
"""Matches a search returns: a desk looks a person up among a screenful of names; a
broader search is refined by typing more, not by paging through a subtree."""


async def search_members(conn: AsyncConnection, org_unit: str, text: str, limit: int) -> list[Member]:
    """Members of ``org_unit``'s subtree whose id starts with ``text`` or whose name
    contains it; an exact id first, then by id."""
    if not 1 <= limit <= MEMBER_SEARCH_SIZE_MAX:
        raise InvalidInput("limit", f"limit must be between 1 and {MEMBER_SEARCH_SIZE_MAX}")
    text = text.strip()
    if not text:
        raise InvalidInput("q", "type part of a name or an id to search for")
    unit = await get_unit(conn, org_unit)
    query = (
        select(_members)
        .join(_units, _units.c.code == _members.c.org_unit)
        .where(
            in_subtree(_units.c.path, unit.path),
            _members.c.id.istartswith(text, autoescape=True) | _members.c.name.contains(text, autoescape=True),
        )
        .order_by((_members.c.id != text), _members.c.id)
        .limit(limit)
    )
    return [_member(row._mapping) for row in await conn.execute(query)]
