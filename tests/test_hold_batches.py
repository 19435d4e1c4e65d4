"""Redemption holds under group commit: concurrent holds share database transactions, and
each request still gets its own answer — its hold, its replay, or its own refusal — in
arrival order, with the stock exact and the books intact."""

import asyncio
from datetime import UTC, datetime, timedelta

from ledger import AwardCommand, Category, IdempotentRequest, Ledger
from ledger.errors import IdempotencyKeyReused, InsufficientPoints, OutOfStock, RewardNotFound
from ledger.shop import redemptions
from ledger.shop.rewards import RewardCommand
from tests.builders import ADMIN, COMMUNITY, member, tree

HOT, TEA = "r-洗衣液", "r-茶"
STOCK = 5
SHOPPERS = 12  # more than the stock: the last seven are refused


def _key(name: str, body: str = "") -> IdempotentRequest:
    return IdempotentRequest("admin", name, body or name)


async def _fund(ledger: Ledger, member_id: str, points: int) -> None:
    when = datetime.now(UTC) - timedelta(minutes=5)
    command = AwardCommand(member_id, points, Category.PATROL, when, "巡查")
    await ledger.award(ADMIN, command, _key(f"fund-{member_id}"))


async def _shop(ledger: Ledger) -> list[str]:
    """Twelve shoppers with 10 points each, a poor one with 5, a member who already holds
    tea, a hot reward of cost 10 and stock 5, and tea aplenty."""
    await tree(ledger)
    shoppers = [await member(ledger, f"m-{i:02d}") for i in range(1, SHOPPERS + 1)]
    for m in [*shoppers, await member(ledger, "m-tea")]:
        await _fund(ledger, m, 10)
    await _fund(ledger, await member(ledger, "m-poor"), 5)
    await ledger.create_reward(ADMIN, RewardCommand(HOT, COMMUNITY, "洗衣液", "goods", 10, stock=STOCK))
    await ledger.create_reward(ADMIN, RewardCommand(TEA, COMMUNITY, "茶叶", "goods", 10))
    return shoppers


def _batch_sizes(monkeypatch) -> list[int]:
    """The size of every batch of holds the ledger writes."""
    sizes: list[int] = []
    hold_many = redemptions.hold_many

    async def counted(conn, requests, *args):
        sizes.append(len(requests))
        return await hold_many(conn, requests, *args)

    monkeypatch.setattr(redemptions, "hold_many", counted)
    return sizes


async def test_holds_beyond_the_stock_are_refused_in_arrival_order_each_with_its_own_answer(ledger, monkeypatch):
    shoppers = await _shop(ledger)
    tea, _ = await ledger.redeem(ADMIN, TEA, "m-tea", _key("tea"))
    sizes = _batch_sizes(monkeypatch)
    jobs = [
        ledger.redeem(ADMIN, "r-无", shoppers[0], _key("unknown")),
        ledger.redeem(ADMIN, HOT, "m-poor", _key("poor")),
        *(ledger.redeem(ADMIN, HOT, m, _key(f"hold-{m}")) for m in shoppers),
        ledger.redeem(ADMIN, HOT, shoppers[0], _key(f"hold-{shoppers[0]}")),  # its retry, in the same batch
        ledger.redeem(ADMIN, TEA, "m-tea", _key("tea")),  # a retry of the hold placed before
        ledger.redeem(ADMIN, HOT, "m-tea", _key("tea", "another body")),
    ]
    unknown, poor, *holds, retry, replay, reused = await asyncio.gather(*jobs, return_exceptions=True)

    assert max(sizes) > 1, sizes  # the holds did share database transactions
    assert (RewardNotFound, "reward") == (type(unknown), unknown.fields()["field"])
    short = poor.fields()
    assert (InsufficientPoints, 5, 10) == (type(poor), short["available_points"], short["needed_points"])
    held, refused = holds[:STOCK], holds[STOCK:]
    assert shoppers[:STOCK] == [result.member_id for result, replayed in held if not replayed]
    assert [OutOfStock] * (SHOPPERS - STOCK) == [type(r) for r in refused]
    assert len({result.id for result, _ in held}) == STOCK
    assert all((0, 10) == (r.available_points, r.held_points) for r, _ in held)
    assert (held[0][0], True) == retry
    assert (tea, True) == replay
    assert isinstance(reused, IdempotencyKeyReused)
    stock = await ledger.reward(HOT)
    assert (STOCK, 0) == (stock.reserved, stock.available_stock)
    for m in shoppers:
        balance = await ledger.balance(ADMIN, m)
        assert ((0, 10) if m in shoppers[:STOCK] else (10, 0)) == (balance.available_points, balance.held_points)
    report = await ledger.verify()
    assert report.ok, report.problems


async def test_a_refused_hold_leaves_its_key_free_so_a_retry_is_decided_afresh(ledger):
    shoppers = await _shop(ledger)
    jobs = [ledger.redeem(ADMIN, HOT, m, _key(f"hold-{m}")) for m in shoppers]
    outcomes = await asyncio.gather(*jobs, return_exceptions=True)
    first, late = outcomes[0], shoppers[STOCK]
    assert isinstance(outcomes[STOCK], OutOfStock)
    await ledger.cancel(ADMIN, first[0].id, _key("cancel"))
    result, replayed = await ledger.redeem(ADMIN, HOT, late, _key(f"hold-{late}"))
    assert (late, False) == (result.member_id, replayed)
    assert STOCK == (await ledger.reward(HOT)).reserved
