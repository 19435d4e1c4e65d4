"""The counter (核销) and the shop keeper's edits: a hold's pickup code, the unit's open
holds soonest to expire first, the lookup by code inside the organizer's subtree only,
and a reward edited, restocked, emptied field by field, or refused with the field named."""

import pytest
from sqlalchemy.exc import IntegrityError

from api import routes
from api.app import create_app
from ledger.shop import redemptions
from tests.builders import (
    ADMIN,
    COMMUNITY,
    OTHER_COMMUNITY,
    assert_problem,
    award,
    member,
    other_community,
    post,
    redeem,
    reward,
    tamper,
    tiers,
    token,
    tree,
)
from tests.conftest import http_client, settings

pytestmark = pytest.mark.clocked


async def _counter(client, org_unit=COMMUNITY, **query):
    response = await client.get(routes.api(routes.REDEMPTIONS), params={"org_unit": org_unit, **query})
    assert 200 == response.status_code, response.text
    return response.json()


async def _two_holds(client, ledger, clock):
    """张三 holds a towel, an hour later 李四 holds soap: the towel's hold lapses first."""
    await tree(ledger)
    zhang = await member(ledger)
    await ledger.register_member(ADMIN, "m-李四", "李四", "m-东关南里-1-2", False, ())
    for mid in (zhang, "m-李四"):
        await award(client, mid, 50)
    await reward(client, pickup_place="社区服务站一楼", pickup_hours="周一至周五 9:00–17:00")
    await reward(client, "r-肥皂", name_zh="肥皂", cost_points=15)
    towel = (await redeem(client, zhang)).json()
    clock.advance(hours=1)
    soap = (await redeem(client, "m-李四", "r-肥皂")).json()
    return towel, soap


async def test_a_hold_has_a_pickup_code_of_six_unambiguous_characters(client, ledger, clock):
    towel, soap = await _two_holds(client, ledger, clock)
    for hold in (towel, soap):
        assert 6 == len(hold["pickup_code"]) and set(hold["pickup_code"]) <= set(redemptions.PICKUP_ALPHABET)
    assert towel["pickup_code"] != soap["pickup_code"]
    read = (await client.get(routes.api(routes.REDEMPTION, redemption_id=towel["id"]))).json()
    assert towel["pickup_code"] == read["pickup_code"]


async def test_the_counter_lists_open_holds_soonest_to_expire_first_with_names_and_place(client, ledger, clock):
    towel, soap = await _two_holds(client, ledger, clock)
    page = await _counter(client)
    assert [
        (towel["id"], towel["pickup_code"], "毛巾", "张三", 20, "社区服务站一楼", "周一至周五 9:00–17:00"),
        (soap["id"], soap["pickup_code"], "肥皂", "李四", 15, None, None),
    ] == [
        (
            h["id"],
            h["pickup_code"],
            h["reward_name"],
            h["member_name"],
            h["cost_points"],
            h["pickup_place"],
            h["pickup_hours"],
        )
        for h in page["redemptions"]
    ]
    assert towel["expires_at"] == page["redemptions"][0]["expires_at"]
    assert page["next_cursor"] is None


async def test_the_counter_pages_by_expiry_and_id(client, ledger, clock):
    towel, soap = await _two_holds(client, ledger, clock)
    first = await _counter(client, limit=1)
    assert [towel["id"]] == [h["id"] for h in first["redemptions"]]
    second = await _counter(client, limit=1, cursor=first["next_cursor"])
    assert [soap["id"]] == [h["id"] for h in second["redemptions"]]
    assert [] == (await _counter(client, limit=1, cursor=second["next_cursor"]))["redemptions"]


async def test_a_code_typed_in_lower_case_with_a_space_finds_its_hold_and_a_settled_one_is_gone(client, ledger, clock):
    towel, soap = await _two_holds(client, ledger, clock)
    code = towel["pickup_code"]
    typed = f"{code[:3].lower()} {code[3:].lower()}"
    assert [towel["id"]] == [h["id"] for h in (await _counter(client, pickup_code=typed))["redemptions"]]
    done = await post(client, routes.api(routes.REDEMPTION_FULFIL, redemption_id=towel["id"]))
    assert 201 == done.status_code, done.text
    assert [] == (await _counter(client, pickup_code=code))["redemptions"]
    assert [soap["id"]] == [h["id"] for h in (await _counter(client))["redemptions"]]
    assert code == (await client.get(routes.api(routes.REDEMPTION, redemption_id=towel["id"]))).json()["pickup_code"]


async def test_a_code_held_already_is_drawn_again(client, ledger, clock, monkeypatch):
    towel, _ = await _two_holds(client, ledger, clock)
    fresh = "QRTUVW"
    draws = iter(towel["pickup_code"] + fresh)
    monkeypatch.setattr(redemptions.secrets, "choice", lambda alphabet: next(draws))
    again = (await redeem(client, "m-张三", "r-肥皂")).json()
    assert fresh == again["pickup_code"]


async def test_the_database_refuses_two_held_redemptions_with_one_code(client, ledger, clock):
    towel, soap = await _two_holds(client, ledger, clock)
    with pytest.raises(IntegrityError):
        await tamper(
            ledger,
            "UPDATE redemption SET pickup_code = :code WHERE id = :id",
            "redemption",
            [{"code": towel["pickup_code"], "id": soap["id"]}],
        )
    await post(client, routes.api(routes.REDEMPTION_CANCEL, redemption_id=towel["id"]))
    # A settled redemption keeps its code, and an open hold may now take it.
    await tamper(
        ledger,
        "UPDATE redemption SET pickup_code = :code WHERE id = :id",
        "redemption",
        [{"code": towel["pickup_code"], "id": soap["id"]}],
    )
    assert [soap["id"]] == [h["id"] for h in (await _counter(client, pickup_code=towel["pickup_code"]))["redemptions"]]


async def test_an_organizer_of_another_community_never_sees_or_settles_these_holds(client, ledger, clock):
    towel, _ = await _two_holds(client, ledger, clock)
    await other_community(ledger)
    _, organizer_b = await token(ledger, "organizer", org_unit=OTHER_COMMUNITY)
    async with http_client(create_app(settings(ledger), ledger), headers=organizer_b) as organizer:
        assert_problem(
            await organizer.get(routes.api(routes.REDEMPTIONS), params={"org_unit": COMMUNITY}),
            403,
            "forbidden",
            "org_unit",
        )
        own = await _counter(organizer, OTHER_COMMUNITY, pickup_code=towel["pickup_code"])
        assert [] == own["redemptions"]
        for action in (routes.REDEMPTION_FULFIL, routes.REDEMPTION_CANCEL):
            refused = await post(organizer, routes.api(action, redemption_id=towel["id"]))
            assert_problem(refused, 403, "forbidden", "redemption_id")
    assert "held" == (await client.get(routes.api(routes.REDEMPTION, redemption_id=towel["id"]))).json()["state"]


async def test_a_member_may_not_list_the_counter(client, ledger, clock):
    await _two_holds(client, ledger, clock)
    _, member_token = await token(ledger, "member", member_id="m-张三")
    async with http_client(create_app(settings(ledger), ledger), headers=member_token) as resident:
        assert_problem(
            await resident.get(routes.api(routes.REDEMPTIONS), params={"org_unit": COMMUNITY}), 403, "forbidden"
        )


async def test_the_counter_names_a_bad_query(client, ledger, clock):
    await tree(ledger)
    assert_problem(
        await client.get(routes.api(routes.REDEMPTIONS), params={"org_unit": "c-无此社区"}), 404, "org_unit_not_found"
    )
    assert_problem(await client.get(routes.api(routes.REDEMPTIONS)), 400, "malformed_request")
    bad_cursor = await client.get(routes.api(routes.REDEMPTIONS), params={"org_unit": COMMUNITY, "cursor": "12"})
    assert_problem(bad_cursor, 422, "invalid_input", "cursor")


async def _patch(client, body, code="r-毛巾"):
    return await client.patch(routes.api(routes.REWARD, code=code), json=body)


async def test_a_reward_is_edited_in_full_and_a_held_cost_stays_as_held(client, ledger, clock):
    towel, _ = await _two_holds(client, ledger, clock)
    await tiers(ledger)
    changed = await _patch(
        client,
        {
            "name_zh": "大毛巾",
            "kind": "service",
            "cost_points": 30,
            "limit_count": 1,
            "limit_period": "month",
            "min_tier": "良好",
            "pickup_place": "社区居委会",
            "pickup_hours": "每周六上午",
        },
    )
    assert 200 == changed.status_code, changed.text
    body = changed.json()
    assert ("大毛巾", "service", 30, 1, "month", "良好", "社区居委会", "每周六上午", 1, 0) == (
        body["name_zh"],
        body["kind"],
        body["cost_points"],
        body["limit_count"],
        body["limit_period"],
        body["min_tier"],
        body["pickup_place"],
        body["pickup_hours"],
        body["reserved"],
        body["sold"],
    )
    assert 20 == (await client.get(routes.api(routes.REDEMPTION, redemption_id=towel["id"]))).json()["cost_points"]
    cleared = (await _patch(client, {"clear": ["limit", "min_tier", "pickup_hours"]})).json()
    assert (None, None, None, None, "社区居委会") == (
        cleared["limit_count"],
        cleared["limit_period"],
        cleared["min_tier"],
        cleared["pickup_hours"],
        cleared["pickup_place"],
    )


async def test_restocking_adds_to_the_stock_and_counts_stay(client, ledger, clock):
    await _two_holds(client, ledger, clock)
    restocked = (await _patch(client, {"add_stock": 5})).json()
    assert (15, 1, 0, 14) == (
        restocked["stock"],
        restocked["reserved"],
        restocked["sold"],
        restocked["available_stock"],
    )
    assert 15 == (await client.get(routes.api(routes.REWARD, code="r-毛巾"))).json()["stock"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"add_stock": 5, "stock": 20}, "stock"),
        ({"unlimited_stock": True, "add_stock": 1}, "stock"),
        ({"limit_count": 2}, "limit_period"),
        ({"limit_count": 2, "clear": ["limit"]}, "limit"),
        ({"pickup_place": "新地方", "clear": ["pickup_place"]}, "pickup_place"),
        ({"min_tier": "钻石"}, "min_tier"),
        ({"stock": 0}, "stock"),
        ({"active_until": "2020-01-01T00:00:00+08:00", "active_from": "2021-01-01T00:00:00+08:00"}, "active_until"),
    ],
)
async def test_an_edit_that_breaks_a_rule_is_refused_naming_the_field_and_changes_nothing(
    client, ledger, clock, body, field
):
    await _two_holds(client, ledger, clock)
    await tiers(ledger)
    before = (await client.get(routes.api(routes.REWARD, code="r-毛巾"))).json()
    assert_problem(await _patch(client, body), 422, "invalid_input", field)
    assert before == (await client.get(routes.api(routes.REWARD, code="r-毛巾"))).json()


async def test_an_unlimited_reward_is_not_restocked_by_a_count(client, ledger, clock):
    await _two_holds(client, ledger, clock)
    await _patch(client, {"unlimited_stock": True})
    assert_problem(await _patch(client, {"add_stock": 3}), 422, "invalid_input", "add_stock")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"clear": ["stock"]}, "clear[0]"),
        ({"add_stock": 0}, "add_stock"),
        ({"pickup_place": "长" * 101}, "pickup_place"),
    ],
)
async def test_an_edit_the_api_cannot_read_names_its_field(client, ledger, clock, body, field):
    await _two_holds(client, ledger, clock)
    assert_problem(await _patch(client, body), 422, "invalid_input", field)
