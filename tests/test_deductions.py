"""Deductions (扣分): taken back for cause, clipped at the balance, lowering points earned."""

from tests.builders import assert_problem, award, member, post, recently, tree


def _deduction(member_id, points, **change):
    return {"member_id": member_id, "points": points, "reason": "虚报巡查记录", "occurred_at": recently()} | change


async def test_a_deduction_lowers_available_and_earned_points(client, ledger):
    """The points go back to the unit, and the period's earned points fall with them."""
    await tree(ledger)
    mid = await member(ledger)
    await award(client, mid, 10)
    body = (await post(client, "/v1/deductions", _deduction(mid, 4))).json()
    assert (4, 0, 6) == (body["deducted_points"], body["clipped_points"], body["available_points"])
    balance = await ledger.balance(mid)
    assert (6, 6, 6) == (balance.available_points, balance.period_earned_points, balance.lifetime_earned_points)
    txn = (await client.get(f"/v1/transactions/{body['transaction_id']}")).json()
    assert ("deduction", "虚报巡查记录", -4) == (txn["kind"], txn["memo"], txn["earned_points"])


async def test_a_deduction_is_clipped_at_zero_and_reports_the_clip(client, ledger):
    """Never below zero: the deduction takes what is there and says how much it could not."""
    await tree(ledger)
    mid = await member(ledger)
    await award(client, mid, 3)
    body = (await post(client, "/v1/deductions", _deduction(mid, 10))).json()
    assert (10, 3, 7, 0) == (
        body["requested_points"],
        body["deducted_points"],
        body["clipped_points"],
        body["available_points"],
    )
    assert_problem(await post(client, "/v1/deductions", _deduction(mid, 1)), 409, "nothing_to_deduct")
    assert (await ledger.verify()).ok


async def test_bad_deductions_are_refused(client, ledger):
    """A reason is required and points are a positive whole number."""
    await tree(ledger)
    mid = await member(ledger)
    assert_problem(await post(client, "/v1/deductions", _deduction(mid, 0)), 422, "invalid_input", "points")
    assert_problem(await post(client, "/v1/deductions", _deduction(mid, 1, reason="")), 422, "invalid_input", "reason")
    assert_problem(await post(client, "/v1/deductions", _deduction("nobody", 1)), 404, "member_not_found")
