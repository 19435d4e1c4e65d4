"""The org tree: 街道 street → 社区 community → 大网格 grid → 微网格 micro-grid.

Each unit stores its materialized path ("/street/community/grid/micro/") so that a
subtree — an organizer's scope, a roll-up, an export — is one indexed prefix match.
Registering a unit opens its two accounts: issuance (where its awards come from) and
redemption (where points spent at its shop go).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.errors import AlreadyExists, InvalidInput, OrgUnitNotFound
from ledger.journal.accounts import open_account
from ledger.storage.bulk import OneOf
from ledger.storage.tables import OrgUnit
from ledger.values import AccountKind, Level, parent_level

PATH_SEPARATOR = "/"


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


_units = OrgUnit.__table__


def _unit(row: Mapping[str, Any]) -> Unit:
    return Unit(**{**{name: row[name] for name in Unit.__slots__}, "level": Level(row["level"])})


async def find_unit(conn: AsyncConnection, code: str) -> Unit | None:
    row = (await conn.execute(select(_units).where(_units.c.code == code))).first()
    return None if row is None else _unit(row._mapping)


_FIND_UNITS = select(_units).where(OneOf(_units.c.code, "codes"))


async def find_units(conn: AsyncConnection, codes: Iterable[str]) -> dict[str, Unit]:
    rows = await conn.execute(_FIND_UNITS, {"codes": list(set(codes))})
    return {row.code: _unit(row._mapping) for row in rows}


async def offices(conn: AsyncConnection, limit: int) -> list[Unit]:
    """The street offices and communities, in tree order: where an admin's desk picks a unit."""
    query = (
        select(_units)
        .where(_units.c.level.in_([Level.STREET.value, Level.COMMUNITY.value]))
        .order_by(_units.c.path)
        .limit(limit)
    )
    return [_unit(row._mapping) for row in await conn.execute(query)]


async def get_unit(conn: AsyncConnection, code: str, field: str = "org_unit") -> Unit:
    unit = await find_unit(conn, code)
    if unit is None:
        raise OrgUnitNotFound(code, field=field)
    return unit


async def register_unit(
    conn: AsyncConnection, code: str, name: str, level: Level, parent_code: str | None, now: datetime
) -> Unit:
    expected_parent = parent_level(level)
    if expected_parent is None and parent_code is not None:
        raise InvalidInput("parent", "a street office is the top of the tree and has no parent")
    if expected_parent is not None and parent_code is None:
        raise InvalidInput("parent", f"a {level.value} needs a parent {expected_parent.value}")
    parent_path = PATH_SEPARATOR
    if parent_code is not None:
        parent = await get_unit(conn, parent_code, field="parent")
        if parent.level is not expected_parent:
            raise InvalidInput(
                "parent",
                f"the parent of a {level.value} must be a {expected_parent.value}, not a {parent.level.value}",
                parent_level=parent.level.value,
            )
        parent_path = parent.path
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
    return _unit(row)
