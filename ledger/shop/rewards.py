"""The points shop's catalog (积分超市): goods (物品) and services (服务项目) per org unit.

A unit's rewards are offered to the members of its subtree, so a member sees the rewards
of their micro-grid and of every unit above it. Stock is counted, never oversold:
``reserved`` (open holds) plus ``sold`` (handed over) never exceed ``stock``, which the
database checks as well. A reward is never deleted; it is closed by its active window.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import RowMapping, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.errors import AlreadyExists, InvalidInput, RewardNotFound
from ledger.honours import tiers
from ledger.org.units import Unit, get_unit
from ledger.storage.tables import Reward, table_of
from ledger.values import PICKUP_TEXT_LENGTH_MAX

GOODS, SERVICE = "goods", "service"
KINDS = (GOODS, SERVICE)
LIMIT_PERIODS = ("day", "week", "month", "year", "ever")

REWARD_COST_MAX = 100_000
"""Points one reward may cost: ten of the largest awards. Shops price a towel at 20 and a
year's top service at a few thousand; more is a typing slip."""

STOCK_MAX = 1_000_000
"""Units of one reward a shop can list: far above any community's store room."""

REDEMPTION_LIMIT_MAX = 1_000
"""Redemptions of one reward per member per period a limit may allow."""

REWARD_PAGE_SIZE_MAX = 500
"""Rewards per catalog page: a whole shop fits, and one response stays under ~250 KB."""

_rewards = table_of(Reward)


@dataclass(frozen=True, slots=True)
class RewardCommand:
    code: str
    org_unit: str
    name_zh: str
    kind: str
    cost_points: int
    name_en: str | None = None
    stock: int | None = None  # None: unlimited (a service anyone may book)
    limit_count: int | None = None
    limit_period: str | None = None
    active_from: datetime | None = None
    active_until: datetime | None = None
    min_tier: str | None = None
    pickup_place: str | None = None
    pickup_hours: str | None = None


CLEARABLE = ("name_en", "limit", "active_from", "active_until", "min_tier", "pickup_place", "pickup_hours")
"""Fields a change may empty (``clear``): "limit" is the count and its period together.
Stock is not among them: an empty stock is unlimited, which ``unlimited_stock`` says."""


@dataclass(frozen=True, slots=True)
class RewardChanges:
    """What a shop keeper changes after listing; None leaves a field as it is, ``clear``
    names the ones to empty. Stock may not fall below what is held and handed over;
    ``add_stock`` restocks by a count, so two keepers restocking at once both count."""

    name_zh: str | None = None
    name_en: str | None = None
    kind: str | None = None
    cost_points: int | None = None
    stock: int | None = None
    unlimited_stock: bool = False
    add_stock: int | None = None
    limit_count: int | None = None
    limit_period: str | None = None
    active_from: datetime | None = None
    active_until: datetime | None = None
    min_tier: str | None = None
    pickup_place: str | None = None
    pickup_hours: str | None = None
    clear: tuple[str, ...] = ()


def limit_window(period: str | None, moment: datetime, tz: tzinfo) -> str:
    """The key of the limit window ``moment`` falls in, in the community's time zone."""
    local = moment.astimezone(tz)
    if period == "day":
        return f"d:{local.date().isoformat()}"
    if period == "week":
        year, week, _ = local.isocalendar()
        return f"w:{year}-W{week:02d}"
    if period == "month":
        return f"m:{local.year}-{local.month:02d}"
    if period == "year":
        return f"y:{local.year}"
    return "ever"


def is_active(reward: RowMapping | Mapping[str, Any], now: datetime) -> bool:
    starts, ends = reward["active_from"], reward["active_until"]
    return (starts is None or starts <= now) and (ends is None or now < ends)


@dataclass(frozen=True, slots=True)
class RewardView:
    """A reward as the shop shows it: ``available_stock`` is what is still free to hold
    (None: unlimited), ``active`` whether it may be held now."""

    code: str
    org_unit: str
    name_zh: str
    name_en: str | None
    kind: str
    cost_points: int
    stock: int | None
    reserved: int
    sold: int
    available_stock: int | None
    limit_count: int | None
    limit_period: str | None
    active_from: datetime | None
    active_until: datetime | None
    active: bool
    min_tier: str | None
    pickup_place: str | None
    pickup_hours: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime


def view(row: RowMapping | Mapping[str, Any], now: datetime) -> RewardView:
    free = None if row["stock"] is None else row["stock"] - row["reserved"] - row["sold"]
    columns = {name: row[name] for name in _rewards.c.keys()}
    return RewardView(**columns, available_stock=free, active=is_active(row, now))


def _check_window(active_from: datetime | None, active_until: datetime | None) -> None:
    for name, value in (("active_from", active_from), ("active_until", active_until)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(name, f"{name} needs a time zone offset")
    if active_from is not None and active_until is not None and active_until <= active_from:
        raise InvalidInput("active_until", "active_until must be after active_from")


async def _check_tier(conn: AsyncConnection, unit: Unit, tier: str) -> None:
    scheme = tiers.scheme_for(unit.path, await tiers.current_schemes(conn))
    names = [name for name, _ in scheme.tiers] if scheme else []
    if tier not in names:
        raise InvalidInput(
            "min_tier", f"{tier!r} is not a tier of the scheme for {unit.code!r}", tiers=names, min_tier=tier
        )


def _check(reward: Mapping[str, Any]) -> None:
    """The rules a reward obeys, whether listed new or changed (then checked as merged)."""
    if reward["kind"] not in KINDS:
        raise InvalidInput("kind", f"kind is one of {', '.join(KINDS)}")
    if not 1 <= reward["cost_points"] <= REWARD_COST_MAX:
        raise InvalidInput("cost_points", f"cost_points must be between 1 and {REWARD_COST_MAX}")
    if (reward["limit_count"] is None) != (reward["limit_period"] is None):
        raise InvalidInput("limit_period", "a limit names both a count and a period")
    if reward["limit_count"] is not None and not 1 <= reward["limit_count"] <= REDEMPTION_LIMIT_MAX:
        raise InvalidInput("limit_count", f"limit_count must be between 1 and {REDEMPTION_LIMIT_MAX}")
    if reward["limit_period"] is not None and reward["limit_period"] not in LIMIT_PERIODS:
        raise InvalidInput("limit_period", f"limit_period is one of {', '.join(LIMIT_PERIODS)}")
    for name in ("pickup_place", "pickup_hours"):
        if reward[name] is not None and not 1 <= len(reward[name]) <= PICKUP_TEXT_LENGTH_MAX:
            raise InvalidInput(name, f"{name} has 1 to {PICKUP_TEXT_LENGTH_MAX} characters")
    _check_window(reward["active_from"], reward["active_until"])


async def create_reward(conn: AsyncConnection, command: RewardCommand, by: str, now: datetime) -> RewardView:
    if command.stock is not None and not 0 <= command.stock <= STOCK_MAX:
        raise InvalidInput("stock", f"stock must be between 0 and {STOCK_MAX}, or null for unlimited")
    _check(asdict(command))
    unit = await get_unit(conn, command.org_unit)
    if command.min_tier is not None:
        await _check_tier(conn, unit, command.min_tier)
    if (await conn.execute(select(_rewards.c.code).where(_rewards.c.code == command.code))).first():
        raise AlreadyExists(f"reward {command.code!r} already exists", reward=command.code, field="code")
    row = {f.name: getattr(command, f.name) for f in fields(command)} | {
        "reserved": 0,
        "sold": 0,
        "created_by": by,
        "created_at": now,
        "updated_at": now,
    }
    await conn.execute(insert(_rewards).values(**row))
    return view(row, now)


async def get_reward(conn: AsyncConnection, code: str, lock: bool = False, field: str = "code") -> dict[str, Any]:
    query = select(_rewards).where(_rewards.c.code == code)
    row = (await conn.execute(query.with_for_update() if lock else query)).first()
    if row is None:
        raise RewardNotFound(code, field=field)
    return dict(row._mapping)


def _changed_values(reward: Mapping[str, Any], changes: RewardChanges) -> dict[str, Any]:
    """The columns ``changes`` sets, stock as a new total, before any rule is checked."""
    unknown = sorted(set(changes.clear) - set(CLEARABLE))
    if unknown:
        raise InvalidInput("clear", f"clear names fields among {', '.join(CLEARABLE)}", unknown=unknown)
    given = {f.name: getattr(changes, f.name) for f in fields(changes) if f.name in _rewards.c.keys()}
    values = {name: value for name, value in given.items() if value is not None}
    for name in changes.clear:
        if name in values or (name == "limit" and ("limit_count" in values or "limit_period" in values)):
            raise InvalidInput(name, f"send {name} or clear it, not both")
        values |= {"limit_count": None, "limit_period": None} if name == "limit" else {name: None}
    ways = ("stock", "unlimited_stock", "add_stock")
    stock_ways = [way for way in ways if getattr(changes, way) not in (None, False)]
    if len(stock_ways) > 1:
        raise InvalidInput("stock", f"send one of stock, unlimited_stock and add_stock, not {' and '.join(stock_ways)}")
    if changes.unlimited_stock:
        values["stock"] = None
    if changes.add_stock is not None:
        if reward["stock"] is None:
            raise InvalidInput("add_stock", "the stock is unlimited: set a stock to count it")
        if not 1 <= changes.add_stock <= STOCK_MAX:
            raise InvalidInput("add_stock", f"add_stock must be between 1 and {STOCK_MAX}")
        values["stock"] = reward["stock"] + changes.add_stock
    return values


async def change_reward(
    conn: AsyncConnection, code: str, changes: RewardChanges, now: datetime, for_update: bool
) -> RewardView:
    """Change a listed reward; holds already placed keep the cost they were placed at. The
    row lock orders a restock after the holds in flight, so the counts it checks are true."""
    reward = await get_reward(conn, code, lock=for_update)
    values = _changed_values(reward, changes)
    committed = reward["reserved"] + reward["sold"]
    if values.get("stock") is not None and not committed <= values["stock"] <= STOCK_MAX:
        raise InvalidInput(
            "add_stock" if changes.add_stock is not None else "stock",
            f"stock must be between the {committed} held or handed over and {STOCK_MAX}",
            reserved=reward["reserved"],
            sold=reward["sold"],
        )
    merged = reward | values
    _check(merged)
    if values.get("min_tier") is not None:
        await _check_tier(conn, await get_unit(conn, reward["org_unit"]), values["min_tier"])
    if values:
        await conn.execute(update(_rewards).where(_rewards.c.code == code).values(**values, updated_at=now))
    return view(merged | {"updated_at": now if values else reward["updated_at"]}, now)


async def catalog(
    conn: AsyncConnection, org_unit: str | None, now: datetime, limit: int, after: str | None
) -> list[RewardView]:
    """Rewards by code: those offered to ``org_unit`` (its own and its ancestors'), or all."""
    if not 1 <= limit <= REWARD_PAGE_SIZE_MAX:
        raise InvalidInput("limit", f"limit must be between 1 and {REWARD_PAGE_SIZE_MAX}")
    query = select(_rewards).order_by(_rewards.c.code).limit(limit)
    if org_unit is not None:
        unit = await get_unit(conn, org_unit)
        query = query.where(_rewards.c.org_unit.in_(unit.ancestry))
    if after is not None:
        query = query.where(_rewards.c.code > after)
    return [view(dict(row._mapping), now) for row in await conn.execute(query)]


async def reward_names(conn: AsyncConnection, codes: Iterable[str]) -> dict[str, str]:
    """The Chinese names of the rewards of ``codes`` that exist, by code (a statement's lines)."""
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    rows = await conn.execute(select(_rewards.c.code, _rewards.c.name_zh).where(_rewards.c.code.in_(wanted)))
    return {code: name for code, name in rows}
