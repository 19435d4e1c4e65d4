"""Activities settled by roster: the haircut day and the tea-art event."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from api import routes
from ledger import MemberChanges, Principal, Role
from ledger.earning import activities as ledger_activities
from tests.builders import ADMIN, COMMUNITY, MICRO, TEST_RULES, assert_problem, post, rules, tree


def _ago(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).isoformat()


async def _haircut_day(client, ledger, volunteers=5):
    """新南社区's 爱心义剪: volunteers served for about three hours."""
    await tree(ledger)
    await rules(ledger)
    for i in range(volunteers):
        await ledger.register_member(ADMIN, f"v-{i}", f"志愿者{i}", MICRO, False, (Role.VOLUNTEER,))
    activity = (
        await client.post(
            routes.api(routes.ACTIVITIES),
            json={
                "name": "爱心义剪",
                "org_unit": COMMUNITY,
                "rule": "hour",
                "starts_at": _ago(4),
                "ends_at": _ago(1),
                "organizer": "v-0",
            },
        )
    ).json()
    return activity["id"]


async def _roster(client, activity_id, participants):
    return await client.put(
        routes.api(routes.ACTIVITY_ROSTER, activity_id=activity_id),
        json={"participants": [{"member_id": m, "quantity": q} for m, q in participants]},
    )


async def test_settling_awards_everyone_on_the_roster_at_once(client, ledger):
    """Each participant gets points per hour from the activity's unit, and the activity is final."""
    activity_id = await _haircut_day(client, ledger)
    await _roster(client, activity_id, [("v-0", 3), ("v-1", 3), ("v-2", 2)])
    response = await post(client, routes.api(routes.ACTIVITY_SETTLE, activity_id=activity_id))
    body = response.json()
    assert (201, 3, 0, 8) == (response.status_code, body["awarded"], body["skipped"], body["points"])
    assert {"v-0": 3, "v-1": 3, "v-2": 2} == {line["member_id"]: line["points"] for line in body["lines"]}
    txn = (await client.get(routes.api(routes.TRANSACTION, transaction_id=body["lines"][0]["transaction_id"]))).json()
    assert (COMMUNITY, "activity", "爱心义剪") == (txn["org_unit"], txn["category"], txn["memo"])
    read = (await client.get(routes.api(routes.ACTIVITY, activity_id=activity_id))).json()
    assert read["settled_at"] is not None and 8 == read["settlement"]["points"]


async def test_putting_the_roster_again_replaces_it(client, ledger):
    """The roster is replaced whole, so sending it twice changes nothing."""
    activity_id = await _haircut_day(client, ledger)
    await _roster(client, activity_id, [("v-0", 1), ("v-1", 1)])
    first = (await _roster(client, activity_id, [("v-1", 2)])).json()
    again = (await _roster(client, activity_id, [("v-1", 2)])).json()
    assert [{"member_id": "v-1", "quantity": 2}] == first["roster"] == again["roster"]


async def test_skipped_participants_are_reported_with_the_reason(client, ledger):
    """Inactive members are skipped, a day cap is clipped, and the others are awarded."""
    activity_id = await _haircut_day(client, ledger)
    await ledger.change_member(Principal.admin("test"), "v-1", MemberChanges(active=False))
    await _roster(client, activity_id, [("v-0", 3), ("v-1", 3), ("v-2", 12)])
    lines = {
        line["member_id"]: line
        for line in (await post(client, routes.api(routes.ACTIVITY_SETTLE, activity_id=activity_id))).json()["lines"]
    }
    assert ("skipped", "member_inactive", 0) == (lines["v-1"]["status"], lines["v-1"]["reason"], lines["v-1"]["points"])
    assert ("awarded", 8, 12) == (lines["v-2"]["status"], lines["v-2"]["points"], lines["v-2"]["clipped_from_points"])
    assert 3 == lines["v-0"]["points"]


async def test_an_activity_is_settled_once(client, ledger):
    """A retry with the key replays; another settle is refused; the roster is frozen."""
    activity_id = await _haircut_day(client, ledger)
    await _roster(client, activity_id, [("v-0", 3)])
    first = await post(client, routes.api(routes.ACTIVITY_SETTLE, activity_id=activity_id), Idempotency_Key="settle-1")
    replay = await post(client, routes.api(routes.ACTIVITY_SETTLE, activity_id=activity_id), Idempotency_Key="settle-1")
    assert first.json() == replay.json() and "true" == replay.headers["idempotent-replayed"]
    assert_problem(
        await post(client, routes.api(routes.ACTIVITY_SETTLE, activity_id=activity_id)), 409, "already_settled"
    )
    assert_problem(await _roster(client, activity_id, [("v-1", 1)]), 409, "already_settled")
    assert 3 == (await ledger.balance(ADMIN, "v-0")).available_points


async def test_a_failure_midway_leaves_no_award_behind(client, ledger, monkeypatch):
    """If anything fails after the awards are written, the settle rolls back whole."""
    activity_id = await _haircut_day(client, ledger)
    await _roster(client, activity_id, [("v-0", 3), ("v-1", 2)])
    original = ledger_activities.post

    async def post_then_fail(*args, **kwargs):
        await original(*args, **kwargs)
        raise RuntimeError("the connection dropped")

    monkeypatch.setattr("ledger.earning.activities.post", post_then_fail)
    response = await post(client, routes.api(routes.ACTIVITY_SETTLE, activity_id=activity_id))
    assert_problem(response, 500, "internal_error")
    monkeypatch.undo()
    async with ledger.db.read() as conn:
        assert 0 == (await conn.execute(text("SELECT count(*) FROM journal_txn"))).scalar_one()
    assert (await client.get(routes.api(routes.ACTIVITY, activity_id=activity_id))).json()["settled_at"] is None
    assert 201 == (await post(client, routes.api(routes.ACTIVITY_SETTLE, activity_id=activity_id))).status_code


@pytest.mark.parametrize(
    "participants, status, code, field",
    [
        ([("v-0", 1), ("v-0", 2)], 422, "invalid_input", "participants[1].member_id"),
        ([("nobody", 1)], 404, "member_not_found", "participants[0].member_id"),
        ([("v-0", 12), ("v-1", 1), ("v-2", 1), ("v-3", 13)], 422, "invalid_input", "participants[3].quantity"),
    ],
)
async def test_a_bad_roster_is_refused_by_line(client, ledger, participants, status, code, field):
    """Duplicates and unknown members are named by their line, and the roster stays as it was."""
    activity_id = await _haircut_day(client, ledger)
    assert_problem(await _roster(client, activity_id, participants), status, code, field)
    assert [] == (await client.get(routes.api(routes.ACTIVITY, activity_id=activity_id))).json()["roster"]


async def test_a_line_over_the_rules_maximum_is_refused_when_the_roster_is_put(client, ledger):
    """13 hours where the rule pays for 12 at most: the line and the maximum are named, not
    skipped at settle; a rule lowered after the roster was put still skips the line."""
    activity_id = await _haircut_day(client, ledger)
    refused = assert_problem(
        await _roster(client, activity_id, [("v-0", 3), ("v-1", 13)]), 422, "invalid_input", "participants[1].quantity"
    )
    assert 12 == refused["quantity_max"]
    await _roster(client, activity_id, [("v-0", 3), ("v-1", 12)])
    await rules(ledger, TEST_RULES.replace("quantity_max: 12", "quantity_max: 4"))
    lines = (await post(client, routes.api(routes.ACTIVITY_SETTLE, activity_id=activity_id))).json()["lines"]
    assert [("awarded", None), ("skipped", "invalid_input")] == [(line["status"], line["reason"]) for line in lines]


async def test_an_activity_needs_sensible_times_and_known_references(client, ledger):
    """It ends after it starts, and is settled only after it ends; unit, rule and organizer exist."""
    await _haircut_day(client, ledger)
    base = {
        "name": "茶艺",
        "org_unit": COMMUNITY,
        "rule": "hour",
        "starts_at": _ago(1),
        "ends_at": _ago(2),
        "organizer": "v-0",
    }
    assert_problem(await client.post(routes.api(routes.ACTIVITIES), json=base), 422, "invalid_input", "ends_at")
    assert_problem(
        await client.post(routes.api(routes.ACTIVITIES), json=base | {"ends_at": _ago(0), "rule": "x"}),
        404,
        "rule_not_found",
    )
    later = (await client.post(routes.api(routes.ACTIVITIES), json=base | {"ends_at": _ago(-2)})).json()
    await _roster(client, later["id"], [("v-0", 1)])
    assert_problem(
        await post(client, routes.api(routes.ACTIVITY_SETTLE, activity_id=later["id"])), 422, "invalid_input"
    )
    assert_problem(await client.get(routes.api(routes.ACTIVITY, activity_id=999)), 404, "activity_not_found")
