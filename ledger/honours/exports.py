"""The nomination list as files a street office opens in Excel: CSV and XLSX.

CSV is UTF-8 with a byte-order mark (Excel reads it as Chinese, not mojibake) and leaves
in chunks as rows arrive. XLSX is written with openpyxl's write-only workbook, which
streams rows to a temporary file instead of holding a sheet in memory; it has a frozen
header row and column widths fitted to Chinese text.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import AsyncIterator
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

COLUMNS: tuple[tuple[str, str, int], ...] = (
    # (row key, header, column width in characters)
    ("name", "姓名", 10),
    ("member_id", "成员编号", 16),
    ("org_path", "组织路径(街道/社区/网格/微网格)", 44),
    ("party_member", "党员", 6),
    ("flag", "推荐类别", 12),
    ("tier", "等级", 6),
    ("earned_points", "年度获得积分", 12),
    ("patrol", "巡查", 8),
    ("task", "交办任务", 8),
    ("event_report", "事件上报", 8),
    ("diary", "民情日记", 8),
    ("activity", "志愿活动", 8),
    ("other", "其他", 8),
    ("flagged_at", "标记时间", 18),
    ("state", "状态", 8),
    ("objections", "异议数", 8),
    ("evidence", "佐证交易数", 10),
)
STATE_NAMES = {"flagged": "已标记", "in_notice": "公示中", "confirmed": "已确认", "withdrawn": "已撤回"}
CSV_CHUNK_ROWS = 500
"""Rows per chunk sent of a CSV export: ~60 KB, few enough writes, small enough memory."""
XLSX_READ_BYTES = 65_536


def cells(row: dict[str, Any], tz: tzinfo) -> list[Any]:
    values = dict(row)
    values["party_member"] = "是" if row["party_member"] else "否"
    values["state"] = STATE_NAMES.get(row["state"], row["state"])
    values["flagged_at"] = row["flagged_at"].astimezone(tz).strftime("%Y-%m-%d %H:%M")
    values["tier"] = row["tier"] or ""
    return [values[key] for key, _, _ in COLUMNS]


async def csv_chunks(rows: AsyncIterator[dict[str, Any]], tz: tzinfo) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([header for _, header, _ in COLUMNS])
    count = 0
    async for row in rows:
        writer.writerow(cells(row, tz))
        count += 1
        if count % CSV_CHUNK_ROWS == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


async def csv_with_bom(rows: AsyncIterator[dict[str, Any]], tz: tzinfo) -> AsyncIterator[bytes]:
    yield "\ufeff".encode()
    async for chunk in csv_chunks(rows, tz):
        yield chunk


async def write_xlsx(rows: AsyncIterator[dict[str, Any]], tz: tzinfo, title: str) -> Path:
    """Write the workbook to a temporary file (the caller streams and deletes it)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    sheet.freeze_panes = "A2"
    for index, (_, _, width) in enumerate(COLUMNS):
        sheet.column_dimensions[_letter(index)].width = width
    bold = Font(bold=True)
    header = []
    for _, text, _ in COLUMNS:
        cell = WriteOnlyCell(sheet, value=text)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    async for row in rows:
        sheet.append(cells(row, tz))
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


def _letter(index: int) -> str:
    return get_column_letter(index + 1)


def filename(period: str, org_unit: str, extension: str, now: datetime) -> str:
    return f"nominations-{org_unit}-{period}-{now:%Y%m%d}.{extension}"
