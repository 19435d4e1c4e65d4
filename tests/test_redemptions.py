"""Redemptions at the points shop: hold → fulfil or cancel or expire, every refusal a
clear 409 that changes nothing, replays, listings, and the books after each step."""

import asyncio
from datetime import datetime, timedelta

import pytest

from api import routes
from api.app import sweep_every
from tests.builders import (
    ADMIN,
    COMMUNITY,
    GRID,
    MICRO,
    NOTHING_SWEPT,
    OTHER_MICRO,
    assert_problem,
    award,
    member,
    post,
    redeem,
    reward,
    reward_body,
    tiers,
    tree,
)

pytestmark = pytest.mark.clocked


def _pick(body, *names):
    return tuple(body[name] for name in names)


async def _balance(client, member_id):
    return (await client.get(routes.api(routes.MEMBER_BALANCE, member_id=member_id))).json()


async def _reward(client, code="r-毛巾"):
    return (await client.get(routes.api(routes.REWARD, code=code))).json()


async def _books(client, ledger):
    """Everything a refused request must leave as it was, and the ledger intact."""
    report = await ledger.verify()
    assert report.ok, report.problems
    return report.transactions


async def _setup(client, ledger, points=50, **reward_fields):
    await tree(ledger)
    mid = await member(ledger)
    await award(client, mid, points)
    await reward(client, **reward_fields)
    return mid


async def test_a_hold_moves_points_to_held_and_reserves_stock_then_fulfil_spends_them(client, ledger):
    mid = await _setup(client, ledger, 50, cost=20)
    held = await redeem(client, mid)
    assert 201 == held.status_code, held.text
    hold = held.json()
    assert ("held", 30, 20, 20) == (hold["state"], hold["available_points"], hold["held_points"], hold["cost_points"])
    assert hold["expires_at"] > hold["held_at"]
    balance = await _balance(client, mid)
    assert (30, 20, 50) == (balance["available_points"], balance["held_points"], balance["lifetime_earned_points"])
    stock = await _reward(client)
    assert (1, 0, 9) == (stock["reserved"], stock["sold"], stock["available_stock"])

    done = (await post(client, routes.api(routes.REDEMPTION_FULFIL, redemption_id=hold["id"]))).json()
    assert ("fulfilled", 0) == (done["state"], done["held_points"])
    balance = await _balance(client, mid)
    assert (30, 0, 50) == (balance["available_points"], balance["held_points"], balance["lifetime_earned_points"])
    stock = await _reward(client)
    assert (0, 1, 9) == (stock["reserved"], stock["sold"], stock["available_stock"])
    spent = (await client.get(routes.api(routes.TRANSACTION, transaction_id=done["settle_txn_id"]))).json()
    assert "fulfil" == spent["kind"] and 0 == spent["earned_points"]
    assert {("held", mid, -20), ("redemption", COMMUNITY, 20)} == {
        (p["account_kind"], p["account_owner"], p["points"]) for p in spent["postings"]
    }
    kinds = [
        line["kind"] for line in (await client.get(routes.api(routes.MEMBER_STATEMENT, member_id=mid))).json()["lines"]
    ]
    assert ["hold", "award"] == kinds  # the member's own account sees the hold; fulfil moves held points
    await _books(client, ledger)


async def test_cancel_gives_points_and_stock_back_and_settles_once(client, ledger):
    mid = await _setup(client, ledger, 50, cost=20)
    hold = (await redeem(client, mid)).json()
    cancelled = (await post(client, routes.api(routes.REDEMPTION_CANCEL, redemption_id=hold["id"]))).json()
    assert ("cancelled", 50) == (cancelled["state"], cancelled["available_points"])
    assert (50, 0) == _pick(await _balance(client, mid), *("available_points", "held_points"))
    assert (0, 0, 10) == _pick(await _reward(client), *("reserved", "sold", "available_stock"))
    for action in (routes.REDEMPTION_CANCEL, routes.REDEMPTION_FULFIL):
        body = assert_problem(
            await post(client, routes.api(action, redemption_id=hold["id"])), 409, "redemption_not_held"
        )
        assert "cancelled" == body["redemption_state"]
    await _books(client, ledger)


async def test_not_enough_points_is_refused_naming_available_and_cost_and_changes_nothing(client, ledger):
    mid = await _setup(client, ledger, 15, cost=20)
    before = await _books(client, ledger)
    body = assert_problem(await redeem(client, mid), 409, "insufficient_points")
    assert (15, 20, 20) == (body["available_points"], body["cost_points"], body["needed_points"])
    assert before == await _books(client, ledger)
    assert (0, 10) == _pick(await _reward(client), *("reserved", "available_stock"))
    assert [] == (await client.get(routes.api(routes.MEMBER_REDEMPTIONS, member_id=mid))).json()["redemptions"]


async def test_stock_runs_out_and_comes_back_with_a_cancel(client, ledger):
    mid = await _setup(client, ledger, 100, cost=10, stock=2)
    first = (await redeem(client, mid)).json()
    await redeem(client, mid)
    body = assert_problem(await redeem(client, mid), 409, "out_of_stock")
    assert (2, 2, 0) == (body["stock"], body["reserved"], body["sold"])
    await post(client, routes.api(routes.REDEMPTION_CANCEL, redemption_id=first["id"]))
    assert 201 == (await redeem(client, mid)).status_code


async def test_the_per_member_limit_counts_holds_and_fulfilments_not_cancels(client, ledger):
    mid = await _setup(client, ledger, 100, cost=10, limit_count=1, limit_period="year")
    first = (await redeem(client, mid)).json()
    body = assert_problem(await redeem(client, mid), 409, "over_limit")
    assert (1, "year", 1) == (body["limit"], body["limit_period"], body["used"])
    await post(client, routes.api(routes.REDEMPTION_CANCEL, redemption_id=first["id"]))
    second = (await redeem(client, mid)).json()
    await post(client, routes.api(routes.REDEMPTION_FULFIL, redemption_id=second["id"]))
    assert_problem(await redeem(client, mid), 409, "over_limit")
    other = await member(ledger, "m-李四")
    await award(client, other, 10)
    assert 201 == (await redeem(client, other)).status_code  # the limit is per member


async def test_a_minimum_tier_counts_points_earned_not_points_held(client, ledger):
    await tree(ledger)
    await tiers(ledger)  # 合格 10, 良好 20, 优秀 30
    mid = await member(ledger)
    await award(client, mid, 15)
    await reward(client, cost=10, min_tier="良好")
    body = assert_problem(await redeem(client, mid), 409, "tier_too_low")
    assert ("良好", "合格", 15, 20) == (
        body["min_tier"],
        body["member_tier"],
        body["earned_points"],
        body["needed_points"],
    )
    await award(client, mid, 5)
    assert 201 == (await redeem(client, mid)).status_code
    assert 20 == (await _balance(client, mid))["period_earned_points"]  # spending lowers no tier


async def test_refusals_name_what_stands_in_the_way(client, ledger, clock):
    mid = await _setup(client, ledger, 100, cost=10)
    await reward(client, "r-旧", active_until=(clock() - timedelta(days=1)).isoformat())
    await reward(client, "r-邻居", org_unit=OTHER_MICRO)
    assert_problem(await redeem(client, mid, "r-旧"), 409, "reward_inactive")
    body = assert_problem(await redeem(client, mid, "r-邻居"), 409, "reward_not_offered")
    assert OTHER_MICRO == body["reward_org_unit"]
    assert_problem(await redeem(client, mid, "r-没有"), 404, "reward_not_found", "reward")
    assert_problem(await redeem(client, "nobody"), 404, "member_not_found", "member_id")
    await client.patch(routes.api(routes.MEMBER, member_id=mid), json={"active": False})
    assert_problem(await redeem(client, mid), 409, "member_inactive")
    assert 1 == await _books(client, ledger)  # the award and nothing else
    assert_problem(
        await post(client, routes.api(routes.REDEMPTION_FULFIL, redemption_id=999)), 404, "redemption_not_found"
    )


async def test_a_retried_hold_answers_the_first_result_and_a_changed_body_is_refused(client, ledger):
    mid = await _setup(client, ledger, 100, cost=10)
    first = await redeem(client, mid, Idempotency_Key="shop-1")
    again = await redeem(client, mid, Idempotency_Key="shop-1")
    assert (first.json(), "true") == (again.json(), again.headers.get("idempotent-replayed"))
    await reward(client, "r-肥皂", cost=5)
    assert_problem(await redeem(client, mid, "r-肥皂", Idempotency_Key="shop-1"), 409, "exists_with_different_body")
    assert_problem(
        await post(client, routes.api(routes.REDEMPTIONS), {"reward": "r-毛巾", "member_id": mid}, Idempotency_Key=""),
        422,
        "invalid_input",
        "Idempotency-Key",
    )
    assert 1 == (await _reward(client))["reserved"]


async def test_a_hold_past_its_time_is_not_fulfilled_and_the_sweep_releases_it_once(client, ledger, clock):
    mid = await _setup(client, ledger, 50, cost=20)
    hold = (await redeem(client, mid)).json()
    clock.advance(hours=72)
    body = assert_problem(
        await post(client, routes.api(routes.REDEMPTION_FULFIL, redemption_id=hold["id"])), 409, "hold_expired"
    )
    assert datetime.fromisoformat(hold["expires_at"]) == datetime.fromisoformat(body["expires_at"])
    swept = (await client.post(routes.api(routes.ADMIN_SWEEP))).json()
    assert (1, 0, 0) == (swept["holds_expired"], swept["lots_expired"], swept["points_expired"])
    assert NOTHING_SWEPT == (await client.post(routes.api(routes.ADMIN_SWEEP))).json()
    expired = (await client.get(routes.api(routes.REDEMPTION, redemption_id=hold["id"]))).json()
    assert ("expired", "system") == (expired["state"], expired["settled_by"])
    assert (50, 0) == _pick(await _balance(client, mid), *("available_points", "held_points"))
    assert 0 == (await _reward(client))["reserved"]
    await _books(client, ledger)


async def test_listings_are_newest_first_and_page(client, ledger):
    mid = await _setup(client, ledger, 100, cost=10)
    ids = [(await redeem(client, mid)).json()["id"] for _ in range(3)]
    await post(client, routes.api(routes.REDEMPTION_FULFIL, redemption_id=ids[0]))
    page = (await client.get(routes.api(routes.MEMBER_REDEMPTIONS, member_id=mid), params={"limit": 2})).json()
    assert ids[:0:-1] == [r["id"] for r in page["redemptions"]]
    rest = (
        await client.get(routes.api(routes.MEMBER_REDEMPTIONS, member_id=mid), params={"cursor": page["next_cursor"]})
    ).json()
    assert ([ids[0]], None) == ([r["id"] for r in rest["redemptions"]], rest["next_cursor"])
    held = (await client.get(routes.api(routes.REWARD_REDEMPTIONS, code="r-毛巾"), params={"state": "held"})).json()
    assert ids[:0:-1] == [r["id"] for r in held["redemptions"]]
    assert_problem(
        await client.get(routes.api(routes.REWARD_REDEMPTIONS, code="r-毛巾"), params={"state": "lost"}),
        422,
        "invalid_input",
        "state",
    )


async def test_the_catalog_shows_a_unit_the_rewards_of_its_line(client, ledger):
    await tree(ledger)
    await reward(client, "r-社区", org_unit=COMMUNITY)
    await reward(client, "r-网格", org_unit=GRID, kind="service", stock=None, name_zh="义剪")
    await reward(client, "r-邻居", org_unit=OTHER_MICRO)
    shown = (await client.get(routes.api(routes.REWARDS), params={"org_unit": MICRO})).json()
    assert ["r-社区", "r-网格"] == [r["code"] for r in shown["rewards"]]
    service = shown["rewards"][1]
    assert ("service", None, None, True) == (
        service["kind"],
        service["stock"],
        service["available_stock"],
        service["active"],
    )
    assert 3 == len((await client.get(routes.api(routes.REWARDS))).json()["rewards"])
    assert_problem(
        await client.get(routes.api(routes.REWARDS), params={"org_unit": "nowhere"}), 404, "org_unit_not_found"
    )


async def test_restocking_never_goes_below_what_is_held_and_sold(client, ledger):
    mid = await _setup(client, ledger, 100, cost=10, stock=3)
    await redeem(client, mid)
    await redeem(client, mid)
    body = assert_problem(
        await client.patch(routes.api(routes.REWARD, code="r-毛巾"), json={"stock": 1}), 422, "invalid_input", "stock"
    )
    assert (2, 0) == (body["reserved"], body["sold"])
    changed = (
        await client.patch(routes.api(routes.REWARD, code="r-毛巾"), json={"stock": 5, "name_zh": "大毛巾"})
    ).json()
    assert (5, 3, "大毛巾") == (changed["stock"], changed["available_stock"], changed["name_zh"])
    unlimited = (await client.patch(routes.api(routes.REWARD, code="r-毛巾"), json={"unlimited_stock": True})).json()
    assert (None, None) == (unlimited["stock"], unlimited["available_stock"])


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"cost_points": 0}, "cost_points"),
        ({"cost_points": "20"}, "cost_points"),
        ({"kind": "food"}, "kind"),
        ({"stock": -1}, "stock"),
        ({"limit_count": 1}, "limit_period"),
        ({"min_tier": "金牌"}, "min_tier"),
        ({"active_from": "2026-12-01T00:00:00+08:00", "active_until": "2026-11-01T00:00:00+08:00"}, "active_until"),
        ({"active_from": "2026-12-01T00:00:00"}, "active_from"),
        ({"colour": "red"}, "colour"),
        ({"org_unit": "nowhere"}, "org_unit"),
    ],
)
async def test_a_bad_reward_is_refused_naming_the_field(client, ledger, overrides, field):
    await tree(ledger)
    await tiers(ledger)
    response = await client.post(routes.api(routes.REWARDS), json=reward_body(**overrides))
    body = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.status_code in (400, 404, 422) and field == body["field"], body
    assert [] == (await client.get(routes.api(routes.REWARDS))).json()["rewards"]


async def test_a_reward_code_is_listed_once(client, ledger):
    await tree(ledger)
    await reward(client)
    assert_problem(await client.post(routes.api(routes.REWARDS), json=reward_body()), 409, "already_exists", "code")


async def test_a_serving_process_sweeps_on_its_timer(client, ledger, clock):
    """The app's timer releases an overdue hold without anyone calling the sweep."""
    mid = await _setup(client, ledger, 50, cost=20)
    hold = (await redeem(client, mid)).json()
    clock.advance(hours=73)
    timer = asyncio.create_task(sweep_every(ledger, 0.01))
    try:
        for _ in range(200):
            if (await ledger.redemption(ADMIN, hold["id"])).state == "expired":
                break
            await asyncio.sleep(0.01)
    finally:
        timer.cancel()
    assert "expired" == (await ledger.redemption(ADMIN, hold["id"])).state
    assert 50 == (await _balance(client, mid))["available_points"]
