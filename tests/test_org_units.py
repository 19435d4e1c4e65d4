"""The org tree over HTTP: 街道 → 社区 → 大网格 → 微网格."""

from urllib.parse import quote

import pytest

from api import routes
from ledger import Level, MemberChanges, Principal, Role
from tests import builders
from tests.builders import ADMIN, assert_problem

STREET = {"code": "东大街", "name": "东大街街道", "level": "street"}
COMMUNITY = {"code": "东关南里", "name": "东关南里社区", "level": "community", "parent": "东大街"}
GRID = {"code": "东关南里-1", "name": "东关南里第一大网格", "level": "grid", "parent": "东关南里"}
MICRO = {"code": "东关南里-1-1", "name": "东关南里1-1微网格", "level": "micro_grid", "parent": "东关南里-1"}


async def build(client, *units):
    for unit in units:
        response = await client.post(routes.api(routes.ORG_UNITS), json=unit)
        assert 201 == response.status_code, response.text


async def test_a_tree_with_chinese_codes_round_trips(client):
    """Every level registers under its parent, and a Chinese code works in the URL."""
    await build(client, STREET, COMMUNITY, GRID, MICRO)
    response = await client.get(routes.api(routes.ORG_UNIT, code=quote(MICRO["code"])))
    body = response.json()
    assert 200 == response.status_code
    assert ("东关南里1-1微网格", "micro_grid", "东关南里-1") == (body["name"], body["level"], body["parent"])
    assert ["东大街", "东关南里", "东关南里-1", "东关南里-1-1"] == body["path"]


@pytest.mark.parametrize(
    "unit, detail_part",
    [
        ({**GRID, "parent": "东大街"}, "community"),  # a grid under a street
        ({**STREET, "code": "s2", "parent": "东大街"}, "no parent"),  # a street with a parent
        ({"code": "c2", "name": "x", "level": "community"}, "needs a parent"),  # no parent
        ({**MICRO, "parent": "东关南里"}, "grid"),  # a micro-grid under a community
    ],
)
async def test_a_parent_of_the_wrong_level_is_refused(client, unit, detail_part):
    """Anything but a parent of the level above is a 422 naming `parent`, and nothing is created."""
    await build(client, STREET, COMMUNITY)
    body = assert_problem(await client.post(routes.api(routes.ORG_UNITS), json=unit), 422, "invalid_input", "parent")
    assert detail_part in body["detail"]
    assert 404 == (await client.get(routes.api(routes.ORG_UNIT, code=quote(unit["code"])))).status_code


async def test_an_unknown_parent_is_404(client):
    """A parent that does not exist is named in a 404."""
    body = assert_problem(
        await client.post(routes.api(routes.ORG_UNITS), json=COMMUNITY), 404, "org_unit_not_found", "parent"
    )
    assert "东大街" == body["org_unit"]


async def test_a_duplicate_code_is_409(client):
    """Codes are unique; registering one twice changes nothing."""
    await build(client, STREET)
    assert_problem(
        await client.post(routes.api(routes.ORG_UNITS), json={**STREET, "name": "别的"}), 409, "already_exists", "code"
    )
    assert "东大街街道" == (await client.get(routes.api(routes.ORG_UNIT, code=quote("东大街")))).json()["name"]


@pytest.mark.parametrize(
    "change, field",
    [
        ({"code": "a/b"}, "code"),
        ({"code": "a b"}, "code"),
        ({"code": "x" * 65}, "code"),
        ({"code": ""}, "code"),
        ({"name": ""}, "name"),
        ({"name": 5}, "name"),
        ({"level": "province"}, "level"),
        ({"surprise": True}, "surprise"),
    ],
)
async def test_bad_fields_are_422_naming_the_field(client, change, field):
    """Malformed units are refused with the offending field named."""
    assert_problem(
        await client.post(routes.api(routes.ORG_UNITS), json={**STREET, **change}), 422, "invalid_input", field
    )


async def test_an_unknown_unit_is_404(client):
    """Reading a unit that does not exist is a 404 problem."""
    assert_problem(await client.get(routes.api(routes.ORG_UNIT, code="nowhere")), 404, "org_unit_not_found", "code")


def _listed(page):
    return [(u["code"], u["members_direct"], u["members_total"]) for u in page["units"]]


async def _members(ledger, *homes):
    for i, home in enumerate(homes):
        await ledger.register_member(ADMIN, f"p-{i}", "居民", home, False, (Role.RESIDENT,))


async def test_a_subtree_is_listed_in_tree_order_with_its_active_members(client, ledger):
    """Each unit of the subtree comes with its own active members and its subtree's; a
    deactivated member counts nowhere, and a unit outside the subtree is not listed."""
    await builders.tree(ledger)
    await builders.other_community(ledger)
    await _members(ledger, builders.MICRO, builders.MICRO, builders.OTHER_MICRO, builders.FAR_MICRO)
    await ledger.change_member(Principal.admin("test"), "p-1", MemberChanges(active=False))
    page = (await client.get(routes.api(routes.ORG_UNITS), params={"under": builders.GRID})).json()
    assert [(builders.GRID, 0, 2), (builders.MICRO, 1, 1), (builders.OTHER_MICRO, 1, 1)] == _listed(page)
    assert (None, ["s-东大街", "c-东关南里", "g-东关南里-1"]) == (page["next_cursor"], page["units"][0]["path"])
    whole = (await client.get(routes.api(routes.ORG_UNITS))).json()
    assert (8, (builders.STREET, 0, 3)) == (len(whole["units"]), _listed(whole)[0])


async def test_a_subtree_is_paged_with_a_cursor(client, ledger):
    """Pages follow each other without a gap or a repeat, and the last has no cursor."""
    await builders.tree(ledger)
    await builders.other_community(ledger)
    seen, cursor = [], None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(routes.api(routes.ORG_UNITS), params=params)).json()
        seen += [u["code"] for u in page["units"]]
        if (cursor := page["next_cursor"]) is None:
            break
    whole = (await client.get(routes.api(routes.ORG_UNITS), params={"limit": 500})).json()
    assert [u["code"] for u in whole["units"]] == seen
    assert 8 == len(set(seen))
    assert_problem(await client.get(routes.api(routes.ORG_UNITS), params={"limit": 501}), 422, "invalid_input", "limit")
    assert_problem(
        await client.get(routes.api(routes.ORG_UNITS), params={"under": "nowhere"}), 404, "org_unit_not_found", "under"
    )


async def test_an_organizer_lists_its_own_subtree_and_no_other(client, ledger):
    """Without `under` an organizer sees its subtree; naming a unit above or beside it is a 403."""
    await builders.tree(ledger)
    await builders.other_community(ledger)
    _, organizer = await builders.token(ledger, "organizer", builders.COMMUNITY)
    mine = (await client.get(routes.api(routes.ORG_UNITS), headers=organizer)).json()
    assert [builders.COMMUNITY, builders.GRID, builders.MICRO, builders.OTHER_MICRO] == [
        u["code"] for u in mine["units"]
    ]
    for under in (builders.STREET, builders.OTHER_COMMUNITY):
        refused = await client.get(routes.api(routes.ORG_UNITS), params={"under": under}, headers=organizer)
        assert_problem(refused, 403, "forbidden", "under")


async def test_a_unit_is_renamed(client, ledger):
    """A PATCH with a name renames the unit and records no move."""
    await builders.tree(ledger)
    renamed = await client.patch(routes.api(routes.ORG_UNIT, code=builders.GRID), json={"name": "东关南里一网格"})
    assert (200, "东关南里一网格") == (renamed.status_code, renamed.json()["name"])
    assert "东关南里一网格" == (await client.get(routes.api(routes.ORG_UNIT, code=builders.GRID))).json()["name"]
    assert [] == (await client.get(routes.api(routes.ORG_UNIT_MOVES, code=builders.GRID))).json()["moves"]


async def test_a_unit_moves_with_its_subtree_and_the_move_is_recorded(client, ledger):
    """A grid moved to another community takes its micro-grids, members and points along,
    and its history says who moved it from where to where."""
    await builders.tree(ledger)
    await builders.other_community(ledger)
    await builders.award(client, await builders.member(ledger, "a", builders.MICRO), 5)
    moved = await client.patch(
        routes.api(routes.ORG_UNIT, code=builders.GRID), json={"parent": builders.OTHER_COMMUNITY}
    )
    assert (200, builders.OTHER_COMMUNITY) == (moved.status_code, moved.json()["parent"])
    micro = (await client.get(routes.api(routes.ORG_UNIT, code=builders.MICRO))).json()
    assert [builders.STREET, builders.OTHER_COMMUNITY, builders.GRID, builders.MICRO] == micro["path"]
    old = (await client.get(routes.api(routes.ORG_UNITS), params={"under": builders.COMMUNITY})).json()
    assert [(builders.COMMUNITY, 0, 0)] == _listed(old)
    new = (await client.get(routes.api(routes.ORG_UNITS), params={"under": builders.OTHER_COMMUNITY})).json()
    assert (builders.OTHER_COMMUNITY, 0, 1) == _listed(new)[0]
    for code, points in ((builders.COMMUNITY, 0), (builders.OTHER_COMMUNITY, 5)):
        summary = (await client.get(routes.api(routes.ORG_UNIT_SUMMARY, code=code), params={"period": "2026"})).json()
        assert points == summary["total_points"]
    [move] = (await client.get(routes.api(routes.ORG_UNIT_MOVES, code=builders.GRID))).json()["moves"]
    assert (builders.GRID, builders.COMMUNITY, builders.OTHER_COMMUNITY, "admin") == (
        move["subject"],
        move["from_unit"],
        move["to_unit"],
        move["moved_by"],
    )
    again = await client.patch(
        routes.api(routes.ORG_UNIT, code=builders.GRID), json={"parent": builders.OTHER_COMMUNITY}
    )
    assert 200 == again.status_code
    assert 1 == len((await client.get(routes.api(routes.ORG_UNIT_MOVES, code=builders.GRID))).json()["moves"])


@pytest.mark.parametrize(
    "code, parent, status, problem",
    [
        (builders.MICRO, builders.COMMUNITY, 422, "invalid_input"),  # a micro-grid under a community
        (builders.GRID, builders.OTHER_MICRO, 422, "invalid_input"),  # a grid under its own micro-grid: a cycle
        (builders.COMMUNITY, builders.STREET + "-x", 404, "org_unit_not_found"),
        (builders.STREET, builders.COMMUNITY, 422, "invalid_input"),  # a street has no parent
    ],
)
async def test_a_move_that_would_break_the_tree_is_refused(client, ledger, code, parent, status, problem):
    """A parent must exist and be of the level above; nothing moves when it is not."""
    await builders.tree(ledger)
    before = (await client.get(routes.api(routes.ORG_UNITS))).json()
    assert_problem(
        await client.patch(routes.api(routes.ORG_UNIT, code=code), json={"parent": parent}), status, problem, "parent"
    )
    assert before == (await client.get(routes.api(routes.ORG_UNITS))).json()
    assert [] == (await client.get(routes.api(routes.ORG_UNIT_MOVES, code=code))).json()["moves"]


async def test_an_organizer_moves_units_only_within_its_subtree(client, ledger):
    """Both the unit and its new parent must lie in the organizer's subtree."""
    await builders.tree(ledger)
    await builders.other_community(ledger)
    await ledger.register_unit(ADMIN, "g-东关南里-2", "东关南里第二大网格", Level.GRID, builders.COMMUNITY)
    _, organizer = await builders.token(ledger, "organizer", builders.COMMUNITY)
    away = {"parent": builders.OTHER_GRID}
    refused = await client.patch(routes.api(routes.ORG_UNIT, code=builders.MICRO), json=away, headers=organizer)
    assert_problem(refused, 403, "forbidden", "parent")
    inward = {"parent": builders.GRID}
    refused = await client.patch(routes.api(routes.ORG_UNIT, code=builders.FAR_MICRO), json=inward, headers=organizer)
    assert_problem(refused, 403, "forbidden", "code")
    moved = await client.patch(
        routes.api(routes.ORG_UNIT, code=builders.MICRO), json={"parent": "g-东关南里-2"}, headers=organizer
    )
    assert (200, "g-东关南里-2") == (moved.status_code, moved.json()["parent"])
    [move] = (await client.get(routes.api(routes.ORG_UNIT_MOVES, code=builders.MICRO))).json()["moves"]
    assert move["moved_by"] != "admin"
