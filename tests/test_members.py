"""Members over HTTP: registered in a micro-grid, never deleted, deactivated instead."""

import pytest

from tests.builders import GRID, MICRO, OTHER_MICRO, assert_problem, award_body, key, tree

ZHANG = {"id": "410105-0001", "name": "张秀英", "org_unit": MICRO, "party_member": True, "roles": ["micro_grid_worker"]}


async def test_register_read_and_change_a_member(client, ledger):
    """A member round-trips with Chinese text, and a PATCH changes only what it names."""
    await tree(ledger)
    created = await client.post("/v1/members", json=ZHANG)
    assert 201 == created.status_code
    patched = await client.patch(f"/v1/members/{ZHANG['id']}", json={"org_unit": OTHER_MICRO, "roles": ["volunteer"]})
    body = (await client.get(f"/v1/members/{ZHANG['id']}")).json()
    assert patched.json() == body
    assert ("张秀英", OTHER_MICRO, True, ["volunteer"], True) == (
        body["name"],
        body["org_unit"],
        body["party_member"],
        body["roles"],
        body["active"],
    )


async def test_a_member_lives_in_a_micro_grid(client, ledger):
    """A home unit that is not a micro-grid is a 422 naming `org_unit`; an unknown one is a 404."""
    await tree(ledger)
    assert_problem(await client.post("/v1/members", json={**ZHANG, "org_unit": GRID}), 422, "invalid_input", "org_unit")
    assert_problem(await client.post("/v1/members", json={**ZHANG, "org_unit": "nowhere"}), 404, "org_unit_not_found")
    assert_problem(await client.get(f"/v1/members/{ZHANG['id']}"), 404, "member_not_found", "id")


async def test_a_duplicate_member_is_409(client, ledger):
    """A member id is registered once; the second attempt changes nothing."""
    await tree(ledger)
    await client.post("/v1/members", json=ZHANG)
    assert_problem(await client.post("/v1/members", json={**ZHANG, "name": "别人"}), 409, "already_exists", "id")
    assert "张秀英" == (await client.get(f"/v1/members/{ZHANG['id']}")).json()["name"]


@pytest.mark.parametrize(
    "change, field",
    [({"roles": ["mayor"]}, "roles"), ({"party_member": "yes"}, "party_member"), ({"id": ""}, "id"), ({"x": 1}, "x")],
)
async def test_bad_member_fields_are_422(client, ledger, change, field):
    """Unknown roles, wrong types, empty ids and unknown fields are refused by name."""
    await tree(ledger)
    body = assert_problem(await client.post("/v1/members", json={**ZHANG, **change}), 422, "invalid_input")
    assert body["field"].startswith(field)


async def test_a_deactivated_member_receives_no_awards_until_reactivated(client, ledger):
    """Deactivation refuses new awards with 409 member_inactive; reactivation allows them again."""
    await tree(ledger)
    await client.post("/v1/members", json=ZHANG)
    await client.patch(f"/v1/members/{ZHANG['id']}", json={"active": False})
    refused = await client.post("/v1/awards", json=award_body(ZHANG["id"]), headers={"Idempotency-Key": key()})
    assert_problem(refused, 409, "member_inactive", "member_id")
    assert 0 == (await client.get(f"/v1/members/{ZHANG['id']}/balance")).json()["available_points"]
    await client.patch(f"/v1/members/{ZHANG['id']}", json={"active": True})
    accepted = await client.post("/v1/awards", json=award_body(ZHANG["id"], 4), headers={"Idempotency-Key": key()})
    assert (201, 4) == (accepted.status_code, accepted.json()["available_points"])
