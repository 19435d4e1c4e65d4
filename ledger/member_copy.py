"""A resident's copy of everything the ledger keeps about them (个人信息副本).

Under the Personal Information Protection Law a resident may ask what is kept about
them. The answer is every row that names the member: the profile and balance, every
transaction on their account with all its postings (where each point came from and
went), redemptions, claims, activity rosters, points earned and the tier per period,
nomination flags and their history, the notices (公示) they appeared in, moves between
micro-grids, their sign-in tokens (never a token's hash), and the audit rows about them
(who read, exported or changed their data).

The copy is a list of flat sections, each a table of typed columns with a Chinese
header, so the same value serves the JSON answer (validated against
``schemas/member-copy.schema.json``, made from these columns) and a workbook of one
sheet per section. It is read from one snapshot, so its sections agree with each other.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Literal

from openpyxl import Workbook
from sqlalchemy import ColumnElement, Table, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.honours import reports
from ledger.journal import personal
from ledger.org.members import get_member
from ledger.storage.tables import (
    Account,
    AccountPeriod,
    Activity,
    ActivityParticipant,
    AuditEntry,
    Claim,
    JournalTxn,
    MemberMove,
    NominationCurrent,
    NominationEvent,
    Notice,
    PostingRow,
    PrincipalRow,
    Redemption,
    table_of,
)

Cell = str | int | bool | datetime | None
Kind = Literal["string", "integer", "boolean", "date-time"]

ROWS_PER_SECTION_MAX = 1_000_000
"""A guard, not a page size: a resident's whole history is asked for at once (a copy in
pages is no copy). A member posts a few thousand transactions in a working life; a
section a thousand times longer is a runaway query, refused rather than held in memory."""


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    header_zh: str
    kind: Kind = "string"
    nullable: bool = True


@dataclass(frozen=True, slots=True)
class Section:
    key: str
    title_zh: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]


@dataclass(frozen=True, slots=True)
class MemberCopy:
    member_id: str
    made_at: datetime
    sections: tuple[Section, ...]

    @property
    def rows(self) -> int:
        """Rows in every section: what the audit row of the copy's reading counts."""
        return sum(len(section.rows) for section in self.sections)


def _c(key: str, header: str, kind: Kind = "string", nullable: bool = True) -> Column:
    return Column(key, header, kind, nullable)


_ID: Kind = "integer"
_AT: Kind = "date-time"

PROFILE = (
    _c("id", "成员编号", nullable=False),
    _c("name", "姓名", nullable=False),
    _c("phone", "电话"),
    _c("org_unit", "所属微网格", nullable=False),
    _c("party_member", "党员", "boolean", False),
    _c("roles", "身份", nullable=False),
    _c("active", "在册", "boolean", False),
    _c("created_at", "登记时间", _AT, False),
)
BALANCE = (
    _c("available", "可用积分", _ID, False),
    _c("held", "冻结积分", _ID, False),
    _c("lifetime_earned", "累计获得积分", _ID, False),
)
TRANSACTIONS = (
    _c("id", "流水号", _ID, False),
    _c("kind", "类型", nullable=False),
    _c("category", "类别", nullable=False),
    _c("org_unit", "单位", nullable=False),
    _c("occurred_at", "发生时间", _AT, False),
    _c("recorded_at", "记录时间", _AT, False),
    _c("recorded_by", "记录人", nullable=False),
    _c("memo", "说明"),
    _c("evidence_url", "凭证链接"),
    _c("reverses_id", "冲正的流水号", _ID),
    _c("period", "考核期", nullable=False),
    _c("earned_points", "计入考核的积分", _ID, False),
)
POSTINGS = (
    _c("txn_id", "流水号", _ID, False),
    _c("account_kind", "账户类型", nullable=False),
    _c("account_owner", "账户", nullable=False),
    _c("amount", "积分变动", _ID, False),
    _c("balance_after", "变动后余额", _ID, False),
)
REDEMPTIONS = (
    _c("id", "兑换号", _ID, False),
    _c("reward_code", "奖品", nullable=False),
    _c("org_unit", "积分超市", nullable=False),
    _c("cost_points", "所需积分", _ID, False),
    _c("state", "状态", nullable=False),
    _c("held_at", "兑换时间", _AT, False),
    _c("expires_at", "领取截止", _AT, False),
    _c("held_by", "办理人", nullable=False),
    _c("pickup_code", "取货码"),
    _c("settled_at", "办结时间", _AT),
    _c("settled_by", "办结人"),
)
CLAIMS = (
    _c("id", "上报号", _ID, False),
    _c("rule_code", "规则", nullable=False),
    _c("quantity", "数量", _ID, False),
    _c("occurred_at", "发生时间", _AT, False),
    _c("memo", "说明"),
    _c("evidence_url", "凭证链接"),
    _c("status", "状态", nullable=False),
    _c("created_by", "提交人", nullable=False),
    _c("created_at", "提交时间", _AT, False),
    _c("reviewed_by", "审核人"),
    _c("reviewed_at", "审核时间", _AT),
    _c("decision_reason", "审核意见"),
    _c("transaction_id", "流水号", _ID),
)
ACTIVITIES = (
    _c("activity_id", "活动号", _ID, False),
    _c("name", "活动", nullable=False),
    _c("org_unit", "单位", nullable=False),
    _c("quantity", "数量", _ID, False),
)
TIERS = (
    _c("period", "考核期", nullable=False),
    _c("earned_points", "获得积分", _ID, False),
    _c("tier", "等级"),
)
FLAGS = (
    _c("period", "考核期", nullable=False),
    _c("flag", "推荐", nullable=False),
    _c("state", "状态", nullable=False),
    _c("flagged_at", "列入时间", _AT, False),
    _c("transaction_id", "流水号", _ID, False),
    _c("notice_id", "公示号", _ID),
    _c("objections", "异议数", _ID, False),
)
FLAG_EVENTS = (
    _c("id", "记录号", _ID, False),
    _c("period", "考核期", nullable=False),
    _c("flag", "推荐", nullable=False),
    _c("action", "事项", nullable=False),
    _c("points", "积分", _ID),
    _c("transaction_id", "流水号", _ID),
    _c("notice_id", "公示号", _ID),
    _c("reason", "理由"),
    _c("actor", "办理人", nullable=False),
    _c("at", "时间", _AT, False),
)
NOTICES = (
    _c("id", "公示号", _ID, False),
    _c("period", "考核期", nullable=False),
    _c("org_unit", "单位", nullable=False),
    _c("flag", "推荐"),
    _c("ends_on", "公示截止", nullable=False),
    _c("opened_by", "发布人", nullable=False),
    _c("opened_at", "发布时间", _AT, False),
)
MOVES = (
    _c("id", "记录号", _ID, False),
    _c("from_unit", "原微网格", nullable=False),
    _c("to_unit", "新微网格", nullable=False),
    _c("moved_by", "办理人", nullable=False),
    _c("moved_at", "时间", _AT, False),
)
TOKENS = (
    _c("id", "凭证号", nullable=False),
    _c("label", "名称", nullable=False),
    _c("created_at", "发放时间", _AT, False),
    _c("created_by", "发放人", nullable=False),
    _c("expires_at", "到期时间", _AT),
    _c("revoked_at", "注销时间", _AT),
)
AUDIT = (
    _c("id", "记录号", _ID, False),
    _c("at", "时间", _AT, False),
    _c("principal", "操作人", nullable=False),
    _c("role", "身份", nullable=False),
    _c("kind", "查阅或操作", nullable=False),
    _c("method", "方式", nullable=False),
    _c("path", "内容", nullable=False),
    _c("detail", "条件"),
    _c("rows", "条数", _ID),
    _c("status", "结果", _ID, False),
)

SECTIONS: tuple[tuple[str, str, tuple[Column, ...]], ...] = (
    ("profile", "基本信息", PROFILE),
    ("balance", "积分余额", BALANCE),
    ("transactions", "积分流水", TRANSACTIONS),
    ("postings", "分录", POSTINGS),
    ("redemptions", "兑换记录", REDEMPTIONS),
    ("claims", "自报记录", CLAIMS),
    ("activities", "参加的活动", ACTIVITIES),
    ("tiers", "考核等级", TIERS),
    ("flags", "推荐标记", FLAGS),
    ("flag_events", "推荐记录", FLAG_EVENTS),
    ("notices", "公示", NOTICES),
    ("moves", "调动记录", MOVES),
    ("tokens", "登录凭证", TOKENS),
    ("audit", "查阅与操作记录", AUDIT),
)
"""Every section, in the order of the copy: the schema and the workbook follow it."""

_account = table_of(Account)
_account_period = table_of(AccountPeriod)
_activity = table_of(Activity)
_participant = table_of(ActivityParticipant)
_audit = table_of(AuditEntry)
_claim = table_of(Claim)
_txn = table_of(JournalTxn)
_move = table_of(MemberMove)
_flag = table_of(NominationCurrent)
_event = table_of(NominationEvent)
_notice = table_of(Notice)
_posting = table_of(PostingRow)
_principal = table_of(PrincipalRow)
_redemption = table_of(Redemption)


async def _rows(conn: AsyncConnection, query: Any) -> tuple[tuple[Cell, ...], ...]:
    found = tuple(tuple(row) for row in await conn.execute(query.limit(ROWS_PER_SECTION_MAX + 1)))
    assert len(found) <= ROWS_PER_SECTION_MAX, "a member's section beyond any working life"
    return found


def _of(table: Table, columns: Sequence[Column], where: ColumnElement[bool], *order: Any) -> Any:
    return select(*(_read(table, c.key) for c in columns)).where(where).order_by(*order)


def _read(table: Table, column: str) -> ColumnElement[Any]:
    """A column as the copy shows it: a transaction's memo and evidence URL are kept apart
    from the chain, which holds their digests (``ledger.journal.personal``)."""
    if table is _txn and column in personal.KINDS:
        return personal.shown(table.c[column], column)
    return table.c[column]


async def member_copy(conn: AsyncConnection, member_id: str, now: datetime) -> MemberCopy:
    member = await get_member(conn, member_id, field="member_id")
    account = member.account_id
    own_txns = or_(
        _txn.c.member_id == member_id,
        _txn.c.id.in_(select(_posting.c.txn_id).where(_posting.c.account_id == account)),
    )
    txn_ids = select(_txn.c.id).where(own_txns)
    notice_ids = select(_event.c.notice_id).where(_event.c.member_id == member_id, _event.c.notice_id.is_not(None))
    profile = (
        (
            member.id,
            member.name,
            member.phone,
            member.org_unit,
            member.party_member,
            "、".join(member.roles),
            member.active,
            member.created_at,
        ),
    )
    postings = (
        select(_posting.c.txn_id, _account.c.kind, _account.c.owner, _posting.c.amount, _posting.c.balance_after)
        .join(_account, _account.c.id == _posting.c.account_id)
        .where(_posting.c.txn_id.in_(txn_ids))
        .order_by(_posting.c.txn_id, _posting.c.account_id)
    )
    activities = (
        select(_participant.c.activity_id, _activity.c.name, _activity.c.org_unit, _participant.c.quantity)
        .join(_activity, _activity.c.id == _participant.c.activity_id)
        .where(_participant.c.member_id == member_id)
        .order_by(_participant.c.activity_id)
    )
    # Reads of the member's data name them; writes about them are on their paths.
    about = or_(_audit.c.subject == member_id, _audit.c.path.startswith(f"/v1/members/{member_id}", autoescape=True))
    rows = {
        "profile": profile,
        "balance": await _rows(conn, _of(_account, BALANCE, _account.c.id == account)),
        "transactions": await _rows(conn, _of(_txn, TRANSACTIONS, own_txns, _txn.c.id)),
        "postings": await _rows(conn, postings),
        "redemptions": await _rows(
            conn, _of(_redemption, REDEMPTIONS, _redemption.c.member_id == member_id, _redemption.c.id)
        ),
        "claims": await _rows(conn, _of(_claim, CLAIMS, _claim.c.member_id == member_id, _claim.c.id)),
        "activities": await _rows(conn, activities),
        "tiers": await _tiers(conn, member_id, account),
        "flags": await _rows(conn, _of(_flag, FLAGS, _flag.c.member_id == member_id, _flag.c.period, _flag.c.flag)),
        "flag_events": await _rows(conn, _of(_event, FLAG_EVENTS, _event.c.member_id == member_id, _event.c.id)),
        "notices": await _rows(conn, _of(_notice, NOTICES, _notice.c.id.in_(notice_ids), _notice.c.id)),
        "moves": await _rows(conn, _of(_move, MOVES, _move.c.member_id == member_id, _move.c.id)),
        "tokens": await _rows(
            conn, _of(_principal, TOKENS, _principal.c.member_id == member_id, _principal.c.created_at)
        ),
        "audit": await _rows(conn, _of(_audit, AUDIT, about, _audit.c.id)),
    }
    sections = tuple(Section(key, title, columns, rows[key]) for key, title, columns in SECTIONS)
    return MemberCopy(member_id, now, sections)


async def _tiers(conn: AsyncConnection, member_id: str, account: int) -> tuple[tuple[Cell, ...], ...]:
    """Points earned and the tier reached in every period the member earned in."""
    periods = await conn.execute(
        select(_account_period.c.period).where(_account_period.c.account_id == account).order_by("period")
    )
    found = []
    for (period,) in periods.all():
        tier = await reports.member_tier(conn, member_id, period)
        found.append((period, tier.earned_points, tier.tier))
    return tuple(found)


def json_value(copy: MemberCopy) -> dict[str, Any]:
    """The copy as JSON takes it (``schemas/member-copy.schema.json``): the profile and
    balance as objects, every other section a list of objects, times in ISO 8601."""

    def cell(value: Cell) -> Cell:
        return value.isoformat() if isinstance(value, datetime) else value

    out: dict[str, Any] = {"member_id": copy.member_id, "made_at": copy.made_at.isoformat()}
    for section in copy.sections:
        objects = [{c.key: cell(v) for c, v in zip(section.columns, row, strict=True)} for row in section.rows]
        out[section.key] = objects[0] if section.key in SINGLE else objects
    return out


SINGLE = frozenset({"profile", "balance"})
"""The sections of exactly one row: an object in JSON, not a list."""


def json_schema() -> dict[str, Any]:
    """The JSON Schema of ``json_value``, made from the columns: ``schemas/`` keeps it
    (a test holds the file to this function, and the export to the file)."""

    def column(c: Column) -> dict[str, Any]:
        base: dict[str, Any] = {"type": "string", "format": "date-time"} if c.kind == "date-time" else {"type": c.kind}
        typ = [base["type"], "null"] if c.nullable else base["type"]
        return {**base, "type": typ, "title": c.header_zh}

    def row(columns: tuple[Column, ...], title: str) -> dict[str, Any]:
        return {
            "type": "object",
            "title": title,
            "additionalProperties": False,
            "required": [c.key for c in columns],
            "properties": {c.key: column(c) for c in columns},
        }

    properties: dict[str, Any] = {
        "member_id": {"type": "string"},
        "made_at": {"type": "string", "format": "date-time"},
    }
    for key, title, columns in SECTIONS:
        properties[key] = (
            row(columns, title) if key in SINGLE else {"type": "array", "title": title, "items": row(columns, title)}
        )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:grid-points-ledger:schema:member-copy",
        "title": "A resident's copy of their data (个人信息副本)",
        "description": "Everything the ledger keeps about one member, as GET /v1/members/{id}/export answers it.",
        "type": "object",
        "additionalProperties": False,
        "required": list(properties),
        "properties": properties,
    }


def xlsx_bytes(copy: MemberCopy, tz: tzinfo) -> bytes:
    """The copy as a workbook: a sheet per section, Chinese headers, local times, 是/否."""
    workbook = Workbook(write_only=True)
    for section in copy.sections:
        sheet = workbook.create_sheet(section.title_zh)
        sheet.append([c.header_zh for c in section.columns])
        for row in section.rows:
            sheet.append([_xlsx_cell(value, tz) for value in row])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _xlsx_cell(value: Cell, tz: tzinfo) -> str | int | datetime | None:
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, datetime):
        # Excel keeps no time zone: the street office reads its own local time.
        return value.astimezone(tz).replace(tzinfo=None)
    return value


def filename(copy: MemberCopy, tz: tzinfo, extension: str) -> str:
    return f"个人信息副本-{copy.member_id}-{copy.made_at.astimezone(tz).date().isoformat()}.{extension}"
