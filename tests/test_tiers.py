"""Tiers and nomination flags: thresholds on points earned, raised and revoked with the
transaction that crossed them, and the 公示 lifecycle."""

import csv
import io
from datetime import UTC, datetime, timedelta

import openpyxl
import pytest
import yaml
from sqlalchemy import text

from api import routes
from ledger import AwardCommand, Category, IdempotentRequest, Ledger, Principal, Role
from ledger.earning.award_batch import AwardRequest, award_many
from ledger.earning.awards import prepare_reversal
from ledger.errors import DataFileInvalid
from ledger.journal import posting
from tests.builders import (
    ADMIN,
    BAD_TIERS,
    BAD_TIERS_ERRORS,
    COMMUNITY,
    MICRO,
    OTHER_MICRO,
    STREET,
    TEST_TIERS,
    assert_problem,
    award,
    file_errors,
    key,
    post,
    spend,
    tiers,
    tree,
)

ADVANCED, PARTY = "先进工作者", "优秀共产党员"


async def _setup(ledger, party=True, roles=(Role.MICRO_GRID_WORKER,), home=MICRO, member_id="w-1"):
    await tree(ledger)
    await tiers(ledger)
    await ledger.register_member(ADMIN, member_id, "王秀英", home, party, roles)
    return member_id


async def _flags(client, member_id, period="2026"):
    view = (await client.get(routes.api(routes.MEMBER_TIER, member_id=member_id), params={"period": period})).json()
    return {f["flag"]: f["state"] for f in view["flags"]}


@pytest.mark.parametrize(
    "points, tier, flags",
    [
        (29, "良好", {}),
        (30, "优秀", {ADVANCED: "flagged", PARTY: "flagged"}),
        (31, "优秀", {ADVANCED: "flagged", PARTY: "flagged"}),
    ],
)
async def test_the_threshold_edges(client, ledger, points, tier, flags):
    """One point below 优秀 raises nothing; exactly at or above raises both flags."""
    mid = await _setup(ledger)
    await award(client, mid, points)
    view = (await client.get(routes.api(routes.MEMBER_TIER, member_id=mid))).json()
    assert (points, tier) == (view["earned_points"], view["tier"])
    assert flags == {f["flag"]: f["state"] for f in view["flags"]}


async def test_the_tier_view_shows_the_next_threshold(client, ledger):
    """Between tiers the view names the next one and the points to go."""
    mid = await _setup(ledger)
    await award(client, mid, 12)
    view = (await client.get(routes.api(routes.MEMBER_TIER, member_id=mid))).json()
    assert ("合格", "良好", 20, 8) == (view["tier"], view["next_tier"], view["next_threshold"], view["points_to_next"])


async def test_only_party_members_are_flagged_优秀共产党员(client, ledger):
    """A non-party worker gets 先进工作者 only; a party resident gets 优秀共产党员 only."""
    worker = await _setup(ledger, party=False)
    await ledger.register_member(ADMIN, "r-1", "居民", OTHER_MICRO, True, (Role.RESIDENT,))
    await award(client, worker, 30)
    await award(client, "r-1", 30)
    assert ({ADVANCED: "flagged"}, {PARTY: "flagged"}) == (await _flags(client, worker), await _flags(client, "r-1"))


async def test_the_year_ends_at_midnight_in_shanghai(client, ledger):
    """23:59 on 31 December counts for that year; 00:00 on 1 January for the next."""
    mid = await _setup(ledger)
    await award(client, mid, 30, occurred_at="2025-12-31T23:59:00+08:00")
    await award(client, mid, 29, occurred_at="2026-01-01T00:00:00+08:00")
    assert {ADVANCED: "flagged", PARTY: "flagged"} == await _flags(client, mid, "2025")
    assert {} == await _flags(client, mid, "2026")


async def test_a_reversal_revokes_and_a_later_award_raises_again(client, ledger):
    """Dropping below revokes with the reversal's transaction; crossing again re-flags."""
    mid = await _setup(ledger)
    first = await award(client, mid, 30)
    reversal = (
        await post(
            client, routes.api(routes.TRANSACTION_REVERSAL, transaction_id=first["transaction_id"]), {"reason": "录错"}
        )
    ).json()
    assert {ADVANCED: "revoked", PARTY: "revoked"} == await _flags(client, mid)
    assert [] == (await client.get(routes.api(routes.NOMINATIONS), params={"org_unit": STREET})).json()
    again = await award(client, mid, 35)
    assert {ADVANCED: "flagged", PARTY: "flagged"} == await _flags(client, mid)
    assert [
        ("raised", first["transaction_id"]),
        ("revoked", reversal["transaction_id"]),
        ("raised", again["transaction_id"]),
    ] == await _flag_events(ledger, mid, PARTY)


async def test_spending_does_not_lower_a_tier(client, ledger):
    """Points spent (a posting that earns nothing) leave the tier and the flags as they were."""
    mid = await _setup(ledger)
    await award(client, mid, 30)
    await spend(ledger, mid, 25)
    view = (await client.get(routes.api(routes.MEMBER_TIER, member_id=mid))).json()
    assert ("优秀", 30) == (view["tier"], view["earned_points"])
    assert {ADVANCED: "flagged", PARTY: "flagged"} == await _flags(client, mid)


async def test_a_unit_scheme_overrides_the_default_for_its_subtree(client, ledger):
    """A community's own thresholds apply to its members; the default applies elsewhere."""
    mid = await _setup(ledger)
    await tiers(
        ledger,
        TEST_TIERS
        + f"""
  - org_unit: {COMMUNITY}
    tiers: [{{name: 合格, points: 5}}, {{name: 优秀, points: 8}}]
    advanced_worker_roles: [micro_grid_worker]
""",
    )
    await award(client, mid, 8)
    view = (await client.get(routes.api(routes.MEMBER_TIER, member_id=mid))).json()
    assert ("优秀", COMMUNITY) == (view["tier"], view["scheme_org_unit"])
    assert {ADVANCED: "flagged", PARTY: "flagged"} == await _flags(client, mid)


def _unit_schemes(micro_roles: str) -> str:
    """The test tiers plus top-only schemes for the two micro-grids: MICRO's with
    ``micro_roles`` (a YAML line, or "" to leave the field out), OTHER_MICRO's with []."""
    return (
        TEST_TIERS
        + f"""
  - org_unit: {MICRO}
    tiers: [{{name: 优秀, points: 8}}]
    {micro_roles}
  - org_unit: {OTHER_MICRO}
    tiers: [{{name: 优秀, points: 8}}]
    advanced_worker_roles: []
"""
    )


async def test_a_unit_scheme_without_roles_takes_the_default_s_and_an_empty_list_means_none(client, ledger):
    """Leaving out advanced_worker_roles flags the default's roles 先进工作者 in that subtree;
    [] flags none there, while 优秀共产党员 follows party membership in both."""
    first = await _setup(ledger)
    await ledger.register_member(ADMIN, "w-2", "李桂兰", OTHER_MICRO, True, (Role.MICRO_GRID_WORKER,))
    await tiers(ledger, _unit_schemes(""))
    await award(client, first, 8)
    await award(client, "w-2", 8)
    assert ({ADVANCED: "flagged", PARTY: "flagged"}, {PARTY: "flagged"}) == (
        await _flags(client, first),
        await _flags(client, "w-2"),
    )


async def test_leaving_out_roles_and_an_empty_list_are_different_versions(client, ledger):
    """Going from no advanced_worker_roles to [] stores a new version; the schemes read
    show each unit's roles as they apply."""
    await _setup(ledger)
    await tiers(ledger, _unit_schemes(""))
    roles = {s["org_unit"]: s["advanced_worker_roles"] for s in (await client.get(routes.api(routes.TIERS))).json()}
    default = ["grid_leader", "grid_worker", "micro_grid_worker", "volunteer"]
    assert {None: default, MICRO: default, OTHER_MICRO: []} == roles
    assert [(MICRO, 2)] == await ledger.load_tiers(Principal.admin("test"), _unit_schemes("advanced_worker_roles: []"))
    assert [] == await ledger.load_tiers(Principal.admin("test"), _unit_schemes("advanced_worker_roles: []"))


async def _flag_events(ledger, member_id, flag):
    """The (action, transaction) of every raise and revocation of the member's flag, in order."""
    async with ledger.db.read() as conn:
        events = await conn.execute(
            text(
                "SELECT action, transaction_id FROM nomination_event"
                " WHERE member_id = :m AND flag = :f AND action IN ('raised', 'revoked') ORDER BY id"
            ),
            {"m": member_id, "f": flag},
        )
        return [tuple(e) for e in events]


async def _flagged_by(client, member_id):
    """The transaction each live flag of the member names, by flag."""
    listed = (await client.get(routes.api(routes.NOMINATIONS), params={"org_unit": STREET})).json()
    return {n["flag"]: n["transaction_id"] for n in listed if n["member_id"] == member_id}


def _award_request(member_id, points):
    when = datetime.now(UTC) - timedelta(minutes=5)
    command = AwardCommand(member_id, points, Category.PATROL, when, "日巡千步")
    return AwardRequest(command, "admin", IdempotentRequest("admin", key(), f"{member_id}:{points}"))


async def test_a_batch_flag_names_the_award_that_crossed_not_the_last(client, ledger):
    """From 20, ten 2-point awards in one group-commit batch: both flags name the fifth (28 → 30)."""
    mid = await _setup(ledger)
    await award(client, mid, 20)
    async with ledger.db.write() as conn:
        requests = [_award_request(mid, 2) for _ in range(10)]
        outcomes = await award_many(conn, requests, ledger.clock(), ledger.journal)
    ids = [result.transaction_id for result, _ in outcomes]
    assert 40 == (await client.get(routes.api(routes.MEMBER_TIER, member_id=mid))).json()["earned_points"]
    assert {ADVANCED: ids[4], PARTY: ids[4]} == await _flagged_by(client, mid)
    assert ([("raised", ids[4])], [("raised", ids[4])]) == (
        await _flag_events(ledger, mid, ADVANCED),
        await _flag_events(ledger, mid, PARTY),
    )


async def _reverse_in_one_batch(ledger, transaction_ids):
    """Post the reversals of ``transaction_ids`` in one batch, in order, through the journal
    (the service reverses one at a time); the reversals' transaction ids."""
    async with ledger.db.write() as conn:
        drafts = [await prepare_reversal(conn, txn_id, "录错", "admin") for txn_id in transaction_ids]
        posted = await posting.post(conn, drafts, ledger.clock(), ledger.journal)
    return [p.id for p in posted]


async def test_a_batch_revocation_names_the_reversal_that_took_the_member_below(client, ledger):
    """At 31, reversing 5 (→ 26) and then 6 (→ 20) in one batch revokes with the first reversal."""
    mid = await _setup(ledger)
    ids = [(await award(client, mid, points))["transaction_id"] for points in (20, 6, 5)]
    reversals = await _reverse_in_one_batch(ledger, [ids[2], ids[1]])
    assert (20, {ADVANCED: "revoked", PARTY: "revoked"}) == (
        (await client.get(routes.api(routes.MEMBER_TIER, member_id=mid))).json()["earned_points"],
        await _flags(client, mid),
    )
    expected = [("raised", ids[2]), ("revoked", reversals[0])]
    assert (expected, expected) == (await _flag_events(ledger, mid, ADVANCED), await _flag_events(ledger, mid, PARTY))


async def test_a_bad_tiers_file_lists_every_error(ledger):
    """A schema error, a second default, a repeated unit, falling thresholds and a unit
    that does not exist are all named with their paths in one refusal; nothing is stored."""
    await tree(ledger)
    with pytest.raises(DataFileInvalid) as refused:
        await ledger.load_tiers(Principal.admin("test"), BAD_TIERS)
    assert BAD_TIERS_ERRORS == file_errors(refused.value)
    assert [] == await ledger.tier_schemes()


async def test_a_bad_tiers_file_posted_gets_every_error_in_one_problem(client, ledger):
    """POST /v1/tiers answers one 422 problem listing each error with its JSON pointer."""
    await tree(ledger)
    response = await client.post(routes.api(routes.TIERS), json=yaml.safe_load(BAD_TIERS))
    body = assert_problem(response, 422, "invalid_data_file")
    assert [{"path": path, "reason": reason} for path, reason in BAD_TIERS_ERRORS] == body["errors"]
    assert ("the file has 6 error(s) and was not loaded", 0) == (body["detail"], body["errors_omitted"])
    assert [] == (await client.get(routes.api(routes.TIERS))).json()


async def test_the_notice_lifecycle(client, ledger, db):
    """Open a notice, object, refuse to confirm early, confirm after it ends, withdraw another."""
    mid = await _setup(ledger)
    awarded = await award(client, mid, 40)
    opened = (await client.post(routes.api(routes.NOTICES), json={"org_unit": STREET, "period": "2026"})).json()
    assert (2, 5) == (opened["names"], opened["working_days"])
    [sealed] = (await client.get(routes.api(routes.CHECKPOINTS))).json()["checkpoints"]
    assert (sealed, awarded["transaction_id"]) == (opened["checkpoint"], sealed["transaction_id"])
    objection = {"member_id": mid, "period": "2026", "flag": PARTY, "reason": "记录存疑"}
    assert 1 == (await client.post(routes.api(routes.NOMINATION_OBJECTIONS), json=objection)).json()["objections"]
    decision = {"member_id": mid, "period": "2026", "flag": ADVANCED, "decision": "confirm", "reason": "公示无异议"}
    assert_problem(
        await client.post(routes.api(routes.NOMINATION_DECISIONS), json=decision), 409, "nomination_state_conflict"
    )
    later = Ledger(db, clock=lambda: datetime.now(UTC) + timedelta(days=10))
    confirmed = await later.decide(Principal.admin("street-office"), mid, "2026", ADVANCED, True, "公示无异议")
    withdrawn = (
        await client.post(
            routes.api(routes.NOMINATION_DECISIONS),
            json=decision | {"flag": PARTY, "decision": "withdraw", "reason": "核查属实"},
        )
    ).json()
    assert ("confirmed", "withdrawn") == (confirmed.state, withdrawn["state"])
    assert_problem(
        await client.post(routes.api(routes.NOMINATION_OBJECTIONS), json=objection), 409, "nomination_state_conflict"
    )
    async with ledger.db.read() as conn:
        actions = [
            r[0]
            for r in await conn.execute(
                text("SELECT action FROM nomination_event WHERE member_id = :m ORDER BY id"), {"m": mid}
            )
        ]
    assert ["raised", "raised", "noticed", "noticed", "objection", "confirmed", "withdrawn"] == actions


async def test_the_export_reads_back_as_the_ledger_says(client, ledger):
    """CSV (UTF-8 with BOM) and XLSX rows match the ledger, Chinese intact, header frozen,
    and each file ends with the checkpoint sealed at the moment it was read."""
    mid = await _setup(ledger)
    await award(client, mid, 20)
    last = await award(client, mid, 12, category="diary")
    csv_response = await client.get(routes.api(routes.EXPORT_NOMINATIONS), params={"org_unit": STREET, "format": "csv"})
    assert csv_response.content.startswith("\ufeff".encode())
    names, sealed = csv_response.content.decode("utf-8-sig").split("\r\n\r\n")
    rows = list(csv.DictReader(io.StringIO(names)))
    assert 2 == len(rows)
    row = next(r for r in rows if r["推荐类别"] == PARTY)
    assert (
        "王秀英",
        mid,
        "东大街街道/东关南里社区/东关南里第一大网格/东关南里1-1微网格",
        "是",
        "优秀",
        "32",
        "20",
        "12",
        "2",
    ) == (
        row["姓名"],
        row["成员编号"],
        row["组织路径(街道/社区/网格/微网格)"],
        row["党员"],
        row["等级"],
        row["年度获得积分"],
        row["巡查"],
        row["民情日记"],
        row["佐证交易数"],
    )
    [checkpoint] = (await client.get(routes.api(routes.CHECKPOINTS))).json()["checkpoints"]
    assert last["transaction_id"] == checkpoint["transaction_id"]
    assert [list(CHECKPOINT_HEADERS), _printed(checkpoint)] == list(csv.reader(io.StringIO(sealed)))
    xlsx = await client.get(
        routes.api(routes.EXPORT_NOMINATIONS), params={"org_unit": STREET, "format": "xlsx", "flag": PARTY}
    )
    workbook = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    sheet = workbook.active
    values = list(sheet.values)
    assert (("序号", "姓名"), (1, "王秀英")) == (values[1][:2], values[2][:2])
    assert 3 == len(values) and sheet.column_dimensions["D"].width >= 40
    newest = (await client.get(routes.api(routes.CHECKPOINTS))).json()["checkpoints"][0]
    assert checkpoint["id"] < newest["id"]
    sealed_sheet = [[str(cell) for cell in row] for row in workbook["账本检查点"].values]
    assert [list(CHECKPOINT_HEADERS), _printed(newest)] == sealed_sheet


CHECKPOINT_HEADERS = ("账本检查点编号", "交易编号", "哈希(SHA-256)", "封存时间(UTC)", "校验码(HMAC-SHA256)")


def _printed(checkpoint):
    """A checkpoint as the export prints it: the sealing time to the microsecond, in UTC."""
    sealed_at = datetime.fromisoformat(checkpoint["sealed_at"]).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return [str(checkpoint["id"]), str(checkpoint["transaction_id"]), checkpoint["hash"], sealed_at, checkpoint["mac"]]


async def test_the_evidence_lists_the_transactions_behind_the_points(client, ledger):
    """Every earning transaction of the period, oldest first, paged."""
    mid = await _setup(ledger)
    ids = [(await award(client, mid, p))["transaction_id"] for p in (3, 4, 5)]
    page = (await client.get(routes.api(routes.MEMBER_EVIDENCE, member_id=mid), params={"limit": 2})).json()
    rest = (
        await client.get(
            routes.api(routes.MEMBER_EVIDENCE, member_id=mid), params={"limit": 2, "cursor": page["next_cursor"]}
        )
    ).json()
    assert ids == [t["id"] for t in page["transactions"] + rest["transactions"]]


async def test_bad_nomination_queries_are_refused(client, ledger):
    """Periods are years, flags are the two honours, units exist."""
    await _setup(ledger)
    assert_problem(
        await client.get(routes.api(routes.NOMINATIONS), params={"org_unit": STREET, "period": "26"}),
        422,
        "invalid_input",
        "period",
    )
    assert_problem(
        await client.get(routes.api(routes.NOMINATIONS), params={"org_unit": STREET, "flag": "劳模"}),
        422,
        "invalid_input",
        "flag",
    )
    assert_problem(
        await client.get(routes.api(routes.EXPORT_NOMINATIONS), params={"org_unit": "nowhere"}),
        404,
        "org_unit_not_found",
    )
