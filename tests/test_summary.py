"""Roll-ups of a subtree: points by category and the leaderboard."""

from alembic import command

from api import routes
from ledger import migrate
from ledger.storage.migrate import alembic_config
from tests.builders import COMMUNITY, GRID, MICRO, OTHER_MICRO, STREET, assert_problem, award, member, tree


async def test_a_subtree_sums_its_units_and_ranks_its_members(client, ledger):
    """A grid sees both micro-grids; a micro-grid sees only its own; other periods stay out.
    A line names the member by name and rank, never by member id."""
    await tree(ledger)
    a = await member(ledger, "a", MICRO, name="a")
    b = await member(ledger, "b", OTHER_MICRO, name="b")
    await award(client, a, 5)
    await award(client, a, 2, category="diary")
    await award(client, b, 9)
    await award(client, b, 4, occurred_at="2025-05-01T10:00:00+08:00")
    grid = (await client.get(routes.api(routes.ORG_UNIT_SUMMARY, code=GRID), params={"period": "2026"})).json()
    assert ({"diary": 2, "patrol": 14}, 16) == (grid["by_category"], grid["total_points"])
    assert [("b", 9, 1), ("a", 7, 2)] == [(m["name"], m["earned_points"], m["rank"]) for m in grid["top_members"]]
    assert [["earned_points", "name", "org_unit", "rank"]] * 2 == [sorted(m) for m in grid["top_members"]]
    micro = (
        await client.get(routes.api(routes.ORG_UNIT_SUMMARY, code=MICRO), params={"period": "2026", "top": 1})
    ).json()
    assert (7, ["a"]) == (micro["total_points"], [m["name"] for m in micro["top_members"]])
    old = (await client.get(routes.api(routes.ORG_UNIT_SUMMARY, code=STREET), params={"period": "2025"})).json()
    assert {"patrol": 4} == old["by_category"]


async def test_summary_input_is_checked(client, ledger):
    """Unknown units are 404; periods are years; the leaderboard is bounded."""
    await tree(ledger)
    assert_problem(await client.get(routes.api(routes.ORG_UNIT_SUMMARY, code="nowhere")), 404, "org_unit_not_found")
    assert_problem(
        await client.get(routes.api(routes.ORG_UNIT_SUMMARY, code=COMMUNITY), params={"period": "26"}),
        422,
        "invalid_input",
        "period",
    )
    assert_problem(
        await client.get(routes.api(routes.ORG_UNIT_SUMMARY, code=COMMUNITY), params={"top": 101}),
        422,
        "invalid_input",
        "top",
    )


async def _summary(client, code):
    body = (await client.get(routes.api(routes.ORG_UNIT_SUMMARY, code=code), params={"period": "2026"})).json()
    return body["total_points"], [(m["name"], m["org_unit"], m["earned_points"]) for m in body["top_members"]]


async def test_points_stay_in_the_unit_where_they_were_earned(client, ledger):
    """A member who moves keeps what they earned in the old unit's total and top list and
    earns into the new unit's from then on; each unit's top list sums to its total."""
    await tree(ledger)
    a = await member(ledger, "a", MICRO, name="a")
    b = await member(ledger, "b", MICRO, name="b")
    await award(client, a, 5)
    await award(client, b, 3)
    moved = await client.patch(routes.api(routes.MEMBER, member_id=a), json={"org_unit": OTHER_MICRO})
    assert (200, OTHER_MICRO) == (moved.status_code, moved.json()["org_unit"])
    await award(client, a, 7)
    assert (8, [("a", OTHER_MICRO, 5), ("b", MICRO, 3)]) == await _summary(client, MICRO)
    assert (7, [("a", OTHER_MICRO, 7)]) == await _summary(client, OTHER_MICRO)
    assert (15, [("a", OTHER_MICRO, 12), ("b", MICRO, 3)]) == await _summary(client, GRID)
    assert [] == (await client.get(routes.api(routes.LEDGER_VERIFY))).json()["problems"]


async def test_points_an_activity_of_a_community_issues_count_in_the_community_only(client, ledger):
    """An award issued by a community is in the community's total and top list, and in
    neither of the member's micro-grid, whose total never saw it."""
    await tree(ledger)
    a = await member(ledger, "a", MICRO, name="a")
    await award(client, a, 4)
    await award(client, a, 6, org_unit=COMMUNITY)
    assert (4, [("a", MICRO, 4)]) == await _summary(client, MICRO)
    assert (10, [("a", MICRO, 10)]) == await _summary(client, COMMUNITY)


async def test_the_migration_fills_the_top_lists_from_the_journal(client, ledger, db):
    """Points earned before the per-unit counter existed are counted into it from the
    journal: down to the revision before and up again, the top lists and verify agree."""
    await tree(ledger)
    a = await member(ledger, "a", MICRO, name="a")
    await award(client, a, 5)
    await client.patch(routes.api(routes.MEMBER, member_id=a), json={"org_unit": OTHER_MICRO})
    await award(client, a, 2)
    await award(client, a, 1, org_unit=GRID)

    def downgrade(connection):
        command.downgrade(alembic_config(connection), "0008")  # the revision before the counter

    async with db.write() as conn:
        await conn.run_sync(downgrade)
    await migrate(db)
    assert (5, [("a", OTHER_MICRO, 5)]) == await _summary(client, MICRO)
    assert (8, [("a", OTHER_MICRO, 8)]) == await _summary(client, GRID)
    assert [] == (await client.get(routes.api(routes.LEDGER_VERIFY))).json()["problems"]
