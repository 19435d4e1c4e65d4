"""The reads the web pages show: cap room, members found in a subtree, a settle's preview,
and points per month by category."""

from datetime import UTC, datetime, timedelta

from api import routes
from ledger import MemberChanges, Principal, Role
from tests.builders import (
    ADMIN,
    COMMUNITY,
    GRID,
    MICRO,
    OTHER_MICRO,
    STREET,
    assert_problem,
    award,
    count_transactions,
    member,
    post,
    rule_body,
    rules,
    tree,
)


def _ago(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).isoformat()


async def _organizer(client, org_unit: str) -> dict[str, str]:
    response = await client.post(
        routes.api(routes.TOKENS), json={"role": "organizer", "label": "网格长", "org_unit": org_unit}
    )
    assert 201 == response.status_code, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def test_cap_room_counts_what_each_rule_already_paid_today(client, ledger):
    """A patrol today leaves one of two daily points; rules a member may not earn, or no longer
    active, say so; a rule without caps has no limit."""
    await tree(ledger)
    await rules(ledger)
    volunteer = await member(ledger)
    await post(client, routes.api(routes.AWARDS), rule_body(volunteer, "patrol", 1, steps=1200))
    response = await client.get(routes.api(routes.MEMBER_CAPS, member_id=volunteer))
    assert 200 == response.status_code, response.text
    rooms = {room["rule"]: room for room in response.json()}
    patrol = rooms["patrol"]
    assert (1, True, True) == (patrol["room_points"], patrol["eligible"], patrol["active"])
    assert [("day", 2, 1, 1), ("year", 500, 1, 499)] == [
        (c["window"], c["cap_points"], c["used_points"], c["room_points"]) for c in patrol["caps"]
    ]
    assert (False, 12) == (rooms["task"]["eligible"], rooms["task"]["room_points"])
    assert (False, None, []) == (rooms["old"]["active"], rooms["old"]["room_points"], rooms["old"]["caps"])
    assert_problem(await client.get(routes.api(routes.MEMBER_CAPS, member_id="nobody")), 404, "member_not_found")


async def test_a_member_is_found_by_name_or_id_only_inside_the_subtree(client, ledger):
    """Part of a name or the start of an id finds a member of the subtree, an exact id first;
    members outside the searched unit never appear, and an organizer searches only its own."""
    await tree(ledger)
    await ledger.register_member(ADMIN, "zs-1", "张三", MICRO, False, (Role.VOLUNTEER,))
    await ledger.register_member(ADMIN, "zs", "李张", MICRO, False, (Role.VOLUNTEER,))
    await ledger.register_member(ADMIN, "ww-1", "王五", OTHER_MICRO, False, (Role.VOLUNTEER,))
    found = await client.get(routes.api(routes.MEMBERS), params={"q": "zs", "org_unit": GRID})
    assert ["zs", "zs-1"] == [m["id"] for m in found.json()]
    by_name = await client.get(routes.api(routes.MEMBERS), params={"q": "张", "org_unit": GRID})
    assert ["zs", "zs-1"] == [m["id"] for m in by_name.json()]
    outside = await client.get(routes.api(routes.MEMBERS), params={"q": "王", "org_unit": MICRO})
    assert [] == outside.json()
    organizer = await _organizer(client, MICRO)
    mine = await client.get(routes.api(routes.MEMBERS), params={"q": "王"}, headers=organizer)
    assert [] == mine.json()
    assert_problem(
        await client.get(routes.api(routes.MEMBERS), params={"q": "王", "org_unit": GRID}, headers=organizer),
        403,
        "forbidden",
        "org_unit",
    )
    assert_problem(
        await client.get(routes.api(routes.MEMBERS), params={"q": " ", "org_unit": GRID}), 422, "invalid_input", "q"
    )
    assert_problem(await client.get(routes.api(routes.MEMBERS), params={"q": "张"}), 422, "invalid_input", "org_unit")


async def test_a_preview_shows_the_settlement_and_writes_nothing(client, ledger):
    """The preview clips at caps and names refusals exactly as the settle then does."""
    await tree(ledger)
    await rules(ledger)
    for i in range(3):
        await ledger.register_member(ADMIN, f"v-{i}", f"志愿者{i}", MICRO, False, (Role.VOLUNTEER,))
    await ledger.change_member(Principal.admin("test"), "v-2", MemberChanges(active=False))
    body = {
        "name": "爱心义剪",
        "org_unit": COMMUNITY,
        "rule": "hour",
        "starts_at": _ago(12),
        "ends_at": _ago(1),
        "organizer": "v-0",
    }
    activity_id = (await client.post(routes.api(routes.ACTIVITIES), json=body)).json()["id"]
    roster = [
        {"member_id": "v-0", "quantity": 3},
        {"member_id": "v-1", "quantity": 10},
        {"member_id": "v-2", "quantity": 1},
    ]
    await client.put(routes.api(routes.ACTIVITY_ROSTER, activity_id=activity_id), json={"participants": roster})
    before = await count_transactions(ledger)
    preview = (await client.get(routes.api(routes.ACTIVITY_PREVIEW, activity_id=activity_id))).json()
    assert (2, 1, 11) == (preview["awarded"], preview["skipped"], preview["points"])
    assert [("v-0", 3, None), ("v-1", 8, None), ("v-2", 0, "member_inactive")] == [
        (line["member_id"], line["points"], line["reason"]) for line in preview["lines"]
    ]
    assert before == await count_transactions(ledger)
    settled = (await post(client, routes.api(routes.ACTIVITY_SETTLE, activity_id=activity_id))).json()
    assert [(x["member_id"], x["points"]) for x in preview["lines"]] == [
        (x["member_id"], x["points"]) for x in settled["lines"]
    ]
    assert_problem(
        await client.get(routes.api(routes.ACTIVITY_PREVIEW, activity_id=activity_id)), 409, "already_settled"
    )


async def test_activities_are_listed_newest_first_inside_the_subtree(client, ledger):
    """A unit lists its subtree's activities, page by page; an organizer only its own."""
    await tree(ledger)
    await rules(ledger)
    await member(ledger, "v-0")
    for name, unit in (("义剪", MICRO), ("茶艺", OTHER_MICRO), ("清扫", MICRO)):
        body = {"name": name, "org_unit": unit, "rule": "hour", "starts_at": _ago(3), "ends_at": _ago(2)}
        assert 201 == (await client.post(routes.api(routes.ACTIVITIES), json={**body, "organizer": "v-0"})).status_code
    first = (await client.get(routes.api(routes.ACTIVITIES), params={"org_unit": GRID, "limit": 2})).json()
    assert ["清扫", "茶艺"] == [a["name"] for a in first["activities"]]
    rest = (
        await client.get(routes.api(routes.ACTIVITIES), params={"org_unit": GRID, "cursor": first["next_cursor"]})
    ).json()
    assert (["义剪"], None) == ([a["name"] for a in rest["activities"]], rest["next_cursor"])
    organizer = await _organizer(client, MICRO)
    mine = (await client.get(routes.api(routes.ACTIVITIES), headers=organizer)).json()
    assert ["清扫", "义剪"] == [a["name"] for a in mine["activities"]]
    assert_problem(
        await client.get(routes.api(routes.ACTIVITIES), params={"org_unit": GRID}, headers=organizer),
        403,
        "forbidden",
        "org_unit",
    )


async def test_points_per_month_follow_the_ledger_time_zone_and_reversals(client, ledger):
    """Work done at 00:30 on 1 February in Shanghai is February's, though it is still January
    in UTC; a reversal takes its points back from the month of the work; other subtrees and
    years stay out."""
    await tree(ledger)
    a = await member(ledger, "a", MICRO)
    b = await member(ledger, "b", OTHER_MICRO)
    await award(client, a, 5, occurred_at="2026-02-01T00:30:00+08:00")
    await award(client, a, 2, category="diary", occurred_at="2026-01-31T23:30:00+08:00")
    wrong = await award(client, b, 9, occurred_at="2026-03-05T10:00:00+08:00")
    await post(
        client, routes.api(routes.TRANSACTION_REVERSAL, transaction_id=wrong["transaction_id"]), {"reason": "录错了"}
    )
    await award(client, b, 4, occurred_at="2026-03-06T10:00:00+08:00")
    await award(client, b, 7, occurred_at="2025-12-31T23:00:00+08:00")
    grid = (await client.get(routes.api(routes.ORG_UNIT_MONTHS, code=GRID), params={"period": "2026"})).json()
    assert 12 == len(grid["months"])
    assert [("2026-01", {"diary": 2}), ("2026-02", {"patrol": 5}), ("2026-03", {"patrol": 4})] == [
        (m["month"], m["by_category"]) for m in grid["months"] if m["by_category"]
    ]
    micro = (await client.get(routes.api(routes.ORG_UNIT_MONTHS, code=MICRO), params={"period": "2026"})).json()
    assert {} == micro["months"][2]["by_category"]
    street = (await client.get(routes.api(routes.ORG_UNIT_MONTHS, code=STREET), params={"period": "2025"})).json()
    assert {"patrol": 7} == street["months"][11]["by_category"]
    assert_problem(await client.get(routes.api(routes.ORG_UNIT_MONTHS, code="nowhere")), 404, "org_unit_not_found")
    assert_problem(
        await client.get(routes.api(routes.ORG_UNIT_MONTHS, code=GRID), params={"period": "26"}), 422, "invalid_input"
    )
