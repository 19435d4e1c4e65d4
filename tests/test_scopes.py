"""An organizer of community A cannot write to, read or export the members of community B;
a member reads and redeems only for themselves. Every refusal is a 403 naming the field
that points outside, and changes nothing."""

import asyncio
import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from api import routes
from api.access import ROLES
from api.app import create_app
from ledger import (
    AccessDenied,
    AwardCommand,
    Category,
    IdempotentRequest,
    Ledger,
    LedgerError,
    MemberNotFound,
    Principal,
)
from ledger.values import Access
from tests.builders import (
    ADMIN,
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
    principal,
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
    redemption_b = (await post(admin, routes.api(routes.REDEMPTIONS), {"reward": "r-B", "member_id": b})).json()["id"]
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
        activities.append((await admin.post(routes.api(routes.ACTIVITIES), json=body)).json()["id"])
    claims = []
    for m in (a, b):
        claim = {"member_id": m, "rule": "report", "quantity": 1, "occurred_at": recently()}
        claims.append((await admin.post(routes.api(routes.CLAIMS), json=claim)).json()["id"])
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
        ("POST", routes.api(routes.AWARDS), award_body(w.b), "member_id"),
        ("POST", routes.api(routes.AWARDS), award_body(w.a, org_unit=OTHER_COMMUNITY), "org_unit"),
        (
            "POST",
            routes.api(routes.DEDUCTIONS),
            {"member_id": w.b, "points": 1, "reason": "虚报", "occurred_at": recently()},
            "member_id",
        ),
        (
            "POST",
            routes.api(routes.TRANSACTION_REVERSAL, transaction_id=w.txn_b),
            {"reason": "重复录入"},
            "transaction_id",
        ),
        (
            "POST",
            routes.api(routes.ACTIVITIES),
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
            routes.api(routes.ACTIVITY_ROSTER, activity_id=w.activity_a),
            {"participants": [{"member_id": w.b, "quantity": 1}]},
            "participants",
        ),
        (
            "PUT",
            routes.api(routes.ACTIVITY_ROSTER, activity_id=w.activity_b),
            {"participants": [{"member_id": w.a, "quantity": 1}]},
            "activity_id",
        ),
        ("POST", routes.api(routes.ACTIVITY_SETTLE, activity_id=w.activity_b), None, "activity_id"),
        (
            "POST",
            routes.api(routes.CLAIMS),
            claim,
            "member_id",
        ),
        ("POST", routes.api(routes.CLAIM_APPROVE, claim_id=w.claim_b), None, "claim_id"),
        ("POST", routes.api(routes.CLAIM_DECLINE, claim_id=w.claim_b), {"reason": "照片不清楚"}, "claim_id"),
        (
            "POST",
            routes.api(routes.CLAIMS_REVIEW),
            {
                "decisions": [
                    {"claim_id": w.claim_a, "decision": "approve"},
                    {"claim_id": w.claim_b, "decision": "approve"},
                ]
            },
            "decisions[1].claim_id",
        ),
        ("POST", routes.api(routes.REWARDS), reward_body("r-new", org_unit=OTHER_COMMUNITY), "org_unit"),
        ("PATCH", routes.api(routes.REWARD, code="r-B"), {"stock": 50}, "code"),
        ("POST", routes.api(routes.REDEMPTIONS), {"reward": "r-B", "member_id": w.b}, "member_id"),
        ("POST", routes.api(routes.REDEMPTION_FULFIL, redemption_id=w.redemption_b), None, "redemption_id"),
        ("POST", routes.api(routes.REDEMPTION_CANCEL, redemption_id=w.redemption_b), None, "redemption_id"),
        ("POST", routes.api(routes.MEMBERS), {"id": "m-新", "name": "新人", "org_unit": FAR_MICRO}, "org_unit"),
        ("PATCH", routes.api(routes.MEMBER, member_id=w.b), {"name": "改名"}, "member_id"),
        ("PATCH", routes.api(routes.MEMBER, member_id=w.a), {"org_unit": FAR_MICRO}, "org_unit"),
        (
            "POST",
            routes.api(routes.ORG_UNITS),
            unit,
            "parent",
        ),
        ("PATCH", routes.api(routes.ORG_UNIT, code=FAR_MICRO), {"name": "改名"}, "code"),
        ("PATCH", routes.api(routes.ORG_UNIT, code=MICRO), {"parent": OTHER_GRID}, "parent"),
        ("POST", routes.api(routes.NOTICES), {"org_unit": OTHER_COMMUNITY}, "org_unit"),
        ("POST", routes.api(routes.NOMINATION_OBJECTIONS), nomination, "member_id"),
        ("POST", routes.api(routes.NOMINATION_DECISIONS), {**nomination, "decision": "withdraw"}, "member_id"),
        ("POST", routes.api(routes.TOKENS), {"role": "member", "label": "乙", "member_id": w.b}, "member_id"),
        ("POST", routes.api(routes.TOKEN_REVOKE, principal_id=w.token_b), None, "principal_id"),
    ]


def _refused_reads(w: World) -> list[tuple[str, str]]:
    return [
        (routes.api(routes.MEMBER, member_id=w.b), "member_id"),
        (routes.api(routes.MEMBER_BALANCE, member_id=w.b), "member_id"),
        (routes.api(routes.MEMBER_STATEMENT, member_id=w.b), "member_id"),
        (routes.api(routes.MEMBER_TIER, member_id=w.b), "member_id"),
        (routes.api(routes.MEMBER_EVIDENCE, member_id=w.b), "member_id"),
        (routes.api(routes.MEMBER_REDEMPTIONS, member_id=w.b), "member_id"),
        (routes.api(routes.MEMBER_MOVES, member_id=w.b), "member_id"),
        (f"{routes.api(routes.MEMBERS)}?org_unit={OTHER_COMMUNITY}", "org_unit"),
        (f"{routes.api(routes.ORG_UNITS)}?under={OTHER_COMMUNITY}", "under"),
        (routes.api(routes.ORG_UNIT_MOVES, code=FAR_MICRO), "code"),
        (routes.api(routes.MEMBER_CLAIMS, member_id=w.b), "member_id"),
        (routes.api(routes.TRANSACTION, transaction_id=w.txn_b), "transaction_id"),
        (routes.api(routes.ACTIVITY, activity_id=w.activity_b), "activity_id"),
        (routes.api(routes.CLAIM, claim_id=w.claim_b), "claim_id"),
        (f"{routes.api(routes.CLAIMS)}?org_unit={OTHER_COMMUNITY}", "org_unit"),
        (routes.api(routes.REDEMPTION, redemption_id=w.redemption_b), "redemption_id"),
        (routes.api(routes.REWARD_REDEMPTIONS, code="r-B"), "code"),
        (routes.api(routes.ORG_UNIT_SUMMARY, code=OTHER_COMMUNITY), "code"),
        (f"{routes.api(routes.NOMINATIONS)}?org_unit={OTHER_COMMUNITY}", "org_unit"),
        (f"{routes.api(routes.EXPORT_NOMINATIONS)}?org_unit={OTHER_COMMUNITY}", "org_unit"),
        (f"{routes.api(routes.EXPORT_NOMINATIONS)}?org_unit={OTHER_COMMUNITY}&format=xlsx", "org_unit"),
        (routes.api(routes.TOKEN, principal_id=w.token_b), "principal_id"),
    ]


async def _books(ledger: Ledger, admin, w: World) -> tuple:
    """What a refused request must leave exactly as it was."""
    report = await ledger.verify()
    assert report.ok, report.problems
    return (
        report.transactions,
        {
            k: v
            for k, v in (await admin.get(routes.api(routes.MEMBER_BALANCE, member_id=w.b))).json().items()
            if k != "expiring_before"
        },
        (await admin.get(routes.api(routes.MEMBER, member_id=w.b))).json(),
        (await admin.get(routes.api(routes.MEMBER, member_id=w.a))).json(),
        (await admin.get(routes.api(routes.REWARD, code="r-B"))).json(),
        (await admin.get(routes.api(routes.REDEMPTION, redemption_id=w.redemption_b))).json()["state"],
        (await admin.get(routes.api(routes.CLAIM, claim_id=w.claim_a))).json()["status"],
        (await admin.get(routes.api(routes.CLAIM, claim_id=w.claim_b))).json()["status"],
        (await admin.get(routes.api(routes.ACTIVITY, activity_id=w.activity_a))).json()["roster"],
        (await admin.get(routes.api(routes.ACTIVITY, activity_id=w.activity_b))).json()["roster"],
        (await admin.get(routes.api(routes.TOKEN, principal_id=w.token_b))).json()["revoked_at"],
        (await admin.get(routes.api(routes.TOKENS))).json()["principals"].__len__(),
        (await admin.get(routes.api(routes.ORG_UNITS))).json(),
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
        if route.path.startswith(routes.API_PREFIX)
        for handler in route.route_handlers
        for method in handler.http_methods & {"POST", "PUT", "PATCH", "DELETE"}
        if Access.ORGANIZER in handler.opt[ROLES]
    }
    assert writes == tested | ROW_BY_ROW


ROW_BY_ROW = {("POST", routes.api(routes.IMPORT_ORG_UNITS)), ("POST", routes.api(routes.IMPORT_MEMBERS))}
"""Writes that refuse each row outside the organizer's subtree instead of the request
(a sheet of a street office's units may hold a few of another community's):
tests/test_imports.py checks those rows are refused and nothing is written."""


async def test_an_organizer_works_inside_their_subtree(client, ledger):
    w = await _world(ledger, client)
    _, organizer_a = await token(ledger, "organizer", org_unit=COMMUNITY)
    async with http_client(create_app(settings(ledger), ledger), headers=organizer_a) as organizer:
        awarded = await award(organizer, w.a, 5)
        assert awarded["available_points"] == 45
        created = await organizer.post(routes.api(routes.MEMBERS), json={"id": "m-丙", "name": "丙", "org_unit": MICRO})
        assert created.status_code == 201, created.text
        roster = await organizer.put(
            routes.api(routes.ACTIVITY_ROSTER, activity_id=w.activity_a),
            json={"participants": [{"member_id": w.a, "quantity": 2}]},
        )
        assert roster.json()["roster"] == [{"member_id": w.a, "quantity": 2}]
        settled = await post(organizer, routes.api(routes.ACTIVITY_SETTLE, activity_id=w.activity_a))
        assert settled.status_code == 201, settled.text
        assert (await organizer.get(routes.api(routes.MEMBER_BALANCE, member_id=w.a))).json()["available_points"] == 47
        # Lists without a unit show the organizer's own subtree, not everyone's.
        claims = (await organizer.get(routes.api(routes.CLAIMS))).json()["claims"]
        assert [w.claim_a] == [c["id"] for c in claims]
        [line] = (
            await post(
                organizer,
                routes.api(routes.CLAIMS_REVIEW),
                {"decisions": [{"claim_id": w.claim_a, "decision": "approve"}]},
            )
        ).json()["lines"]
        assert ("approved", 2) == (line["outcome"], line["claim"]["awarded_points"])
        export = await organizer.get(routes.api(routes.EXPORT_NOMINATIONS))
        assert export.status_code == 200, export.text
        rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
        exported = {cell for row in rows[1:] for cell in row}
        assert w.a in exported and w.b not in exported


async def test_a_member_sees_and_redeems_only_for_themselves(client, ledger):
    w = await _world(ledger, client)
    await award(client, w.a, 1)
    _, member_a = await token(ledger, "member", member_id=w.a)
    async with http_client(create_app(settings(ledger), ledger), headers=member_a) as me:
        assert (await me.get(routes.api(routes.MEMBER_BALANCE, member_id=w.a))).json()["available_points"] == 41
        assert (await me.get(routes.api(routes.MEMBER_STATEMENT, member_id=w.a))).status_code == 200
        assert_problem(await me.get(routes.api(routes.MEMBER_BALANCE, member_id=w.b)), 403, "forbidden", "member_id")
        assert_problem(
            await me.get(routes.api(routes.TRANSACTION, transaction_id=w.txn_b)), 403, "forbidden", "transaction_id"
        )
        assert_problem(
            await me.get(routes.api(routes.REDEMPTION, redemption_id=w.redemption_b)), 403, "forbidden", "redemption_id"
        )
        assert_problem(
            await post(me, routes.api(routes.REDEMPTIONS), {"reward": "r-A", "member_id": w.b}),
            403,
            "forbidden",
            "member_id",
        )
        assert_problem(
            await post(me, routes.api(routes.REDEMPTION_CANCEL, redemption_id=w.redemption_b)), 403, "forbidden"
        )
        mine = await post(me, routes.api(routes.REDEMPTIONS), {"reward": "r-A", "member_id": w.a})
        assert mine.status_code == 201, mine.text
        cancelled = await post(me, routes.api(routes.REDEMPTION_CANCEL, redemption_id=mine.json()["id"]))
        assert cancelled.json()["state"] == "cancelled"
        assert (await me.get(routes.api(routes.MEMBER_BALANCE, member_id=w.a))).json()["available_points"] == 41


@pytest.mark.parametrize("unit", [COMMUNITY, None])
async def test_an_auditor_reads_but_never_writes(client, ledger, unit):
    w = await _world(ledger, client)
    _, auditor = await token(ledger, "auditor", org_unit=unit)
    async with http_client(create_app(settings(ledger), ledger), headers=auditor) as reader:
        assert (await reader.get(routes.api(routes.MEMBER_STATEMENT, member_id=w.a))).status_code == 200
        assert (await reader.get(routes.api(routes.LEDGER_VERIFY))).json()["ok"] is True
        b_balance = await reader.get(routes.api(routes.MEMBER_BALANCE, member_id=w.b))
        if unit is None:
            assert b_balance.json()["available_points"] == 20
        else:
            assert_problem(b_balance, 403, "forbidden", "member_id")
        refused = await post(reader, routes.api(routes.AWARDS), award_body(w.a))
        assert_problem(refused, 403, "forbidden")


async def test_a_batch_of_awards_refuses_each_request_outside_its_actor_by_itself(ledger):
    """Awards that arrive together share a transaction, and the scope of each is checked
    in it: the one outside the organizer's community and the one naming nobody are
    refused alone, with their own errors, and the others are posted."""
    await tree(ledger)
    await other_community(ledger)
    inside = [await member(ledger, f"m-内{i}") for i in range(4)]
    outside = await member(ledger, "m-外", home=FAR_MICRO)
    organizer_id, _ = await principal(ledger, "organizer", org_unit=COMMUNITY)
    organizer = await ledger.principal(ADMIN, organizer_id)
    occurred = datetime.now(UTC) - timedelta(hours=1)

    async def award_as(actor: Principal, member_id: str) -> object:
        command = AwardCommand(member_id, 3, Category.PATROL, occurred, "巡查")
        try:
            return await ledger.award(actor, command, IdempotentRequest(actor.id, f"k-{member_id}", member_id))
        except LedgerError as refused:
            return refused

    outcomes = await asyncio.gather(
        *[award_as(organizer, m) for m in [*inside[:2], outside, "m-无此人", *inside[2:]]], award_as(ADMIN, outside)
    )
    denied, unknown = outcomes[2], outcomes[3]
    assert isinstance(denied, AccessDenied) and denied.fields()["field"] == "member_id", denied
    assert isinstance(unknown, MemberNotFound), unknown
    posted = [o for o in outcomes if not isinstance(o, LedgerError)]
    assert [result.member_id for result, _ in posted] == [*inside, outside]
    assert [(await ledger.balance(ADMIN, m)).available_points for m in [*inside, outside]] == [3] * 5
