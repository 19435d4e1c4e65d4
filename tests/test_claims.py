"""Claims: members report work, organizers approve or decline, nothing counts until approved."""

import pytest

from api import routes
from api.app import create_app
from ledger import MemberChanges, Principal, Role
from tests.builders import ADMIN, MICRO, OTHER_MICRO, assert_problem, post, recently, rules, token, tree
from tests.conftest import http_client, settings


async def _setup(ledger):
    await tree(ledger)
    await rules(ledger)
    await ledger.register_member(ADMIN, "w-1", "王建国", MICRO, False, (Role.MICRO_GRID_WORKER,))
    await ledger.register_member(ADMIN, "w-2", "赵丽娟", OTHER_MICRO, False, (Role.MICRO_GRID_WORKER,))


def _claim(member_id="w-1", **change):
    body = {
        "member_id": member_id,
        "rule": "report",
        "quantity": 1,
        "occurred_at": recently(),
        "reference": "郑好办-20261120-001",
        "handled_within_limit": True,
        "memo": "楼道堆物",
    }
    return body | change


async def test_a_pending_claim_counts_nowhere_until_approved(client, ledger):
    """Submitting changes no balance; approval awards by rule (with the 限时办理 bonus)."""
    await _setup(ledger)
    claim = (await client.post(routes.api(routes.CLAIMS), json=_claim())).json()
    assert ("pending", None) == (claim["status"], claim["possible_duplicate_of"])
    assert 0 == (await ledger.balance(ADMIN, "w-1")).period_earned_points
    approved = (await post(client, routes.api(routes.CLAIM_APPROVE, claim_id=claim["id"]))).json()
    assert ("approved", "admin", 5) == (
        approved["claim"]["status"],
        approved["claim"]["reviewed_by"],
        approved["award"]["points"],
    )
    assert approved["award"]["transaction_id"] == approved["claim"]["transaction_id"]
    assert 5 == (await ledger.balance(ADMIN, "w-1")).available_points


async def test_a_claim_is_reviewed_once(client, ledger):
    """A second approval or a decline after approval is 409; the award is made once."""
    await _setup(ledger)
    claim = (await client.post(routes.api(routes.CLAIMS), json=_claim())).json()
    await post(client, routes.api(routes.CLAIM_APPROVE, claim_id=claim["id"]))
    assert_problem(await post(client, routes.api(routes.CLAIM_APPROVE, claim_id=claim["id"])), 409, "claim_not_pending")
    response = await client.post(routes.api(routes.CLAIM_DECLINE, claim_id=claim["id"]), json={"reason": "迟了"})
    assert_problem(response, 409, "claim_not_pending")
    assert 5 == (await ledger.balance(ADMIN, "w-1")).available_points


async def test_a_declined_claim_is_kept_with_its_reason(client, ledger):
    """Declining records who, when and why; the claim stays in the queue's history."""
    await _setup(ledger)
    claim = (await client.post(routes.api(routes.CLAIMS), json=_claim())).json()
    declined = (
        await client.post(routes.api(routes.CLAIM_DECLINE, claim_id=claim["id"]), json={"reason": "照片不清楚"})
    ).json()
    assert ("declined", "照片不清楚", None) == (
        declined["status"],
        declined["decision_reason"],
        declined["transaction_id"],
    )
    queue = (await client.get(routes.api(routes.CLAIMS), params={"status": "declined"})).json()
    assert [claim["id"]] == [c["id"] for c in queue["claims"]]
    assert 0 == (await ledger.balance(ADMIN, "w-1")).available_points


async def test_a_likely_duplicate_is_flagged_to_the_reviewer(client, ledger):
    """Same member, rule, day and reference: the second claim points at the first."""
    await _setup(ledger)
    first = (await client.post(routes.api(routes.CLAIMS), json=_claim())).json()
    second = (await client.post(routes.api(routes.CLAIMS), json=_claim())).json()
    other_ref = (await client.post(routes.api(routes.CLAIMS), json=_claim(reference="郑好办-002"))).json()
    assert (first["id"], None) == (second["possible_duplicate_of"], other_ref["possible_duplicate_of"])


async def test_the_queue_filters_by_status_and_subtree_and_pages(client, ledger):
    """A reviewer sees the claims of members in their subtree, oldest first, a page at a time."""
    await _setup(ledger)
    ids = [
        (await client.post(routes.api(routes.CLAIMS), json=_claim(m, reference=f"r{i}"))).json()["id"]
        for i, m in enumerate(["w-1", "w-2", "w-1"])
    ]
    mine = (await client.get(routes.api(routes.CLAIMS), params={"org_unit": MICRO, "status": "pending"})).json()
    assert [ids[0], ids[2]] == [c["id"] for c in mine["claims"]]
    page = (await client.get(routes.api(routes.CLAIMS), params={"limit": 2})).json()
    rest = (await client.get(routes.api(routes.CLAIMS), params={"limit": 2, "cursor": page["next_cursor"]})).json()
    assert ids == [c["id"] for c in page["claims"] + rest["claims"]]
    assert_problem(
        await client.get(routes.api(routes.CLAIMS), params={"status": "lost"}), 422, "invalid_input", "status"
    )


async def test_approval_applies_caps(client, ledger):
    """A claim past the week cap is clipped to the room left; with no room it stays pending."""
    await _setup(ledger)
    ids = [
        (await client.post(routes.api(routes.CLAIMS), json=_claim(reference=f"r{i}"))).json()["id"] for i in range(4)
    ]
    points = [(await post(client, routes.api(routes.CLAIM_APPROVE, claim_id=i))).json() for i in ids[:3]]
    assert [5, 5, 2] == [p["award"]["points"] for p in points]
    assert_problem(await post(client, routes.api(routes.CLAIM_APPROVE, claim_id=ids[3])), 409, "cap_exceeded")
    assert "pending" == (await client.get(routes.api(routes.CLAIM, claim_id=ids[3]))).json()["status"]


async def test_bad_claims_are_refused(client, ledger):
    """Unknown members and rules, and wrong types, are named."""
    await _setup(ledger)
    assert_problem(await client.post(routes.api(routes.CLAIMS), json=_claim("nobody")), 404, "member_not_found")
    assert_problem(await client.post(routes.api(routes.CLAIMS), json=_claim(rule="nope")), 404, "rule_not_found")
    assert_problem(
        await client.post(routes.api(routes.CLAIMS), json=_claim(quantity="1")), 422, "invalid_input", "quantity"
    )
    assert_problem(await post(client, routes.api(routes.CLAIM_APPROVE, claim_id=999)), 404, "claim_not_found")


async def test_claims_without_a_reference_on_one_day_are_not_duplicates(client, ledger):
    """Two patrols on one day are two patrols: only a repeated reference marks a likely duplicate."""
    await _setup(ledger)
    patrol = _claim(rule="patrol", steps=1500, reference=None, handled_within_limit=False)
    first = (await client.post(routes.api(routes.CLAIMS), json=patrol)).json()
    second = (await client.post(routes.api(routes.CLAIMS), json=patrol)).json()
    assert (None, None) == (first["possible_duplicate_of"], second["possible_duplicate_of"])


@pytest.mark.parametrize(
    "change, status, code, field",
    [
        ({"rule": "patrol", "steps": 800}, 422, "invalid_input", "steps"),
        ({"rule": "patrol"}, 422, "invalid_input", "steps"),
        ({"rule": "diary", "quantity": 300}, 422, "invalid_input", "quantity"),
        ({"rule": "hour", "quantity": 13}, 422, "invalid_input", "quantity"),
        ({"rule": "old"}, 409, "rule_inactive", "rule"),
        ({"rule": "task"}, 409, "not_eligible", None),
    ],
)
async def test_a_claim_no_reviewer_could_approve_is_refused_when_submitted(client, ledger, change, status, code, field):
    """Too few steps for a patrol, too short a diary, too many hours, a retired rule or one
    that does not pay the member's role: refused at once, naming why, and nothing queued."""
    await _setup(ledger)
    assert_problem(await client.post(routes.api(routes.CLAIMS), json=_claim(**change)), status, code, field)
    assert [] == (await client.get(routes.api(routes.CLAIMS))).json()["claims"]


async def test_a_deactivated_member_cannot_submit_a_claim(client, ledger):
    """A deactivated member receives no new awards, so a claim of theirs could never be approved."""
    await _setup(ledger)
    await ledger.change_member(Principal.admin("test"), "w-1", MemberChanges(active=False))
    assert_problem(await client.post(routes.api(routes.CLAIMS), json=_claim()), 409, "member_inactive", "member_id")


async def test_a_claim_read_says_what_its_approval_awarded(client, ledger):
    """Pending: no points; approved: the points awarded after caps, on every read of the claim."""
    await _setup(ledger)
    claim = (await client.post(routes.api(routes.CLAIMS), json=_claim())).json()
    assert claim["awarded_points"] is None
    await post(client, routes.api(routes.CLAIM_APPROVE, claim_id=claim["id"]))
    assert 5 == (await client.get(routes.api(routes.CLAIM, claim_id=claim["id"]))).json()["awarded_points"]
    assert [5] == [c["awarded_points"] for c in (await client.get(routes.api(routes.CLAIMS))).json()["claims"]]


def _review(*decisions):
    return {"decisions": [{"claim_id": c, "decision": d} | ({"reason": r} if r else {}) for c, d, r in decisions]}


async def test_a_bulk_review_answers_each_claim_by_itself(client, ledger):
    """Approve two, decline one, and one already decided is refused with its own problem,
    while the others are decided all the same."""
    await _setup(ledger)
    ids = [
        (await client.post(routes.api(routes.CLAIMS), json=_claim(reference=f"r{i}"))).json()["id"] for i in range(4)
    ]
    await client.post(routes.api(routes.CLAIM_DECLINE, claim_id=ids[3]), json={"reason": "重复上报"})
    body = _review((ids[0], "approve", None), (ids[1], "approve", None), (ids[2], "decline", "照片不清楚"))
    body["decisions"].append({"claim_id": ids[3], "decision": "approve"})
    response = await post(client, routes.api(routes.CLAIMS_REVIEW), body)
    assert 200 == response.status_code, response.text
    lines = response.json()["lines"]
    assert ["approved", "approved", "declined", "refused"] == [line["outcome"] for line in lines]
    assert [5, 5] == [line["award"]["points"] for line in lines[:2]]
    assert ("declined", "照片不清楚") == (lines[2]["claim"]["status"], lines[2]["claim"]["decision_reason"])
    assert (409, "claim_not_pending", None) == (
        lines[3]["problem"]["status"],
        lines[3]["problem"]["code"],
        lines[3]["claim"],
    )
    assert 10 == (await ledger.balance(ADMIN, "w-1")).available_points


async def test_a_bulk_review_retried_with_its_key_replays_each_claim(client, ledger):
    """The retry of a lost answer decides nothing twice: each claim replays its first answer,
    and a claim refused the first time (its cap full) is tried afresh."""
    await _setup(ledger)
    ids = [
        (await client.post(routes.api(routes.CLAIMS), json=_claim(reference=f"r{i}"))).json()["id"] for i in range(3)
    ]
    body = _review((ids[0], "approve", None), (ids[1], "decline", "不属实"))
    first = (await post(client, routes.api(routes.CLAIMS_REVIEW), body, Idempotency_Key="review-1")).json()["lines"]
    again = (await post(client, routes.api(routes.CLAIMS_REVIEW), body, Idempotency_Key="review-1")).json()["lines"]
    assert [(False, "approved"), (False, "declined")] == [(line["replayed"], line["outcome"]) for line in first]
    assert [(True, "approved"), (True, "declined")] == [(line["replayed"], line["outcome"]) for line in again]
    assert first[0]["award"] == again[0]["award"]
    assert 5 == (await ledger.balance(ADMIN, "w-1")).available_points
    changed = _review((ids[0], "decline", "改主意了"))
    [refused] = (await post(client, routes.api(routes.CLAIMS_REVIEW), changed, Idempotency_Key="review-1")).json()[
        "lines"
    ]
    assert "exists_with_different_body" == refused["problem"]["code"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"decisions": []}, "decisions"),
        ({"decisions": [{"claim_id": 1, "decision": "approve"}] * 2}, "decisions[1].claim_id"),
        ({"decisions": [{"claim_id": 1, "decision": "decline"}]}, "decisions[0].reason"),
        ({"decisions": [{"claim_id": 1, "decision": "maybe"}]}, "decisions[0].decision"),
        ({"decisions": [{"claim_id": i, "decision": "approve"} for i in range(1, 102)]}, "decisions"),
    ],
)
async def test_a_bad_bulk_review_decides_nothing(client, ledger, body, field):
    """An empty or oversized batch, a claim named twice, a decline without its reason: the
    line is named and no claim is decided."""
    await _setup(ledger)
    claim_id = (await client.post(routes.api(routes.CLAIMS), json=_claim())).json()["id"]
    assert 1 == claim_id
    assert_problem(await post(client, routes.api(routes.CLAIMS_REVIEW), body), 422, "invalid_input", field)
    assert "pending" == (await client.get(routes.api(routes.CLAIM, claim_id=claim_id))).json()["status"]


async def test_a_bulk_review_needs_an_idempotency_key(client, ledger):
    """Approvals move points, so the batch carries a key like a single approval does."""
    await _setup(ledger)
    response = await client.post(routes.api(routes.CLAIMS_REVIEW), json=_review((1, "approve", None)))
    assert_problem(response, 422, "invalid_input", "Idempotency-Key")


async def test_a_member_reads_their_own_claims_newest_first(client, ledger):
    """Each claim with its state, a page at a time; a member's token reads its own claims
    only, and an unknown member is named."""
    await _setup(ledger)
    ids = [
        (await client.post(routes.api(routes.CLAIMS), json=_claim(reference=f"r{i}"))).json()["id"] for i in range(3)
    ]
    await client.post(routes.api(routes.CLAIMS), json=_claim("w-2"))
    await client.post(routes.api(routes.CLAIM_DECLINE, claim_id=ids[1]), json={"reason": "不属实"})
    page = (await client.get(routes.api(routes.MEMBER_CLAIMS, member_id="w-1"), params={"limit": 2})).json()
    rest = (
        await client.get(
            routes.api(routes.MEMBER_CLAIMS, member_id="w-1"), params={"limit": 2, "cursor": page["next_cursor"]}
        )
    ).json()
    assert [(ids[2], "pending"), (ids[1], "declined"), (ids[0], "pending")] == [
        (c["id"], c["status"]) for c in page["claims"] + rest["claims"]
    ]
    _, own = await token(ledger, "member", member_id="w-1")
    async with http_client(create_app(settings(ledger), ledger), headers=own) as me:
        assert 3 == len((await me.get(routes.api(routes.MEMBER_CLAIMS, member_id="w-1"))).json()["claims"])
        assert_problem(await me.get(routes.api(routes.MEMBER_CLAIMS, member_id="w-2")), 403, "forbidden", "member_id")
    assert_problem(await client.get(routes.api(routes.MEMBER_CLAIMS, member_id="nobody")), 404, "member_not_found")
