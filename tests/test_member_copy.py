"""A resident's copy of their data: every record the ledger keeps about the member, as
JSON (valid against schemas/member-copy.schema.json) or XLSX, to the member, an organizer
in scope or an admin; the reading itself is audited and shows in the next copy."""

import asyncio
import io
import json
from pathlib import Path

import jsonschema
import openpyxl

from api import cli, routes
from api.app import create_app
from ledger import Role, member_copy
from tests.builders import (
    ADMIN,
    COMMUNITY,
    FAR_MICRO,
    MICRO,
    OTHER_MICRO,
    assert_problem,
    award,
    member,
    other_community,
    post,
    redeem,
    reward,
    rule_body,
    rules,
    tiers,
    token,
    tree,
)
from tests.conftest import http_client, settings

PHONE = "13900000000"
"""The member's own number, which their copy holds as the ledger keeps it."""

SCHEMA = json.loads((Path(__file__).parent.parent / "schemas" / "member-copy.schema.json").read_text())
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _as(ledger, headers):
    return http_client(create_app(settings(ledger), ledger), headers=headers)


async def _history(client, ledger) -> str:
    """A member with one of every record: awards, a reversal, a claim, a redemption, a
    flag on notice, a move, a token, and an organizer's read of their evidence."""
    await tree(ledger)
    await rules(ledger)
    await tiers(ledger)
    mid = (await ledger.register_member(ADMIN, "m-李四", "张三", MICRO, False, (Role.VOLUNTEER,), PHONE)).id
    await award(client, mid, 40, memo="巡查 电话13800000000")
    wrong = await award(client, mid, 3)
    assert (
        201
        == (
            await post(
                client,
                routes.api(routes.TRANSACTION_REVERSAL, transaction_id=wrong["transaction_id"]),
                {"reason": "记错"},
            )
        ).status_code
    )
    _, own = await token(ledger, "member", member_id=mid)
    async with _as(ledger, own) as resident:
        claimed = await resident.post(routes.api(routes.CLAIMS), json=rule_body(mid, "hour", 2, memo="义剪"))
        assert 201 == claimed.status_code, claimed.text
    await reward(client, cost=5)
    assert 201 == (await redeem(client, mid)).status_code
    opened = await client.post(routes.api(routes.NOTICES), json={"org_unit": COMMUNITY})
    assert 201 == opened.status_code, opened.text
    assert (
        200
        == (await client.patch(routes.api(routes.MEMBER, member_id=mid), json={"org_unit": OTHER_MICRO})).status_code
    )
    _, organizer = await token(ledger, "organizer", COMMUNITY)
    async with _as(ledger, organizer) as desk:
        assert 200 == (await desk.get(routes.api(routes.MEMBER_EVIDENCE, member_id=mid))).status_code
    return mid


async def test_the_copy_lists_every_record_kept_about_the_member_and_fits_its_schema(client, ledger):
    mid = await _history(client, ledger)
    _, own = await token(ledger, "member", member_id=mid)
    async with _as(ledger, own) as resident:
        response = await resident.get(routes.api(routes.MEMBER_EXPORT, member_id=mid))
    assert 200 == response.status_code, response.text
    copy = response.json()
    jsonschema.validate(copy, SCHEMA, format_checker=jsonschema.FormatChecker())

    assert ("m-李四", "张三", PHONE, OTHER_MICRO) == (
        copy["profile"]["id"],
        copy["profile"]["name"],
        copy["profile"]["phone"],
        copy["profile"]["org_unit"],
    )
    assert [40, 3, -3] == [t["earned_points"] for t in copy["transactions"] if t["kind"] in ("award", "reversal")]
    assert "巡查 电话13800000000" in [t["memo"] for t in copy["transactions"]]
    member_postings = [
        p["amount"] for p in copy["postings"] if (p["account_kind"], p["account_owner"]) == ("member", mid)
    ]
    assert (35, 5) == (copy["balance"]["available"], copy["balance"]["held"]) and 35 == sum(member_postings)
    assert [("held", 5)] == [(r["state"], r["cost_points"]) for r in copy["redemptions"]]
    assert [("hour", 2, "义剪")] == [(c["rule_code"], c["quantity"], c["memo"]) for c in copy["claims"]]
    assert [("先进工作者", "in_notice")] == [(f["flag"], f["state"]) for f in copy["flags"]]
    assert [COMMUNITY] == [n["org_unit"] for n in copy["notices"]]
    assert [("m-东关南里-1-1", OTHER_MICRO)] == [(m["from_unit"], m["to_unit"]) for m in copy["moves"]]
    assert 2 == len(copy["tokens"]) and all("token_hash" not in t for t in copy["tokens"])
    reads = [(a["kind"], a["path"], a["role"]) for a in copy["audit"] if a["kind"] == "read"]
    assert [("read", routes.api(routes.MEMBER_EVIDENCE, member_id=mid), "organizer")] == reads
    assert any(a["method"] == "PATCH" for a in copy["audit"]), "the write that moved them is about them too"


async def test_the_copy_as_a_workbook_has_a_sheet_per_section_with_chinese_headers(client, ledger):
    mid = await _history(client, ledger)
    response = await client.get(routes.api(routes.MEMBER_EXPORT, member_id=mid), headers={"Accept": XLSX})
    assert 200 == response.status_code, response.text
    assert response.headers["content-type"].startswith(XLSX)
    assert (
        "filename*=UTF-8''%E4%B8%AA%E4%BA%BA%E4%BF%A1%E6%81%AF%E5%89%AF%E6%9C%AC-m-%E6%9D%8E%E5%9B%9B-"
        in (response.headers["content-disposition"])
    )
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert [title for _, title, _ in member_copy.SECTIONS] == book.sheetnames
    profile = list(book["基本信息"].values)
    assert ("成员编号", "姓名", "电话") == profile[0][:3] and ("m-李四", "张三", PHONE) == profile[1][:3]
    assert 1 + 3 <= book["积分流水"].max_row  # the header, two awards and a reversal at least
    same = await client.get(routes.api(routes.MEMBER_EXPORT, member_id=mid), params={"format": "xlsx"})
    assert same.headers["content-type"].startswith(XLSX)


async def test_each_reading_of_the_copy_is_audited_and_shows_in_the_next(client, ledger):
    await tree(ledger)
    mid = await member(ledger)
    first = (await client.get(routes.api(routes.MEMBER_EXPORT, member_id=mid))).json()
    assert [] == [a for a in first["audit"] if a["kind"] == "read"]
    second = (await client.get(routes.api(routes.MEMBER_EXPORT, member_id=mid))).json()
    [read] = [a for a in second["audit"] if a["kind"] == "read"]
    assert ("admin", routes.api(routes.MEMBER_EXPORT, member_id=mid), "format=json", first_rows(first)) == (
        read["principal"],
        read["path"],
        read["detail"],
        read["rows"],
    )


def first_rows(copy: dict) -> int:
    return sum(1 if isinstance(v, dict) else len(v) for k, v in copy.items() if k not in ("member_id", "made_at"))


async def test_only_the_member_an_organizer_in_scope_or_an_admin_gets_the_copy(client, ledger):
    await tree(ledger)
    await other_community(ledger)
    mid = await member(ledger)
    neighbour = await member(ledger, "m-王五")
    _, other_member = await token(ledger, "member", member_id=neighbour)
    _, far_organizer = await token(ledger, "organizer", FAR_MICRO)
    _, near_organizer = await token(ledger, "organizer", COMMUNITY)
    _, auditor = await token(ledger, "auditor")
    for headers, status in ((other_member, 403), (far_organizer, 403), (auditor, 403), (near_organizer, 200)):
        async with _as(ledger, headers) as caller:
            response = await caller.get(routes.api(routes.MEMBER_EXPORT, member_id=mid))
        assert status == response.status_code, response.text
    assert_problem(await client.get(routes.api(routes.MEMBER_EXPORT, member_id="nobody")), 404, "member_not_found")
    assert_problem(
        await client.get(routes.api(routes.MEMBER_EXPORT, member_id=mid), params={"format": "pdf"}),
        422,
        "invalid_input",
        "format",
    )


async def test_the_command_line_writes_the_copy_as_its_extension_says(client, ledger, database_url, tmp_path, capsys):
    await tree(ledger)
    mid = await member(ledger)
    await award(client, mid, 6)
    url = ["--database-url", database_url]

    def run(*args: str):
        return asyncio.to_thread(cli.main, ["member", "export", *args, *url])

    assert 0 == await run(mid, "--output", str(tmp_path / "copy.json"))
    copy = json.loads((tmp_path / "copy.json").read_text())
    jsonschema.validate(copy, SCHEMA)
    assert [6] == [t["earned_points"] for t in copy["transactions"]]
    assert 0 == await run(mid, "--output", str(tmp_path / "copy.xlsx"))
    assert "积分流水" in openpyxl.load_workbook(tmp_path / "copy.xlsx").sheetnames
    assert f"wrote {tmp_path / 'copy.xlsx'}" in capsys.readouterr().out
    assert 2 == await run(mid, "--output", str(tmp_path / "copy.pdf"))
    assert 2 == await run("nobody", "--output", str(tmp_path / "x.json"))
    err = capsys.readouterr().err.strip().splitlines()
    assert 2 == len(err) and ".json or .xlsx" in err[0] and "nobody" in err[1]


def test_the_stored_schema_is_the_one_the_columns_make():
    assert member_copy.json_schema() == SCHEMA
