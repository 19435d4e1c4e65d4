"""The nomination list as files a street office opens in Excel: CSV and XLSX.

CSV is UTF-8 with a byte-order mark (Excel reads it as Chinese, not mojibake) and leaves
in chunks as rows arrive. XLSX is written with openpyxl's write-only workbook, which
streams rows to a temporary file instead of holding a sheet in memory; it has a frozen
header row and column widths fitted to Chinese text.

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
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from ledger.journal.checkpoints import Checkpoint, sealed_at_text

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
CHECKPOINT_COLUMNS: tuple[tuple[str, int], ...] = (
    # (header, column width in characters)
    ("账本检查点编号", 14),
    ("交易编号", 10),
    ("哈希(SHA-256)", 66),
    ("封存时间(UTC)", 34),
    ("校验码(HMAC-SHA256)", 66),
)
CHECKPOINT_SHEET = "账本检查点"
WHOLE_LEDGER = "全部单位"
"""What the file name says when the export is not limited to one unit."""
FILENAME_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]')
"""Characters Windows refuses in a file name; a unit's name is typed by people."""


@dataclass(frozen=True, slots=True)
class NominationExport:
    """The nomination list of a unit (``unit_name`` None: the whole ledger) for a period,
    and the checkpoint sealed at the snapshot it is read from."""

    checkpoint: Checkpoint
    period: str
    unit_name: str | None
    flag: str | None
    rows: AsyncIterator[dict[str, Any]]


def checkpoint_cells(checkpoint: Checkpoint) -> list[Any]:
    """The checkpoint as printed: the sealing time exactly as the MAC signs it."""
    sealed_at = sealed_at_text(checkpoint)
    return [checkpoint.id, checkpoint.transaction_id, checkpoint.hash, sealed_at, checkpoint.mac]


def cells(row: dict[str, Any], tz: tzinfo) -> list[Any]:
    values = dict(row)
    values["party_member"] = "是" if row["party_member"] else "否"
    values["state"] = STATE_NAMES.get(row["state"], row["state"])
    values["flagged_at"] = row["flagged_at"].astimezone(tz).strftime("%Y-%m-%d %H:%M")
    values["tier"] = row["tier"] or ""
    return [values[key] for key, _, _ in COLUMNS]


async def csv_chunks(export: NominationExport, tz: tzinfo) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([header for _, header, _ in COLUMNS])
    count = 0
    async for row in export.rows:
        writer.writerow(cells(row, tz))
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


def _sheet(workbook: Workbook, title: str, columns: list[tuple[str, int]]) -> Any:
    """A write-only sheet with its column widths and a bold, frozen header row."""
    sheet = workbook.create_sheet(title=title[:31])
    sheet.freeze_panes = "A2"
    for index, (_, width) in enumerate(columns):
        sheet.column_dimensions[_letter(index)].width = width
    bold = Font(bold=True)
    header = []
    for text, _ in columns:
        cell = WriteOnlyCell(sheet, value=text)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    return sheet


async def write_xlsx(export: NominationExport, tz: tzinfo, title: str) -> Path:
    """Write the workbook to a temporary file (the caller streams and deletes it)."""
    workbook = Workbook(write_only=True)
    sheet = _sheet(workbook, title, [(header, width) for _, header, width in COLUMNS])
    async for row in export.rows:
        sheet.append(cells(row, tz))
    _sheet(workbook, CHECKPOINT_SHEET, list(CHECKPOINT_COLUMNS)).append(checkpoint_cells(export.checkpoint))
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


def filename(export: NominationExport, extension: str) -> str:
    """The file's name as it lands in a Downloads folder, e.g. 提名名单-东大街街道-2026.xlsx."""
    unit = FILENAME_UNSAFE.sub("_", export.unit_name or WHOLE_LEDGER)
    return f"提名名单-{unit}-{export.period}.{extension}"
