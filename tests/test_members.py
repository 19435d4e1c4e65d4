"""Members over HTTP: registered in a micro-grid, never deleted, deactivated instead."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from api import routes
from ledger import AccessDenied, Level, MemberChanges, Principal, Role
from tests.builders import (
    ADMIN,
    COMMUNITY,
    FAR_MICRO,
    GRID,
    MICRO,
    OTHER_MICRO,
    assert_problem,
    award_body,
    key,
    other_community,
    token,
    tree,
)

ZHANG = {"id": "410105-0001", "name": "张秀英", "org_unit": MICRO, "party_member": True, "roles": ["micro_grid_worker"]}


async def test_register_read_and_change_a_member(client, ledger):
    """A member round-trips with Chinese text, and a PATCH changes only what it names."""
    await tree(ledger)
    created = await client.post(routes.api(routes.MEMBERS), json=ZHANG)
    assert 201 == created.status_code
    patched = await client.patch(
        routes.api(routes.MEMBER, member_id=ZHANG["id"]), json={"org_unit": OTHER_MICRO, "roles": ["volunteer"]}
    )
    body = (await client.get(routes.api(routes.MEMBER, member_id=ZHANG["id"]))).json()
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
    assert_problem(
        await client.post(routes.api(routes.MEMBERS), json={**ZHANG, "org_unit": GRID}),
        422,
        "invalid_input",
        "org_unit",
    )
    assert_problem(
        await client.post(routes.api(routes.MEMBERS), json={**ZHANG, "org_unit": "nowhere"}), 404, "org_unit_not_found"
    )
    assert_problem(await client.get(routes.api(routes.MEMBER, member_id=ZHANG["id"])), 404, "member_not_found", "id")


async def test_a_duplicate_member_is_409(client, ledger):
    """A member id is registered once; the second attempt changes nothing."""
    await tree(ledger)
    await client.post(routes.api(routes.MEMBERS), json=ZHANG)
    assert_problem(
        await client.post(routes.api(routes.MEMBERS), json={**ZHANG, "name": "别人"}), 409, "already_exists", "id"
    )
    assert "张秀英" == (await client.get(routes.api(routes.MEMBER, member_id=ZHANG["id"]))).json()["name"]


@pytest.mark.parametrize(
    "change, field",
    [({"roles": ["mayor"]}, "roles"), ({"party_member": "yes"}, "party_member"), ({"id": ""}, "id"), ({"x": 1}, "x")],
)
async def test_bad_member_fields_are_422(client, ledger, change, field):
    """Unknown roles, wrong types, empty ids and unknown fields are refused by name."""
    await tree(ledger)
    body = assert_problem(await client.post(routes.api(routes.MEMBERS), json={**ZHANG, **change}), 422, "invalid_input")
    assert body["field"].startswith(field)


async def test_a_deactivated_member_receives_no_awards_until_reactivated(client, ledger):
    """Deactivation refuses new awards with 409 member_inactive; reactivation allows them again."""
    await tree(ledger)
    await client.post(routes.api(routes.MEMBERS), json=ZHANG)
    await client.patch(routes.api(routes.MEMBER, member_id=ZHANG["id"]), json={"active": False})
    refused = await client.post(
        routes.api(routes.AWARDS), json=award_body(ZHANG["id"]), headers={"Idempotency-Key": key()}
    )
    assert_problem(refused, 409, "member_inactive", "member_id")
    assert 0 == (await client.get(routes.api(routes.MEMBER_BALANCE, member_id=ZHANG["id"]))).json()["available_points"]
    await client.patch(routes.api(routes.MEMBER, member_id=ZHANG["id"]), json={"active": True})
    accepted = await client.post(
        routes.api(routes.AWARDS), json=award_body(ZHANG["id"], 4), headers={"Idempotency-Key": key()}
    )
    assert (201, 4) == (accepted.status_code, accepted.json()["available_points"])


async def test_a_units_members_are_listed_by_id_without_a_search_word(client, ledger):
    """Without `q` the subtree's members come by id, active or not, page after page;
    members outside the unit are not listed."""
    await tree(ledger)
    for i in range(5):
        await ledger.register_member(ADMIN, f"r-{i}", "居民", MICRO if i != 2 else OTHER_MICRO, False, (Role.RESIDENT,))
    await ledger.change_member(Principal.admin("test"), "r-3", MemberChanges(active=False))
    first = (await client.get(routes.api(routes.MEMBERS), params={"org_unit": GRID, "limit": 3})).json()
    rest = (await client.get(routes.api(routes.MEMBERS), params={"org_unit": GRID, "limit": 3, "after": "r-2"})).json()
    assert (["r-0", "r-1", "r-2"], ["r-3", "r-4"]) == ([m["id"] for m in first], [m["id"] for m in rest])
    micro = (await client.get(routes.api(routes.MEMBERS), params={"org_unit": MICRO, "limit": 500})).json()
    assert ["r-0", "r-1", "r-3", "r-4"] == [m["id"] for m in micro]
    assert_problem(
        await client.get(routes.api(routes.MEMBERS), params={"org_unit": GRID, "limit": 501}), 422, "invalid_input"
    )
    searched = await client.get(routes.api(routes.MEMBERS), params={"org_unit": GRID, "q": "r", "limit": 51})
    assert_problem(searched, 422, "invalid_input", "limit")
    paged_search = await client.get(routes.api(routes.MEMBERS), params={"org_unit": GRID, "q": "r", "after": "r-1"})
    assert_problem(paged_search, 422, "invalid_input", "after")


async def _moves(client, member_id, **headers):
    response = await client.get(routes.api(routes.MEMBER_MOVES, member_id=member_id), headers=headers)
    assert 200 == response.status_code, response.text
    return [(m["from_unit"], m["to_unit"], m["moved_by"]) for m in response.json()["moves"]]


async def test_a_move_to_another_micro_grid_is_recorded_in_the_members_history(client, ledger):
    """Each move says who moved the member, when, from where and to where, oldest first;
    a PATCH that names the member's own micro-grid moves nothing."""
    await tree(ledger)
    await client.post(routes.api(routes.MEMBERS), json=ZHANG)
    member_id = ZHANG["id"]
    await client.patch(routes.api(routes.MEMBER, member_id=member_id), json={"org_unit": OTHER_MICRO, "name": "张秀英"})
    await client.patch(routes.api(routes.MEMBER, member_id=member_id), json={"org_unit": OTHER_MICRO})
    await client.patch(routes.api(routes.MEMBER, member_id=member_id), json={"org_unit": MICRO})
    assert [(MICRO, OTHER_MICRO, "admin"), (OTHER_MICRO, MICRO, "admin")] == await _moves(client, member_id)
    page = (await client.get(routes.api(routes.MEMBER_MOVES, member_id=member_id), params={"limit": 1})).json()
    later = (
        await client.get(routes.api(routes.MEMBER_MOVES, member_id=member_id), params={"cursor": page["next_cursor"]})
    ).json()
    [second] = later["moves"]
    assert (OTHER_MICRO, MICRO, None) == (second["from_unit"], second["to_unit"], later["next_cursor"])
    assert page["moves"][0]["moved_at"] <= second["moved_at"]
    _, own = await token(ledger, "member", member_id=member_id)
    assert 2 == len(await _moves(client, member_id, **own))


async def test_a_move_is_refused_to_anything_but_a_micro_grid(client, ledger):
    """A grid or an unknown unit is no home; the member stays and nothing is recorded."""
    await tree(ledger)
    await client.post(routes.api(routes.MEMBERS), json=ZHANG)
    assert_problem(
        await client.patch(routes.api(routes.MEMBER, member_id=ZHANG["id"]), json={"org_unit": GRID}),
        422,
        "invalid_input",
    )
    refused = await client.patch(routes.api(routes.MEMBER, member_id=ZHANG["id"]), json={"org_unit": "nowhere"})
    assert_problem(refused, 404, "org_unit_not_found", "org_unit")
    assert MICRO == (await client.get(routes.api(routes.MEMBER, member_id=ZHANG["id"]))).json()["org_unit"]
    assert [] == await _moves(client, ZHANG["id"])
    assert_problem(
        await client.get(routes.api(routes.MEMBER_MOVES, member_id="nobody")), 404, "member_not_found", "member_id"
    )


async def test_an_organizer_moves_a_member_only_within_its_subtree(client, ledger):
    """The member's micro-grid and the new one must both lie in the organizer's subtree."""
    await tree(ledger)
    await other_community(ledger)
    await client.post(routes.api(routes.MEMBERS), json=ZHANG)
    await client.post(routes.api(routes.MEMBERS), json={**ZHANG, "id": "far", "org_unit": FAR_MICRO})
    organizer_id, organizer = await token(ledger, "organizer", COMMUNITY)
    out = await client.patch(
        routes.api(routes.MEMBER, member_id=ZHANG["id"]), json={"org_unit": FAR_MICRO}, headers=organizer
    )
    assert_problem(out, 403, "forbidden", "org_unit")
    inward = await client.patch(routes.api(routes.MEMBER, member_id="far"), json={"org_unit": MICRO}, headers=organizer)
    assert_problem(inward, 403, "forbidden", "member_id")
    moved = await client.patch(
        routes.api(routes.MEMBER, member_id=ZHANG["id"]), json={"org_unit": OTHER_MICRO}, headers=organizer
    )
    assert 200 == moved.status_code
    assert [(MICRO, OTHER_MICRO, organizer_id)] == await _moves(client, ZHANG["id"], **organizer)
    assert [] == await _moves(client, "far")


async def test_the_record_of_moves_cannot_be_edited(client, ledger):
    """member_move and unit_move are append-only in the database itself, like the journal."""
    await tree(ledger)
    await client.post(routes.api(routes.MEMBERS), json=ZHANG)
    await client.patch(routes.api(routes.MEMBER, member_id=ZHANG["id"]), json={"org_unit": OTHER_MICRO})
    await ledger.register_unit(ADMIN, "g-2", "第二大网格", Level.GRID, COMMUNITY)
    assert 200 == (await client.patch(routes.api(routes.ORG_UNIT, code=MICRO), json={"parent": "g-2"})).status_code
    for sql in ("UPDATE member_move SET to_unit = 'x'", "DELETE FROM member_move", "DELETE FROM unit_move"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with ledger.db.write() as conn:
                await conn.execute(text(sql))
    assert [(MICRO, OTHER_MICRO, "admin")] == await _moves(client, ZHANG["id"])


@pytest.mark.clocked  # the balance's expiry horizon is counted from the ledger's now
async def test_a_member_overview_is_the_separate_reads_in_one_checked_call(client, ledger):
    """The pages' overview of a member answers what the separate reads answer, checks the
    actor's scope once for all of it, and is refused outside the actor's subtree."""
    await tree(ledger)
    await other_community(ledger)
    await ledger.register_member(ADMIN, "m-近", "李近", MICRO, False, (Role.VOLUNTEER,))
    await ledger.register_member(ADMIN, "m-远", "王远", FAR_MICRO, False, (Role.VOLUNTEER,))
    for points in (5, 7):
        response = await client.post(
            routes.api(routes.AWARDS), json=award_body("m-近", points), headers={"Idempotency-Key": key()}
        )
        assert response.status_code == 201, response.text
    organizer_id, _ = await token(ledger, "organizer", org_unit=COMMUNITY)
    organizer = await ledger.principal(ADMIN, organizer_id)
    seen = await ledger.member_overview(organizer, "m-近", lines=1, with_rooms=True, moves_shown=5, claims_shown=5)
    assert seen.member == await ledger.member(organizer, "m-近")
    assert seen.unit == await ledger.unit(MICRO)
    assert seen.balance == await ledger.balance(organizer, "m-近")
    assert seen.tier == await ledger.member_tier(organizer, "m-近", None)
    assert seen.statement == await ledger.statement(organizer, "m-近", 1, None)
    assert seen.rooms == await ledger.cap_room(organizer, "m-近")
    assert (seen.moves, seen.claims, seen.redemptions) == ([], [], [])
    assert seen.balance.available_points == 12 and len(seen.statement.lines) == 1
    with pytest.raises(AccessDenied) as refused:
        await ledger.member_overview(organizer, "m-远", lines=1)
    assert refused.value.fields()["field"] == "member_id"
