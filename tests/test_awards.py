"""Awards, balances and statements over HTTP."""

from datetime import UTC, datetime, timedelta

import pytest

from api import routes
from api.app import create_app
from ledger import AwardCommand, Category, IdempotencyKeyTaken, IdempotentRequest, Ledger
from ledger.earning.award_batch import AwardRequest, award_many
from tests.builders import (
    ADMIN,
    COMMUNITY,
    assert_problem,
    award,
    award_body,
    count_transactions,
    key,
    member,
    token,
    tree,
)
from tests.conftest import http_client, settings


async def test_an_award_answers_with_the_transaction_and_new_balance(client, ledger):
    """201 carries the transaction id and the member's available balance after it."""
    await tree(ledger)
    mid = await member(ledger)
    first = await award(client, mid, 7)
    second = await award(client, mid, 5)
    assert (7, 12, 5) == (first["available_points"], second["available_points"], second["points"])
    assert second["transaction_id"] == first["transaction_id"] + 1
    balance = (await client.get(routes.api(routes.MEMBER_BALANCE, member_id=mid))).json()
    assert (12, 0, 12, 12) == (
        balance["available_points"],
        balance["held_points"],
        balance["lifetime_earned_points"],
        balance["period_earned_points"],
    )


async def test_periods_follow_the_calendar_year_in_shanghai(client, ledger):
    """23:59 on 31 December (+08:00) belongs to that year, 00:00 on 1 January to the next."""
    await tree(ledger)
    mid = await member(ledger)
    old = await award(client, mid, 3, occurred_at="2025-12-31T23:59:00+08:00")
    new = await award(client, mid, 4, occurred_at="2026-01-01T00:00:00+08:00")
    assert ("2025", "2026") == (
        (await client.get(routes.api(routes.TRANSACTION, transaction_id=old["transaction_id"]))).json()["period"],
        (await client.get(routes.api(routes.TRANSACTION, transaction_id=new["transaction_id"]))).json()["period"],
    )


async def test_the_statement_pages_newest_first_without_loss(client, ledger):
    """Cursor pages cover every line once, newest first, each with the balance after it."""
    await tree(ledger)
    mid = await member(ledger)
    for points in range(1, 8):
        await award(client, mid, points)
    lines, cursor = [], None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(routes.api(routes.MEMBER_STATEMENT, member_id=mid), params=params)).json()
        lines += page["lines"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [7, 6, 5, 4, 3, 2, 1] == [line["points"] for line in lines]
    assert [28, 21, 15, 10, 6, 3, 1] == [line["balance_after"] for line in lines]
    assert {"award"} == {line["kind"] for line in lines}
    assert "日巡千步" == lines[0]["memo"]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"cursor": "abc"}, "cursor"),
        ({"cursor": "99999999999999999999"}, "cursor"),
    ],
)
async def test_bad_statement_parameters_are_422(client, ledger, params, field):
    """Limits outside 1..500 and cursors that were never issued are refused by name."""
    await tree(ledger)
    mid = await member(ledger)
    assert_problem(
        await client.get(routes.api(routes.MEMBER_STATEMENT, member_id=mid), params=params), 422, "invalid_input", field
    )


async def test_statement_and_balance_of_an_unknown_member_are_404(client, ledger):
    """Reads of a member that does not exist say so."""
    assert_problem(
        await client.get(routes.api(routes.MEMBER_STATEMENT, member_id="nobody")), 404, "member_not_found", "id"
    )
    assert_problem(
        await client.get(routes.api(routes.MEMBER_BALANCE, member_id="nobody")), 404, "member_not_found", "id"
    )


@pytest.mark.parametrize(
    "change, field",
    [
        ({"points": 0}, "points"),
        ({"points": 10_001}, "points"),
        ({"points": "5"}, "points"),
        ({"points": 5.0}, "points"),
        ({"points": None}, "points"),
        ({"category": "bribery"}, "category"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"evidence_url": "javascript:alert(1)"}, "evidence_url"),
        ({"memo": "长" * 501}, "memo"),
        ({"extra_field": 1}, "extra_field"),
    ],
)
async def test_bad_award_fields_are_422_and_post_nothing(client, ledger, change, field):
    """Wrong values and types are refused with the field named, and no transaction is written."""
    await tree(ledger)
    mid = await member(ledger)
    body = award_body(mid) | change
    assert_problem(
        await client.post(routes.api(routes.AWARDS), json=body, headers={"Idempotency-Key": key()}),
        422,
        "invalid_input",
        field,
    )
    assert 0 == await count_transactions(ledger)


async def test_missing_points_is_422(client, ledger):
    """A body without points names the missing field."""
    await tree(ledger)
    body = award_body(await member(ledger))
    del body["points"]
    assert_problem(
        await client.post(routes.api(routes.AWARDS), json=body, headers={"Idempotency-Key": key()}),
        422,
        "invalid_input",
        "points",
    )


@pytest.mark.parametrize(
    "occurred_at",
    [
        (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        "1999-12-31T23:59:59+08:00",
        "2026-01-01T10:00:00",
    ],
    ids=["future", "before-2000", "no-offset"],
)
async def test_occurred_at_must_be_a_real_past_moment(client, ledger, occurred_at):
    """Work is dated with an offset, not in the future, not before 2000."""
    await tree(ledger)
    body = award_body(await member(ledger), occurred_at=occurred_at)
    response = await client.post(routes.api(routes.AWARDS), json=body, headers={"Idempotency-Key": key()})
    assert_problem(response, 422, "invalid_input", "occurred_at")
    assert 0 == await count_transactions(ledger)


async def test_awarding_an_unknown_member_is_404(client, ledger):
    """The member is named in the 404."""
    await tree(ledger)
    response = await client.post(
        routes.api(routes.AWARDS), json=award_body("ghost"), headers={"Idempotency-Key": key()}
    )
    assert "ghost" == assert_problem(response, 404, "member_not_found", "member_id")["member_id"]


async def test_the_idempotency_key_is_required(client, ledger):
    """Without the header nothing is posted and the header is named."""
    await tree(ledger)
    response = await client.post(routes.api(routes.AWARDS), json=award_body(await member(ledger)))
    assert_problem(response, 422, "invalid_input", "Idempotency-Key")
    assert 0 == await count_transactions(ledger)


async def test_a_retry_with_the_same_key_replays_the_first_response(client, ledger):
    """Same key and body: the first body again, marked as a replay, and one transaction."""
    await tree(ledger)
    mid = await member(ledger)
    body, headers = award_body(mid, 9), {"Idempotency-Key": "retry-1"}
    first = await client.post(routes.api(routes.AWARDS), json=body, headers=headers)
    await award(client, mid, 1)  # the balance moves on meanwhile
    again = await client.post(routes.api(routes.AWARDS), json=body, headers=headers)
    assert (201, 201) == (first.status_code, again.status_code)
    assert first.json() == again.json()
    assert ("true", None) == (again.headers.get("idempotent-replayed"), first.headers.get("idempotent-replayed"))
    assert 2 == await count_transactions(ledger)


async def test_the_same_key_with_another_body_is_409(client, ledger):
    """A key reused for a different award is refused and changes nothing."""
    await tree(ledger)
    mid = await member(ledger)
    await client.post(routes.api(routes.AWARDS), json=award_body(mid, 9), headers={"Idempotency-Key": "k"})
    response = await client.post(routes.api(routes.AWARDS), json=award_body(mid, 8), headers={"Idempotency-Key": "k"})
    assert_problem(response, 409, "exists_with_different_body", "Idempotency-Key")
    assert 9 == (await client.get(routes.api(routes.MEMBER_BALANCE, member_id=mid))).json()["available_points"]


async def test_a_key_used_by_another_principal_is_409_and_awards_nothing(ledger):
    """A client that changed its token between an attempt and its retry is refused, not
    awarded twice, whatever the body; the first token's retry still replays."""
    await tree(ledger)
    mid = await member(ledger)
    (_, first_token), (_, second_token) = [await token(ledger, "organizer", org_unit=COMMUNITY) for _ in "ab"]
    app = create_app(settings(ledger), ledger)
    body, headers = award_body(mid, 9), {"Idempotency-Key": "rotated-1"}
    async with http_client(app, first_token) as first_organizer, http_client(app, second_token) as second_organizer:
        first = await first_organizer.post(routes.api(routes.AWARDS), json=body, headers=headers)
        same_body = await second_organizer.post(routes.api(routes.AWARDS), json=body, headers=headers)
        other_body = await second_organizer.post(routes.api(routes.AWARDS), json=award_body(mid, 5), headers=headers)
        retry = await first_organizer.post(routes.api(routes.AWARDS), json=body, headers=headers)
    problem = assert_problem(same_body, 409, "idempotency_key_taken", "Idempotency-Key")
    assert ("rotated-1", True) == (problem["idempotency_key"], "another principal" in problem["detail"])
    # Nothing of the first principal's answer is shown to the second.
    assert {"type", "title", "status", "detail", "code", "idempotency_key", "field"} == problem.keys()
    assert first.json()["hash"] not in same_body.text
    assert_problem(other_body, 409, "idempotency_key_taken", "Idempotency-Key")
    assert (first.json(), "true") == (retry.json(), retry.headers.get("idempotent-replayed"))
    assert (9, 1) == ((await ledger.balance(ADMIN, mid)).available_points, await count_transactions(ledger))


def _batched(member_id: str, *principals: str) -> list[AwardRequest]:
    """One award, sent with one key by each of ``principals`` in turn."""
    command = AwardCommand(member_id, 9, Category.PATROL, datetime.now(UTC) - timedelta(hours=1), "巡查")
    return [AwardRequest(command, p, IdempotentRequest(p, "batched-1", "same-body")) for p in principals]


async def _award_together(ledger: Ledger, requests: list[AwardRequest]) -> list:
    """The requests as group commit posts them: in one database transaction."""
    async with ledger.db.write() as conn:
        return await award_many(conn, requests, ledger.clock(), ledger.journal)


async def test_one_key_from_two_principals_in_one_batch_awards_once(ledger):
    """In one transaction the first request with a key holds it: another principal's is
    refused and the first principal's second request is its replay."""
    await tree(ledger)
    mid = await member(ledger)
    (result, replayed), taken, (again, replayed_again) = await _award_together(ledger, _batched(mid, "a", "b", "a"))
    assert (False, True, result) == (replayed, replayed_again, again)
    assert isinstance(taken, IdempotencyKeyTaken) and "batched-1" == taken.fields()["idempotency_key"]
    assert (9, 1) == ((await ledger.balance(ADMIN, mid)).available_points, await count_transactions(ledger))


async def test_a_batch_answers_each_request_by_the_key_s_stored_holder(ledger):
    """A key held since an earlier transaction is its holder's in a batch too, even when
    another principal's request with it comes first."""
    await tree(ledger)
    mid = await member(ledger)
    [(result, _)] = await _award_together(ledger, _batched(mid, "a"))
    taken, (again, replayed) = await _award_together(ledger, _batched(mid, "b", "a"))
    assert isinstance(taken, IdempotencyKeyTaken)
    assert (True, result) == (replayed, again)
    assert (9, 1) == ((await ledger.balance(ADMIN, mid)).available_points, await count_transactions(ledger))


async def test_a_transaction_shows_balanced_postings_and_its_hash(client, ledger):
    """Postings sum to zero: the unit's issuance account pays the member."""
    await tree(ledger)
    mid = await member(ledger)
    result = await award(client, mid, 6, evidence_url="https://example.org/巡查/1.jpg")
    txn = (await client.get(routes.api(routes.TRANSACTION, transaction_id=result["transaction_id"]))).json()
    assert 0 == sum(p["points"] for p in txn["postings"])
    assert {("issuance", -6), ("member", 6)} == {(p["account_kind"], p["points"]) for p in txn["postings"]}
    assert (result["hash"], 64, "admin") == (txn["hash"], len(txn["prev_hash"]), txn["recorded_by"])
    assert "https://example.org/巡查/1.jpg" == txn["evidence_url"]


async def test_an_unknown_transaction_is_404(client):
    """A transaction id that was never issued is a 404 problem."""
    assert_problem(await client.get(routes.api(routes.TRANSACTION, transaction_id=999)), 404, "transaction_not_found")
