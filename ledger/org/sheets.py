"""Rows of the spreadsheets a street office keeps: XLSX, or CSV as Excel saves it.

An office's residents are in an Excel workbook, or in a CSV that Excel wrote: UTF-8 (with
a byte-order mark when Excel saves "CSV UTF-8"), or GB18030 when Excel on a Chinese
Windows saves plain "CSV". A file does not say which, so the bytes are first read as
UTF-8, strictly: GB18030 text is almost never valid UTF-8 (its two-byte characters break
UTF-8's continuation rules within a few characters), so a file that decodes is UTF-8 and
any other is read as GB18030, which decodes every byte sequence Excel writes.

The format is told by the file's first bytes, not its name or a Content-Type: an XLSX is a
zip archive, an old .xls an OLE compound file (refused with the way to fix it), and
anything else is read as CSV. Rows are streamed in both cases (openpyxl's read-only
workbook, ``csv.reader`` over a decoder), so a sheet of 100,000 members is never held in
memory; the row numbers are those the spreadsheet shows, the header being row 1.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterator
from datetime import date, datetime, time
from typing import BinaryIO

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from ledger.errors import InvalidInput

XLSX_MAGIC = b"PK\x03\x04"
XLS_MAGIC = b"\xd0\xcf\x11\xe0"
UTF8_PROBE_BYTES = 1_048_576
"""Bytes decoded at a time while telling UTF-8 from GB18030: the whole file is checked
(a Chinese name may first appear on row 90,000), a megabyte at a time."""

Row = tuple[int, tuple[str, ...]]
"""A row as the sheet numbers it, and its cells as text (an empty cell is "")."""


def _text(value: object) -> str:
    """A cell as the text a person typed: a member id typed as a number (110101) is read
    back as 110101, not 110101.0, and a whole number stored as a float loses its ".0"."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value).strip()


def _xlsx_rows(file: BinaryIO) -> Iterator[Row]:
    try:
        workbook = load_workbook(file, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError) as error:
        raise InvalidInput("file", f"the file is not a readable XLSX workbook: {error}") from error
    try:
        sheet = workbook.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, tuple(_text(v) for v in values)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
        raise InvalidInput("file", f"the XLSX workbook is damaged: {error}") from error
    finally:
        workbook.close()


def csv_encoding(file: BinaryIO) -> str:
    """ "utf-8-sig" when every byte of ``file`` is UTF-8 (a BOM is then dropped), else "gb18030"."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    try:
        while chunk := file.read(UTF8_PROBE_BYTES):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
        return "utf-8-sig"
    except UnicodeDecodeError:
        return "gb18030"
    finally:
        file.seek(0)


def _csv_rows(file: BinaryIO) -> Iterator[Row]:
    text = io.TextIOWrapper(file, encoding=csv_encoding(file), newline="", errors="strict")
    try:
        for number, values in enumerate(csv.reader(text), start=1):
            yield number, tuple(v.strip() for v in values)
    except (csv.Error, UnicodeDecodeError) as error:
        raise InvalidInput("file", f"the CSV file cannot be read: {error}") from error
    finally:
        # The caller owns the file; a reader dropped unfinished may be collected after
        # the caller closed it, when there is nothing left to hand back.
        if not file.closed:
            text.detach()


def read_rows(file: BinaryIO) -> Iterator[Row]:
    """The rows of ``file`` (seekable, at its start), the header first."""
    magic = file.read(len(XLSX_MAGIC))
    file.seek(0)
    if magic == XLS_MAGIC:
        raise InvalidInput("file", "this is an old .xls workbook: save it in Excel as .xlsx or CSV, then import that")
    return _xlsx_rows(file) if magic == XLSX_MAGIC else _csv_rows(file)
