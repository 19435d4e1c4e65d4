"""Earning rules: data, versions, unit math, eligibility, active dates and caps."""

import pytest

from api import routes
from ledger import Principal, Role
from ledger.earning.rules import default_rules_text
from ledger.errors import DataFileInvalid
from tests.builders import (
    ADMIN,
    BAD_RULES,
    BAD_RULES_ERRORS,
    TEST_RULES,
    assert_problem,
    file_errors,
    post,
    recently,
    rule_body,
    rules,
    tree,
)


async def _setup(ledger, roles=(Role.MICRO_GRID_WORKER,)):
    await tree(ledger)
    await rules(ledger)
    await ledger.register_member(ADMIN, "w-1", "李红梅", "m-东关南里-1-1", True, roles)
    return "w-1"


async def test_the_default_rules_load_once_and_are_listed(client, ledger):
    """The shipped rules file is valid; loading it twice creates no new versions."""
    first = await ledger.load_rules(Principal.admin("test"), default_rules_text())
    again = await ledger.load_rules(Principal.admin("test"), default_rules_text())
    listed = (await client.get(routes.api(routes.RULES))).json()
    assert ([], len(first.created)) == (again.created, len(listed))
    patrol = next(r for r in listed if r["code"] == "patrol")
    assert (1, 1000, "网格巡查(日巡千步)") == (
        patrol["version"],
        patrol["definition"]["min_steps"],
        patrol["definition"]["name_zh"],
    )


async def test_a_bad_rules_file_is_refused_whole_with_every_error(ledger):
    """A schema error, a repeated code and dates out of order are all named with their
    paths in one refusal, and not one rule is stored."""
    await rules(ledger)
    before = await ledger.rules()
    with pytest.raises(DataFileInvalid) as refused:
        await ledger.load_rules(Principal.admin("test"), BAD_RULES)
    assert BAD_RULES_ERRORS == file_errors(refused.value)
    assert before == await ledger.rules()


async def test_changing_a_rule_makes_a_version_and_awards_record_it(client, ledger):
    """An award names the rule version it was computed from."""
    mid = await _setup(ledger)
    before = (await post(client, routes.api(routes.AWARDS), rule_body(mid, "diary", 1000))).json()
    await rules(ledger, TEST_RULES.replace("points_per_unit: 1, caps: {day: 4}", "points_per_unit: 2, caps: {day: 8}"))
    after = (await post(client, routes.api(routes.AWARDS), rule_body(mid, "diary", 1000))).json()
    assert [("diary", 1, 2), ("diary", 2, 4)] == [(a["rule"], a["rule_version"], a["points"]) for a in (before, after)]
    assert (
        2
        == (await client.get(routes.api(routes.TRANSACTION, transaction_id=after["transaction_id"]))).json()[
            "earned_points"
        ]
        // 2
    )


@pytest.mark.parametrize(
    "rule, quantity, extra, points",
    [
        ("patrol", 2, {"steps": 1200}, 2),
        ("diary", 1499, {}, 2),  # per whole 500 characters
        ("report", 1, {}, 2),
        ("report", 1, {"handled_within_limit": True}, 5),  # 限时办理 bonus
        ("hour", 3, {}, 3),
    ],
)
async def test_points_follow_the_rule(client, ledger, rule, quantity, extra, points):
    """Points per unit × whole units, plus a bonus for an event handled within its time limit."""
    mid = await _setup(ledger)
    response = await post(client, routes.api(routes.AWARDS), rule_body(mid, rule, quantity, **extra))
    body = response.json()
    assert (201, points, points) == (response.status_code, body["points"], body["available_points"])


@pytest.mark.parametrize(
    "body_change, field",
    [
        ({"steps": 999}, "steps"),  # 日巡千步: fewer than 1,000 steps is not a patrol
        ({}, "steps"),  # the step count is required for a patrol
        ({"points": 5, "steps": 1200}, "rule"),  # not both forms at once
        ({"quantity": 0, "steps": 1200}, "quantity"),
    ],
)
async def test_work_that_does_not_count_is_refused_by_name(client, ledger, body_change, field):
    """Refusals name the field and post nothing."""
    mid = await _setup(ledger)
    body = rule_body(mid, "patrol", 1) | body_change
    assert_problem(await post(client, routes.api(routes.AWARDS), body), 422, "invalid_input", field)
    assert 0 == (await client.get(routes.api(routes.MEMBER_BALANCE, member_id=mid))).json()["available_points"]


async def test_only_eligible_roles_earn_a_rule(client, ledger):
    """A task rule for grid workers refuses a micro-grid worker with the roles it rewards."""
    mid = await _setup(ledger)
    body = assert_problem(await post(client, routes.api(routes.AWARDS), rule_body(mid, "task", 1)), 409, "not_eligible")
    assert ["grid_worker"] == body["eligible_roles"]


@pytest.mark.parametrize(
    "rule, quantity, status, code, field",
    [
        ("diary", 499, 422, "invalid_input", "quantity"),  # 499 characters are less than one unit of 500
        ("old", 1, 409, "rule_inactive", "rule"),  # a retired rule pays nothing for work done after it ended
        ("nope", 1, 404, "rule_not_found", "rule"),
    ],
    ids=["part-unit", "retired", "unknown"],
)
async def test_a_rule_award_that_earns_nothing_is_refused_naming_why(
    client, ledger, rule, quantity, status, code, field
):
    """A part unit, a rule past its active dates and an unknown rule each name the field at fault."""
    mid = await _setup(ledger)
    assert_problem(await post(client, routes.api(routes.AWARDS), rule_body(mid, rule, quantity)), status, code, field)


@pytest.mark.parametrize(
    "rule, per_award, extra, cap, cap_points",
    [("patrol", 1, {"steps": 1500}, "day", 2), ("report", 1, {}, "week", 12), ("task", 1, {}, "year", 12)],
)
async def test_each_cap_refuses_then_clips(client, ledger, rule, per_award, extra, cap, cap_points):
    """Up to the cap awards land; past it the award is refused naming the cap and the room
    left, or with clip the room left is awarded and the clipped amount reported."""
    mid = await _setup(ledger, roles=(Role.MICRO_GRID_WORKER, Role.GRID_WORKER))
    earned = 0
    while True:
        response = await post(client, routes.api(routes.AWARDS), rule_body(mid, rule, 2, **extra))
        if response.status_code != 201:
            break
        earned += response.json()["points"]
    body = assert_problem(response, 409, "cap_exceeded")
    assert (cap, cap_points, earned, cap_points - earned) == (
        body["cap"],
        body["cap_points"],
        body["used_points"],
        body["room_points"],
    )
    clipped = await post(client, routes.api(routes.AWARDS), rule_body(mid, rule, 2, clip=True, **extra))
    if cap_points - earned == 0:
        assert_problem(clipped, 409, "cap_exceeded")
    else:
        assert (cap_points - earned, body["requested_points"]) == (
            clipped.json()["points"],
            clipped.json()["clipped_from_points"],
        )
    assert cap_points == (await client.get(routes.api(routes.MEMBER_BALANCE, member_id=mid))).json()["available_points"]


async def test_caps_count_per_local_day(client, ledger):
    """The day cap restarts at midnight in Shanghai, not UTC."""
    mid = await _setup(ledger)
    for when in ("2026-11-20T23:30:00+08:00", "2026-11-21T00:30:00+08:00"):
        response = await post(
            client, routes.api(routes.AWARDS), rule_body(mid, "patrol", 2, steps=2000, occurred_at=when)
        )
        assert 201 == response.status_code, response.text


async def test_reversing_a_rule_award_gives_its_cap_room_back(client, ledger):
    """After a reversal the same work can be awarded again within the cap."""
    mid = await _setup(ledger)
    first = (await post(client, routes.api(routes.AWARDS), rule_body(mid, "patrol", 2, steps=1500))).json()
    assert_problem(
        await post(client, routes.api(routes.AWARDS), rule_body(mid, "patrol", 1, steps=1500)), 409, "cap_exceeded"
    )
    await post(
        client, routes.api(routes.TRANSACTION_REVERSAL, transaction_id=first["transaction_id"]), {"reason": "记错了"}
    )
    assert 201 == (await post(client, routes.api(routes.AWARDS), rule_body(mid, "patrol", 2, steps=1500))).status_code
    assert (await ledger.verify()).ok


async def test_manual_awards_still_work_beside_rules(client, ledger):
    """Points and a category without a rule are a manual award, recorded without a rule."""
    mid = await _setup(ledger)
    body = (
        await post(
            client,
            routes.api(routes.AWARDS),
            {"member_id": mid, "points": 4, "category": "other", "occurred_at": recently()},
        )
    ).json()
    assert (4, None, None) == (body["points"], body["rule"], body["rule_version"])
