"""Deductions (扣分): taken back for cause, clipped at the balance, lowering points earned."""

from api import routes
from api.app import create_app
from tests.builders import (
    ADMIN,
    COMMUNITY,
    assert_problem,
    award,
    count_transactions,
    member,
    post,
    recently,
    token,
    tree,
)
from tests.conftest import http_client, settings


def _deduction(member_id, points, **change):
    return {"member_id": member_id, "points": points, "reason": "虚报巡查记录", "occurred_at": recently()} | change


async def test_a_deduction_lowers_available_and_earned_points(client, ledger):
    """The points go back to the unit, and the period's earned points fall with them."""
    await tree(ledger)
    mid = await member(ledger)
    await award(client, mid, 10)
    body = (await post(client, routes.api(routes.DEDUCTIONS), _deduction(mid, 4))).json()
    assert (4, 0, 6) == (body["deducted_points"], body["clipped_points"], body["available_points"])
    balance = await ledger.balance(ADMIN, mid)
    assert (6, 6, 6) == (balance.available_points, balance.period_earned_points, balance.lifetime_earned_points)
    txn = (await client.get(routes.api(routes.TRANSACTION, transaction_id=body["transaction_id"]))).json()
    assert ("deduction", "虚报巡查记录", -4) == (txn["kind"], txn["memo"], txn["earned_points"])


async def test_a_deduction_is_clipped_at_zero_and_reports_the_clip(client, ledger):
    """Never below zero: the deduction takes what is there and says how much it could not."""
    await tree(ledger)
    mid = await member(ledger)
    await award(client, mid, 3)
    body = (await post(client, routes.api(routes.DEDUCTIONS), _deduction(mid, 10))).json()
    assert (10, 3, 7, 0) == (
        body["requested_points"],
        body["deducted_points"],
        body["clipped_points"],
        body["available_points"],
    )
    assert_problem(await post(client, routes.api(routes.DEDUCTIONS), _deduction(mid, 1)), 409, "nothing_to_deduct")
    assert (await ledger.verify()).ok


async def test_bad_deductions_are_refused(client, ledger):
    """A reason is required and points are a positive whole number."""
    await tree(ledger)
    mid = await member(ledger)
    assert_problem(
        await post(client, routes.api(routes.DEDUCTIONS), _deduction(mid, 0)), 422, "invalid_input", "points"
    )
    assert_problem(
        await post(client, routes.api(routes.DEDUCTIONS), _deduction(mid, 1, reason="")), 422, "invalid_input", "reason"
    )
    assert_problem(await post(client, routes.api(routes.DEDUCTIONS), _deduction("nobody", 1)), 404, "member_not_found")


async def test_a_deduction_s_key_is_its_first_principal_s(client, ledger):
    """Every write that claims a key claims it ledger-wide: the same deduction and key
    under a second organizer's token takes nothing more; the first's retry replays."""
    await tree(ledger)
    mid = await member(ledger)
    await award(client, mid, 10)
    (_, first_token), (_, second_token) = [await token(ledger, "organizer", org_unit=COMMUNITY) for _ in "ab"]
    app, body = create_app(settings(ledger), ledger), _deduction(mid, 4)
    async with http_client(app, first_token) as first_organizer, http_client(app, second_token) as second_organizer:
        first = await post(first_organizer, routes.api(routes.DEDUCTIONS), body, Idempotency_Key="d-1")
        taken = await post(second_organizer, routes.api(routes.DEDUCTIONS), body, Idempotency_Key="d-1")
        retry = await post(first_organizer, routes.api(routes.DEDUCTIONS), body, Idempotency_Key="d-1")
    assert "d-1" == assert_problem(taken, 409, "idempotency_key_taken", "Idempotency-Key")["idempotency_key"]
    assert (first.json(), "true") == (retry.json(), retry.headers.get("idempotent-replayed"))
    assert (6, 2) == ((await ledger.balance(ADMIN, mid)).available_points, await count_transactions(ledger))
