"""Erasure: a member's name, phone, memos and evidence are deleted on request, the books
still verify, and points, tiers and flags stay; a notice or a hold naming them refuses it."""

import asyncio
import csv
import hashlib
import io
import json

import pytest
from sqlalchemy import select, text
from sqlmodel import SQLModel

from api import routes
from api.app import create_app
from api.cli import main as cli
from ledger import ImportRefused, Role, erasure
from tests.builders import (
    ADMIN,
    MICRO,
    STREET,
    assert_problem,
    award,
    post,
    recently,
    redeem,
    reward,
    rules,
    tiers,
    token,
    tree,
)
from tests.conftest import http_client, settings

MEMBER_ID = "m-李四"
NAME, PHONE = "李秀英", "138-0013-8000"
MEMO, EVIDENCE = "帮李秀英修水管，电话13800138000", "https://pics.example/li-xiuying-1.jpg"
CLAIM_MEMO, CLAIM_EVIDENCE = "李秀英报楼道堆物", "https://pics.example/li-xiuying-claim.jpg"
SECRETS = (NAME, PHONE, MEMO, EVIDENCE, CLAIM_MEMO, CLAIM_EVIDENCE)
PSEUDONYM = "已注销-" + hashlib.sha256(MEMBER_ID.encode()).hexdigest()[:4]


async def _history(client, ledger) -> None:
    """A flagged party member with an award (memo and evidence), a fulfilled redemption and
    an approved claim."""
    await tree(ledger)
    await tiers(ledger)
    await rules(ledger)
    await ledger.register_member(ADMIN, MEMBER_ID, NAME, MICRO, True, (Role.VOLUNTEER,), PHONE)
    await award(client, MEMBER_ID, 40, memo=MEMO, evidence_url=EVIDENCE)
    await reward(client)
    held = (await redeem(client, MEMBER_ID)).json()
    assert 201 == (await post(client, routes.api(routes.REDEMPTION_FULFIL, redemption_id=held["id"]))).status_code
    claim = {
        "member_id": MEMBER_ID,
        "rule": "report",
        "quantity": 1,
        "occurred_at": recently(),
        "memo": CLAIM_MEMO,
        "evidence_url": CLAIM_EVIDENCE,
    }
    claimed = (await client.post(routes.api(routes.CLAIMS), json=claim)).json()
    assert 201 == (await post(client, routes.api(routes.CLAIM_APPROVE, claim_id=claimed["id"]))).status_code


async def _reply_with_text(ledger) -> None:
    """A stored reply that names the member and carries their memo and name (a client's
    earlier release answered with them), and one of another member that shares a word."""
    replies = [
        ("with-memo", {"member_id": MEMBER_ID, "memo": MEMO, "lines": [{"name": NAME, "points": 40}]}),
        ("other", {"member_id": "m-王五", "memo": "修水管"}),
    ]
    async with ledger.db.write() as conn:
        await conn.execute(
            text(
                'INSERT INTO idempotency (principal, "key", fingerprint, result, created_at) '
                "VALUES ('admin', :key, 'f', :result, CURRENT_TIMESTAMP)"
            ),
            [{"key": k, "result": json.dumps(r, ensure_ascii=False)} for k, r in replies],
        )


async def _everything_kept(client, ledger) -> str:
    """Every text cell of every table, as one string (JSON cells as written out)."""
    cells = []
    async with ledger.db.read() as conn:
        for table in SQLModel.metadata.sorted_tables:
            for row in await conn.execute(select(table)):
                cells.extend(json.dumps(v, ensure_ascii=False, default=str) for v in row)
    return "\n".join(cells)


async def _standing(client) -> tuple:
    """What the member earned and is flagged for, without the name."""
    balance = (await client.get(routes.api(routes.MEMBER_BALANCE, member_id=MEMBER_ID))).json()
    balance.pop("expiring_before")  # a window from now, not a figure of the member's
    tier = (await client.get(routes.api(routes.MEMBER_TIER, member_id=MEMBER_ID))).json()
    flags = (await client.get(routes.api(routes.NOMINATIONS), params={"org_unit": STREET})).json()
    return balance, tier, [{k: v for k, v in f.items() if k != "name"} for f in flags]


async def _erase(client, member_id=MEMBER_ID, **headers):
    return await post(
        client, routes.api(routes.MEMBER_ERASURE, member_id=member_id), {"reason": "本人申请删除个人信息"}, **headers
    )


async def test_an_erased_member_keeps_points_tiers_and_flags_and_none_of_their_text(client, ledger):
    """After erasure verify passes, no table holds the name, phone, memos or evidence, the
    member's standing is unchanged and the nomination export shows the pseudonym."""
    await _history(client, ledger)
    before = await _standing(client)
    await _reply_with_text(ledger)
    assert {NAME, MEMO, EVIDENCE, CLAIM_MEMO} <= {s for s in SECRETS if s in await _everything_kept(client, ledger)}
    response = await _erase(client, Idempotency_Key="erase-1")
    assert 201 == response.status_code, response.text
    assert {
        "member_id": MEMBER_ID,
        "pseudonym": PSEUDONYM,
        # The award's memo and evidence, the hold's and the fulfilment's memos, the claim award's two.
        "values_erased": 6,
        "claims_cleared": 1,
        "replies_scrubbed": 1,  # the stored reply below
        "erasure_id": 1,
    } == response.json()
    report = await ledger.verify()
    assert (True, []) == (report.ok, report.problems)
    kept = await _everything_kept(client, ledger)
    assert [] == [s for s in SECRETS if s in kept]
    assert '"修水管"' in kept  # another member's reply is not theirs to scrub
    assert before == await _standing(client)
    assert PSEUDONYM == (await client.get(routes.api(routes.MEMBER, member_id=MEMBER_ID))).json()["name"]
    export = await client.get(
        routes.api(routes.EXPORT_NOMINATIONS), params={"org_unit": STREET, "period": ledger.current_period()}
    )
    rows = list(csv.reader(io.StringIO(export.text.lstrip("\ufeff"))))
    names = [row[0] for row in rows[1 : rows.index([])]]  # the names, down to the checkpoint's table
    assert [PSEUDONYM, PSEUDONYM] == names  # flagged 先进工作者 and 优秀共产党员
    statement = (await client.get(routes.api(routes.MEMBER_STATEMENT, member_id=MEMBER_ID))).json()
    assert {""} == {line["memo"] for line in statement["lines"]}


async def test_an_erasure_is_an_audit_event_and_replays_by_its_key(client, ledger):
    """The request leaves an audit row; the same key answers the first result again."""
    await _history(client, ledger)
    first = await _erase(client, Idempotency_Key="erase-2")
    again = await _erase(client, Idempotency_Key="erase-2")
    assert (first.json(), "true") == (again.json(), again.headers.get("idempotent-replayed"))
    async with ledger.db.read() as conn:
        rows = (await conn.execute(text("SELECT method, path, status FROM audit WHERE path LIKE '%erasure'"))).all()
        reasons = (await conn.execute(text("SELECT reason, erased_by FROM erasure"))).all()
    assert ("POST", routes.api(routes.MEMBER_ERASURE, member_id=MEMBER_ID), 201) == tuple(rows[0])
    assert [("本人申请删除个人信息", "admin")] == [tuple(r) for r in reasons]


async def test_an_erasure_is_refused_while_a_notice_or_a_hold_names_the_member(client, ledger):
    """An open notice and a held redemption are both named, and nothing is erased."""
    await tree(ledger)
    await tiers(ledger)
    await ledger.register_member(ADMIN, MEMBER_ID, NAME, MICRO, True, (Role.VOLUNTEER,), PHONE)
    await award(client, MEMBER_ID, 40, memo=MEMO)
    notice = (await client.post(routes.api(routes.NOTICES), json={"org_unit": STREET})).json()
    await reward(client)
    held = (await redeem(client, MEMBER_ID)).json()
    body = assert_problem(await _erase(client), 409, "erasure_blocked")
    assert ([notice["id"]], [held["id"]]) == (body["notice_ids"], body["redemption_ids"])
    assert f"open notice {notice['id']}" in body["detail"] and f"held redemption {held['id']}" in body["detail"]
    assert NAME == (await ledger.member(ADMIN, MEMBER_ID)).name
    assert MEMO in await _everything_kept(client, ledger)


async def test_an_erasure_of_an_unknown_member_or_without_a_reason_is_a_problem(client, ledger):
    """An unknown id is a 404 naming the id; an empty reason a 400 naming the reason."""
    await tree(ledger)
    assert_problem(await _erase(client, "m-无此人"), 404, "member_not_found", "id")
    response = await post(client, routes.api(routes.MEMBER_ERASURE, member_id=MEMBER_ID), {"reason": ""})
    assert_problem(response, 422, "invalid_input", "reason")


async def test_only_an_admin_erases(client, ledger):
    """An organizer of the member's own unit is refused."""
    await tree(ledger)
    await ledger.register_member(ADMIN, MEMBER_ID, NAME, MICRO, False, (Role.VOLUNTEER,))
    _, organizer = await token(ledger, "organizer", MICRO)
    async with http_client(create_app(settings(ledger), ledger), organizer) as http:
        assert_problem(await _erase(http), 403, "forbidden")
    assert NAME == (await ledger.member(ADMIN, MEMBER_ID)).name


async def test_the_command_line_erases_in_one_line_and_refuses_with_exit_2(client, ledger, capsys):
    """`ledger member erase` prints one line; an unknown member or a hold exits 2 with one line."""
    await _history(client, ledger)
    url = ledger.db.url
    assert 0 == await asyncio.to_thread(
        cli, ["member", "erase", MEMBER_ID, "--reason", "本人申请", "--database-url", url]
    )
    out = capsys.readouterr().out
    assert 1 == len(out.splitlines()) and PSEUDONYM in out
    assert 2 == await asyncio.to_thread(cli, ["member", "erase", "m-无此人", "--reason", "x", "--database-url", url])
    assert 1 == len(capsys.readouterr().err.splitlines())
    held = (await redeem(client, MEMBER_ID)).json()
    assert 2 == await asyncio.to_thread(cli, ["member", "erase", MEMBER_ID, "--reason", "x", "--database-url", url])
    assert f"held redemption {held['id']}" in capsys.readouterr().err
    async with ledger.db.read() as conn:
        rows = (await conn.execute(text("SELECT principal, method FROM audit WHERE path LIKE 'member erase%'"))).all()
    assert [("cli", "CLI")] == [tuple(r) for r in rows]


async def test_an_old_sheet_does_not_write_an_erased_member_back(client, ledger):
    """Importing the office's old member sheet after an erasure refuses the erased member's
    row, naming it, and writes nothing: the name and phone stay erased."""
    await _history(client, ledger)
    assert 201 == (await _erase(client)).status_code
    sheet = io.BytesIO(
        "\ufeff成员编号,姓名,微网格,党员,角色,电话\n".encode()
        + f"{MEMBER_ID},{NAME},{MICRO},否,volunteer,{PHONE}\n".encode()
    )
    with pytest.raises(ImportRefused) as refused:
        await ledger.import_members(ADMIN, sheet, dry_run=False)
    [row] = refused.value.fields()["refusals"]
    assert ("member_erased", "成员编号", MEMBER_ID) == (row["code"], row["column"], row["key"])
    assert "已应本人要求注销" in row["reason_zh"]
    kept = await _everything_kept(client, ledger)
    assert [] == [secret for secret in (NAME, PHONE) if secret in kept]


def test_scrubbing_a_stored_reply_replaces_whole_fields_only():
    """A short erased memo ("1") empties the field that holds it and leaves the ids, times
    and states that merely contain it as they were, so the reply still replays."""
    stored = {"id": 1, "member_id": "m-100", "memo": "1", "held_at": "2026-12-01T10:00:00+00:00", "name": NAME}
    scrubbed = erasure._scrubbed(stored, {"1": "", NAME: PSEUDONYM})
    assert {**stored, "memo": "", "name": PSEUDONYM} == scrubbed
