"""The points shop under real concurrency on PostgreSQL: several ledgers, each with its
own connection pool (as several service processes would have), racing on one database.
Stock is never oversold, a balance never goes below zero, and exactly one of fulfil,
cancel and expire settles each hold."""

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from ledger import AwardCommand, Category, Database, IdempotentRequest, InsufficientPoints, Ledger, Principal
from ledger.errors import OutOfStock, RedemptionNotHeld
from ledger.shop.rewards import RewardCommand
from tests.builders import ADMIN, COMMUNITY, MICRO, Clock, member, tree
from tests.conftest import MANY_CONNECTIONS, PROCESS_POOL_SIZE, PROCESSES

pytestmark = [pytest.mark.postgres_only, MANY_CONNECTIONS]


def _key(name: str) -> IdempotentRequest:
    return IdempotentRequest("admin", name, name)


async def _fund(ledger: Ledger, member_id: str, points: int) -> None:
    when = datetime.now(UTC) - timedelta(minutes=5)
    await ledger.award(
        ADMIN,
        AwardCommand(member_id, points, Category.PATROL, when, "巡查"),
        _key(f"fund-{member_id}"),
    )


async def _attempts(jobs):
    """Run the jobs at once; the results and the refusals, by type."""
    outcomes = await asyncio.gather(*jobs, return_exceptions=True)
    unexpected = [
        o
        for o in outcomes
        if isinstance(o, Exception) and not isinstance(o, InsufficientPoints | OutOfStock | RedemptionNotHeld)
    ]
    assert not unexpected, unexpected
    return [o for o in outcomes if not isinstance(o, Exception)], Counter(
        type(o).__name__ for o in outcomes if isinstance(o, Exception)
    )


async def _books(ledger: Ledger) -> None:
    report = await ledger.verify()
    assert report.ok, report.problems


async def test_fifty_holds_on_a_stock_of_ten_make_exactly_ten(ledger, ledgers):
    await tree(ledger)
    members = [await member(ledger, f"m-{i}", MICRO) for i in range(50)]
    for m in members:
        await _fund(ledger, m, 10)
    await ledger.create_reward(ADMIN, RewardCommand("r-油", COMMUNITY, "食用油", "goods", 10, stock=10))
    jobs = [ledgers[i % PROCESSES].redeem(ADMIN, "r-油", m, _key(f"hold-{m}")) for i, m in enumerate(members)]
    held, refused = await _attempts(jobs)
    assert (10, Counter({"OutOfStock": 40})) == (len(held), refused)
    stock = await ledger.reward("r-油")
    assert (10, 0, 0) == (stock.reserved, stock.sold, stock.available_stock)
    winners = {result.member_id for result, _ in held}
    for m in members:
        balance = await ledger.balance(ADMIN, m)
        assert ((0, 10) if m in winners else (10, 0)) == (balance.available_points, balance.held_points)
    await _books(ledger)


async def test_fifty_holds_by_a_member_whose_points_cover_three_make_exactly_three(ledger, ledgers):
    await tree(ledger)
    mid = await member(ledger)
    await _fund(ledger, mid, 30)
    await ledger.create_reward(ADMIN, RewardCommand("r-义剪", COMMUNITY, "义剪", "service", 10))
    await ledger.create_reward(ADMIN, RewardCommand("r-茶", COMMUNITY, "茶叶", "goods", 10, stock=100))
    # Two rewards: holds of one reward queue on its row, holds of both meet at the member's account.
    jobs = [ledgers[i % PROCESSES].redeem(ADMIN, ("r-义剪", "r-茶")[i % 2], mid, _key(f"h{i}")) for i in range(50)]
    held, refused = await _attempts(jobs)
    assert (3, Counter({"InsufficientPoints": 47})) == (len(held), refused)
    balance = await ledger.balance(ADMIN, mid)
    assert (0, 30, 30) == (balance.available_points, balance.held_points, balance.lifetime_earned_points)
    await _books(ledger)


async def test_fulfil_cancel_and_expiry_racing_settle_each_hold_exactly_once(database_url, ledger, ledgers):
    await tree(ledger)
    members = [await member(ledger, f"m-{i}", MICRO) for i in range(12)]
    for m in members:
        await _fund(ledger, m, 10)
    await ledger.create_reward(ADMIN, RewardCommand("r-皂", COMMUNITY, "肥皂", "goods", 10, stock=20))
    holds = [(await ledger.redeem(ADMIN, "r-皂", m, _key(f"hold-{m}")))[0].id for m in members]
    # A sweeper whose clock is past every hold's time races fulfils and cancels made in time.
    later = Clock(datetime.now(UTC) + timedelta(hours=100))
    sweepers = [Ledger(Database(database_url, pool_size=PROCESS_POOL_SIZE), clock=later) for _ in range(2)]
    try:
        jobs = []
        for i, rid in enumerate(holds):
            jobs.append(ledgers[i % PROCESSES].fulfil(Principal.admin("shop"), rid, _key(f"f{rid}")))
            jobs.append(ledgers[(i + 1) % PROCESSES].cancel(Principal.admin("shop"), rid, _key(f"c{rid}")))
        sweeps = [s.sweep() for s in sweepers]
        outcomes = await asyncio.gather(*jobs, *sweeps, return_exceptions=True)
    finally:
        for s in sweepers:
            await s.db.dispose()
    settled, refused = outcomes[: len(jobs)], outcomes[len(jobs) :]
    assert all(isinstance(o, tuple) or isinstance(o, RedemptionNotHeld) for o in settled), settled
    expired_by_sweep = sum(report.holds_expired for report in refused)
    won = Counter(o[0].state for o in settled if isinstance(o, tuple))
    assert len(holds) == won["fulfilled"] + won["cancelled"] + expired_by_sweep
    states = Counter([(await ledger.redemption(ADMIN, rid)).state for rid in holds])
    assert (won["fulfilled"], won["cancelled"], expired_by_sweep) == (
        states["fulfilled"],
        states["cancelled"],
        states["expired"],
    )
    stock = await ledger.reward("r-皂")
    assert (0, won["fulfilled"]) == (stock.reserved, stock.sold)
    await _books(ledger)


async def test_concurrent_sweeps_expire_each_lot_once(database_url, ledger):
    await tree(ledger)
    await ledger.load_expiry_policies(
        Principal.admin("test"), f"policies: [{{org_unit: {MICRO}, valid: months, months: 1}}]"
    )
    members = [await member(ledger, f"m-{i}", MICRO) for i in range(30)]
    for m in members:
        await _fund(ledger, m, 7)
    later = Clock(datetime.now(UTC) + timedelta(days=40))
    sweepers = [Ledger(Database(database_url, pool_size=PROCESS_POOL_SIZE), clock=later) for _ in range(3)]
    try:
        reports = await asyncio.gather(*(s.sweep() for s in sweepers))
    finally:
        for s in sweepers:
            await s.db.dispose()
    assert (30, 210) == (sum(r.lots_expired for r in reports), sum(r.points_expired for r in reports))
    for m in members:
        balance = await ledger.balance(ADMIN, m)
        assert (0, 7) == (balance.available_points, balance.lifetime_earned_points)
    await _books(ledger)
