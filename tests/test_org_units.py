"""The org tree over HTTP: 街道 → 社区 → 大网格 → 微网格."""

from urllib.parse import quote

import pytest

from tests.builders import assert_problem

STREET = {"code": "东大街", "name": "东大街街道", "level": "street"}
COMMUNITY = {"code": "东关南里", "name": "东关南里社区", "level": "community", "parent": "东大街"}
GRID = {"code": "东关南里-1", "name": "东关南里第一大网格", "level": "grid", "parent": "东关南里"}
MICRO = {"code": "东关南里-1-1", "name": "东关南里1-1微网格", "level": "micro_grid", "parent": "东关南里-1"}


async def build(client, *units):
    for unit in units:
        response = await client.post("/v1/org-units", json=unit)
        assert 201 == response.status_code, response.text


async def test_a_tree_with_chinese_codes_round_trips(client):
    """Every level registers under its parent, and a Chinese code works in the URL."""
    await build(client, STREET, COMMUNITY, GRID, MICRO)
    response = await client.get(f"/v1/org-units/{quote(MICRO['code'])}")
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
    body = assert_problem(await client.post("/v1/org-units", json=unit), 422, "invalid_input", "parent")
    assert detail_part in body["detail"]
    assert 404 == (await client.get(f"/v1/org-units/{quote(unit['code'])}")).status_code


async def test_an_unknown_parent_is_404(client):
    """A parent that does not exist is named in a 404."""
    body = assert_problem(await client.post("/v1/org-units", json=COMMUNITY), 404, "org_unit_not_found", "parent")
    assert "东大街" == body["org_unit"]


async def test_a_duplicate_code_is_409(client):
    """Codes are unique; registering one twice changes nothing."""
    await build(client, STREET)
    assert_problem(await client.post("/v1/org-units", json={**STREET, "name": "别的"}), 409, "already_exists", "code")
    assert "东大街街道" == (await client.get(f"/v1/org-units/{quote('东大街')}")).json()["name"]


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
    assert_problem(await client.post("/v1/org-units", json={**STREET, **change}), 422, "invalid_input", field)


async def test_an_unknown_unit_is_404(client):
    """Reading a unit that does not exist is a 404 problem."""
    assert_problem(await client.get("/v1/org-units/nowhere"), 404, "org_unit_not_found", "code")
