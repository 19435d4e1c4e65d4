"""Data that a unit may override for its subtree (tier schemes, expiry policies), stored as
append-only versions: the key "" is the default, a unit's own version applies to its
subtree, and the nearest ancestor's wins."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Select, Table, func, insert, select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.errors import FileError
from ledger.storage import datafiles
from ledger.storage.datafiles import DataFile
from ledger.storage.tables import OrgUnit, table_of

DEFAULT_KEY = ""
T = TypeVar("T")

Latest = dict[str, tuple[int, dict[str, Any]]]
"""Per key ("" the default, else a unit's code), the newest version and its definition."""


@dataclass(frozen=True, slots=True)
class Loaded:
    """What a posting reads for the features it serves, in the statement that locks the
    chain head (one round trip less each on PostgreSQL): the latest versions of the
    tables its ``Journal`` names, and the paths of the units its drafts name."""

    latest: Mapping[str, Latest]
    """By table name."""
    paths: Mapping[str, str]


_units = table_of(OrgUnit)


@cache
def _latest_query(table: Table) -> Select[Any]:
    # Built once per table: every award batch reads the current tier schemes and expiry
    # policies, and building this join cost more than running it.
    newest = select(table.c.org_unit, func.max(table.c.version).label("v")).group_by(table.c.org_unit).subquery()
    return select(table.c.org_unit, table.c.version, table.c.definition).join(
        newest, (newest.c.org_unit == table.c.org_unit) & (newest.c.v == table.c.version)
    )


@cache
def latest_json_sql(dialect: Dialect, table: Table) -> str:
    """The newest version of each key as one JSON array of ``[key, version,
    definition]``, a scalar to put in a statement sent anyway."""
    latest = _latest_query(table).compile(dialect=dialect)
    if dialect.name == "postgresql":
        row = "json_agg(json_build_array(l.org_unit, l.version, l.definition))"
    else:
        row = "json_group_array(json_array(l.org_unit, l.version, json(l.definition)))"
    return f"(SELECT {row} FROM ({latest}) AS l)"


def latest_from_json(rows: list[list[Any]] | None) -> Latest:
    """``latest_json_sql``'s array (None when the table is empty) as ``latest`` answers."""
    return {key: (version, definition) for key, version, definition in rows or ()}


async def latest(conn: AsyncConnection, table: Table) -> Latest:
    """Per key, the newest version and its definition."""
    rows = await conn.execute(_latest_query(table))
    return {row.org_unit: (row.version, row.definition) for row in rows}


async def unknown_units(conn: AsyncConnection, file: DataFile) -> list[FileError]:
    """An error for each entry naming an org unit that does not exist."""
    named = [(i, code) for i, code in file.sound("org_unit") if code]
    codes = {code for _, code in named}
    known = {row[0] for row in await conn.execute(select(_units.c.code).where(_units.c.code.in_(codes)))}
    return [file.error(i, "org_unit", f"org unit {code!r} does not exist") for i, code in named if code not in known]


async def store(
    conn: AsyncConnection,
    table: Table,
    file: DataFile,
    same: Callable[[dict[str, Any], dict[str, Any]], bool],
    by: str,
    now: datetime,
) -> list[datafiles.Stored]:
    """Store a new version of each definition that differs (``same`` is false) from the
    current one, or refuse the file with every error it has, the units it names that do
    not exist among them. Returns the (key, version) stored."""
    definitions = datafiles.accept(file.plus(await unknown_units(conn, file)))
    current = await latest(conn, table)
    created = []
    for definition in definitions:
        key = definition.get("org_unit") or DEFAULT_KEY
        existing = current.get(key)
        if existing is not None and same(existing[1], definition):
            continue
        version = 1 if existing is None else existing[0] + 1
        await conn.execute(
            insert(table).values(org_unit=key, version=version, definition=definition, loaded_at=now, loaded_by=by)
        )
        created.append(datafiles.Stored(key, version))
    return created


def nearest(path: str, by_unit: Mapping[str, T]) -> T | None:
    """The nearest ancestor's entry (the unit's own first), else the default."""
    for code in reversed([c for c in path.split("/") if c]):
        if code in by_unit:
            return by_unit[code]
    return by_unit.get(DEFAULT_KEY)
