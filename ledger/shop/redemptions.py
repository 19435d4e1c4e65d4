"""Redemptions: two-phase, as transactions of the ledger.

    hold ──fulfil──▶ fulfilled     points: held → the unit's redemption account; stock sold
      │
      ├──cancel───▶ cancelled      points: held → back to the member, into the lots they
      └──expire───▶ expired        came from; the reserved unit of stock is freed

A hold moves the cost from the member's available points to their held account (drawing
on the lots that expire soonest) and reserves one unit of stock, in one database
transaction. Exactly one of fulfil, cancel and expire settles a hold: each locks the
redemption row and finds it still held, or refuses. Locks are taken redemption → reward →
the member's accounts (``journal.post``), the same order everywhere, so nothing deadlocks.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.errors import (
    HoldExpired,
    InsufficientPoints,
    InvalidInput,
    LedgerError,
    MemberInactive,
    MemberNotFound,
    OrgUnitNotFound,
    OutOfStock,
    OverLimit,
    RedemptionNotFound,
    RedemptionNotHeld,
    RewardInactive,
    RewardNotFound,
    RewardNotOffered,
    TierTooLow,
)
from ledger.honours import tiers
from ledger.journal.idempotency import IdempotentRequest, Reply, once_many
from ledger.journal.periods import period_of
from ledger.journal.posting import Journal, lock_member_accounts, post
from ledger.org.members import Member, find_members, get_member
from ledger.org.units import Unit, find_units, get_unit, in_subtree
from ledger.shop import rewards
from ledger.storage.bulk import Row
from ledger.storage.tables import Account, AccountPeriod, OrgUnit, RedemptionLot, Reward, table_of
from ledger.storage.tables import Member as MemberRow
from ledger.storage.tables import Redemption as RedemptionRow
from ledger.values import PICKUP_CODE_LENGTH, AccountKind, Category, Posting, TxnDraft, TxnKind

HELD, FULFILLED, CANCELLED, EXPIRED = "held", "fulfilled", "cancelled", "expired"
STATES = (HELD, FULFILLED, CANCELLED, EXPIRED)
COUNTED_STATES = (HELD, FULFILLED)  # what a member's limit counts

HOLD_TTL_DEFAULT = timedelta(hours=72)
"""A hold waits three days for the member to collect at the shop (a weekend and a day)."""

RELEASE_BATCH = 200
"""Expired holds released per database transaction: large enough that a backlog clears
in a few transactions, small enough that the locks are held for milliseconds."""

REDEMPTION_PAGE_SIZE_MAX = 500
"""Redemptions per page: a shop's busiest day fits, and a response stays under ~200 KB."""

SYSTEM = "system"  # who expires a hold

PICKUP_ALPHABET = "ACEFHJKMNPQRTUVWXY3479"
"""Letters and digits a pickup code is drawn from: none that is read or written like
another (0/O/D, 1/I/L, 2/Z, 5/S, 6/G/b, 8/B), so a code read aloud or off a worn screen is
typed right the first time."""

PICKUP_CODE_ATTEMPTS = 8
"""Fresh codes drawn before giving up: with at most thousands of holds open among 113
million codes, eight collisions in a row do not happen; the unique index is the guard."""

_redemptions = table_of(RedemptionRow)
_allocations = table_of(RedemptionLot)
_rewards = table_of(Reward)
_accounts = table_of(Account)
_periods = table_of(AccountPeriod)
PICKUP_CODE_TYPED_LENGTH_MAX = 16
"""A pickup code as typed at the counter: its six characters with room for the spaces or
dash a person puts between them."""

_members = table_of(MemberRow)
_units = table_of(OrgUnit)


@dataclass(frozen=True, slots=True)
class HeldRedemption:
    """A hold as the counter sees it: who collects what, by when, and where."""

    id: int
    pickup_code: str | None
    reward_code: str
    reward_name: str
    member_id: str
    member_name: str
    cost_points: int
    held_at: datetime
    expires_at: datetime
    pickup_place: str | None
    pickup_hours: str | None


def normal_pickup_code(typed: str) -> str:
    """A code as typed at the counter (lower case, spaces, a dash) in the form it is stored."""
    return "".join(c for c in typed.upper() if c.isalnum())


def _pickup_code() -> str:
    return "".join(secrets.choice(PICKUP_ALPHABET) for _ in range(PICKUP_CODE_LENGTH))


async def _fresh_pickup_codes(conn: AsyncConnection, count: int) -> list[str]:
    """``count`` distinct codes no open hold has, drawn and checked together."""
    codes: list[str] = []
    for _ in range(PICKUP_CODE_ATTEMPTS):
        drawn = {_pickup_code() for _ in range(count - len(codes))} - set(codes)
        taken = select(_redemptions.c.pickup_code).where(
            _redemptions.c.pickup_code.in_(sorted(drawn)), _redemptions.c.state == HELD
        )
        codes += sorted(drawn - set((await conn.execute(taken)).scalars()))
        if len(codes) == count:
            return codes
    raise AssertionError(f"{PICKUP_CODE_ATTEMPTS} pickup codes in a row are held: the alphabet is too small")


async def held_account_id(conn: AsyncConnection, member_id: str) -> int:
    query = select(_accounts.c.id).where(_accounts.c.kind == AccountKind.HELD.value, _accounts.c.owner == member_id)
    return int((await conn.execute(query)).scalar_one())


@dataclass(frozen=True, slots=True)
class Redemption(Reply):
    """A redemption, also the stored answer to a retried hold, fulfil or cancel: then with
    the member's balances right after it (``available_points``, ``held_points``)."""

    id: int
    reward_code: str
    member_id: str
    org_unit: str
    cost_points: int
    state: str
    window: str
    """The reward's limit window the redemption counts against ("y:2026", "ever" …)."""
    held_at: datetime
    expires_at: datetime
    held_by: str
    hold_txn_id: int | None = None
    settled_at: datetime | None = None
    settled_by: str | None = None
    settle_txn_id: int | None = None
    available_points: int | None = None
    held_points: int | None = None
    pickup_code: str | None = None
    """None for a hold placed before holds had codes (and in answers stored before then)."""


def view(row: dict[str, Any], available_points: int | None = None, held_points: int | None = None) -> Redemption:
    values: dict[str, Any] = {name: row.get(name) for name in _redemptions.c.keys()}
    return Redemption(**values, available_points=available_points, held_points=held_points)


@dataclass(frozen=True, slots=True)
class HoldRequest:
    """One member's request to hold one unit of a reward, placed by ``by``."""

    reward_code: str
    member_id: str
    by: str
    idempotency: IdempotentRequest


HOLD_BATCH_MAX = 64
"""Holds per database transaction under group commit. A hold is a few hundred microseconds
of work, so a full batch commits in ~20 ms; a hot reward's row lock is then taken once per
batch instead of once per hold, and a batch's statements stay far below SQLite's 32,766
bound parameters."""


@dataclass
class _Shop:
    """What a batch of holds reads once, under the rewards' and members' row locks, and
    keeps up to date in memory as it admits each request in turn: the stock reserved, the
    holds each member's limit counts, the points each member has left."""

    rewards: dict[str, dict[str, Any]]
    members: dict[str, Member]
    homes: dict[str, Unit]
    held_ids: dict[str, int]  # member → their held account
    available: dict[int, int]  # member account → available points
    counted: dict[tuple[str, str, str], int]  # (member, reward, limit window) → holds counted
    windows: dict[str, str]  # reward with a limit → its limit window now
    schemes: dict[str, tiers.Scheme]  # loaded only when a reward asks for a tier
    earned: dict[int, int]  # member account → points earned this period, likewise


_LOCK_REWARDS = (
    select(_rewards).where(_rewards.c.code.in_(bindparam("codes", expanding=True))).order_by(_rewards.c.code)
)
_COUNTED = (
    select(_redemptions.c.member_id, _redemptions.c.reward_code, _redemptions.c.window, func.count())
    .where(
        _redemptions.c.member_id.in_(bindparam("members", expanding=True)),
        _redemptions.c.reward_code.in_(bindparam("rewards", expanding=True)),
        _redemptions.c.state.in_(COUNTED_STATES),
    )
    .group_by(_redemptions.c.member_id, _redemptions.c.reward_code, _redemptions.c.window)
)
_EARNED = select(_periods.c.account_id, _periods.c.earned).where(
    _periods.c.account_id.in_(bindparam("accounts", expanding=True)), _periods.c.period == bindparam("period")
)
_HOLDERS = (
    select(_members.c.id, _members.c.account_id, _accounts.c.id.label("held_id"))
    .join(_accounts, (_accounts.c.owner == _members.c.id) & (_accounts.c.kind == AccountKind.HELD.value))
    .where(_members.c.id.in_(bindparam("ids", expanding=True)))
)


async def _tiers_read(
    conn: AsyncConnection, members: dict[str, Member], period: str
) -> tuple[dict[str, tiers.Scheme], dict[int, int]]:
    schemes = await tiers.current_schemes(conn)
    params = {"accounts": sorted(m.account_id for m in members.values()), "period": period}
    return schemes, {account_id: earned for account_id, earned in await conn.execute(_EARNED, params)}


async def _open_shop(conn: AsyncConnection, requests: Sequence[HoldRequest], now: datetime, journal: Journal) -> _Shop:
    """Lock the batch's rewards (by code, so concurrent batches never deadlock), then its
    members' accounts, and read what the checks need: one statement each, whatever the
    batch's size."""
    query = _LOCK_REWARDS.with_for_update() if journal.for_update else _LOCK_REWARDS
    codes = sorted({r.reward_code for r in requests})
    found = {row.code: dict(row._mapping) for row in await conn.execute(query, {"codes": codes})}
    members = await find_members(conn, {r.member_id for r in requests})
    if not members:
        return _Shop(found, {}, {}, {}, {}, {}, {}, {}, {})
    homes = await find_units(conn, {m.org_unit for m in members.values()})
    held_ids = {row.id: row.held_id for row in await conn.execute(_HOLDERS, {"ids": sorted(members)})}
    accounts = {m.account_id for m in members.values()} | set(held_ids.values())
    available = await lock_member_accounts(conn, accounts, journal.for_update)
    windows = {
        c: rewards.limit_window(r["limit_period"], now, journal.tz) for c, r in found.items() if r["limit_count"]
    }
    counted: dict[tuple[str, str, str], int] = {}
    if windows:
        rows = await conn.execute(_COUNTED, {"members": sorted(members), "rewards": sorted(windows)})
        counted = {(member_id, code, window): n for member_id, code, window, n in rows}
    schemes: dict[str, tiers.Scheme] = {}
    earned: dict[int, int] = {}
    if any(r["min_tier"] for r in found.values()):
        schemes, earned = await _tiers_read(conn, members, period_of(now, journal.tz))
    return _Shop(found, members, homes, held_ids, available, counted, windows, schemes, earned)


def _check_tier(reward: dict[str, Any], member: Member, home: Unit, shop: _Shop) -> None:
    scheme = tiers.scheme_for(home.path, shop.schemes)
    earned = shop.earned.get(member.account_id, 0)
    needed = dict(scheme.tiers).get(reward["min_tier"]) if scheme else None
    if needed is None or earned < needed:
        tier = scheme.tier_of(earned) if scheme else None
        raise TierTooLow(reward["code"], reward["min_tier"], tier, earned, needed)


def _offer(request: HoldRequest, shop: _Shop, now: datetime) -> tuple[dict[str, Any], Member, Unit]:
    """The reward, the member and their home, if the reward is on offer to the member now."""
    reward = shop.rewards.get(request.reward_code)
    if reward is None:
        raise RewardNotFound(request.reward_code, field="reward")
    member = shop.members.get(request.member_id)
    if member is None:
        raise MemberNotFound(request.member_id)
    if not member.active:
        raise MemberInactive(member.id, "cannot redeem")
    if not rewards.is_active(reward, now):
        starts, ends = (reward[k].isoformat() if reward[k] else None for k in ("active_from", "active_until"))
        raise RewardInactive(reward["code"], starts, ends)
    home = shop.homes.get(member.org_unit)
    if home is None:
        raise OrgUnitNotFound(member.org_unit)
    if reward["org_unit"] not in home.ancestry:
        raise RewardNotOffered(reward["code"], reward["org_unit"], member.id)
    return reward, member, home


def _admit(request: HoldRequest, shop: _Shop, now: datetime, ttl: timedelta) -> dict[str, Any]:
    """The redemption row ``request`` adds, checked against the shop as the batch's earlier
    requests left it (and left as this one takes its share), or the refusal. The checks
    run in the order a lone hold made them: the first that fails is the answer."""
    reward, member, home = _offer(request, shop, now)
    code = reward["code"]
    if reward["stock"] is not None and reward["reserved"] + reward["sold"] >= reward["stock"]:
        raise OutOfStock(code, reward["stock"], reward["reserved"], reward["sold"])
    window = shop.windows.get(code, "")
    used = shop.counted.get((member.id, code, window), 0)
    if reward["limit_count"] and used >= reward["limit_count"]:
        raise OverLimit(code, reward["limit_count"], reward["limit_period"], used)
    if reward["min_tier"]:
        _check_tier(reward, member, home, shop)
    cost, available = reward["cost_points"], shop.available[member.account_id]
    if available < cost:
        raise InsufficientPoints(
            member.id,
            available,
            cost,
            detail=f"reward {code!r} costs {cost} points; member {member.id!r} has {available} available",
            reward=code,
            cost_points=cost,
        )
    reward["reserved"] += 1
    shop.counted[member.id, code, window] = used + 1
    shop.available[member.account_id] = available - cost
    return {
        "reward_code": code,
        "member_id": member.id,
        "org_unit": reward["org_unit"],
        "cost_points": cost,
        "state": HELD,
        "window": window,
        "held_at": now,
        "expires_at": now + ttl,
        "held_by": request.by,
    }


_SET_HOLD_TXN = (
    update(_redemptions).where(_redemptions.c.id == bindparam("b_id")).values(hold_txn_id=bindparam("b_txn"))
)
_RESERVE = (
    update(_rewards)
    .where(_rewards.c.code == bindparam("b_code"))
    .values(reserved=_rewards.c.reserved + bindparam("b_count"), updated_at=bindparam("b_at"))
)


async def _write_holds(
    conn: AsyncConnection, rows: list[dict[str, Any]], shop: _Shop, now: datetime, journal: Journal
) -> list[Redemption]:
    """Insert the admitted holds and post their transactions in one ``journal.post``; each
    hold's answer, with the member's balances just after it."""
    for row, code in zip(rows, await _fresh_pickup_codes(conn, len(rows)), strict=True):
        row["pickup_code"] = code
    inserted = await conn.execute(insert(_redemptions).returning(_redemptions.c.id, sort_by_parameter_order=True), rows)
    for row, redemption_id in zip(rows, inserted.scalars(), strict=True):
        row["id"] = redemption_id
    accounts = [(shop.members[row["member_id"]].account_id, shop.held_ids[row["member_id"]]) for row in rows]
    drafts = [
        _draft(
            TxnKind.HOLD,
            row,
            row["held_by"],
            now,
            journal.tz,
            (account, -row["cost_points"]),
            (held, row["cost_points"]),
        )
        for row, (account, held) in zip(rows, accounts, strict=True)
    ]
    posted = await post(conn, drafts, now, journal)
    drawn = [
        {"redemption_id": row["id"], "lot_id": lot, "points": n}
        for row, p in zip(rows, posted, strict=True)
        for lot, n in p.drawn
    ]
    await conn.execute(insert(_allocations), drawn)
    await conn.execute(_SET_HOLD_TXN, [{"b_id": row["id"], "b_txn": p.id} for row, p in zip(rows, posted, strict=True)])
    reserved: dict[str, int] = {}
    for row in rows:
        reserved[row["reward_code"]] = reserved.get(row["reward_code"], 0) + 1
    # In code order, as the rewards were locked.
    await conn.execute(_RESERVE, [{"b_code": c, "b_count": n, "b_at": now} for c, n in sorted(reserved.items())])
    return [
        view(row | {"hold_txn_id": p.id}, p.balance_after[account], p.balance_after[held])
        for row, p, (account, held) in zip(rows, posted, accounts, strict=True)
    ]


async def hold_many(
    conn: AsyncConnection, requests: Sequence[HoldRequest], now: datetime, ttl: timedelta, journal: Journal
) -> list[tuple[Redemption, bool] | LedgerError]:
    """Place holds, each exactly-once under its own key, in one database transaction. The
    rewards' row locks order concurrent batches, so the stock and limit counts read here
    stay true until this transaction commits; within the batch the requests are admitted
    one by one in arrival order, and a refused request refuses nothing else."""

    async def work(fresh: Sequence[int], _: Sequence[Row]) -> list[Redemption | LedgerError]:
        asked = [requests[i] for i in fresh]
        shop = await _open_shop(conn, asked, now, journal)
        admitted: list[dict[str, Any] | LedgerError] = []
        for request in asked:
            try:
                admitted.append(_admit(request, shop, now, ttl))
            except LedgerError as refused:
                admitted.append(refused)
        rows = [row for row in admitted if not isinstance(row, LedgerError)]
        answers = iter(await _write_holds(conn, rows, shop, now, journal) if rows else [])
        return [row if isinstance(row, LedgerError) else next(answers) for row in admitted]

    return await once_many(conn, [r.idempotency for r in requests], now, work, Redemption)


def _draft(
    kind: TxnKind,
    redemption: dict[str, Any],
    by: str,
    now: datetime,
    tz: tzinfo,
    debit: tuple[int, int],
    credit: tuple[int, int],
    refill: tuple[tuple[int, int], ...] = (),
) -> TxnDraft:
    """A redemption's transaction: spending is not service, so nothing is earned or lost."""
    return TxnDraft(
        kind=kind,
        category=Category.OTHER,
        member_id=redemption["member_id"],
        org_unit=redemption["org_unit"],
        occurred_at=now,
        recorded_by=by,
        memo=f"积分超市 {redemption['reward_code']}",
        postings=(Posting(*debit), Posting(*credit)),
        period=period_of(now, tz),
        extra={"redemption": redemption["id"], "reward": redemption["reward_code"]},
        refill=refill,
    )


async def _locked(conn: AsyncConnection, redemption_id: int, for_update: bool) -> dict[str, Any]:
    query = select(_redemptions).where(_redemptions.c.id == redemption_id)
    row = (await conn.execute(query.with_for_update() if for_update else query)).first()
    if row is None:
        raise RedemptionNotFound(redemption_id)
    if row.state != HELD:
        raise RedemptionNotHeld(redemption_id, row.state)
    return dict(row._mapping)


async def fulfil(conn: AsyncConnection, redemption_id: int, by: str, now: datetime, journal: Journal) -> Redemption:
    """Hand the reward over: the held points go to the unit's redemption account."""
    redemption = await _locked(conn, redemption_id, journal.for_update)
    if redemption["expires_at"] <= now:
        raise HoldExpired(redemption_id, redemption["expires_at"].isoformat())
    await conn.execute(
        update(_rewards)
        .where(_rewards.c.code == redemption["reward_code"])
        .values(reserved=_rewards.c.reserved - 1, sold=_rewards.c.sold + 1, updated_at=now)
    )
    held_id = await held_account_id(conn, redemption["member_id"])
    shop = (await get_unit(conn, redemption["org_unit"])).redemption_account_id
    cost = redemption["cost_points"]
    draft = _draft(TxnKind.FULFIL, redemption, by, now, journal.tz, (held_id, -cost), (shop, cost))
    [posted] = await post(conn, [draft], now, journal)
    settled = await _settle(conn, [redemption], FULFILLED, by, now, [posted.id])
    return view(settled[0], held_points=posted.balance_after[held_id])


async def cancel(conn: AsyncConnection, redemption_id: int, by: str, now: datetime, journal: Journal) -> Redemption:
    """Call a hold off (the member changed their mind, the shop cannot supply it)."""
    redemption = await _locked(conn, redemption_id, journal.for_update)
    [result] = await _release(conn, [redemption], CANCELLED, by, now, journal)
    return result


_EXPIRED_HOLDS = (
    select(_redemptions)
    .where(_redemptions.c.state == HELD, _redemptions.c.expires_at <= bindparam("now"))
    .order_by(_redemptions.c.id)
    .limit(RELEASE_BATCH)
)
# Concurrent sweeps take disjoint batches instead of queueing on each other's rows.
_LOCK_EXPIRED_HOLDS = _EXPIRED_HOLDS.with_for_update(skip_locked=True)


async def release_expired(conn: AsyncConnection, now: datetime, journal: Journal) -> int:
    """Release up to ``RELEASE_BATCH`` holds past their time; how many were released."""
    rows = await conn.execute(_LOCK_EXPIRED_HOLDS if journal.for_update else _EXPIRED_HOLDS, {"now": now})
    expired = [dict(row._mapping) for row in rows]
    if expired:
        await _release(conn, expired, EXPIRED, SYSTEM, now, journal)
    return len(expired)


_ALLOCATIONS = (
    select(_allocations.c.redemption_id, _allocations.c.lot_id, _allocations.c.points)
    .where(_allocations.c.redemption_id.in_(bindparam("ids", expanding=True)))
    .order_by(_allocations.c.redemption_id, _allocations.c.lot_id)
)


async def _release(
    conn: AsyncConnection,
    redemptions: Sequence[dict[str, Any]],
    state: str,
    by: str,
    now: datetime,
    journal: Journal,
) -> list[Redemption]:
    """Give locked holds back: points to the member's lots they came from, stock freed."""
    freed: dict[str, int] = {}
    for r in redemptions:
        freed[r["reward_code"]] = freed.get(r["reward_code"], 0) + 1
    for code, count in sorted(freed.items()):  # rewards in one order: concurrent releases never deadlock
        await conn.execute(
            update(_rewards).where(_rewards.c.code == code).values(reserved=_rewards.c.reserved - count, updated_at=now)
        )
    ids = [r["id"] for r in redemptions]
    holders = {
        row.id: row for row in await conn.execute(_HOLDERS, {"ids": sorted({r["member_id"] for r in redemptions})})
    }
    drawn: dict[int, list[tuple[int, int]]] = {i: [] for i in ids}
    for row in await conn.execute(_ALLOCATIONS, {"ids": ids}):
        drawn[row.redemption_id].append((row.lot_id, row.points))
    drafts = []
    for r in redemptions:
        holder, cost = holders[r["member_id"]], r["cost_points"]
        debit, credit = (holder.held_id, -cost), (holder.account_id, cost)
        drafts.append(_draft(TxnKind.RELEASE, r, by, now, journal.tz, debit, credit, tuple(drawn[r["id"]])))
    posted = await post(conn, drafts, now, journal)
    settled = await _settle(conn, redemptions, state, by, now, [p.id for p in posted])
    return [
        view(row, available_points=p.balance_after[holders[row["member_id"]].account_id])
        for row, p in zip(settled, posted, strict=True)
    ]


_SETTLE = (
    update(_redemptions)
    .where(_redemptions.c.id == bindparam("b_id"))
    .values(
        state=bindparam("b_state"),
        settled_at=bindparam("b_at"),
        settled_by=bindparam("b_by"),
        settle_txn_id=bindparam("b_txn"),
    )
)


async def _settle(
    conn: AsyncConnection,
    redemptions: Sequence[dict[str, Any]],
    state: str,
    by: str,
    now: datetime,
    txn_ids: Sequence[int],
) -> list[dict[str, Any]]:
    await conn.execute(
        _SETTLE,
        [
            {"b_id": r["id"], "b_state": state, "b_at": now, "b_by": by, "b_txn": txn_id}
            for r, txn_id in zip(redemptions, txn_ids, strict=True)
        ],
    )
    return [
        r | {"state": state, "settled_at": now, "settled_by": by, "settle_txn_id": txn_id}
        for r, txn_id in zip(redemptions, txn_ids, strict=True)
    ]


async def get_redemption(conn: AsyncConnection, redemption_id: int) -> Redemption:
    row = (await conn.execute(select(_redemptions).where(_redemptions.c.id == redemption_id))).first()
    if row is None:
        raise RedemptionNotFound(redemption_id)
    return view(dict(row._mapping))


async def listing(
    conn: AsyncConnection,
    *,
    member_id: str | None = None,
    reward_code: str | None = None,
    state: str | None = None,
    limit: int,
    before: int | None,
) -> list[Redemption]:
    """A member's or a reward's redemptions, newest first; ``before`` continues a page."""
    if not 1 <= limit <= REDEMPTION_PAGE_SIZE_MAX:
        raise InvalidInput("limit", f"limit must be between 1 and {REDEMPTION_PAGE_SIZE_MAX}")
    if state is not None and state not in STATES:
        raise InvalidInput("state", f"state is one of {', '.join(STATES)}")
    if member_id is not None:
        await get_member(conn, member_id, field="member_id")
        query = select(_redemptions).where(_redemptions.c.member_id == member_id)
    else:
        assert reward_code is not None
        await rewards.get_reward(conn, reward_code)
        query = select(_redemptions).where(_redemptions.c.reward_code == reward_code)
    if state is not None:
        query = query.where(_redemptions.c.state == state)
    if before is not None:
        query = query.where(_redemptions.c.id < before)
    rows = await conn.execute(query.order_by(_redemptions.c.id.desc()).limit(limit))
    return [view(dict(row._mapping)) for row in rows]


_COUNTER = (
    select(
        _redemptions.c.id,
        _redemptions.c.pickup_code,
        _redemptions.c.reward_code,
        _rewards.c.name_zh.label("reward_name"),
        _redemptions.c.member_id,
        _members.c.name.label("member_name"),
        _redemptions.c.cost_points,
        _redemptions.c.held_at,
        _redemptions.c.expires_at,
        _rewards.c.pickup_place,
        _rewards.c.pickup_hours,
    )
    .join(_rewards, _rewards.c.code == _redemptions.c.reward_code)
    .join(_members, _members.c.id == _redemptions.c.member_id)
    .join(_units, _units.c.code == _members.c.org_unit)
    .where(_redemptions.c.state == HELD)
    .order_by(_redemptions.c.expires_at, _redemptions.c.id)
)


async def held_at_counter(
    conn: AsyncConnection,
    org_unit: str,
    *,
    pickup_code: str | None = None,
    limit: int,
    after: tuple[datetime, int] | None = None,
) -> list[HeldRedemption]:
    """The holds of members who live in ``org_unit``'s subtree (the desk's scope, whichever
    unit's shop the reward is from), soonest to expire first: what the counter hands over
    next. ``pickup_code`` finds the one a member shows; ``after`` continues a page."""
    if not 1 <= limit <= REDEMPTION_PAGE_SIZE_MAX:
        raise InvalidInput("limit", f"limit must be between 1 and {REDEMPTION_PAGE_SIZE_MAX}")
    unit = await get_unit(conn, org_unit, field="org_unit")
    query = _COUNTER.where(in_subtree(_units.c.path, unit.path)).limit(limit)
    if pickup_code is not None:
        query = query.where(_redemptions.c.pickup_code == normal_pickup_code(pickup_code))
    if after is not None:
        expires_at, redemption_id = after
        query = query.where(
            (_redemptions.c.expires_at > expires_at)
            | ((_redemptions.c.expires_at == expires_at) & (_redemptions.c.id > redemption_id))
        )
    return [HeldRedemption(**row._mapping) for row in await conn.execute(query)]
