"""The nomination list as files a street office opens in Excel or WPS: CSV and XLSX.

CSV is UTF-8 with a byte-order mark (Excel reads it as Chinese, not mojibake) and leaves
in chunks as rows arrive: one table, for machines and for filtering.

XLSX is the list an HR clerk prints as it comes: a title row naming the unit and the
year, a 序号 column, a filter on the header, the header repeated on every printed page,
landscape A4 fitted to one page wide (as many pages tall as it takes), the org path
wrapped, and flagging times as real date cells. It is written with openpyxl's write-only
workbook, which streams rows to a temporary file instead of holding a sheet in memory.
Write-only mode writes a sheet's head (its properties, frozen panes and column widths)
at the first row and its tail (filter, merged cells, print settings) when the workbook
is saved, so the head is set before any row and the filter range, known only once every
row is written, after the last; print titles are a workbook-level defined name.

Each file carries the checkpoint sealed at the snapshot it was read from (after the rows
of a CSV, which holds one table; on a sheet of its own in XLSX), with the exact sealing
time in UTC its MAC signs: a printed list anchors the ledger as it stood, and anyone
holding the key can check the printed MAC by hand.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import Any
from unicodedata import east_asian_width

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.page import PageMargins
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet

from ledger.honours.reports import ExportRow
from ledger.journal.checkpoints import Checkpoint, sealed_at_text

COLUMNS: tuple[tuple[str, str, int], ...] = (
    # (row key, header, column width in characters; a Chinese character takes two)
    ("name", "姓名", 10),
    ("member_id", "成员编号", 12),
    ("org_path", "组织路径(街道/社区/网格/微网格)", 44),
    ("party_member", "党员", 5),
    ("flag", "推荐类别", 13),
    ("tier", "等级", 6),
    ("earned_points", "年度获得积分", 8),
    ("patrol", "巡查", 5),
    ("task", "交办任务", 5),
    ("event_report", "事件上报", 5),
    ("diary", "民情日记", 5),
    ("activity", "志愿活动", 5),
    ("other", "其他", 5),
    ("flagged_at", "标记时间", 18),
    ("state", "状态", 7),
    ("objections", "异议数", 6),
    ("evidence", "佐证交易数", 7),
)
SERIAL_COLUMN = ("序号", 5)
"""The row number an HR clerk reads out and ticks off; printed lists in China carry one."""
STATE_NAMES = {"flagged": "已标记", "in_notice": "公示中", "confirmed": "已确认", "withdrawn": "已撤回"}
CSV_CHUNK_ROWS = 500
"""Rows per chunk sent of a CSV export: ~60 KB, few enough writes, small enough memory."""
XLSX_READ_BYTES = 65_536
CHECKPOINT_COLUMNS: tuple[tuple[str, int], ...] = (
    # (header, column width in characters)
    ("账本检查点编号", 14),
    ("交易编号", 10),
    ("哈希(SHA-256)", 66),
    ("封存时间(UTC)", 34),
    ("校验码(HMAC-SHA256)", 66),
)
NOMINATION_SHEET = "提名名单"
CHECKPOINT_SHEET = "账本检查点"
WHOLE_LEDGER = "全部单位"
"""What the title and file name say when the export is not limited to one unit."""
DATE_FORMAT = "yyyy-mm-dd hh:mm"
"""Excel's number format for the flagging time: the minute, as the CSV prints it."""
CSV_DATE_FORMAT = "%Y-%m-%d %H:%M"
TITLE_ROW, HEADER_ROW = 1, 2
TITLE_FONT_POINTS = 16
TITLE_ROW_HEIGHT_POINTS = 30
LINE_HEIGHT_POINTS = 15
"""A line of 11-point text: Excel's default row height."""
WRAPPED_COLUMNS = ("name", "org_path")
"""Text that may be longer than its column: wrapped, never cut off on paper."""
PAGE_MARGINS_INCHES = {"left": 0.4, "right": 0.4, "top": 0.5, "bottom": 0.6, "header": 0.3, "footer": 0.3}
"""Narrow margins, as Excel names them: more of the page for names, room for the page number."""
FILENAME_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]')
"""Characters Windows refuses in a file name; a unit's name is typed by people."""
_TITLE_FONT = Font(bold=True, size=TITLE_FONT_POINTS)
_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="D9D9D9")
_CENTERED_WRAPPED = Alignment(horizontal="center", vertical="center", wrap_text=True)
_WRAPPED = Alignment(wrap_text=True)  # at the bottom, as the unstyled cells beside it


@dataclass(frozen=True, slots=True)
class NominationExport:
    """The nomination list of a unit (``unit_name`` None: the whole ledger) for a period,
    and the checkpoint sealed at the snapshot it is read from."""

    checkpoint: Checkpoint
    period: str
    unit_name: str | None
    flag: str | None
    rows: AsyncIterator[ExportRow]


def title(export: NominationExport) -> str:
    """The line printed above the list, e.g. 东大街街道 2026年 提名名单."""
    honour = f"{export.flag} " if export.flag else ""
    return f"{export.unit_name or WHOLE_LEDGER} {export.period}年 {honour}提名名单"


def filename(export: NominationExport, extension: str) -> str:
    """The file's name as it lands in a Downloads folder, e.g. 提名名单-东大街街道-2026.xlsx."""
    unit = FILENAME_UNSAFE.sub("_", export.unit_name or WHOLE_LEDGER)
    return f"提名名单-{unit}-{export.period}.{extension}"


def checkpoint_cells(checkpoint: Checkpoint) -> list[Any]:
    """The checkpoint as printed: the sealing time exactly as the MAC signs it."""
    sealed_at = sealed_at_text(checkpoint)
    return [checkpoint.id, checkpoint.transaction_id, checkpoint.hash, sealed_at, checkpoint.mac]


def _values(row: ExportRow, tz: tzinfo) -> list[Any]:
    """A row's cells in column order, with the flagging time a naive local time: Excel
    has no time zones, and the clerk reads the time of the office's zone."""
    values = {key: getattr(row, key) for key, _, _ in COLUMNS}
    values["party_member"] = "是" if row.party_member else "否"
    values["state"] = STATE_NAMES.get(row.state, row.state)
    values["flagged_at"] = row.flagged_at.astimezone(tz).replace(tzinfo=None)
    values["tier"] = row.tier or ""
    return list(values.values())


_KEYS = [key for key, _, _ in COLUMNS]
_FLAGGED_AT = _KEYS.index("flagged_at")
_WRAPPED_INDEXES = [_KEYS.index(key) for key in WRAPPED_COLUMNS]


def _csv_cells(row: ExportRow, tz: tzinfo) -> list[Any]:
    values = _values(row, tz)
    values[_FLAGGED_AT] = values[_FLAGGED_AT].strftime(CSV_DATE_FORMAT)
    return values


async def csv_chunks(export: NominationExport, tz: tzinfo) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([header for _, header, _ in COLUMNS])
    count = 0
    async for row in export.rows:
        writer.writerow(_csv_cells(row, tz))
        count += 1
        if count % CSV_CHUNK_ROWS == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    writer.writerow([])  # a blank line sets the checkpoint apart from the names
    writer.writerow([header for header, _ in CHECKPOINT_COLUMNS])
    writer.writerow(checkpoint_cells(export.checkpoint))
    yield buffer.getvalue().encode()


async def csv_with_bom(export: NominationExport, tz: tzinfo) -> AsyncIterator[bytes]:
    yield "\ufeff".encode()
    async for chunk in csv_chunks(export, tz):
        yield chunk


def _printable_sheet(workbook: Workbook, name: str, columns: Sequence[tuple[str, int]], header_row: int) -> Any:
    """A write-only sheet set up to print: landscape A4, one page wide, the header row on
    every page, frozen under the header, page numbers in the footer, gridlines printed
    (borders on every cell would cost a style per cell)."""
    sheet = workbook.create_sheet(title=name)
    sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    sheet.page_setup.orientation = Worksheet.ORIENTATION_LANDSCAPE
    sheet.page_setup.paperSize = Worksheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0  # as many pages tall as the list needs
    sheet.print_options.gridLines = True
    sheet.print_options.horizontalCentered = True
    sheet.page_margins = PageMargins(**PAGE_MARGINS_INCHES)
    sheet.print_title_rows = f"{header_row}:{header_row}"
    sheet.freeze_panes = f"A{header_row + 1}"
    sheet.oddFooter.center.text = "第 &P 页，共 &N 页"
    for index, (_, width) in enumerate(columns):
        sheet.column_dimensions[get_column_letter(index + 1)].width = width
    return sheet


def _header(sheet: Any, columns: Sequence[tuple[str, int]]) -> list[Any]:
    header = []
    for text, _ in columns:
        cell = WriteOnlyCell(sheet, value=text)
        cell.font, cell.fill, cell.alignment = _HEADER_FONT, _HEADER_FILL, _CENTERED_WRAPPED
        header.append(cell)
    return header


def _lines(text: str, width: int) -> int:
    """Lines a wrapped cell of this width needs: a Chinese character takes two widths,
    and a character's width of the column is padding."""
    widths = sum(2 if east_asian_width(c) in "WF" else 1 for c in text)
    return max(1, -(-widths // (width - 1)))


def _append(sheet: Any, row_number: int, cells: list[Any], lines: int) -> None:
    """Append a row as tall as its wrapped text. A spreadsheet opening a file need not grow
    a row to fit wrapped text (LibreOffice does not: the second line is cut off on paper),
    so the height is written. Write-only mode reads the row's dimension as it writes the
    row; it is dropped then, or a long list would keep one per row in memory."""
    sheet.row_dimensions[row_number].height = lines * LINE_HEIGHT_POINTS
    sheet.append(cells)
    del sheet.row_dimensions[row_number]


def _xlsx_row(sheet: Any, serial: int, row: ExportRow, tz: tzinfo) -> tuple[list[Any], int]:
    """The row's cells, 序号 first, and the lines its tallest wrapped cell needs."""
    values: list[Any] = _values(row, tz)
    flagged_at = WriteOnlyCell(sheet, value=values[_FLAGGED_AT])
    flagged_at.number_format = DATE_FORMAT
    values[_FLAGGED_AT] = flagged_at
    lines = 1
    for index in _WRAPPED_INDEXES:
        needed = _lines(values[index], COLUMNS[index][2])
        if needed > 1:  # a style costs time on every row of a long list: only where it wraps
            values[index] = WriteOnlyCell(sheet, value=values[index])
            values[index].alignment = _WRAPPED
            lines = max(lines, needed)
    return [serial, *values], lines


async def _nomination_sheet(workbook: Workbook, export: NominationExport, tz: tzinfo) -> None:
    columns = [SERIAL_COLUMN, *((header, width) for _, header, width in COLUMNS)]
    sheet = _printable_sheet(workbook, NOMINATION_SHEET, columns, HEADER_ROW)
    last_column = get_column_letter(len(columns))
    heading = WriteOnlyCell(sheet, value=title(export))
    heading.font, heading.alignment = _TITLE_FONT, _CENTERED_WRAPPED
    sheet.row_dimensions[TITLE_ROW].height = TITLE_ROW_HEIGHT_POINTS
    sheet.merged_cells.add(f"A{TITLE_ROW}:{last_column}{TITLE_ROW}")
    sheet.append([heading])
    _append(sheet, HEADER_ROW, _header(sheet, columns), max(_lines(text, width) for text, width in columns))
    serial = 0
    async for row in export.rows:
        serial += 1
        _append(sheet, HEADER_ROW + serial, *_xlsx_row(sheet, serial, row, tz))
    sheet.auto_filter.ref = f"A{HEADER_ROW}:{last_column}{HEADER_ROW + serial}"


async def write_xlsx(export: NominationExport, tz: tzinfo) -> Path:
    """Write the workbook to a temporary file (the caller streams and deletes it)."""
    workbook = Workbook(write_only=True)
    await _nomination_sheet(workbook, export, tz)
    sealed = _printable_sheet(workbook, CHECKPOINT_SHEET, CHECKPOINT_COLUMNS, 1)
    sealed.append(_header(sealed, CHECKPOINT_COLUMNS))
    sealed.append(checkpoint_cells(export.checkpoint))
    handle = tempfile.NamedTemporaryFile(prefix="nominations-", suffix=".xlsx", delete=False)
    handle.close()
    workbook.save(handle.name)
    return Path(handle.name)


async def file_chunks(path: Path) -> AsyncIterator[bytes]:
    try:
        with path.open("rb") as f:
            while chunk := f.read(XLSX_READ_BYTES):
                yield chunk
    finally:
        path.unlink(missing_ok=True)
