"""The org tree: 街道 street → 社区 community → 大网格 grid → 微网格 micro-grid.

Each unit stores its materialized path ("/street/community/grid/micro/") so that a
subtree — an organizer's scope, a roll-up, an export — is one indexed prefix match.
Registering a unit opens its two accounts: issuance (where its awards come from) and
redemption (where points spent at its shop go).

A unit moves under another parent of the level above its own, taking its subtree along:
one UPDATE rewrites the paths that start with the old one. Levels make a cycle impossible
(a parent is a level above the unit, so never inside its subtree), and each move is kept
in the append-only ``unit_move``: who moved it, from which parent to which, and when.

A path is copied from the parent's when a unit is registered or moved, so on PostgreSQL
these writes take one lock for the tree first (``_lock_tree``): a unit registered under a
grid whose community is moving, or two moves in one line, would otherwise compute a path
from one that another transaction is rewriting. SQLite's single writer already excludes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, RowMapping, String, Table, and_, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.errors import AlreadyExists, InvalidInput, OrgUnitNotFound
from ledger.journal.accounts import open_account
from ledger.storage.bulk import OneOf
from ledger.storage.tables import Member, OrgUnit, UnitMove, table_of
from ledger.values import AccountKind, Level, parent_level

PATH_SEPARATOR = "/"

TREE_LOCK_KEY = 0x6F72675F74726565
"""The PostgreSQL advisory lock (ASCII "org_tree") that registrations and moves of units
hold until they commit: tree changes are rare office work, so one lock costs nothing."""


def in_subtree(path: ColumnElement[str], root_path: str) -> ColumnElement[bool]:
    """SQL: the units whose ``path`` lies at or below ``root_path``. The prefix LIKE is
    what an index can serve, but SQLite's LIKE ignores ASCII case ("/c-A/" would take in
    "/c-a/…"), so the prefix itself, compared exactly, decides."""
    return and_(path.startswith(root_path, autoescape=True), func.substr(path, 1, len(root_path)) == root_path)


@dataclass(frozen=True, slots=True)
class Unit:
    code: str
    name: str
    level: Level
    parent_code: str | None
    path: str
    issuance_account_id: int
    redemption_account_id: int
    created_at: datetime

    @property
    def ancestry(self) -> list[str]:
        """Codes from the street down to this unit."""
        return [c for c in self.path.split(PATH_SEPARATOR) if c]


_units = table_of(OrgUnit)
_members = table_of(Member)
_moves = table_of(UnitMove)

UNIT_PAGE_SIZE_MAX = 500
"""Units per page of a subtree: a community's whole tree (a few dozen grids and
micro-grids) fits in one page, and a street office of many communities in a few."""

MOVE_PAGE_SIZE_MAX = 500
"""Moves per page of a member's or unit's history: a person moves a few times in a lifetime."""
MOVE_PAGE_SIZE_DEFAULT = 50


@dataclass(frozen=True, slots=True)
class UnitCount:
    """A unit with its active members: those whose micro-grid it is, and its subtree's."""

    unit: Unit
    members_direct: int
    members_total: int


@dataclass(frozen=True, slots=True)
class UnitChanges:
    """Fields a PATCH may change; None leaves a field as it is."""

    name: str | None = None
    parent: str | None = None


@dataclass(frozen=True, slots=True)
class Move:
    """A recorded move: a member's from one micro-grid to another, or a unit's from one
    parent to another."""

    id: int
    subject: str
    from_unit: str
    to_unit: str
    moved_by: str
    moved_at: datetime


def unit_from_row(row: RowMapping | Mapping[str, Any]) -> Unit:
    return Unit(**{**{name: row[name] for name in Unit.__slots__}, "level": Level(row["level"])})


async def find_unit(conn: AsyncConnection, code: str) -> Unit | None:
    row = (await conn.execute(select(_units).where(_units.c.code == code))).first()
    return None if row is None else unit_from_row(row._mapping)


_FIND_UNITS = select(_units).where(OneOf(_units.c.code, "codes"))


async def find_units(conn: AsyncConnection, codes: Iterable[str]) -> dict[str, Unit]:
    rows = await conn.execute(_FIND_UNITS, {"codes": list(set(codes))})
    return {row.code: unit_from_row(row._mapping) for row in rows}


async def offices(conn: AsyncConnection, limit: int) -> list[Unit]:
    """The street offices and communities, in tree order: where an admin's desk picks a unit."""
    query = (
        select(_units)
        .where(_units.c.level.in_([Level.STREET.value, Level.COMMUNITY.value]))
        .order_by(_units.c.path)
        .limit(limit)
    )
    return [unit_from_row(row._mapping) for row in await conn.execute(query)]


async def get_unit(conn: AsyncConnection, code: str, field: str = "org_unit") -> Unit:
    unit = await find_unit(conn, code)
    if unit is None:
        raise OrgUnitNotFound(code, field=field)
    return unit


async def _parent(conn: AsyncConnection, level: Level, parent_code: str | None) -> Unit | None:
    """The parent a unit of ``level`` may have under ``parent_code``, or a refusal."""
    expected_parent = parent_level(level)
    if expected_parent is None and parent_code is not None:
        raise InvalidInput("parent", "a street office is the top of the tree and has no parent")
    if expected_parent is not None and parent_code is None:
        raise InvalidInput("parent", f"a {level.value} needs a parent {expected_parent.value}")
    if parent_code is None:
        return None
    parent = await get_unit(conn, parent_code, field="parent")
    if parent.level is not expected_parent:
        assert expected_parent is not None  # a unit with a parent code is below the street
        raise InvalidInput(
            "parent",
            f"the parent of a {level.value} must be a {expected_parent.value}, not a {parent.level.value}",
            parent_level=parent.level.value,
        )
    return parent


async def _lock_tree(conn: AsyncConnection) -> None:
    if conn.dialect.name == "postgresql":
        await conn.execute(select(func.pg_advisory_xact_lock(TREE_LOCK_KEY)))


async def register_unit(
    conn: AsyncConnection, code: str, name: str, level: Level, parent_code: str | None, now: datetime
) -> Unit:
    await _lock_tree(conn)
    parent = await _parent(conn, level, parent_code)
    parent_path = PATH_SEPARATOR if parent is None else parent.path
    if await find_unit(conn, code) is not None:
        raise AlreadyExists(f"org unit {code!r} already exists", org_unit=code, field="code")
    row = {
        "code": code,
        "name": name,
        "level": level.value,
        "parent_code": parent_code,
        "path": f"{parent_path}{code}{PATH_SEPARATOR}",
        "issuance_account_id": await open_account(conn, AccountKind.ISSUANCE, code),
        "redemption_account_id": await open_account(conn, AccountKind.REDEMPTION, code),
        "created_at": now,
    }
    await conn.execute(insert(_units).values(**row))
    return unit_from_row(row)


async def change_unit(conn: AsyncConnection, code: str, changes: UnitChanges, by: str, now: datetime) -> Unit:
    """Rename a unit, move it under another parent, or both."""
    await _lock_tree(conn)
    unit = await get_unit(conn, code, field="code")
    if changes.name is not None and changes.name != unit.name:
        await conn.execute(update(_units).where(_units.c.code == code).values(name=changes.name))
    if changes.parent is not None and changes.parent != unit.parent_code:
        await _move(conn, unit, changes.parent, by, now)
    return await get_unit(conn, code, field="code")


async def _move(conn: AsyncConnection, unit: Unit, parent_code: str, by: str, now: datetime) -> None:
    parent = await _parent(conn, unit.level, parent_code)
    assert parent is not None and unit.parent_code is not None, "only a street has no parent, and none to move to"
    assert not parent.path.startswith(unit.path), "a parent is a level above the unit, never inside its subtree"
    new_path = f"{parent.path}{unit.code}{PATH_SEPARATOR}"
    # The subtree's paths keep what follows the unit's own prefix.
    moved_path = literal(new_path, String) + func.substr(_units.c.path, len(unit.path) + 1, type_=String)
    await conn.execute(update(_units).where(in_subtree(_units.c.path, unit.path)).values(path=moved_path))
    await conn.execute(update(_units).where(_units.c.code == unit.code).values(parent_code=parent.code))
    await conn.execute(
        insert(_moves).values(
            org_unit=unit.code, from_unit=unit.parent_code, to_unit=parent.code, moved_by=by, moved_at=now
        )
    )


async def unit_moves(conn: AsyncConnection, code: str, limit: int, after: int | None) -> list[Move]:
    """A unit's moves, oldest first, after the move ``after``."""
    await get_unit(conn, code, field="code")
    return await moves(conn, _moves, _moves.c.org_unit, code, limit, after)


async def moves(
    conn: AsyncConnection, table: Table, subject: ColumnElement[str], key: str, limit: int, after: int | None
) -> list[Move]:
    """The moves of ``table`` (member or unit moves) whose ``subject`` is ``key``, by id."""
    if not 1 <= limit <= MOVE_PAGE_SIZE_MAX:
        raise InvalidInput("limit", f"limit must be between 1 and {MOVE_PAGE_SIZE_MAX}")
    query = select(table, subject.label("subject")).where(subject == key).order_by(table.c.id).limit(limit)
    if after is not None:
        query = query.where(table.c.id > after)
    return [
        Move(row.id, row.subject, row.from_unit, row.to_unit, row.moved_by, row.moved_at)
        for row in await conn.execute(query)
    ]


async def list_units(conn: AsyncConnection, under: str | None, limit: int, after: str | None) -> list[UnitCount]:
    """The units of ``under``'s subtree (the whole tree when None) in path order, each with
    its active members, after the unit ``after``."""
    if not 1 <= limit <= UNIT_PAGE_SIZE_MAX:
        raise InvalidInput("limit", f"limit must be between 1 and {UNIT_PAGE_SIZE_MAX}")
    root_path = PATH_SEPARATOR if under is None else (await get_unit(conn, under, field="under")).path
    query = select(_units).where(in_subtree(_units.c.path, root_path)).order_by(_units.c.path).limit(limit)
    if after is not None:
        query = query.where(_units.c.path > (await get_unit(conn, after, field="cursor")).path)
    page = [unit_from_row(row._mapping) for row in await conn.execute(query)]
    direct: dict[str, int] = {}
    total: dict[str, int] = {}
    # One grouped count over the subtree, added up the tree here: a street office's members
    # are counted per micro-grid once, not once per unit on the page.
    counted = await conn.execute(
        select(_units.c.path, func.count())
        .join(_members, _members.c.org_unit == _units.c.code)
        .where(in_subtree(_units.c.path, root_path), _members.c.active)
        .group_by(_units.c.path)
    )
    for path, count in counted:
        codes = [c for c in path.split(PATH_SEPARATOR) if c]
        direct[codes[-1]] = count
        for code in codes:
            total[code] = total.get(code, 0) + count
    return [UnitCount(u, direct.get(u.code, 0), total.get(u.code, 0)) for u in page]
