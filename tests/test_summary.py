"""Roll-ups of a subtree: points by category and the leaderboard."""

from tests.builders import COMMUNITY, GRID, MICRO, OTHER_MICRO, STREET, assert_problem, award, member, tree


async def test_a_subtree_sums_its_units_and_ranks_its_members(client, ledger):
    """A grid sees both micro-grids; a micro-grid sees only its own; other periods stay out."""
    await tree(ledger)
    a = await member(ledger, "a", MICRO)
    b = await member(ledger, "b", OTHER_MICRO)
    await award(client, a, 5)
    await award(client, a, 2, category="diary")
    await award(client, b, 9)
    await award(client, b, 4, occurred_at="2025-05-01T10:00:00+08:00")
    grid = (await client.get(f"/v1/org-units/{GRID}/summary", params={"period": "2026"})).json()
    assert ({"diary": 2, "patrol": 14}, 16) == (grid["by_category"], grid["total_points"])
    assert [("b", 9, 1), ("a", 7, 2)] == [(m["member_id"], m["earned_points"], m["rank"]) for m in grid["top_members"]]
    micro = (await client.get(f"/v1/org-units/{MICRO}/summary", params={"period": "2026", "top": 1})).json()
    assert (7, ["a"]) == (micro["total_points"], [m["member_id"] for m in micro["top_members"]])
    old = (await client.get(f"/v1/org-units/{STREET}/summary", params={"period": "2025"})).json()
    assert {"patrol": 4} == old["by_category"]


async def test_summary_input_is_checked(client, ledger):
    """Unknown units are 404; periods are years; the leaderboard is bounded."""
    await tree(ledger)
    assert_problem(await client.get("/v1/org-units/nowhere/summary"), 404, "org_unit_not_found")
    assert_problem(
        await client.get(f"/v1/org-units/{COMMUNITY}/summary", params={"period": "26"}), 422, "invalid_input", "period"
    )
    assert_problem(
        await client.get(f"/v1/org-units/{COMMUNITY}/summary", params={"top": 101}), 422, "invalid_input", "top"
    )
