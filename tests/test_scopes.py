"""An organizer of community A cannot write to, read or export the members of community B;
a member reads and redeems only for themselves. Every refusal is a 403 naming the field
that points outside, and changes nothing."""

import csv
import io
import re
from dataclasses import dataclass

import pytest

from api.access import ROLES
from api.app import create_app
from ledger import Ledger
from ledger.values import Access
from tests.builders import (
    COMMUNITY,
    FAR_MICRO,
    MICRO,
    OTHER_COMMUNITY,
    OTHER_GRID,
    assert_problem,
    award,
    award_body,
    member,
    other_community,
    post,
    recently,
    reward,
    reward_body,
    rules,
    tiers,
    token,
    tree,
)
from tests.conftest import http_client, settings


@dataclass
class World:
    a: str  # a member of community A (the organizer's)
    b: str  # a member of community B
    txn_b: int
    activity_a: int
    activity_b: int
    claim_a: int
    claim_b: int
    redemption_b: int
    token_b: str  # the principal id of b's member token
    period: str


async def _world(ledger: Ledger, admin) -> World:
    await tree(ledger)
    await other_community(ledger)
    await rules(ledger)
    await tiers(ledger)
    a = await member(ledger, "m-甲")
    b = await member(ledger, "m-乙", home=FAR_MICRO)
    await award(admin, a, 40)
    txn_b = (await award(admin, b, 40))["transaction_id"]
    await reward(admin, "r-A", org_unit=COMMUNITY)
    await reward(admin, "r-B", org_unit=OTHER_COMMUNITY)
    redemption_b = (await post(admin, "/v1/redemptions", {"reward": "r-B", "member_id": b})).json()["id"]
    activities = []
    for unit in (COMMUNITY, OTHER_COMMUNITY):
        body = {
            "name": "爱心义剪",
            "org_unit": unit,
            "rule": "hour",
            "starts_at": recently(180),
            "ends_at": recently(60),
            "organizer": a,
        }
        activities.append((await admin.post("/v1/activities", json=body)).json()["id"])
    claims = []
    for m in (a, b):
        claim = {"member_id": m, "rule": "report", "quantity": 1, "occurred_at": recently()}
        claims.append((await admin.post("/v1/claims", json=claim)).json()["id"])
    claim_a, claim_b = claims
    token_b, _ = await token(ledger, "member", member_id=b)
    return World(a, b, txn_b, *activities, claim_a, claim_b, redemption_b, token_b, ledger.current_period())


def _refused_writes(w: World) -> list[tuple[str, str, object, str]]:
    """Every write an organizer may make, aimed at community B: (method, path, body, field)."""
    nomination = {"member_id": w.b, "period": w.period, "flag": "先进工作者", "reason": "群众反映"}
    a_line, b_line = ({"participants": [{"member_id": m, "quantity": 1}]} for m in (w.a, w.b))
    claim = {"member_id": w.b, "rule": "report", "quantity": 1, "occurred_at": recently()}
    unit = {"code": "g-新", "name": "新网格", "level": "grid", "parent": OTHER_COMMUNITY}
    return [
        ("POST", "/v1/awards", award_body(w.b), "member_id"),
        ("POST", "/v1/awards", award_body(w.a, org_unit=OTHER_COMMUNITY), "org_unit"),
        (
            "POST",
            "/v1/deductions",
            {"member_id": w.b, "points": 1, "reason": "虚报", "occurred_at": recently()},
            "member_id",
        ),
        ("POST", f"/v1/transactions/{w.txn_b}/reversal", {"reason": "重复录入"}, "transaction_id"),
        (
            "POST",
            "/v1/activities",
            {
                "name": "茶艺",
                "org_unit": OTHER_COMMUNITY,
                "rule": "hour",
                "starts_at": recently(120),
                "ends_at": recently(60),
                "organizer": w.a,
            },
            "org_unit",
        ),
        (
            "PUT",
            f"/v1/activities/{w.activity_a}/roster",
            {"participants": [{"member_id": w.b, "quantity": 1}]},
            "participants",
        ),
        (
            "PUT",
            f"/v1/activities/{w.activity_b}/roster",
            {"participants": [{"member_id": w.a, "quantity": 1}]},
            "activity_id",
        ),
        ("POST", f"/v1/activities/{w.activity_b}/settle", None, "activity_id"),
        (
            "POST",
            "/v1/claims",
            claim,
            "member_id",
        ),
        ("POST", f"/v1/claims/{w.claim_b}/approve", None, "claim_id"),
        ("POST", f"/v1/claims/{w.claim_b}/decline", {"reason": "照片不清楚"}, "claim_id"),
        (
            "POST",
            "/v1/claims/review",
            {
                "decisions": [
                    {"claim_id": w.claim_a, "decision": "approve"},
                    {"claim_id": w.claim_b, "decision": "approve"},
                ]
            },
            "decisions[1].claim_id",
        ),
        ("POST", "/v1/rewards", reward_body("r-new", org_unit=OTHER_COMMUNITY), "org_unit"),
        ("PATCH", "/v1/rewards/r-B", {"stock": 50}, "code"),
        ("POST", "/v1/redemptions", {"reward": "r-B", "member_id": w.b}, "member_id"),
        ("POST", f"/v1/redemptions/{w.redemption_b}/fulfil", None, "redemption_id"),
        ("POST", f"/v1/redemptions/{w.redemption_b}/cancel", None, "redemption_id"),
        ("POST", "/v1/members", {"id": "m-新", "name": "新人", "org_unit": FAR_MICRO}, "org_unit"),
        ("PATCH", f"/v1/members/{w.b}", {"name": "改名"}, "member_id"),
        ("PATCH", f"/v1/members/{w.a}", {"org_unit": FAR_MICRO}, "org_unit"),
        (
            "POST",
            "/v1/org-units",
            unit,
            "parent",
        ),
        ("PATCH", f"/v1/org-units/{FAR_MICRO}", {"name": "改名"}, "code"),
        ("PATCH", f"/v1/org-units/{MICRO}", {"parent": OTHER_GRID}, "parent"),
        ("POST", "/v1/notices", {"org_unit": OTHER_COMMUNITY}, "org_unit"),
        ("POST", "/v1/nominations/objections", nomination, "member_id"),
        ("POST", "/v1/nominations/decisions", {**nomination, "decision": "withdraw"}, "member_id"),
        ("POST", "/v1/tokens", {"role": "member", "label": "乙", "member_id": w.b}, "member_id"),
        ("POST", f"/v1/tokens/{w.token_b}/revoke", None, "principal_id"),
    ]


def _refused_reads(w: World) -> list[tuple[str, str]]:
    return [
        (f"/v1/members/{w.b}", "member_id"),
        (f"/v1/members/{w.b}/balance", "member_id"),
        (f"/v1/members/{w.b}/statement", "member_id"),
        (f"/v1/members/{w.b}/tier", "member_id"),
        (f"/v1/members/{w.b}/evidence", "member_id"),
        (f"/v1/members/{w.b}/redemptions", "member_id"),
        (f"/v1/members/{w.b}/moves", "member_id"),
        (f"/v1/members?org_unit={OTHER_COMMUNITY}", "org_unit"),
        (f"/v1/org-units?under={OTHER_COMMUNITY}", "under"),
        (f"/v1/org-units/{FAR_MICRO}/moves", "code"),
        (f"/v1/members/{w.b}/claims", "member_id"),
        (f"/v1/transactions/{w.txn_b}", "transaction_id"),
        (f"/v1/activities/{w.activity_b}", "activity_id"),
        (f"/v1/claims/{w.claim_b}", "claim_id"),
        (f"/v1/claims?org_unit={OTHER_COMMUNITY}", "org_unit"),
        (f"/v1/redemptions/{w.redemption_b}", "redemption_id"),
        ("/v1/rewards/r-B/redemptions", "code"),
        (f"/v1/org-units/{OTHER_COMMUNITY}/summary", "code"),
        (f"/v1/nominations?org_unit={OTHER_COMMUNITY}", "org_unit"),
        (f"/v1/exports/nominations?org_unit={OTHER_COMMUNITY}", "org_unit"),
        (f"/v1/exports/nominations?org_unit={OTHER_COMMUNITY}&format=xlsx", "org_unit"),
        (f"/v1/tokens/{w.token_b}", "principal_id"),
    ]


async def _books(ledger: Ledger, admin, w: World) -> tuple:
    """What a refused request must leave exactly as it was."""
    report = await ledger.verify()
    assert report.ok, report.problems
    return (
        report.transactions,
        {k: v for k, v in (await admin.get(f"/v1/members/{w.b}/balance")).json().items() if k != "expiring_before"},
        (await admin.get(f"/v1/members/{w.b}")).json(),
        (await admin.get(f"/v1/members/{w.a}")).json(),
        (await admin.get("/v1/rewards/r-B")).json(),
        (await admin.get(f"/v1/redemptions/{w.redemption_b}")).json()["state"],
        (await admin.get(f"/v1/claims/{w.claim_a}")).json()["status"],
        (await admin.get(f"/v1/claims/{w.claim_b}")).json()["status"],
        (await admin.get(f"/v1/activities/{w.activity_a}")).json()["roster"],
        (await admin.get(f"/v1/activities/{w.activity_b}")).json()["roster"],
        (await admin.get(f"/v1/tokens/{w.token_b}")).json()["revoked_at"],
        (await admin.get("/v1/tokens")).json()["principals"].__len__(),
        (await admin.get("/v1/org-units")).json(),
    )


def _template(path: str) -> str:
    return re.sub(r"/(?:\d+|m-[^/]+|r-[^/]+|[0-9a-f]{16})(?=/|$)", "/{}", path.split("?")[0])


async def test_an_organizer_cannot_touch_another_community(client, ledger):
    w = await _world(ledger, client)
    _, organizer_a = await token(ledger, "organizer", org_unit=COMMUNITY)
    app = create_app(settings(ledger), ledger)
    before = await _books(ledger, client, w)
    async with http_client(app, headers=organizer_a) as organizer:
        for i, (method, path, body, field) in enumerate(_refused_writes(w)):
            response = await organizer.request(method, path, json=body, headers={"Idempotency-Key": f"scope-{i}"})
            problem = assert_problem(response, 403, "forbidden", field)
            assert COMMUNITY in problem["detail"], problem
        for path, field in _refused_reads(w):
            assert_problem(await organizer.get(path), 403, "forbidden", field)
    assert before == await _books(ledger, client, w)


async def test_every_write_an_organizer_may_make_is_in_the_scope_table(client, ledger):
    """The table above is complete: a new write route without a scope test fails here."""
    w = await _world(ledger, client)
    app = create_app(settings(ledger), ledger)
    tested = {(method, _template(path)) for method, path, _, _ in _refused_writes(w)}
    writes = {
        (method, re.sub(r"\{[^}]+\}", "{}", route.path))
        for route in app.routes
        if route.path.startswith("/v1")
        for handler in route.route_handlers
        for method in handler.http_methods & {"POST", "PUT", "PATCH", "DELETE"}
        if Access.ORGANIZER in handler.opt[ROLES]
    }
    assert writes == tested | ROW_BY_ROW


ROW_BY_ROW = {("POST", "/v1/imports/org-units"), ("POST", "/v1/imports/members")}
"""Writes that refuse each row outside the organizer's subtree instead of the request
(a sheet of a street office's units may hold a few of another community's):
tests/test_imports.py checks those rows are refused and nothing is written."""


async def test_an_organizer_works_inside_their_subtree(client, ledger):
    w = await _world(ledger, client)
    _, organizer_a = await token(ledger, "organizer", org_unit=COMMUNITY)
    async with http_client(create_app(settings(ledger), ledger), headers=organizer_a) as organizer:
        awarded = await award(organizer, w.a, 5)
        assert awarded["available_points"] == 45
        created = await organizer.post("/v1/members", json={"id": "m-丙", "name": "丙", "org_unit": MICRO})
        assert created.status_code == 201, created.text
        roster = await organizer.put(
            f"/v1/activities/{w.activity_a}/roster", json={"participants": [{"member_id": w.a, "quantity": 2}]}
        )
        assert roster.json()["roster"] == [{"member_id": w.a, "quantity": 2}]
        settled = await post(organizer, f"/v1/activities/{w.activity_a}/settle")
        assert settled.status_code == 201, settled.text
        assert (await organizer.get(f"/v1/members/{w.a}/balance")).json()["available_points"] == 47
        # Lists without a unit show the organizer's own subtree, not everyone's.
        claims = (await organizer.get("/v1/claims")).json()["claims"]
        assert [w.claim_a] == [c["id"] for c in claims]
        [line] = (
            await post(organizer, "/v1/claims/review", {"decisions": [{"claim_id": w.claim_a, "decision": "approve"}]})
        ).json()["lines"]
        assert ("approved", 2) == (line["outcome"], line["claim"]["awarded_points"])
        export = await organizer.get("/v1/exports/nominations")
        assert export.status_code == 200, export.text
        rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
        exported = {cell for row in rows[1:] for cell in row}
        assert w.a in exported and w.b not in exported


async def test_a_member_sees_and_redeems_only_for_themselves(client, ledger):
    w = await _world(ledger, client)
    await award(client, w.a, 1)
    _, member_a = await token(ledger, "member", member_id=w.a)
    async with http_client(create_app(settings(ledger), ledger), headers=member_a) as me:
        assert (await me.get(f"/v1/members/{w.a}/balance")).json()["available_points"] == 41
        assert (await me.get(f"/v1/members/{w.a}/statement")).status_code == 200
        assert_problem(await me.get(f"/v1/members/{w.b}/balance"), 403, "forbidden", "member_id")
        assert_problem(await me.get(f"/v1/transactions/{w.txn_b}"), 403, "forbidden", "transaction_id")
        assert_problem(await me.get(f"/v1/redemptions/{w.redemption_b}"), 403, "forbidden", "redemption_id")
        assert_problem(
            await post(me, "/v1/redemptions", {"reward": "r-A", "member_id": w.b}), 403, "forbidden", "member_id"
        )
        assert_problem(await post(me, f"/v1/redemptions/{w.redemption_b}/cancel"), 403, "forbidden")
        mine = await post(me, "/v1/redemptions", {"reward": "r-A", "member_id": w.a})
        assert mine.status_code == 201, mine.text
        cancelled = await post(me, f"/v1/redemptions/{mine.json()['id']}/cancel")
        assert cancelled.json()["state"] == "cancelled"
        assert (await me.get(f"/v1/members/{w.a}/balance")).json()["available_points"] == 41


@pytest.mark.parametrize("unit", [COMMUNITY, None])
async def test_an_auditor_reads_but_never_writes(client, ledger, unit):
    w = await _world(ledger, client)
    _, auditor = await token(ledger, "auditor", org_unit=unit)
    async with http_client(create_app(settings(ledger), ledger), headers=auditor) as reader:
        assert (await reader.get(f"/v1/members/{w.a}/statement")).status_code == 200
        assert (await reader.get("/v1/ledger/verify")).json()["ok"] is True
        b_balance = await reader.get(f"/v1/members/{w.b}/balance")
        if unit is None:
            assert b_balance.json()["available_points"] == 20
        else:
            assert_problem(b_balance, 403, "forbidden", "member_id")
        refused = await post(reader, "/v1/awards", award_body(w.a))
        assert_problem(refused, 403, "forbidden")
