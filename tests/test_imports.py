"""Importing the org tree and members from XLSX and CSV: dry runs, applies, refusals."""

from __future__ import annotations

import asyncio
import csv
import io

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from api import routes
from api.cli import main as cli
from api.pages import zh
from api.settings import IMPORT_BODY_BYTES_MAX
from ledger import Ledger, Level, Principal, Role
from ledger.errors import ImportRefused, InvalidInput, OrgUnitNotFound
from ledger.org import imports
from ledger.org.imports import IMPORT_OUTCOMES_LISTED_MAX, ImportReport, Outcome
from ledger.service import IMPORT_ATTEMPTS
from ledger.storage.tables import Account, Member
from tests.builders import (
    ADMIN,
    COMMUNITY,
    FAR_MICRO,
    GRID,
    MICRO,
    OTHER_MICRO,
    STREET,
    assert_problem,
    member,
    other_community,
    token,
    tree,
)
from tests.conftest import MANY_CONNECTIONS

UNIT_HEADER = ("编码", "名称", "层级", "上级")
MEMBER_HEADER = ("成员编号", "姓名", "微网格", "党员", "角色")
TREE_ROWS = [  # children before their parents, as an office's sheet may list them
    ("m-1", "一号微网格", "微网格", "g-1"),
    ("m-2", "二号微网格", "micro_grid", "g-1"),
    ("g-1", "第一大网格", "大网格", "c-1"),
    ("c-1", "东关社区", "社区", "s-1"),
    ("s-1", "东大街街道", "街道", ""),
]


def as_csv(*rows: tuple[object, ...], encoding: str = "utf-8") -> io.BytesIO:
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    return io.BytesIO(text.getvalue().encode(encoding))


def as_xlsx(*rows: tuple[object, ...]) -> io.BytesIO:
    workbook = Workbook()
    for row in rows:
        workbook.active.append(row)
    out = io.BytesIO()
    workbook.save(out)
    out.seek(0)
    return out


def outcomes(report: ImportReport) -> list[tuple[int, str, str]]:
    return [(o.row, o.key, o.outcome.value) for o in report.outcomes]


def refusals(report: ImportReport) -> list[tuple[int, str | None, str, str, str]]:
    """Each refused row: its number, column, code and reason in English and Chinese."""
    return [
        (o.row, o.column, o.code or "", o.reason or "", o.reason_zh or "")
        for o in report.outcomes
        if o.outcome is Outcome.REFUSED
    ]


async def import_members(ledger: Ledger, file: io.BytesIO, *, dry_run: bool, by: str = "importer") -> ImportReport:
    return await ledger.import_members(Principal.admin(by), file, dry_run=dry_run)


async def count_members(ledger: Ledger) -> tuple[int, int]:
    async with ledger.db.read() as conn:
        members = (await conn.execute(select(func.count()).select_from(Member))).scalar_one()
        accounts = (await conn.execute(select(func.count()).select_from(Account))).scalar_one()
    return members, accounts


async def test_a_dry_run_reports_and_writes_nothing_and_an_apply_writes_the_tree(ledger):
    """A unit file whose children come before their parents resolves within itself; a dry
    run says what it would create, an apply creates it, and a second apply changes nothing."""
    dry = await ledger.import_units(ADMIN, as_csv(UNIT_HEADER, *TREE_ROWS), dry_run=True)
    assert (5, 5, 0, False) == (dry.rows, dry.created, dry.refused, dry.applied)
    assert [(2, "m-1", "created"), (3, "m-2", "created")] == outcomes(dry)[:2]
    with pytest.raises(OrgUnitNotFound):
        await ledger.unit("s-1")
    applied = await ledger.import_units(ADMIN, as_csv(UNIT_HEADER, *TREE_ROWS), dry_run=False)
    assert (5, True) == (applied.created, applied.applied)
    micro = await ledger.unit("m-1")
    assert (Level.MICRO_GRID, "g-1", ["s-1", "c-1", "g-1", "m-1"]) == (micro.level, micro.parent_code, micro.ancestry)
    again = await ledger.import_units(ADMIN, as_csv(UNIT_HEADER, *TREE_ROWS), dry_run=False)
    assert (0, 0, 5) == (again.created, again.updated, again.unchanged)
    assert (await ledger.verify()).ok


async def test_members_are_created_then_found_unchanged_and_updated_by_field(ledger):
    """Members are created with their party membership and roles; the same file again is
    all unchanged, and a changed row names the fields it changes."""
    await ledger.import_units(ADMIN, as_csv(UNIT_HEADER, *TREE_ROWS), dry_run=False)
    rows = [("p-1", "张三", "m-1", "是", "志愿者、居民"), ("p-2", "李四", "m-2", "否", "grid_worker; 网格长")]
    created = await import_members(ledger, as_csv(MEMBER_HEADER, *rows), dry_run=False)
    assert (2, 2, 0) == (created.rows, created.created, created.refused)
    first, second = await ledger.member(ADMIN, "p-1"), await ledger.member(ADMIN, "p-2")
    assert ("张三", "m-1", True, (Role.RESIDENT, Role.VOLUNTEER), True) == (
        first.name,
        first.org_unit,
        first.party_member,
        first.roles,
        first.active,
    )
    assert (False, (Role.GRID_LEADER, Role.GRID_WORKER)) == (second.party_member, second.roles)
    again = await import_members(ledger, as_csv(MEMBER_HEADER, *rows), dry_run=False)
    assert (0, 0, 2) == (again.created, again.updated, again.unchanged)
    changed = [("p-1", "张三丰", "m-2", "是", "居民、志愿者"), rows[1]]
    updated = await import_members(ledger, as_csv(MEMBER_HEADER, *changed), dry_run=False)
    assert [("p-1", ("name", "org_unit"))] == [(o.key, o.changed) for o in updated.outcomes if o.changed]
    assert ("张三丰", "m-2") == ((await ledger.member(ADMIN, "p-1")).name, (await ledger.member(ADMIN, "p-1")).org_unit)
    assert (await ledger.verify()).ok


async def test_a_phone_is_stored_created_and_updated_as_the_other_fields(ledger):
    """电话 is kept: a new member's is stored, the same file again is unchanged (a trailing
    space is no change), a new number is reported as "phone" changed, an empty cell
    leaves the number as it is, and a number no one could dial is refused naming 电话."""
    await tree(ledger)
    header = (*MEMBER_HEADER, "电话")
    first = await import_members(ledger, as_csv(header, ("p-1", "张三", MICRO, "", "", "138 0013 8000")), dry_run=False)
    assert (1, "138 0013 8000") == (first.created, (await ledger.member(ADMIN, "p-1")).phone)
    again = await import_members(
        ledger, as_csv(header, ("p-1", "张三", MICRO, "", "", "138 0013 8000 ")), dry_run=False
    )
    assert (0, 1) == (again.updated, again.unchanged)
    moved = await import_members(
        ledger, as_csv(header, ("p-1", "张三", MICRO, "", "", "+86 139-0000-0000")), dry_run=False
    )
    assert [("p-1", ("phone",))] == [(o.key, o.changed) for o in moved.outcomes]
    kept = await import_members(ledger, as_csv(header, ("p-1", "张三丰", MICRO, "", "", "")), dry_run=False)
    assert [("p-1", ("name",))] == [(o.key, o.changed) for o in kept.outcomes]
    assert ("张三丰", "+86 139-0000-0000") == (
        (await ledger.member(ADMIN, "p-1")).name,
        (await ledger.member(ADMIN, "p-1")).phone,
    )
    bad = await import_members(ledger, as_csv(header, ("p-2", "李四", MICRO, "", "", "一三八")), dry_run=True)
    assert [(2, "电话", "phone_malformed")] == [r[:3] for r in refusals(bad)]
    assert "“一三八”：电话最多 32 位，只能有数字、空格、+、- 和括号" == refusals(bad)[0][4]


async def test_a_dry_run_of_members_writes_nothing(ledger):
    """A dry run of a member file reports each row and leaves the ledger as it was."""
    await tree(ledger)
    before = await count_members(ledger)
    report = await import_members(ledger, as_csv(MEMBER_HEADER, ("p-1", "张三", MICRO, "", "")), dry_run=True)
    assert ([(2, "p-1", "created")], True, False) == (outcomes(report), report.dry_run, report.applied)
    assert before == await count_members(ledger)


async def test_a_refused_row_leaves_the_whole_file_unwritten(ledger):
    """All or nothing: with one bad row among good ones the apply raises import_refused
    listing that row, and not one member or account is written."""
    await tree(ledger)
    before = await count_members(ledger)
    rows = [(f"p-{i}", f"居民{i}", MICRO, "否", "") for i in range(2_500)]
    rows[2_400] = ("p-2400", "居民", MICRO, "也许", "")
    with pytest.raises(ImportRefused) as refused:
        await import_members(ledger, as_csv(MEMBER_HEADER, *rows), dry_run=False)
    report = refused.value.report
    assert (2_500, 2_499, 1, False) == (report.rows, report.created, report.refused, report.applied)
    reason, reason_zh = "'也许' is not one of 是/否, yes/no, true/false, 1/0", "“也许”无法识别，请填写“是”或“否”"
    assert [(2_402, "党员", "yes_no_unknown", reason, reason_zh)] == refusals(report)
    refusal = {"row": 2_402, "column": "党员", "key": "p-2400", "code": "yes_no_unknown"}
    assert [{**refusal, "reason": reason, "reason_zh": reason_zh}] == refused.value.fields()["refusals"]
    assert before == await count_members(ledger)
    assert (await ledger.verify()).ok


UNIT_REFUSALS = [
    (
        ("m-x", "微网格", "微网格", "g-no"),
        "上级",
        "parent_unknown",
        "unknown parent 'g-no': neither in this file nor in the ledger",
        "找不到上级“g-no”：本文件和系统中都没有",
    ),
    (
        ("m-x", "微网格", "微网格", COMMUNITY),
        "上级",
        "parent_wrong_level",
        f"'{COMMUNITY}' is a community; the parent of a micro_grid is a grid",
        f"“{COMMUNITY}”是社区，而微网格的上级须是大网格",
    ),
    (
        ("s-x", "街道", "街道", STREET),
        "上级",
        "street_has_parent",
        "a street office (街道) is the top of the tree and has no parent",
        "街道是最高一级，不填上级",
    ),
    (
        ("c-x", "社区", "社区", ""),
        "上级",
        "parent_missing",
        "a community needs a parent street",
        "社区须填写所属的街道",
    ),
    (
        ("m-x", "微网格", "小区", GRID),
        "层级",
        "level_unknown",
        "unknown level '小区' (街道, 社区, 大网格 or 网格, 微网格)",
        "没有“小区”这个层级，请填写 街道、社区、大网格 或 微网格",
    ),
    (
        (GRID, "大网格", "微网格", GRID),
        "层级",
        "level_changed",
        f"'{GRID}' is a grid; a level never changes",
        f"“{GRID}”已是大网格，层级不能更改",
    ),
    (
        ("m x", "微网格", "微网格", GRID),
        "编码",
        "code_malformed",
        "'m x': a code or id has no spaces and no '/'",
        "“m x”：编码和编号中不能有空格或“/”",
    ),
    (("", "微网格", "微网格", GRID), "编码", "cell_empty", "this cell is empty and is required", "此格必须填写"),
    (
        ("m-x", "名" * 101, "微网格", GRID),
        "名称",
        "text_too_long",
        "at most 100 characters (101 here)",
        "最多 100 个字（此格有 101 个字）",
    ),
]


@pytest.mark.parametrize("row,column,code,reason,reason_zh", UNIT_REFUSALS)
async def test_each_unit_refusal_names_its_row_column_code_and_reason(ledger, row, column, code, reason, reason_zh):
    """A bad unit row is refused with the row number the sheet shows, its column, a stable
    code and why, in English and in Chinese."""
    await tree(ledger)
    unchanged = (OTHER_MICRO, "东关南里1-2微网格", "微网格", GRID)
    report = await ledger.import_units(ADMIN, as_csv(UNIT_HEADER, unchanged, row), dry_run=True)
    assert [(3, column, code, reason, reason_zh)] == refusals(report)
    assert [(2, OTHER_MICRO, "unchanged")] == [t for t in outcomes(report) if t[2] != "refused"]


async def test_a_unit_is_not_moved_and_a_refused_parent_refuses_its_children(ledger):
    """An import renames a unit but never moves it; a child of a refused row is refused too;
    a code listed twice is refused on its second row."""
    await tree(ledger)
    rows = [
        (MICRO, "新名字", "微网格", GRID),
        (OTHER_MICRO, "东关南里1-2微网格", "微网格", "g-新"),
        ("g-新", "新大网格", "大网格", "c-nowhere"),
        ("m-新", "新微网格", "微网格", "g-新"),
        ("m-新", "新微网格", "微网格", "g-新"),
    ]
    report = await ledger.import_units(ADMIN, as_csv(UNIT_HEADER, *rows), dry_run=True)
    assert [
        (
            3,
            "上级",
            "unit_moved",
            f"'{OTHER_MICRO}' is under '{GRID}'; an import does not move a unit",
            f"“{OTHER_MICRO}”现属“{GRID}”：导入不能改变单位的上级，请在单位页面调整",
        ),
        (
            4,
            "上级",
            "parent_unknown",
            "unknown parent 'c-nowhere': neither in this file nor in the ledger",
            "找不到上级“c-nowhere”：本文件和系统中都没有",
        ),
        (5, "上级", "parent_refused", "the parent 'g-新' (row 4) is refused", "上级“g-新”（第 4 行）未通过检查"),
        (6, "编码", "duplicate", "'m-新' is on row 5 too", "“m-新”在第 5 行也出现了"),
    ] == refusals(report)
    assert [(MICRO, ("name",))] == [(o.key, o.changed) for o in report.outcomes if o.outcome is Outcome.UPDATED]


MEMBER_REFUSALS = [
    (
        ("p-1", "张三", MICRO, "maybe", ""),
        "党员",
        "yes_no_unknown",
        "'maybe' is not one of 是/否, yes/no, true/false, 1/0",
        "“maybe”无法识别，请填写“是”或“否”",
    ),
    (
        ("p-1", "张三", MICRO, "", "志愿者、厨师"),
        "角色",
        "role_unknown",
        "unknown role '厨师' (roles are 志愿者、网格员、微网格员、网格长、居民, or their codes)",
        "没有“厨师”这个角色，角色可填：志愿者、网格员、微网格员、网格长、居民",
    ),
    (
        ("p-1", "张三", "m-nowhere", "", ""),
        "微网格",
        "micro_grid_unknown",
        "unknown micro-grid 'm-nowhere': import the org tree first",
        "找不到微网格“m-nowhere”：请先导入组织架构",
    ),
    (
        ("p-1", "张三", GRID, "", ""),
        "微网格",
        "not_micro_grid",
        f"'{GRID}' is a grid; a member belongs to a micro_grid",
        f"“{GRID}”是大网格，成员须属于微网格",
    ),
    (
        ("p 1", "张三", MICRO, "", ""),
        "成员编号",
        "code_malformed",
        "'p 1': a code or id has no spaces and no '/'",
        "“p 1”：编码和编号中不能有空格或“/”",
    ),
    (("p-1", "", MICRO, "", ""), "姓名", "cell_empty", "this cell is empty and is required", "此格必须填写"),
    (
        ("p-1", "张\x00三", MICRO, "", ""),
        "姓名",
        "text_nul",
        "text may not contain NUL (U+0000)",
        "此格含有无法识别的空字符，请重新输入",
    ),
    (("p-0", "重复", MICRO, "", ""), "成员编号", "duplicate", "'p-0' is on row 2 too", "“p-0”在第 2 行也出现了"),
]


@pytest.mark.parametrize("row,column,code,reason,reason_zh", MEMBER_REFUSALS)
async def test_each_member_refusal_names_its_row_column_code_and_reason(ledger, row, column, code, reason, reason_zh):
    """A bad member row is refused with its row, column, code and reason in English and
    Chinese; the others still get their outcome."""
    await tree(ledger)
    file = as_csv(MEMBER_HEADER, ("p-0", "王五", MICRO, "否", "居民"), row)
    report = await import_members(ledger, file, dry_run=True)
    assert [(3, column, code, reason, reason_zh)] == refusals(report)
    assert [(2, "p-0", "created")] == [t for t in outcomes(report) if t[2] != "refused"]


HEADER_REFUSALS = [
    (
        ("成员编号", "姓名", "党员"),
        "微网格",
        "column_missing",
        "the header row has no 微网格 or org_unit column, which is required",
        "表头缺少必填的“微网格”列，请按模板填写表头",
    ),
    (
        ("id", "姓名", "微网格", "name"),
        "name",
        "column_repeated",
        "the column name appears twice (also as 姓名)",
        "“name”列与“姓名”列重复",
    ),
]


@pytest.mark.parametrize("header,column,code,reason,reason_zh", HEADER_REFUSALS)
async def test_a_header_without_a_required_column_refuses_the_file_at_row_1(
    ledger, header, column, code, reason, reason_zh
):
    """A header missing a required column, or naming one twice, is refused at row 1."""
    await tree(ledger)
    report = await import_members(ledger, as_csv(header, ("p-1", "张三", MICRO, "否")), dry_run=True)
    assert ([(1, column, code, reason, reason_zh)], 1) == (refusals(report), report.rows)


async def test_a_file_past_its_row_limit_is_refused_where_it_stops_being_read(ledger, monkeypatch):
    """Rows past a file's limit are not read: the first of them is refused, naming the limit."""
    await tree(ledger)
    monkeypatch.setattr(imports, "UNIT_ROWS_MAX", 1)
    rows = [(MICRO, "东关南里1-1微网格", "微网格", GRID), (OTHER_MICRO, "东关南里1-2微网格", "微网格", GRID)]
    report = await ledger.import_units(ADMIN, as_csv(UNIT_HEADER, *rows), dry_run=True)
    assert [
        (
            3,
            "",
            "rows_too_many",
            "a unit file has at most 1 rows: the file from row 3 on was not read",
            "一个文件最多 1 行：从第 3 行起没有读取，请把文件拆开分别导入",
        )
    ] == refusals(report)


def test_every_refusal_kind_is_worded_in_both_languages_and_tested():
    """Each refusal code has its English and Chinese wording, and a test above refuses a
    row with it (the two scope codes: the organizer's test over HTTP; the phone's: its own test;
    an erased member's: tests/test_erasure.py)."""
    tested = {case[2] for case in UNIT_REFUSALS + MEMBER_REFUSALS + HEADER_REFUSALS}
    tested |= {
        "phone_malformed",
        "unit_moved",
        "parent_refused",
        "rows_too_many",
        "outside_scope",
        "member_outside_scope",
        "member_erased",
    }
    assert set(imports.Refusal) == tested
    assert set(imports.Refusal) == set(imports.REFUSAL_WORDING)


async def test_gb18030_and_bom_csv_and_english_headers_read_the_same(ledger):
    """CSV in GB18030 (Excel on Chinese Windows) and UTF-8 with a BOM read the same names;
    English headers work as the Chinese ones, and a column no one knows is read and not stored."""
    await tree(ledger)
    header = ("id", "name", "org_unit", "party_member", "roles", "备注")
    gb = await import_members(
        ledger,
        as_csv(header, ("p-1", "张三", MICRO, "yes", "volunteer", "楼长"), encoding="gb18030"),
        dry_run=False,
    )
    assert (1, ("备注",)) == (gb.created, gb.ignored_columns)
    assert "张三" == (await ledger.member(ADMIN, "p-1")).name
    bom_file = as_csv(header, ("p-2", "李四·明", MICRO, "0", ""), encoding="utf-8-sig")
    assert bom_file.getvalue().startswith(b"\xef\xbb\xbf")
    bom = await import_members(ledger, bom_file, dry_run=False)
    assert 1 == bom.created
    assert ("李四·明", False) == (
        (await ledger.member(ADMIN, "p-2")).name,
        (await ledger.member(ADMIN, "p-2")).party_member,
    )


async def test_an_xlsx_sheet_with_numbers_and_booleans_is_read_as_typed(ledger):
    """An XLSX where the id is a number and 党员 a TRUE cell reads as the person typed it."""
    await tree(ledger)
    report = await import_members(
        ledger,
        as_xlsx(MEMBER_HEADER, (110101, "张三", MICRO, True, "网格员"), (None, None), (2.0, "李四", MICRO, "否")),
        dry_run=False,
    )
    assert [(2, "110101", "created"), (4, "2", "created")] == outcomes(report)
    first = await ledger.member(ADMIN, "110101")
    assert (True, (Role.GRID_WORKER,)) == (first.party_member, first.roles)


async def test_absent_members_are_reported_and_kept_and_active_deactivates(ledger):
    """A member of the file's micro-grids whom the file does not name is counted absent and
    kept; the 在册 column deactivates explicitly."""
    await tree(ledger)
    await member(ledger, "m-老户")
    await member(ledger, "m-别处", home=OTHER_MICRO)
    rows = [("p-1", "张三", MICRO, "否"), ("m-别处", "张三", OTHER_MICRO, "否")]
    header = ("成员编号", "姓名", "微网格", "在册")
    report = await import_members(ledger, as_csv(header, *rows), dry_run=False)
    assert (1, ("m-老户",)) == (report.absent, report.absent_ids)
    assert (await ledger.member(ADMIN, "m-老户")).active
    assert [("m-别处", ("active",))] == [(o.key, o.changed) for o in report.outcomes if o.changed]
    assert not (await ledger.member(ADMIN, "m-别处")).active


async def test_a_long_report_lists_the_refused_rows_first_and_counts_them_all(ledger):
    """Past the cap, the report still counts every row and lists the refused row first."""
    await tree(ledger)
    rows = [(f"p-{i}", "居民", MICRO, "", "") for i in range(IMPORT_OUTCOMES_LISTED_MAX + 10)]
    rows.append(("p-bad", "居民", "m-nowhere", "", ""))
    report = await import_members(ledger, as_csv(MEMBER_HEADER, *rows), dry_run=True)
    assert (IMPORT_OUTCOMES_LISTED_MAX + 11, 1) == (report.rows, report.refused)
    assert ("p-bad", 11) == (report.outcomes[0].key, report.outcomes_omitted)
    assert IMPORT_OUTCOMES_LISTED_MAX == len(report.outcomes)


@pytest.mark.parametrize(
    "body,reason",
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "this is an old .xls workbook"),
        (b"PK\x03\x04not a zip at all", "the file is not a readable XLSX workbook"),
    ],
)
async def test_a_file_that_is_not_a_sheet_is_invalid_input(ledger, body, reason):
    """An old .xls or a broken XLSX is refused as invalid input naming the file."""
    with pytest.raises(InvalidInput, match=reason) as refused:
        await import_members(ledger, io.BytesIO(body), dry_run=True)
    assert "file" == refused.value.field


# Over HTTP.

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def test_http_imports_dry_run_by_default_then_apply(client, ledger):
    """The route reads the raw body, dry runs unless told otherwise, and answers the report."""
    body = as_csv(UNIT_HEADER, *TREE_ROWS).getvalue()
    dry = await client.post(routes.api(routes.IMPORT_ORG_UNITS), content=body, headers={"Content-Type": "text/csv"})
    assert 200 == dry.status_code, dry.text
    assert {"kind": "org_units", "dry_run": True, "applied": False, "rows": 5, "created": 5, "refused": 0} == {
        k: dry.json()[k] for k in ("kind", "dry_run", "applied", "rows", "created", "refused")
    }
    created = {"row": 2, "key": "m-1", "outcome": "created", "changed": [], "column": None}
    assert {**created, "code": None, "reason": None, "reason_zh": None} == dry.json()["outcomes"][0]
    applied = await client.post(routes.api(routes.IMPORT_ORG_UNITS) + "?dry_run=false", content=body)
    assert (200, True) == (applied.status_code, applied.json()["applied"])
    members = as_xlsx(MEMBER_HEADER, ("p-1", "张三", "m-1", "是", "志愿者")).getvalue()
    done = await client.post(
        routes.api(routes.IMPORT_MEMBERS) + "?dry_run=false", content=members, headers={"Content-Type": XLSX}
    )
    assert (200, 1) == (done.status_code, done.json()["created"])
    assert "张三" == (await client.get(routes.api(routes.MEMBER, member_id="p-1"))).json()["name"]


async def test_http_a_refused_apply_is_a_problem_listing_its_rows(client, ledger):
    """An apply with a refused row is a 422 import_refused naming the row, column and reason."""
    await tree(ledger)
    body = as_csv(MEMBER_HEADER, ("p-1", "张三", MICRO, "", "厨师")).getvalue()
    response = await client.post(routes.api(routes.IMPORT_MEMBERS) + "?dry_run=false", content=body)
    problem = assert_problem(response, 422, "import_refused")
    assert (1, 1) == (problem["rows"], problem["refused"])
    [refusal] = problem["refusals"]
    assert (2, "角色", "p-1", "role_unknown") == (refusal["row"], refusal["column"], refusal["key"], refusal["code"])
    assert refusal["reason"].startswith("unknown role '厨师'")
    assert refusal["reason_zh"].startswith("没有“厨师”这个角色")
    assert 404 == (await client.get(routes.api(routes.MEMBER, member_id="p-1"))).status_code
    assert "有 1 行未通过检查，整个文件都没有导入：请改正这些行后重新导入" == zh.message(problem)


async def test_http_an_organizer_imports_only_inside_its_subtree(client, ledger):
    """An organizer's rows outside its subtree are refused: a unit under another community,
    a member placed there, and a member moved from there."""
    await tree(ledger)
    await other_community(ledger)
    await member(ledger, "m-西关", home=FAR_MICRO)
    _, organizer = await token(ledger, "organizer", org_unit=COMMUNITY)
    units = as_csv(UNIT_HEADER, ("m-新", "新微网格", "微网格", GRID), ("m-外", "外微网格", "微网格", "g-西关-1"))
    report = (
        await client.post(routes.api(routes.IMPORT_ORG_UNITS), content=units.getvalue(), headers=organizer)
    ).json()
    assert [
        (3, "编码", "outside_scope", "'m-外' lies outside the subtree this token covers", "“m-外”不在您的管辖范围内")
    ] == [
        (o["row"], o["column"], o["code"], o["reason"], o["reason_zh"])
        for o in report["outcomes"]
        if o["outcome"] == "refused"
    ]
    rows = [("p-1", "张三", MICRO, "", ""), ("p-2", "李四", FAR_MICRO, "", ""), ("m-西关", "王五", MICRO, "", "")]
    body = as_csv(MEMBER_HEADER, *rows).getvalue()
    report = (await client.post(routes.api(routes.IMPORT_MEMBERS), content=body, headers=organizer)).json()
    assert [
        (
            3,
            "outside_scope",
            f"'{FAR_MICRO}' lies outside the subtree this token covers",
            f"“{FAR_MICRO}”不在您的管辖范围内",
        ),
        (
            4,
            "member_outside_scope",
            f"member 'm-西关' lives in '{FAR_MICRO}', outside the subtree this token covers",
            f"成员“m-西关”现属“{FAR_MICRO}”，不在您的管辖范围内",
        ),
    ] == [(o["row"], o["code"], o["reason"], o["reason_zh"]) for o in report["outcomes"] if o["outcome"] == "refused"]
    _, auditor = await token(ledger, "auditor")
    assert_problem(
        await client.post(routes.api(routes.IMPORT_MEMBERS), content=body, headers=auditor), 403, "forbidden"
    )


async def test_http_an_import_body_may_pass_the_general_limit_but_not_its_own(client, ledger):
    """The import routes take more than the general 1 MiB, and refuse a body over their own limit."""
    await tree(ledger)
    rows = [(f"p-{i:06d}", "居民" * 10, MICRO, "否", "志愿者") for i in range(30_000)]
    body = as_csv(MEMBER_HEADER, *rows).getvalue()
    assert len(body) > 1_048_576
    response = await client.post(routes.api(routes.IMPORT_MEMBERS), content=body)
    assert (200, 30_000) == (response.status_code, response.json()["created"])
    too_big = await client.post(routes.api(routes.IMPORT_MEMBERS), content=b"x" * (IMPORT_BODY_BYTES_MAX + 1))
    assert_problem(too_big, 413, "body_too_large")


@pytest.mark.sqlite_only
@pytest.mark.parametrize("name", ["org-units.xlsx", "members.xlsx", "org-units.csv", "members.csv"])
async def test_http_the_templates_are_files_with_a_header_and_an_example(client, name):
    """Each template opens in Excel with the Chinese header and one example row, and an
    import of it finds that row's header well formed."""
    response = await client.get(routes.api(routes.IMPORT_TEMPLATE, name=name))
    assert 200 == response.status_code
    assert f'attachment; filename="{name}"' == response.headers["content-disposition"]
    if name.endswith(".xlsx"):
        rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    else:
        assert response.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header = UNIT_HEADER if name.startswith("org") else (*MEMBER_HEADER, "在册", "电话")
    assert (header, 2) == (tuple(rows[0]), len(rows))
    route = routes.IMPORT_ORG_UNITS if name.startswith("org") else routes.IMPORT_MEMBERS
    report = (await client.post(routes.api(route), content=response.content)).json()
    assert (1, "上级" if route == routes.IMPORT_ORG_UNITS else "微网格") == (
        report["refused"],
        report["outcomes"][0]["column"],
    )
    assert 404 == (await client.get(routes.api(routes.IMPORT_TEMPLATE, name="members.xls"))).status_code


# The command line.


async def test_the_cli_imports_and_summarizes(ledger, tmp_path, capsys):
    """`ledger import org|members FILE` prints refused and updated rows and a summary, and
    exits 1 with nothing written when a row is refused."""
    units, members_file = tmp_path / "units.csv", tmp_path / "members.xlsx"
    units.write_bytes(as_csv(UNIT_HEADER, *TREE_ROWS).getvalue())
    members_file.write_bytes(as_xlsx(MEMBER_HEADER, ("p-1", "张三", "m-1", "否", "")).getvalue())
    url = ledger.db.url
    assert 0 == await _cli(["import", "org", str(units), "--dry-run", "--database-url", url])
    assert (
        "Dry run of units.csv: 5 row(s) of units, 5 to create, 0 to update, 0 unchanged, 0 refused. "
        "Nothing was written; run it again without --dry-run to import.\n"
    ) == capsys.readouterr().out
    assert 0 == await _cli(["import", "org", str(units), "--database-url", url])
    assert 0 == await _cli(["import", "members", str(members_file), "--database-url", url])
    assert "Import of members.xlsx: 1 row(s) of members, 1 created, 0 updated" in capsys.readouterr().out
    changed = as_xlsx(MEMBER_HEADER, ("p-1", "张三丰", "m-1", "否", ""), ("p-2", "李四", "m-9"))
    members_file.write_bytes(changed.getvalue())
    assert 1 == await _cli(["import", "members", str(members_file), "--database-url", url])
    out = capsys.readouterr().out
    assert out.startswith("  row 3, 微网格: unknown micro-grid 'm-9': import the org tree first (p-2)\n")
    assert "  row 2: p-1 updated: name\n" in out
    assert "1 to update, 0 unchanged, 1 refused. Nothing was written: fix the refused rows" in out
    assert "张三" == (await ledger.member(ADMIN, "p-1")).name
    assert 2 == await _cli(["import", "members", str(tmp_path / "missing.csv"), "--database-url", url])
    assert capsys.readouterr().err.endswith("missing.csv: No such file or directory\n")


async def _cli(argv: list[str]) -> int:
    """The command in a thread: it runs its own event loop, as from a shell."""
    return await asyncio.to_thread(cli, argv)


# Moves.


async def _moves(ledger: Ledger, member_id: str) -> list[tuple[str, str, str]]:
    return [(m.from_unit, m.to_unit, m.moved_by) for m in await ledger.member_moves(ADMIN, member_id, 10, None)]


async def test_an_import_that_changes_a_micro_grid_records_the_move_as_a_patch_does(ledger):
    """A dry run records no move; an apply records one per member whose micro-grid changes
    (who imported, when, from, to), none for the others; the same file again records none."""
    await tree(ledger)
    rows = [(f"p-{i}", "居民", MICRO, "", "") for i in range(3)]
    await import_members(ledger, as_csv(MEMBER_HEADER, *rows), dry_run=False)
    moved = [(f"p-{i}", "居民", OTHER_MICRO if i < 2 else MICRO, "", "") for i in range(3)]
    dry = await import_members(ledger, as_csv(MEMBER_HEADER, *moved), dry_run=True, by="clerk")
    assert (2, []) == (dry.updated, await _moves(ledger, "p-0"))
    before = ledger.clock()
    applied = await import_members(ledger, as_csv(MEMBER_HEADER, *moved), dry_run=False, by="clerk")
    assert [("p-0", ("org_unit",)), ("p-1", ("org_unit",))] == [
        (o.key, o.changed) for o in applied.outcomes if o.changed
    ]
    assert [(MICRO, OTHER_MICRO, "clerk")] == await _moves(ledger, "p-0") == await _moves(ledger, "p-1")
    assert [] == await _moves(ledger, "p-2")
    [move] = await ledger.member_moves(ADMIN, "p-0", 10, None)
    assert before <= move.moved_at <= ledger.clock()
    again = await import_members(ledger, as_csv(MEMBER_HEADER, *moved), dry_run=False, by="clerk")
    assert (3, [(MICRO, OTHER_MICRO, "clerk")]) == (again.unchanged, await _moves(ledger, "p-0"))
    assert OTHER_MICRO == (await ledger.member(ADMIN, "p-0")).org_unit


async def test_http_an_import_move_is_in_the_members_history_as_the_importers(client, ledger):
    """Over HTTP the move is the principal's, read from the member's history as a PATCH's is."""
    await tree(ledger)
    await member(ledger, "p-1")
    principal, organizer = await token(ledger, "organizer", org_unit=COMMUNITY)
    body = as_csv(MEMBER_HEADER, ("p-1", "张三", OTHER_MICRO, "", "")).getvalue()
    response = await client.post(routes.api(routes.IMPORT_MEMBERS) + "?dry_run=false", content=body, headers=organizer)
    assert (200, 1) == (response.status_code, response.json()["updated"])
    moves = (await client.get(routes.api(routes.MEMBER_MOVES, member_id="p-1"))).json()["moves"]
    assert [(MICRO, OTHER_MICRO, principal)] == [(m["from_unit"], m["to_unit"], m["moved_by"]) for m in moves]


# Two imports at once.


@pytest.mark.postgres_only
@MANY_CONNECTIONS
async def test_two_concurrent_imports_of_the_same_new_members_both_succeed_once(ledger, ledgers, monkeypatch):
    """Two imports on their own connections both find the same members new; the one that
    commits second hits the first's unique keys, is rolled back whole and run again, and then
    reports every member unchanged. Each member and account is written once."""
    await tree(ledger)
    looked_up: list[asyncio.Event] = [asyncio.Event(), asyncio.Event()]
    runs = 0
    find_members = imports.find_members

    async def both_look_first(conn, ids):
        # The first lookup of each import waits for the other's: both read before either writes.
        found = await find_members(conn, ids)
        nonlocal runs
        runs += 1
        if runs <= 2:
            looked_up[runs - 1].set()
            await asyncio.gather(*(e.wait() for e in looked_up))
        return found

    monkeypatch.setattr(imports, "find_members", both_look_first)
    before = await count_members(ledger)
    rows = [(f"p-{i}", "居民", MICRO, "否", "") for i in range(1_500)]
    body = as_csv(MEMBER_HEADER, *rows).getvalue()
    reports = await asyncio.gather(
        *(
            other.import_members(Principal.admin(f"clerk-{n}"), io.BytesIO(body), dry_run=False)
            for n, other in enumerate(ledgers[:2])
        )
    )
    assert [(0, 0, 1_500), (1_500, 0, 0)] == sorted((r.created, r.updated, r.unchanged) for r in reports)
    assert runs > 4  # each import looked up its two chunks, and the loser did so again
    assert (before[0] + 1_500, before[1] + 3_000) == await count_members(ledger)
    assert (await ledger.verify()).ok


@pytest.mark.sqlite_only
async def test_http_an_import_that_keeps_losing_the_race_is_a_409_and_writes_nothing(client, ledger, monkeypatch):
    """When every run of an import loses to another import's commit, the answer is a 409
    import_conflict saying to import again, and nothing of the file is written."""
    await tree(ledger)

    class UniqueViolation(Exception):
        sqlstate = "23505"

    async def always_beaten(conn, *args, **kwargs):
        await conn.execute(select(1))
        raise IntegrityError("INSERT INTO account …", {}, UniqueViolation())

    monkeypatch.setattr(imports, "import_members", always_beaten)
    body = as_csv(MEMBER_HEADER, ("p-1", "张三", MICRO, "", "")).getvalue()
    problem = assert_problem(
        await client.post(routes.api(routes.IMPORT_MEMBERS) + "?dry_run=false", content=body), 409, "import_conflict"
    )
    assert (IMPORT_ATTEMPTS, True) == (problem["attempts"], "import it again" in problem["detail"])
    assert 404 == (await client.get(routes.api(routes.MEMBER, member_id="p-1"))).status_code
