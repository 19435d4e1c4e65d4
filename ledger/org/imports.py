"""Importing the org tree and its members from a street office's spreadsheets.

An office adopting the ledger has its grids and thousands of residents, volunteers and
grid workers in Excel already. A file is imported whole or not at all:

* Every row gets an outcome: ``created``, ``updated`` (naming the fields that change),
  ``unchanged``, or ``refused`` with its row number as the sheet shows it, the column and
  the reason. A dry run stops there and writes nothing.
* Applying writes in one database transaction, and only a file without a refused row is
  written (the caller's transaction is rolled back by ``ImportRefused`` otherwise), so a
  typo on row 9,000 never leaves 8,998 members half imported.
* Importing the same file again finds every row unchanged: rows are matched by unit code
  and member id, and a row changes only the fields its file has a column (and a value) for.
* Nothing is deleted. A member of a unit the file touches who is not in the file is
  counted as ``absent`` and named, for a person to look at; deactivating is the explicit
  在册/active column.

Units come in any order (a micro-grid may come before its grid): a unit file is at most
``UNIT_ROWS_MAX`` rows, read whole and resolved within itself and against the ledger.
Member files are large, so they are streamed in chunks of ``IMPORT_CHUNK_ROWS``: each chunk
costs one query for the members it names, one for the units they live in (those not seen
before), and a few multi-row statements to write (``ledger.storage.bulk``). Chunks do not
depend on each other, as a member id appears once in a file (a repeat is refused).

An organizer imports only inside its subtree: a unit row must land inside it, and a member
row must both stay inside it and, when it moves someone, take them from inside it.
"""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import BinaryIO, Literal, TypeVar

from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.errors import ImportRefused
from ledger.journal import accounts
from ledger.org import sheets
from ledger.org.members import Member, find_members, phone_well_formed
from ledger.org.units import PATH_SEPARATOR, Unit, find_units
from ledger.storage import bulk
from ledger.storage.bulk import OneOf
from ledger.storage.tables import Account, Erasure, MemberMove, OrgUnit, table_of
from ledger.storage.tables import Member as MemberRow
from ledger.values import (
    CODE_LENGTH_MAX,
    NAME_LENGTH_MAX,
    PHONE_LENGTH_MAX,
    ROLES_MAX,
    AccountKind,
    Level,
    Role,
    parent_level,
)

Kind = Literal["org_units", "members"]
T = TypeVar("T")
Progress = Callable[[int], None]
"""Told the number of data rows read so far, after each chunk."""

IMPORT_CHUNK_ROWS = 1_000
"""Member rows read, looked up and written together: one lookup's ids stay within SQLite's
oldest limit of 999 bound parameters plus one, and 100,000 members take a hundred chunks
of a few statements each."""

UNIT_ROWS_MAX = 20_000
"""Rows of a unit file, which is read whole to resolve parents listed after their
children: a street office has a few hundred units, a district a few thousand."""

MEMBER_ROWS_MAX = 300_000
"""Rows of a member file: the largest street offices have about 100,000 residents; a file
three times that is not one office's, and the ids seen are kept to find repeats."""

IMPORT_OUTCOMES_LISTED_MAX = 1_000
"""Row outcomes a report lists, refused rows first; its counts always cover every row. A
person reads the refusals to fix the file, and a thousand is more than one careful pass
leaves; 100,000 lines of "created" is a body no one reads."""

ABSENT_LISTED_MAX = 20
"""Ids named of the members absent from a file; ``absent`` counts them all."""


class Outcome(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class RowOutcome:
    row: int
    """As the spreadsheet numbers it: the header is row 1."""
    key: str
    """The row's unit code or member id ("" when the row has none)."""
    outcome: Outcome
    changed: tuple[str, ...] = ()
    column: str | None = None
    """The header of the refused cell, as the file writes it."""
    code: Refusal | None = None
    reason: str | None = None
    """Why the row is refused, in English (``reason_zh``: in Chinese, for the desk)."""
    reason_zh: str | None = None


@dataclass(frozen=True, slots=True)
class ImportReport:
    kind: Kind
    dry_run: bool
    applied: bool
    rows: int
    """Data rows read (empty rows are skipped)."""
    created: int
    updated: int
    unchanged: int
    refused: int
    outcomes: tuple[RowOutcome, ...]
    outcomes_omitted: int
    absent: int = 0
    absent_ids: tuple[str, ...] = ()
    ignored_columns: tuple[str, ...] = ()
    """Headers read and not stored: the ones no column is known by."""


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    headers: tuple[str, ...]
    """The Chinese header (the template's), then the English one."""
    required: bool


UNIT_COLUMNS = (
    Column("code", ("编码", "code"), True),
    Column("name", ("名称", "name"), True),
    Column("level", ("层级", "level"), True),
    Column("parent", ("上级", "parent"), False),
)
MEMBER_COLUMNS = (
    Column("id", ("成员编号", "id"), True),
    Column("name", ("姓名", "name"), True),
    Column("org_unit", ("微网格", "org_unit"), True),
    Column("party_member", ("党员", "party_member"), False),
    Column("roles", ("角色", "roles"), False),
    Column("active", ("在册", "active"), False),
    Column("phone", ("电话", "phone"), False),
)

LEVEL_NAMES: dict[str, Level] = {
    "街道": Level.STREET,
    "社区": Level.COMMUNITY,
    "大网格": Level.GRID,
    "网格": Level.GRID,
    "微网格": Level.MICRO_GRID,
    **{level.value: level for level in Level},
}
ROLE_NAMES: dict[str, Role] = {
    "志愿者": Role.VOLUNTEER,
    "网格员": Role.GRID_WORKER,
    "微网格员": Role.MICRO_GRID_WORKER,
    "网格长": Role.GRID_LEADER,
    "居民": Role.RESIDENT,
    **{role.value: role for role in Role},
}
YES_NO: dict[str, bool] = {
    **dict.fromkeys(("是", "yes", "true", "1"), True),
    **dict.fromkeys(("否", "no", "false", "0"), False),
}
ROLE_SEPARATORS = "、，,;；"


class Refusal(enum.StrEnum):
    """Why a row is refused: a stable code for programs, worded in English for the API
    and the command line and in Chinese for the desk's clerk (``REFUSAL_WORDING``)."""

    COLUMN_MISSING = "column_missing"
    COLUMN_REPEATED = "column_repeated"
    CELL_EMPTY = "cell_empty"
    TEXT_NUL = "text_nul"
    TEXT_TOO_LONG = "text_too_long"
    CODE_MALFORMED = "code_malformed"
    YES_NO_UNKNOWN = "yes_no_unknown"
    ROLE_UNKNOWN = "role_unknown"
    ROWS_TOO_MANY = "rows_too_many"
    LEVEL_UNKNOWN = "level_unknown"
    LEVEL_CHANGED = "level_changed"
    PARENT_UNKNOWN = "parent_unknown"
    PARENT_WRONG_LEVEL = "parent_wrong_level"
    PARENT_REFUSED = "parent_refused"
    PARENT_MISSING = "parent_missing"
    STREET_HAS_PARENT = "street_has_parent"
    UNIT_MOVED = "unit_moved"
    DUPLICATE = "duplicate"
    OUTSIDE_SCOPE = "outside_scope"
    MEMBER_OUTSIDE_SCOPE = "member_outside_scope"
    MICRO_GRID_UNKNOWN = "micro_grid_unknown"
    NOT_MICRO_GRID = "not_micro_grid"
    PHONE_MALFORMED = "phone_malformed"
    MEMBER_ERASED = "member_erased"


REFUSAL_WORDING: dict[Refusal, tuple[str, str]] = {
    # English, then Chinese: each is formatted with the refusal's values, a level in the
    # words of its language (``LEVEL_ZH``), a quoted value in its language's quotes.
    Refusal.COLUMN_MISSING: (
        "the header row has no {names} column, which is required",
        "表头缺少必填的“{header}”列，请按模板填写表头",
    ),
    Refusal.COLUMN_REPEATED: ("the column {column} appears twice (also as {other})", "“{column}”列与“{other}”列重复"),
    Refusal.CELL_EMPTY: ("this cell is empty and is required", "此格必须填写"),
    Refusal.TEXT_NUL: ("text may not contain NUL (U+0000)", "此格含有无法识别的空字符，请重新输入"),
    Refusal.TEXT_TOO_LONG: ("at most {limit} characters ({length} here)", "最多 {limit} 个字（此格有 {length} 个字）"),
    Refusal.CODE_MALFORMED: (
        "{value}: a code or id has no spaces and no {separator}",
        "{value}：编码和编号中不能有空格或{separator}",
    ),
    Refusal.YES_NO_UNKNOWN: (
        "{value} is not one of 是/否, yes/no, true/false, 1/0",
        "{value}无法识别，请填写“是”或“否”",
    ),
    Refusal.ROLE_UNKNOWN: (
        "unknown role {value} (roles are {known}, or their codes)",
        "没有{value}这个角色，角色可填：{known}",
    ),
    Refusal.ROWS_TOO_MANY: (
        "a {what} file has at most {limit} rows: the file from row {row} on was not read",
        "一个文件最多 {limit} 行：从第 {row} 行起没有读取，请把文件拆开分别导入",
    ),
    Refusal.LEVEL_UNKNOWN: (
        "unknown level {value} (街道, 社区, 大网格 or 网格, 微网格)",
        "没有{value}这个层级，请填写 街道、社区、大网格 或 微网格",
    ),
    Refusal.LEVEL_CHANGED: ("{code} is a {level}; a level never changes", "{code}已是{level}，层级不能更改"),
    Refusal.PARENT_UNKNOWN: (
        "unknown parent {parent}: neither in this file nor in the ledger",
        "找不到上级{parent}：本文件和系统中都没有",
    ),
    Refusal.PARENT_WRONG_LEVEL: (
        "{parent} is a {level}; the parent of a {child} is a {expected}",
        "{parent}是{level}，而{child}的上级须是{expected}",
    ),
    Refusal.PARENT_REFUSED: ("the parent {parent} (row {row}) is refused", "上级{parent}（第 {row} 行）未通过检查"),
    Refusal.PARENT_MISSING: ("a {level} needs a parent {expected}", "{level}须填写所属的{expected}"),
    Refusal.STREET_HAS_PARENT: (
        "a street office (街道) is the top of the tree and has no parent",
        "街道是最高一级，不填上级",
    ),
    Refusal.UNIT_MOVED: (
        "{code} is under {parent}; an import does not move a unit",
        "{code}现属{parent}：导入不能改变单位的上级，请在单位页面调整",
    ),
    Refusal.DUPLICATE: ("{key} is on row {row} too", "{key}在第 {row} 行也出现了"),
    Refusal.OUTSIDE_SCOPE: ("{code} lies outside the subtree this token covers", "{code}不在您的管辖范围内"),
    Refusal.MEMBER_OUTSIDE_SCOPE: (
        "member {id} lives in {code}, outside the subtree this token covers",
        "成员{id}现属{code}，不在您的管辖范围内",
    ),
    Refusal.MICRO_GRID_UNKNOWN: (
        "unknown micro-grid {code}: import the org tree first",
        "找不到微网格{code}：请先导入组织架构",
    ),
    Refusal.NOT_MICRO_GRID: (
        "{code} is a {level}; a member belongs to a micro_grid",
        "{code}是{level}，成员须属于微网格",
    ),
    Refusal.PHONE_MALFORMED: (
        "{value}: a phone number is up to {limit} digits, spaces, '+', '-' and parentheses",
        "{value}：电话最多 {limit} 位，只能有数字、空格、+、- 和括号",
    ),
    Refusal.MEMBER_ERASED: (
        "member {id}'s personal information was erased on request; an import does not write it back",
        "成员{id}的个人信息已应本人要求注销，导入不会写回",
    ),
}

LEVEL_ZH = {Level.STREET: "街道", Level.COMMUNITY: "社区", Level.GRID: "大网格", Level.MICRO_GRID: "微网格"}
"""A level as a refusal in Chinese names it: in the words of the template's 层级 column."""


@dataclass(frozen=True, slots=True)
class Quoted:
    """A value from the file or the ledger, which a refusal puts in quotes: 'm-1' in
    English, “m-1” in Chinese."""

    text: str


def _word(value: object, chinese: bool) -> str:
    if isinstance(value, Level):
        return LEVEL_ZH[value] if chinese else value.value
    if isinstance(value, Quoted):
        return f"“{value.text}”" if chinese else repr(value.text)
    return str(value)


class _Refused(Exception):
    """A row's fault, found while reading or resolving it."""

    def __init__(self, column: str, refusal: Refusal, /, **values: object) -> None:
        english, chinese = REFUSAL_WORDING[refusal]
        self.column, self.code = column, refusal
        self.reason = english.format(**{k: _word(v, False) for k, v in values.items()})
        self.reason_zh = chinese.format(**{k: _word(v, True) for k, v in values.items()})
        super().__init__(self.reason)


# Reading rows.


@dataclass(frozen=True, slots=True)
class _Header:
    index: dict[str, int]
    written: dict[str, str]
    """Each known column's header as the file writes it (the one a refusal names)."""
    ignored: tuple[str, ...]

    def cell(self, cells: tuple[str, ...], key: str) -> str | None:
        """The cell of ``key``; None when the file has no such column."""
        i = self.index.get(key)
        if i is None:
            return None
        return cells[i] if i < len(cells) else ""

    def column(self, key: str) -> str:
        return self.written.get(key, key)


def _header(cells: tuple[str, ...], columns: Sequence[Column]) -> _Header:
    by_name = {h.lower(): c for c in columns for h in c.headers}
    index: dict[str, int] = {}
    written: dict[str, str] = {}
    ignored = []
    for i, text in enumerate(cells):
        column = by_name.get(text.lower())
        if column is None:
            if text:
                ignored.append(text)
            continue
        if column.key in index:
            raise _Refused(text, Refusal.COLUMN_REPEATED, column=text, other=written[column.key])
        index[column.key], written[column.key] = i, text
    for column in columns:
        if column.required and column.key not in index:
            names = " or ".join(column.headers)
            raise _Refused(column.headers[0], Refusal.COLUMN_MISSING, names=names, header=column.headers[0])
    return _Header(index, written, tuple(ignored))


def _data_rows(rows: Iterator[sheets.Row]) -> Iterator[sheets.Row]:
    """The rows after the header, without the empty ones Excel leaves below a table."""
    return ((number, cells) for number, cells in rows if any(cells))


def _text(header: _Header, cells: tuple[str, ...], key: str, limit: int) -> str:
    value = header.cell(cells, key) or ""
    if not value:
        raise _Refused(header.column(key), Refusal.CELL_EMPTY)
    if "\x00" in value:
        raise _Refused(header.column(key), Refusal.TEXT_NUL)
    if len(value) > limit:
        raise _Refused(header.column(key), Refusal.TEXT_TOO_LONG, limit=limit, length=len(value))
    return value


def _code(header: _Header, cells: tuple[str, ...], key: str) -> str:
    value = _text(header, cells, key, CODE_LENGTH_MAX)
    if PATH_SEPARATOR in value or any(c.isspace() for c in value):
        separator = Quoted(PATH_SEPARATOR)
        raise _Refused(header.column(key), Refusal.CODE_MALFORMED, value=Quoted(value), separator=separator)
    return value


def _yes_no(header: _Header, cells: tuple[str, ...], key: str) -> bool | None:
    value = header.cell(cells, key)
    if not value:
        return None
    if value.lower() not in YES_NO:
        raise _Refused(header.column(key), Refusal.YES_NO_UNKNOWN, value=Quoted(value))
    return YES_NO[value.lower()]


def _roles(header: _Header, cells: tuple[str, ...]) -> tuple[Role, ...] | None:
    value = header.cell(cells, "roles")
    if not value:
        return None
    for separator in ROLE_SEPARATORS[1:]:
        value = value.replace(separator, ROLE_SEPARATORS[0])
    names = [n.strip() for n in value.split(ROLE_SEPARATORS[0]) if n.strip()]
    unknown = [n for n in names if n.lower() not in ROLE_NAMES]
    if unknown:
        known = "、".join(list(ROLE_NAMES)[: len(Role)])
        raise _Refused(header.column("roles"), Refusal.ROLE_UNKNOWN, value=Quoted(unknown[0]), known=known)
    roles = tuple(sorted({ROLE_NAMES[n.lower()] for n in names}))
    assert len(roles) <= ROLES_MAX, "each role counts once, and there are fewer roles than the limit"
    return roles


def _phone(header: _Header, cells: tuple[str, ...]) -> str | None:
    # Stripped: a spreadsheet's cell often keeps the space typed after the number, which
    # would otherwise make the same number read as a change on the next import.
    value = (header.cell(cells, "phone") or "").strip()
    if not value:
        return None
    if not phone_well_formed(value):
        raise _Refused(header.column("phone"), Refusal.PHONE_MALFORMED, value=Quoted(value), limit=PHONE_LENGTH_MAX)
    return value


# Counting outcomes.


class _Tally:
    """Every row's outcome counted, and the first of them kept for the report (refused
    rows before the others, each in row order)."""

    def __init__(self) -> None:
        self.counts = dict.fromkeys(Outcome, 0)
        self.listed: dict[bool, list[RowOutcome]] = {True: [], False: []}
        self.ignored: tuple[str, ...] = ()

    def add(self, outcome: RowOutcome) -> None:
        self.counts[outcome.outcome] += 1
        kept = self.listed[outcome.outcome is Outcome.REFUSED]
        if len(kept) < IMPORT_OUTCOMES_LISTED_MAX:
            kept.append(outcome)

    def refuse(self, row: int, key: str, refused: _Refused) -> None:
        self.add(
            RowOutcome(
                row,
                key,
                Outcome.REFUSED,
                column=refused.column,
                code=refused.code,
                reason=refused.reason,
                reason_zh=refused.reason_zh,
            )
        )

    @property
    def refused(self) -> int:
        return self.counts[Outcome.REFUSED]

    def report(self, kind: Kind, dry_run: bool, absent: Sequence[str] = (), absent_count: int = 0) -> ImportReport:
        listed = [*sorted(self.listed[True], key=_row), *sorted(self.listed[False], key=_row)]
        total = sum(self.counts.values())
        return ImportReport(
            kind=kind,
            dry_run=dry_run,
            applied=not dry_run and not self.refused,
            rows=total,
            created=self.counts[Outcome.CREATED],
            updated=self.counts[Outcome.UPDATED],
            unchanged=self.counts[Outcome.UNCHANGED],
            refused=self.refused,
            outcomes=tuple(listed[:IMPORT_OUTCOMES_LISTED_MAX]),
            outcomes_omitted=total - min(len(listed), IMPORT_OUTCOMES_LISTED_MAX),
            absent=absent_count,
            absent_ids=tuple(absent),
            ignored_columns=self.ignored,
        )


def _row(outcome: RowOutcome) -> int:
    return outcome.row


def _changed(row: int, key: str, changes: Sequence[str]) -> RowOutcome:
    return RowOutcome(row, key, Outcome.UPDATED if changes else Outcome.UNCHANGED, tuple(changes))


def _start(file: BinaryIO, columns: Sequence[Column], tally: _Tally) -> tuple[_Header, Iterator[sheets.Row]] | None:
    """The file's header and its data rows; None (with row 1 refused) when the header
    lacks a required column or names one twice."""
    rows = sheets.read_rows(file)
    number, cells = next(rows, (1, ()))
    try:
        header = _header(cells, columns)
    except _Refused as refused:
        tally.refuse(number, "", refused)
        return None
    tally.ignored = header.ignored
    return header, _data_rows(rows)


def _finish(tally: _Tally, report: ImportReport) -> ImportReport:
    """The report, or ImportRefused when a refused row stops an apply (which rolls back
    whatever the transaction wrote of the file)."""
    if not report.dry_run and tally.refused:
        raise ImportRefused(report)
    return report


def _duplicate(column: str, key: str, first: int) -> _Refused:
    return _Refused(column, Refusal.DUPLICATE, key=Quoted(key), row=first)


def _too_many(number: int, limit: int, what: str) -> _Refused:
    return _Refused("", Refusal.ROWS_TOO_MANY, what=what, limit=f"{limit:,}", row=number)


# Accounts, opened in bulk.

_accounts = table_of(Account)
_units = table_of(OrgUnit)
_members = table_of(MemberRow)
_erasures = table_of(Erasure)
_moves = table_of(MemberMove)


def _chunks(items: Iterable[T], size: int = IMPORT_CHUNK_ROWS) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


# The org tree.


@dataclass(frozen=True, slots=True)
class _UnitRow:
    row: int
    code: str
    name: str
    level: Level
    parent: str | None


def _unit_row(number: int, cells: tuple[str, ...], header: _Header) -> _UnitRow:
    code = _code(header, cells, "code")
    name = _text(header, cells, "name", NAME_LENGTH_MAX)
    level_text = _text(header, cells, "level", NAME_LENGTH_MAX)
    level = LEVEL_NAMES.get(level_text.lower())
    if level is None:
        raise _Refused(header.column("level"), Refusal.LEVEL_UNKNOWN, value=Quoted(level_text))
    parent = _code(header, cells, "parent") if header.cell(cells, "parent") else None
    return _UnitRow(number, code, name, level, parent)


class _Tree:
    """The units of a file resolved against each other and the ledger: each row's path in
    the tree, or why it has none."""

    def __init__(self, rows: dict[str, _UnitRow], existing: dict[str, Unit], header: _Header) -> None:
        self.rows, self.existing, self.header = rows, existing, header
        self.paths: dict[str, str | _Refused] = {}

    def path(self, code: str) -> str:
        if code not in self.paths:
            try:
                self.paths[code] = self._resolve(self.rows[code])
            except _Refused as refused:
                self.paths[code] = refused
        found = self.paths[code]
        if isinstance(found, _Refused):
            raise found
        return found

    def _parent_path(self, row: _UnitRow, expected: Level) -> str:
        column = self.header.column("parent")
        assert row.parent is not None
        listed, known = self.rows.get(row.parent), self.existing.get(row.parent)
        level = listed.level if listed is not None else known.level if known is not None else None
        if level is None:
            raise _Refused(column, Refusal.PARENT_UNKNOWN, parent=Quoted(row.parent))
        if level is not expected:
            parent = Quoted(row.parent)
            raise _Refused(
                column, Refusal.PARENT_WRONG_LEVEL, parent=parent, level=level, child=row.level, expected=expected
            )
        if listed is None:
            return known.path  # type: ignore[union-attr]
        try:
            return self.path(row.parent)
        except _Refused as refused:
            raise _Refused(column, Refusal.PARENT_REFUSED, parent=Quoted(row.parent), row=listed.row) from refused

    def _resolve(self, row: _UnitRow) -> str:
        expected = parent_level(row.level)
        column = self.header.column("parent")
        if expected is None and row.parent is not None:
            raise _Refused(column, Refusal.STREET_HAS_PARENT)
        if expected is not None and row.parent is None:
            raise _Refused(column, Refusal.PARENT_MISSING, level=row.level, expected=expected)
        known = self.existing.get(row.code)
        if known is not None and known.level is not row.level:
            raise _Refused(self.header.column("level"), Refusal.LEVEL_CHANGED, code=Quoted(row.code), level=known.level)
        if known is not None and known.parent_code != row.parent:
            raise _Refused(column, Refusal.UNIT_MOVED, code=Quoted(row.code), parent=Quoted(str(known.parent_code)))
        if known is not None:
            return known.path
        parent_path = PATH_SEPARATOR if row.parent is None else self._parent_path(row, expected)  # type: ignore[arg-type]
        return f"{parent_path}{row.code}{PATH_SEPARATOR}"


def _outside(scope: str | None, path: str) -> bool:
    return scope is not None and not path.startswith(scope)


def _read_units(header: _Header, rows: Iterator[sheets.Row], tally: _Tally) -> dict[str, _UnitRow]:
    """The file's unit rows by code; faulty and repeated rows are refused as they are read."""
    listed: dict[str, _UnitRow] = {}
    for count, (number, cells) in enumerate(rows):
        if count == UNIT_ROWS_MAX:
            tally.refuse(number, "", _too_many(number, UNIT_ROWS_MAX, "unit"))
            break
        try:
            row = _unit_row(number, cells, header)
        except _Refused as refused:
            tally.refuse(number, header.cell(cells, "code") or "", refused)
            continue
        if row.code in listed:
            first = listed[row.code].row
            tally.refuse(number, row.code, _duplicate(header.column("code"), row.code, first))
            continue
        listed[row.code] = row
    return listed


async def import_units(
    conn: AsyncConnection, file: BinaryIO, *, scope: str | None, dry_run: bool, now: datetime
) -> ImportReport:
    """Read a unit file (编码, 名称, 层级, 上级) and, unless ``dry_run``, write it whole.
    ``scope`` is the path of the subtree the importer covers (None: the whole tree)."""
    tally = _Tally()
    started = _start(file, UNIT_COLUMNS, tally)
    if started is None:
        return _finish(tally, tally.report("org_units", dry_run))
    header, rows = started
    listed = _read_units(header, rows, tally)
    named = set(listed) | {r.parent for r in listed.values() if r.parent is not None}
    existing: dict[str, Unit] = {}
    for chunk in _chunks(sorted(named)):
        existing.update(await find_units(conn, chunk))
    tree = _Tree(listed, existing, header)
    created: list[tuple[_UnitRow, str]] = []
    renamed: list[tuple[str, str]] = []
    for row in listed.values():
        try:
            path = tree.path(row.code)
            if _outside(scope, path):
                raise _Refused(header.column("code"), Refusal.OUTSIDE_SCOPE, code=Quoted(row.code))
        except _Refused as refused:
            tally.refuse(row.row, row.code, refused)
            continue
        known = existing.get(row.code)
        if known is None:
            tally.add(RowOutcome(row.row, row.code, Outcome.CREATED))
            created.append((row, path))
            continue
        tally.add(_changed(row.row, row.code, ["name"] if known.name != row.name else []))
        if known.name != row.name:
            renamed.append((row.code, row.name))
    if not dry_run and not tally.refused:
        await _write_units(conn, created, renamed, now)
    return _finish(tally, tally.report("org_units", dry_run))


_UNIT_INSERT = (
    "code",
    "name",
    "level",
    "parent_code",
    "path",
    "issuance_account_id",
    "redemption_account_id",
    "created_at",
)


async def _write_units(
    conn: AsyncConnection, created: list[tuple[_UnitRow, str]], renamed: list[tuple[str, str]], now: datetime
) -> None:
    # Parents before children: SQLite checks each row's parent as it is inserted.
    created.sort(key=lambda c: (c[1].count(PATH_SEPARATOR), c[1]))
    codes = [row.code for row, _ in created]
    issuance = await accounts.open_accounts(conn, AccountKind.ISSUANCE, codes)
    redemption = await accounts.open_accounts(conn, AccountKind.REDEMPTION, codes)
    rows = [
        (r.code, r.name, r.level.value, r.parent, path, issuance[r.code], redemption[r.code], now)
        for r, path in created
    ]
    await bulk.insert(conn, _units, _UNIT_INSERT, rows)
    await bulk.update(conn, _units, ("code",), renamed, set_=("name",))


# Members.


@dataclass(frozen=True, slots=True)
class _MemberRow:
    row: int
    id: str
    name: str
    org_unit: str
    party_member: bool | None
    roles: tuple[Role, ...] | None
    active: bool | None
    phone: str | None
    """None: the file leaves the field as it is (a new member: not a party member, no
    roles, active, no phone)."""


def _member_row(number: int, cells: tuple[str, ...], header: _Header) -> _MemberRow:
    return _MemberRow(
        row=number,
        id=_code(header, cells, "id"),
        name=_text(header, cells, "name", NAME_LENGTH_MAX),
        org_unit=_code(header, cells, "org_unit"),
        party_member=_yes_no(header, cells, "party_member"),
        roles=_roles(header, cells),
        active=_yes_no(header, cells, "active"),
        phone=_phone(header, cells),
    )


_MEMBER_FIELDS = ("name", "org_unit", "party_member", "roles", "active", "phone")


def _member_changes(row: _MemberRow, known: Member) -> list[str]:
    wanted = {
        "name": row.name,
        "org_unit": row.org_unit,
        "party_member": row.party_member,
        "roles": row.roles,
        "active": row.active,
        "phone": row.phone,
    }
    return [f for f in _MEMBER_FIELDS if wanted[f] is not None and wanted[f] != getattr(known, f)]


@dataclass
class _Members:
    """One member file's pass: what has been seen, and what each chunk writes."""

    header: _Header
    scope: str | None
    tally: _Tally
    units: dict[str, Unit | None]
    seen: dict[str, int]
    touched: set[str]
    created: list[_MemberRow]
    updated: list[tuple[_MemberRow, Member]]

    def read(self, number: int, cells: tuple[str, ...]) -> _MemberRow | None:
        try:
            row = _member_row(number, cells, self.header)
        except _Refused as refused:
            self.tally.refuse(number, self.header.cell(cells, "id") or "", refused)
            return None
        first = self.seen.setdefault(row.id, number)
        if first != number:
            self.tally.refuse(number, row.id, _duplicate(self.header.column("id"), row.id, first))
            return None
        return row

    def _check_home(self, row: _MemberRow, known: Member | None) -> None:
        column = self.header.column("org_unit")
        home = self.units.get(row.org_unit)
        if home is None:
            raise _Refused(column, Refusal.MICRO_GRID_UNKNOWN, code=Quoted(row.org_unit))
        if home.level is not Level.MICRO_GRID:
            raise _Refused(column, Refusal.NOT_MICRO_GRID, code=Quoted(row.org_unit), level=home.level)
        if _outside(self.scope, home.path):
            raise _Refused(column, Refusal.OUTSIDE_SCOPE, code=Quoted(row.org_unit))
        was = None if known is None else self.units.get(known.org_unit)
        if was is not None and _outside(self.scope, was.path):
            raise _Refused(column, Refusal.MEMBER_OUTSIDE_SCOPE, id=Quoted(row.id), code=Quoted(was.code))

    def plan(self, row: _MemberRow, known: Member | None, *, erased: bool) -> None:
        try:
            if erased:
                # An old sheet still holds the name and phone erased on the resident's request.
                raise _Refused(self.header.column("id"), Refusal.MEMBER_ERASED, id=Quoted(row.id))
            self._check_home(row, known)
        except _Refused as refused:
            self.tally.refuse(row.row, row.id, refused)
            return
        self.touched.add(row.org_unit)
        if known is None:
            self.tally.add(RowOutcome(row.row, row.id, Outcome.CREATED))
            self.created.append(row)
            return
        changes = _member_changes(row, known)
        self.tally.add(_changed(row.row, row.id, changes))
        if changes:
            self.updated.append((row, known))


async def _load_homes(conn: AsyncConnection, units: dict[str, Unit | None], codes: Iterable[str]) -> None:
    """Add the units of ``codes`` not looked up before (None for an unknown code)."""
    missing = sorted(set(codes) - units.keys())
    found = await find_units(conn, missing) if missing else {}
    units.update({code: found.get(code) for code in missing})


async def import_members(
    conn: AsyncConnection,
    file: BinaryIO,
    *,
    scope: str | None,
    dry_run: bool,
    now: datetime,
    by: str,
    progress: Progress | None = None,
) -> ImportReport:
    """Read a member file (成员编号, 姓名, 微网格, and 党员, 角色, 在册, 电话 if it has them) and,
    unless ``dry_run``, write it whole, chunk by chunk in the caller's transaction. A row
    that changes a member's micro-grid is a move, recorded as ``by``'s as a PATCH records it."""
    tally = _Tally()
    started = _start(file, MEMBER_COLUMNS, tally)
    if started is None:
        return _finish(tally, tally.report("members", dry_run))
    header, rows = started
    members = _Members(header, scope, tally, {}, {}, set(), [], [])
    read = 0
    for chunk in _chunks(rows):
        if read + len(chunk) > MEMBER_ROWS_MAX:
            number = chunk[MEMBER_ROWS_MAX - read][0]
            tally.refuse(number, "", _too_many(number, MEMBER_ROWS_MAX, "member"))
            chunk = chunk[: MEMBER_ROWS_MAX - read]
        read += len(chunk)
        parsed = [row for row in (members.read(number, cells) for number, cells in chunk) if row is not None]
        ids = [row.id for row in parsed]
        if not dry_run and conn.dialect.name == "postgresql":
            # As a PATCH does: a move records where the member was, so no other write may
            # move them between this read and the import's commit.
            await conn.execute(_LOCK_MEMBERS, {"ids": ids})
        known = await find_members(conn, ids)
        erased = set((await conn.execute(_ERASED, {"ids": list(known)})).scalars()) if known else set()
        await _load_homes(conn, members.units, [r.org_unit for r in parsed] + [m.org_unit for m in known.values()])
        for row in parsed:
            members.plan(row, known.get(row.id), erased=row.id in erased)
        if not dry_run and not tally.refused:
            await _write_members(conn, members.created, members.updated, now, by)
        members.created, members.updated = [], []
        if progress is not None:
            progress(read)
        if read == MEMBER_ROWS_MAX:
            break
    absent, absent_count = await _absent(conn, members.touched, members.seen)
    return _finish(tally, tally.report("members", dry_run, absent, absent_count))


_ERASED = select(_erasures.c.member_id).where(OneOf(_erasures.c.member_id, "ids"))
"""Which of a chunk's known members were erased on request (``ledger.erasure``)."""
_LOCK_MEMBERS = select(_members.c.id).where(OneOf(_members.c.id, "ids")).order_by(_members.c.id).with_for_update()
_MEMBERS_OF_UNITS = select(_members.c.id).where(OneOf(_members.c.org_unit, "units"))


async def _absent(conn: AsyncConnection, touched: set[str], seen: dict[str, int]) -> tuple[list[str], int]:
    """The first ids (in order) and the count of the members of ``touched`` units whom
    the file does not name."""
    absent: list[str] = []
    for chunk in _chunks(sorted(touched)):
        absent.extend(i for i in (await conn.execute(_MEMBERS_OF_UNITS, {"units": chunk})).scalars() if i not in seen)
    return sorted(absent)[:ABSENT_LISTED_MAX], len(absent)


_MEMBER_INSERT = ("id", "name", "org_unit", "party_member", "roles", "active", "phone", "account_id", "created_at")
_MOVE_INSERT = ("member_id", "from_unit", "to_unit", "moved_by", "moved_at")


async def _write_members(
    conn: AsyncConnection,
    created: list[_MemberRow],
    updated: list[tuple[_MemberRow, Member]],
    now: datetime,
    by: str,
) -> None:
    if created:
        ids = [row.id for row in created]
        opened = await accounts.open_accounts(conn, AccountKind.MEMBER, ids)
        await accounts.open_accounts(conn, AccountKind.HELD, ids)  # where the member's redemption holds sit
        rows = [
            (
                r.id,
                r.name,
                r.org_unit,
                bool(r.party_member),
                [role.value for role in r.roles or ()],
                True if r.active is None else r.active,
                r.phone,
                opened[r.id],
                now,
            )
            for r in created
        ]
        await bulk.insert(conn, _members, _MEMBER_INSERT, rows)
    changes = [
        (
            r.id,
            r.name,
            r.org_unit,
            m.party_member if r.party_member is None else r.party_member,
            [role.value for role in (m.roles if r.roles is None else r.roles)],
            m.active if r.active is None else r.active,
            m.phone if r.phone is None else r.phone,
        )
        for r, m in updated
    ]
    await bulk.update(conn, _members, ("id",), changes, set_=_MEMBER_FIELDS)
    # The member's history, as ``ledger.org.members.change_member`` keeps it for one move.
    moved = [(r.id, m.org_unit, r.org_unit, by, now) for r, m in updated if r.org_unit != m.org_unit]
    await bulk.insert(conn, _moves, _MOVE_INSERT, moved)


# Templates to download.

TemplateFormat = Literal["xlsx", "csv"]
TEMPLATES: dict[Kind, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # The header and one example row: what a person fills in, in the words of the office.
    "org_units": (
        tuple(c.headers[0] for c in UNIT_COLUMNS),
        ("m-东关南里-1-1", "东关南里1-1微网格", "微网格", "g-东关南里-1"),
    ),
    "members": (
        tuple(c.headers[0] for c in MEMBER_COLUMNS),
        ("m-0001", "张三", "m-东关南里-1-1", "否", "志愿者、居民", "是", "13800000000"),
    ),
}


def template(kind: Kind, format: TemplateFormat) -> bytes:
    """A file to fill in: the header and one example row. CSV is UTF-8 with a BOM, which
    Excel opens as Chinese text."""
    header, example = TEMPLATES[kind]
    out = io.BytesIO()
    if format == "csv":
        text = io.StringIO()
        csv.writer(text).writerows([header, example])
        return b"\xef\xbb\xbf" + text.getvalue().encode("utf-8")
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(header)
    sheet.append(example)
    workbook.save(out)
    return out.getvalue()
