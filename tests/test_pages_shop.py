"""The shop's pages without a browser: why /me lists nothing to redeem, the counter found
by code only inside the organizer's unit, and the shelves of the unit's own rewards.

On SQLite only, as the other page tests: the reads behind these pages are tested on both
databases through the API (``test_counter.py``)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from api import routes
from api.app import create_app
from api.pages.resident import shelf
from ledger import RewardView
from tests.builders import (
    COMMUNITY,
    OTHER_COMMUNITY,
    award,
    member,
    other_community,
    redeem,
    reward,
    tree,
)
from tests.conftest import http_client, settings

pytestmark = pytest.mark.sqlite_only


LISTED_AT = datetime(2026, 1, 5, tzinfo=UTC)


def _reward(name: str, cost: int, free: int | None = 5, active: bool = True) -> RewardView:
    return RewardView(
        **dict.fromkeys(("name_en", "limit_count", "limit_period", "active_from", "active_until", "min_tier")),
        **dict.fromkeys(("pickup_place", "pickup_hours")),
        code=name,
        org_unit=COMMUNITY,
        name_zh=name,
        kind="goods",
        cost_points=cost,
        stock=free,
        reserved=0,
        sold=0,
        available_stock=free,
        active=active,
        created_by="admin",
        created_at=LISTED_AT,
        updated_at=LISTED_AT,
    )


def test_a_community_without_rewards_on_offer_says_it_has_no_shop():
    assert "本社区还没有开设积分超市。" == shelf([_reward("毛巾", 2, active=False)], 100).why_empty
    assert "本社区还没有开设积分超市。" == shelf([], 100).why_empty


def test_a_shop_whose_every_reward_is_gone_says_so():
    assert "奖品都已兑完，请等待补货。" == shelf([_reward("毛巾", 2, free=0)], 100).why_empty


def test_too_few_points_name_the_cheapest_reward_in_stock_and_the_points_missing():
    offered = [_reward("洗衣液", 50), _reward("毛巾", 20), _reward("香皂", 5, free=0)]
    seen = shelf(offered, 8)
    assert "积分还不够兑换奖品：最便宜的“毛巾”需要 20 分，还差 12 分，继续加油！" == seen.why_empty
    assert (["毛巾", "洗衣液"], []) == ([r.name_zh for r in seen.out_of_reach], seen.redeemable)


def test_a_resident_who_can_redeem_is_given_no_reason():
    seen = shelf([_reward("毛巾", 2), _reward("不限量服务", 1, free=None), _reward("洗衣液", 50)], 2)
    assert (None, ["毛巾", "不限量服务"]) == (seen.why_empty, [r.name_zh for r in seen.redeemable])


@pytest.fixture
async def web(ledger) -> httpx.AsyncClient:
    async with http_client(create_app(settings(ledger), ledger), headers={}) as client:
        yield client


async def _sign_in_desk(client, web, org_unit: str) -> None:
    created = await client.post(
        routes.api(routes.TOKENS), json={"label": "测试", "role": "organizer", "org_unit": org_unit}
    )
    await web.post(routes.PAGE_DESK_SIGNIN, data={"token": created.json()["token"]})


async def test_the_counter_finds_a_code_only_inside_the_organizers_unit(client, ledger, web):
    """Another community's organizer typing the code finds nothing and cannot open this
    community's counter; this community's finds who collects what, and the fulfil button."""
    await tree(ledger)
    await other_community(ledger)
    mid = await member(ledger)
    await award(client, mid, 50)
    await reward(client, pickup_place="东关南里社区服务站")
    hold = (await redeem(client, mid)).json()
    code = hold["pickup_code"]

    await _sign_in_desk(client, web, OTHER_COMMUNITY)
    elsewhere = await web.get(routes.PAGE_DESK_COUNTER, params={"code": code})
    assert 200 == elsewhere.status_code
    assert f"没有找到取货码为“{code}”的待领取兑换" in elsewhere.text and "张三" not in elsewhere.text
    refused = await web.get(routes.PAGE_DESK_COUNTER, params={"unit": COMMUNITY, "code": code})
    assert 403 == refused.status_code and "张三" not in refused.text

    web.cookies.clear()
    await _sign_in_desk(client, web, COMMUNITY)
    here = await web.get(routes.PAGE_DESK_COUNTER, params={"code": code.lower()})
    assert 200 == here.status_code
    for shown in (
        "张三",
        "毛巾",
        "20 分",
        "东关南里社区服务站",
        routes.api(routes.REDEMPTION_FULFIL, redemption_id=hold["id"]),
    ):
        assert shown in here.text


async def test_the_shelves_list_the_units_own_rewards_with_their_counts(client, ledger, web):
    """A reward held once shows 1 held of its stock; a reward of the street above is not
    on the community's shelves, whose keeper could not edit it."""
    await tree(ledger)
    mid = await member(ledger)
    await award(client, mid, 50)
    await reward(client)
    await reward(client, "r-街道茶叶", org_unit="s-东大街", name_zh="街道茶叶")
    await redeem(client, mid)
    await _sign_in_desk(client, web, COMMUNITY)
    page = await web.get(routes.PAGE_DESK_SHOP)
    assert 200 == page.status_code
    assert "库存 10 · 可兑 <strong>9</strong> · 待领取 1 · 已领取 0" in page.text
    assert "街道茶叶" not in page.text  # the street's shelves are the street's desk's
