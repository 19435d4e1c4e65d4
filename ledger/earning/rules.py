"""Earning rules as data: how many points a piece of work earns, and how many at most.

A rules file (YAML or JSON) is validated against ``schemas/rules.schema.json`` and then
against what a schema cannot say (unique codes, dates in order); any error refuses the
whole file, every error listed with its path (``storage.datafiles``). Loading stores a
new version of each rule whose definition changed; versions are append-only, and every
transaction computed from a rule records its code and version.

A rule award is computed here, purely: points per unit × whole units of the quantity
(a diary pays per 500 characters), plus a bonus for an event handled within its time
limit, then held to the rule's caps per member per calendar day, ISO week and year in
the ledger's time zone — refused with the cap named, or clipped to the room left.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from importlib import resources
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.errors import (
    CapExceeded,
    FileError,
    InvalidInput,
    NotEligible,
    RuleInactive,
    RuleNotFound,
)
from ledger.storage import datafiles
from ledger.storage.bulk import OneOf
from ledger.storage.tables import RuleUsage, RuleVersion, table_of
from ledger.values import QUANTITY_MAX, Category

SCHEMA_PATH = datafiles.SCHEMAS / "rules.schema.json"
CAP_WINDOWS = ("day", "week", "year")


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    version: int
    definition: Mapping[str, Any]

    @property
    def category(self) -> Category:
        return Category(self.definition["category"])

    @property
    def caps(self) -> Mapping[str, int]:
        caps: Mapping[str, int] = self.definition.get("caps", {})
        return caps

    @property
    def roles(self) -> list[str]:
        return list(self.definition.get("roles", []))


def parse_rules_file(text: str) -> datafiles.DataFile:
    """The rules of a file with every error of the schema and of the checks below."""
    file = datafiles.parse(text, SCHEMA_PATH, "rules")
    return file.plus(_consistency_errors(file))


def _consistency_errors(file: datafiles.DataFile) -> Iterator[FileError]:
    for i, code in datafiles.repeats(file, "code"):
        yield file.error(i, "code", f"code {code!r} appears twice")
    for i, rule in file.valid():
        if "active_from" in rule and "active_to" in rule and rule["active_from"] > rule["active_to"]:
            yield file.error(i, "active_to", "active_to is before active_from")


def default_rules_text() -> str:
    return resources.files("ledger.data").joinpath("rules.default.yaml").read_text(encoding="utf-8")


_versions = table_of(RuleVersion)
_CURRENT = select(_versions.c.code, func.max(_versions.c.version).label("version")).group_by(_versions.c.code)


async def current_rules(conn: AsyncConnection, codes: Iterable[str] | None = None) -> dict[str, Rule]:
    """The newest version of each rule (of ``codes``, when given)."""
    latest = _CURRENT
    if codes is not None:
        latest = latest.where(_versions.c.code.in_(sorted(set(codes))))
    latest_sub = latest.subquery()
    rows = await conn.execute(
        select(_versions.c.code, _versions.c.version, _versions.c.definition).join(
            latest_sub, (latest_sub.c.code == _versions.c.code) & (latest_sub.c.version == _versions.c.version)
        )
    )
    return {row.code: Rule(row.code, row.version, row.definition) for row in rows}


async def get_rule(conn: AsyncConnection, code: str) -> Rule:
    rule = (await current_rules(conn, [code])).get(code)
    if rule is None:
        raise RuleNotFound(code)
    return rule


@dataclass(frozen=True, slots=True)
class LoadReport:
    created: list[datafiles.Stored]
    unchanged: list[str]


async def load_rules(conn: AsyncConnection, file: datafiles.DataFile, loaded_by: str, now: datetime) -> LoadReport:
    """Store a new version of every rule whose definition differs from its current one, or
    refuse the file with every error it has."""
    definitions = datafiles.accept(file)
    current = await current_rules(conn, [d["code"] for d in definitions])
    created, unchanged, rows = [], [], []
    for definition in definitions:
        existing = current.get(definition["code"])
        if existing is not None and dict(existing.definition) == definition:
            unchanged.append(definition["code"])
            continue
        version = 1 if existing is None else existing.version + 1
        rows.append(
            {
                "code": definition["code"],
                "version": version,
                "definition": definition,
                "loaded_at": now,
                "loaded_by": loaded_by,
            }
        )
        created.append(datafiles.Stored(definition["code"], version))
    if rows:
        await conn.execute(insert(_versions), rows)
    return LoadReport(created, unchanged)


def cap_windows(occurred_at: datetime, tz: tzinfo) -> dict[str, str]:
    """The calendar windows an instant falls in, in the ledger's time zone."""
    local = occurred_at.astimezone(tz).date()
    year, week, _ = local.isocalendar()
    return {"day": f"d:{local.isoformat()}", "week": f"w:{year}-W{week:02d}", "year": f"y:{local.year}"}


@dataclass(frozen=True, slots=True)
class WorkDone:
    """What a rule award says about the work: the quantity in the rule's unit, and the
    facts some rules ask for."""

    quantity: int
    steps: int | None = None
    handled_within_limit: bool = False


def check_quantity(rule: Rule, quantity: int, field: str = "quantity") -> None:
    """InvalidInput naming ``field`` unless the quantity lies within what the rule pays for
    at once (``quantity_max``: no one serves more than 12 hours in one activity)."""
    d = rule.definition
    if quantity < 1 or quantity > d.get("quantity_max", quantity):
        raise InvalidInput(
            field,
            f"quantity must be between 1 and {d.get('quantity_max', 'any')} {d['unit']}s",
            quantity_max=d.get("quantity_max", QUANTITY_MAX),
        )


def base_points(rule: Rule, work: WorkDone) -> int:
    """Points before caps; InvalidInput names what makes the work not count."""
    d = rule.definition
    check_quantity(rule, work.quantity)
    if "min_steps" in d:
        if work.steps is None:
            raise InvalidInput("steps", f"rule {rule.code!r} needs the patrol's step count")
        if work.steps < d["min_steps"]:
            raise InvalidInput("steps", f"a patrol counts from {d['min_steps']} steps; {work.steps} recorded")
    units: int = work.quantity // d.get("unit_size", 1)
    if units == 0:
        raise InvalidInput("quantity", f"less than one unit of {d.get('unit_size', 1)} {d['unit']}s")
    bonus: int = d.get("bonus_handled_within_limit", 0) if work.handled_within_limit else 0
    per_unit: int = d["points_per_unit"]
    return units * per_unit + bonus


def active_on(rule: Rule, day: date) -> bool:
    d, when = rule.definition, day.isoformat()
    active: bool = d.get("active_from", when) <= when <= d.get("active_to", when)
    return active


def rewards_roles(rule: Rule, member_roles: Iterable[str]) -> bool:
    """Whether the rule pays a member with these roles (a rule naming none pays everyone)."""
    return not rule.roles or bool(set(rule.roles) & set(member_roles))


def check_applies(rule: Rule, member_id: str, member_roles: Iterable[str], day: date) -> None:
    if not active_on(rule, day):
        raise RuleInactive(rule.code, day.isoformat())
    if not rewards_roles(rule, member_roles):
        raise NotEligible(member_id, rule.code, rule.roles)


def held_to_caps(rule: Rule, points: int, used: Mapping[str, int], clip: bool) -> int:
    """``points`` if every cap has room, else the room left when clipping, else CapExceeded
    naming the tightest cap. ``used`` maps each window kind to points already earned."""
    tightest = None
    for window in CAP_WINDOWS:
        cap = rule.caps.get(window)
        if cap is None:
            continue
        room = max(0, cap - used.get(window, 0))
        if tightest is None or room < tightest[1]:
            tightest = (window, room, cap)
    if tightest is None or points <= tightest[1]:
        return points
    window, room, cap = tightest
    if clip and room > 0:
        return room
    raise CapExceeded(rule.code, window, cap, used.get(window, 0), points)


_usage = table_of(RuleUsage)
_USAGE = select(_usage.c.account_id, _usage.c.rule_code, _usage.c.window, _usage.c.points).where(
    OneOf(_usage.c.account_id, "accounts"),
    OneOf(_usage.c.window, "windows"),
)


class Usage:
    """Points earned per (account, rule, window), loaded once for a batch and kept up to
    date in memory as the batch's own awards are computed."""

    def __init__(self, rows: dict[tuple[int, str, str], int]) -> None:
        self._rows = rows

    @classmethod
    async def load(cls, conn: AsyncConnection, accounts: set[int], windows: set[str]) -> Usage:
        if not accounts:
            return cls({})
        rows = await conn.execute(_USAGE, {"accounts": sorted(accounts), "windows": sorted(windows)})
        return cls({(r.account_id, r.rule_code, r.window): r.points for r in rows})

    def used(self, account_id: int, rule: str, windows: Mapping[str, str]) -> dict[str, int]:
        return {kind: self._rows.get((account_id, rule, key), 0) for kind, key in windows.items()}

    def add(self, account_id: int, rule: str, windows: Mapping[str, str], points: int) -> None:
        for key in windows.values():
            self._rows[(account_id, rule, key)] = self._rows.get((account_id, rule, key), 0) + points


@dataclass(frozen=True, slots=True)
class CapWindow:
    window: str
    """day, week or year"""
    cap_points: int
    used_points: int
    room_points: int


@dataclass(frozen=True, slots=True)
class CapRoom:
    """One rule's room left for a member now; ``room_points`` None when nothing caps it."""

    rule: str
    name_zh: str
    category: str
    eligible: bool
    active: bool
    caps: tuple[CapWindow, ...]
    room_points: int | None


async def cap_room(
    conn: AsyncConnection, account_id: int, roles: Iterable[str], at: datetime, tz: tzinfo
) -> list[CapRoom]:
    """Per current rule, how many more points it may pay this member in the windows that
    contain ``at``: each capped window's cap, the points already earned in it and the
    room left, and the room overall (the tightest window; None when nothing caps it).
    An organizer reads it before awarding, so a refusal for a full cap is no surprise."""
    rules = sorted((await current_rules(conn)).values(), key=lambda r: r.code)
    windows = cap_windows(at, tz)
    usage = await Usage.load(conn, {account_id}, set(windows.values()))
    day = at.astimezone(tz).date()
    rooms = []
    for rule in rules:
        used = usage.used(account_id, rule.code, windows)
        caps = tuple(
            CapWindow(kind, rule.caps[kind], used[kind], max(0, rule.caps[kind] - used[kind]))
            for kind in CAP_WINDOWS
            if kind in rule.caps
        )
        rooms.append(
            CapRoom(
                rule=rule.code,
                name_zh=rule.definition["name_zh"],
                category=rule.category.value,
                eligible=rewards_roles(rule, roles),
                active=active_on(rule, day),
                caps=caps,
                room_points=min((c.room_points for c in caps), default=None),
            )
        )
    return rooms
