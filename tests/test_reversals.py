"""Reversals: a wrong award is undone by its mirror image, never by an edit."""

from api import routes
from tests.builders import assert_problem, award, count_transactions, key, member, spend, tree


async def reverse(client, transaction_id, reason="重复录入", idempotency_key=None):
    return await client.post(
        routes.api(routes.TRANSACTION_REVERSAL, transaction_id=transaction_id),
        json={"reason": reason},
        headers={"Idempotency-Key": idempotency_key or key()},
    )


async def test_a_reversal_mirrors_the_award_and_lowers_earned_points(client, ledger):
    """The mirror postings take back the points and the points earned, in the award's period."""
    await tree(ledger)
    mid = await member(ledger)
    keep = await award(client, mid, 5)
    wrong = await award(client, mid, 8, occurred_at="2025-06-01T10:00:00+08:00")
    response = await reverse(client, wrong["transaction_id"])
    assert 201 == response.status_code
    result = response.json()
    assert (wrong["transaction_id"], -8, 5) == (result["reverses_id"], result["points"], result["available_points"])
    original = (await client.get(routes.api(routes.TRANSACTION, transaction_id=wrong["transaction_id"]))).json()
    mirror = (await client.get(routes.api(routes.TRANSACTION, transaction_id=result["transaction_id"]))).json()
    assert {(p["account_id"], -p["points"]) for p in original["postings"]} == {
        (p["account_id"], p["points"]) for p in mirror["postings"]
    }
    assert ("reversal", "2025", "重复录入", result["transaction_id"]) == (
        mirror["kind"],
        mirror["period"],
        mirror["memo"],
        original["reversed_by_id"],
    )
    balance = (await client.get(routes.api(routes.MEMBER_BALANCE, member_id=mid))).json()
    assert (5, 5) == (balance["available_points"], balance["lifetime_earned_points"])
    assert keep["available_points"] == balance["period_earned_points"]  # 2026's earned points untouched


async def test_a_transaction_is_reversed_once(client, ledger):
    """A second reversal is 409 already_reversed, naming the first."""
    await tree(ledger)
    mid = await member(ledger)
    wrong = await award(client, mid, 8)
    first = (await reverse(client, wrong["transaction_id"])).json()
    body = assert_problem(await reverse(client, wrong["transaction_id"]), 409, "already_reversed")
    assert first["transaction_id"] == body["reversal_id"]
    assert 2 == await count_transactions(ledger)


async def test_a_reversal_is_not_reversed(client, ledger):
    """Undoing a reversal is done by a new award, not by reversing the reversal."""
    await tree(ledger)
    mid = await member(ledger)
    wrong = await award(client, mid, 8)
    mirror = (await reverse(client, wrong["transaction_id"])).json()
    assert_problem(await reverse(client, mirror["transaction_id"]), 409, "not_reversible")


async def test_a_reversal_of_points_already_spent_is_refused(client, ledger):
    """When the member has spent the points, the reversal is 409 and nothing changes.

    Spending arrives with the points shop; here a spending transaction is posted directly
    through journal.post, moving points from the member to the unit's redemption account."""
    await tree(ledger)
    mid = await member(ledger)
    wrong = await award(client, mid, 8)
    await spend(ledger, mid, 6)
    body = assert_problem(await reverse(client, wrong["transaction_id"]), 409, "insufficient_points")
    assert (2, 8) == (body["available_points"], body["needed_points"])
    assert "already spent" in body["detail"]
    assert 2 == (await client.get(routes.api(routes.MEMBER_BALANCE, member_id=mid))).json()["available_points"]


async def test_a_reversal_replays_under_its_key(client, ledger):
    """The same reversal request twice with one key is answered twice and posted once."""
    await tree(ledger)
    mid = await member(ledger)
    wrong = await award(client, mid, 8)
    first = await reverse(client, wrong["transaction_id"], idempotency_key="undo-1")
    again = await reverse(client, wrong["transaction_id"], idempotency_key="undo-1")
    assert first.json() == again.json()
    assert "true" == again.headers["idempotent-replayed"]
    assert 2 == await count_transactions(ledger)


async def test_reversal_input_is_checked(client, ledger):
    """Reversing nothing is a 404; a reason is required."""
    await tree(ledger)
    assert_problem(await reverse(client, 404), 404, "transaction_not_found")
    mid = await member(ledger)
    wrong = await award(client, mid, 8)
    assert_problem(await reverse(client, wrong["transaction_id"], reason=""), 422, "invalid_input", "reason")
