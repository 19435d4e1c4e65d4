"""The nomination list prints straight from Excel or WPS: the XLSX is read back with
openpyxl for its title, 序号, filter, print titles and page setup, and (where LibreOffice
is installed) printed to PDF to count its pages and find every column on each; both files
leave with a Chinese file name and exactly one charset."""

import io
import shutil
import subprocess
import xml.etree.ElementTree as ElementTree
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from api import routes
from ledger import Role
from ledger.honours import exports
from ledger.journal.checkpoints import Checkpoint
from tests.builders import ADMIN, MICRO, STREET, award, tiers, tree

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEMBERS = 20  # each raises both flags: 40 rows, a page or two of the list
HEADERS = ["序号", *(header for _, header, _ in exports.COLUMNS)]
STREET_NAME_QUOTED = "%E4%B8%9C%E5%A4%A7%E8%A1%97%E8%A1%97%E9%81%93"  # 东大街街道
LIST_QUOTED = "%E6%8F%90%E5%90%8D%E5%90%8D%E5%8D%95"  # 提名名单
SOFFICE_SECONDS_MAX = 180
"""A conversion takes ~5 s; this only stops a LibreOffice that hangs."""


async def _forty_rows(client, ledger) -> str:
    """Twenty party members over 优秀 in one micro-grid, each flagged twice; the period."""
    await tree(ledger)
    await tiers(ledger)
    for i in range(MEMBERS):
        member_id = f"w-{i:02d}"
        await ledger.register_member(ADMIN, member_id, "欧阳建国", MICRO, True, (Role.MICRO_GRID_WORKER,))
        await award(client, member_id, 30 + i)
    return ledger.current_period()


async def _xlsx(client, period: str) -> bytes:
    params = {"org_unit": STREET, "period": period, "format": "xlsx"}
    response = await client.get(routes.api(routes.EXPORT_NOMINATIONS), params=params)
    assert 200 == response.status_code, response.text
    assert (XLSX, _disposition(period, "xlsx")) == (
        response.headers["content-type"],
        response.headers["content-disposition"],
    )
    return response.content


def _disposition(period: str, extension: str, unit_quoted: str = STREET_NAME_QUOTED) -> str:
    """The header as sent: an ASCII name for old clients, then the UTF-8 one, %-encoded."""
    fallback = f"nominations-{period}.{extension}"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{LIST_QUOTED}-{unit_quoted}-{period}.{extension}"


async def test_the_xlsx_is_set_up_to_print(client, ledger):
    """A title naming the unit and the year over the header, 序号 counting the rows, a
    filter on the header, the header on every page, landscape one page wide, frozen under
    the header, the org path wrapped in a row tall enough, and the flagging time a date."""
    period = await _forty_rows(client, ledger)
    workbook = openpyxl.load_workbook(io.BytesIO(await _xlsx(client, period)))
    assert [exports.NOMINATION_SHEET, exports.CHECKPOINT_SHEET] == workbook.sheetnames
    sheet = workbook[exports.NOMINATION_SHEET]
    rows = list(sheet.values)
    assert (f"东大街街道 {period}年 提名名单", ["A1:R1"]) == (rows[0][0], [str(r) for r in sheet.merged_cells.ranges])
    assert HEADERS == list(rows[1])
    assert list(range(1, 2 * MEMBERS + 1)) == [row[0] for row in rows[2:]]
    assert ("A2:R42", "$2:$2", "A3") == (sheet.auto_filter.ref, sheet.print_title_rows, sheet.freeze_panes)
    setup = sheet.page_setup
    assert ("landscape", 9, 1, 0) == (setup.orientation, setup.paperSize, setup.fitToWidth, setup.fitToHeight)
    assert sheet.sheet_properties.pageSetUpPr.fitToPage

    org_path, flagged_at = sheet.cell(3, HEADERS.index("组织路径(街道/社区/网格/微网格)") + 1), sheet.cell(3, 15)
    assert org_path.alignment.wrap_text and 2 * exports.LINE_HEIGHT_POINTS == sheet.row_dimensions[3].height
    [first] = [n for n in await ledger.nominations(ADMIN, period, STREET, None) if n.member_id == rows[2][2]][:1]
    expected = first.flagged_at.astimezone(ledger.tz).replace(tzinfo=None)
    assert (datetime, "yyyy-mm-dd hh:mm") == (type(flagged_at.value), flagged_at.number_format)
    assert abs((expected - flagged_at.value).total_seconds()) < 1
    [checkpoint] = (await client.get(routes.api(routes.CHECKPOINTS))).json()["checkpoints"]
    sealed = list(workbook[exports.CHECKPOINT_SHEET].values)
    assert ([h for h, _ in exports.CHECKPOINT_COLUMNS], checkpoint["hash"]) == (list(sealed[0]), sealed[1][2])


async def test_the_csv_says_its_charset_once_and_carries_a_chinese_name(client, ledger):
    """CSV: one charset (Litestar adds it to text types), the BOM, and the same file name as
    the XLSX; without a unit the name says it is the whole ledger."""
    period = await _forty_rows(client, ledger)
    by_unit = await client.get(routes.api(routes.EXPORT_NOMINATIONS), params={"org_unit": STREET, "period": period})
    whole = await client.get(routes.api(routes.EXPORT_NOMINATIONS), params={"period": period})
    assert ("text/csv; charset=utf-8", "text/csv; charset=utf-8") == (
        by_unit.headers["content-type"],
        whole.headers["content-type"],
    )
    whole_quoted = "%E5%85%A8%E9%83%A8%E5%8D%95%E4%BD%8D"  # 全部单位
    assert (_disposition(period, "csv"), _disposition(period, "csv", whole_quoted)) == (
        by_unit.headers["content-disposition"],
        whole.headers["content-disposition"],
    )
    names = [response.content.split(b"\r\n\r\n")[0] for response in (by_unit, whole)]
    assert names[0].startswith("\ufeff".encode()) and names[0] == names[1]  # everyone is in 东大街街道


def test_a_unit_name_never_makes_a_bad_file_name():
    """Characters Windows refuses in a file name become underscores; the title keeps them,
    and names the honour when the list is of one."""
    checkpoint = Checkpoint(1, 1, "0" * 64, datetime(2026, 1, 1), "test", "0" * 64)

    async def nothing():
        yield {}

    export = exports.NominationExport(checkpoint, "2026", '东/大:街*"街道"', "优秀共产党员", nothing())
    assert "提名名单-东_大_街__街道_-2026.xlsx" == exports.filename(export, "xlsx")
    assert '东/大:街*"街道" 2026年 优秀共产党员 提名名单' == exports.title(export)


def _page_text(pdf: Path, page: int) -> str:
    """A page's text, block after block, so that a wrapped cell's lines read as one:
    pdftotext's plain output puts each line of a row in a line of its own."""
    html = subprocess.run(
        ["pdftotext", "-bbox-layout", "-f", str(page), "-l", str(page), str(pdf), "-"],
        capture_output=True,
        check=True,
        timeout=SOFFICE_SECONDS_MAX,
    ).stdout
    word, block = "{http://www.w3.org/1999/xhtml}word", "{http://www.w3.org/1999/xhtml}block"
    return "".join("".join(w.text or "" for w in b.iter(word)) for b in ElementTree.fromstring(html).iter(block))


def _pdf(xlsx: bytes, workdir: Path) -> Path:
    """The workbook printed by LibreOffice, with a profile of its own (a shared one is
    locked by any other LibreOffice running)."""
    source = workdir / "list.xlsx"
    source.write_bytes(xlsx)
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation=file://{workdir / 'profile'}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(workdir),
            str(source),
        ],
        capture_output=True,
        check=True,
        timeout=SOFFICE_SECONDS_MAX,
    )
    return workdir / "list.pdf"


def _page_count(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(next(line for line in info.splitlines() if line.startswith("Pages:")).split()[1])


@pytest.mark.sqlite_only
@pytest.mark.skipif(
    not (shutil.which("soffice") and shutil.which("pdftotext") and shutil.which("pdfinfo")),
    reason="LibreOffice (soffice) and poppler-utils (pdftotext, pdfinfo) are not installed",
)
async def test_forty_rows_print_on_two_pages_at_most_with_every_column_on_each(client, ledger, tmp_path):
    """Printed, the list of 40 takes one or two landscape pages, the title on the first and
    every column's header on each (the sheet of the checkpoint prints after them)."""
    period = await _forty_rows(client, ledger)
    pdf = _pdf(await _xlsx(client, period), tmp_path)
    pages = [_page_text(pdf, n) for n in range(1, _page_count(pdf) + 1)]
    listed = [text for text in pages if "序号" in text]
    assert 1 <= len(listed) <= 2 and pages[: len(listed)] == listed
    assert f"东大街街道{period}年提名名单" in listed[0]
    org_path = "东大街街道/东关南里社区/东关南里第一大网格/东关南里1-1微网格"  # on two lines, neither cut off
    assert 2 * MEMBERS == sum(text.count(org_path) for text in listed)
    assert [[] for _ in listed] == [[h for h in HEADERS if h not in text] for text in listed]
    assert exports.CHECKPOINT_COLUMNS[0][0] in pages[len(listed)]
