"""Frozen domain values: the vocabulary the rest of the ledger is written in.

Points are integers, always (a float never enters an accounting system). Every
limit here carries the reason for its size.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime


class Level(enum.StrEnum):
    """The four levels of the grid org tree, top to bottom."""

    STREET = "street"  # 街道
    COMMUNITY = "community"  # 社区 (party organization)
    GRID = "grid"  # 大网格 (party group)
    MICRO_GRID = "micro_grid"  # 微网格 (50–70 households)


LEVEL_ORDER: tuple[Level, ...] = (Level.STREET, Level.COMMUNITY, Level.GRID, Level.MICRO_GRID)


def parent_level(level: Level) -> Level | None:
    """The level a unit's parent must have; a street has no parent."""
    index = LEVEL_ORDER.index(level)
    return LEVEL_ORDER[index - 1] if index else None


class Category(enum.StrEnum):
    PATROL = "patrol"  # 巡查
    TASK = "task"  # 交办任务
    EVENT_REPORT = "event_report"  # 事件上报
    DIARY = "diary"  # 民情日记
    ACTIVITY = "activity"  # 志愿活动
    OTHER = "other"


class TxnKind(enum.StrEnum):
    AWARD = "award"
    REVERSAL = "reversal"
    DEDUCTION = "deduction"  # 扣分: points taken back for cause, lowering points earned
    HOLD = "hold"  # a redemption reserves points: member → the member's held account
    FULFIL = "fulfil"  # the goods or service was handed over: held → the unit's redemption account
    RELEASE = "release"  # a hold cancelled or expired: held → member, back into the lots it drew on
    EXPIRY = "expiry"  # points past their expiry policy's date: member → the issuing unit


REVERSIBLE_KINDS = frozenset({TxnKind.AWARD, TxnKind.DEDUCTION})
"""A redemption undoes itself by cancel or release, and an expiry is the policy's doing:
only the points an organizer moved by hand are corrected by a reversal."""


class AccountKind(enum.StrEnum):
    MEMBER = "member"
    ISSUANCE = "issuance"  # where an org unit's awarded points come from; runs negative
    REDEMPTION = "redemption"  # where points spent at a unit's shop go
    HELD = "held"  # a member's points reserved by open redemptions (one per member)


MEMBER_SIDE_KINDS = (AccountKind.MEMBER.value, AccountKind.HELD.value)
"""Accounts owned by one member: locked first, together, by every write that touches them."""


class Role(enum.StrEnum):
    VOLUNTEER = "volunteer"
    GRID_WORKER = "grid_worker"
    MICRO_GRID_WORKER = "micro_grid_worker"
    GRID_LEADER = "grid_leader"
    RESIDENT = "resident"


class Access(enum.StrEnum):
    """What a principal (a person's or a system's API token) may do; see ``ledger.access.principals``."""

    ADMIN = "admin"  # everything, everywhere
    ORGANIZER = "organizer"  # awards, activities, rewards and reversals inside one org subtree
    MEMBER = "member"  # one member's own balance, statement, tier and redemptions
    AUDITOR = "auditor"  # read-only: verify, exports, any statement (in its subtree, if it has one)


AWARD_POINTS_MAX = 10_000
"""One award is one piece of work; 10,000 points is far above any rule in use (a verified
micro-grid sweep pays 200), so a larger figure is a typing slip, not an award."""

QUANTITY_MAX = 1_000_000
"""Work reported in one award: a million characters of diary or steps of patrol is beyond
any day's work, and keeps points per unit × quantity far inside BIGINT."""

MEMO_LENGTH_MAX = 500
"""A memo says why points moved; 500 characters fits a paragraph of Chinese text."""

NAME_LENGTH_MAX = 100
"""Names of people and org units; the longest official unit names are ~30 characters."""

PHONE_LENGTH_MAX = 32
"""A phone number with its country code, extension and separators fits in 32 characters."""

CODE_LENGTH_MAX = 64
"""Unit codes and member ids are identifiers from other systems (ID numbers, UUIDs)."""

PICKUP_CODE_LENGTH = 6
"""Characters of a redemption's pickup code: read out or typed at the counter in seconds,
and with 22 letters and digits, 113 million codes, so a fresh one rarely meets one held."""

PICKUP_TEXT_LENGTH_MAX = 100
"""A reward's pickup place or hours ("新南社区党群服务中心一楼便民窗口", "周一至周五 9:00–17:00"):
a line on a phone, with room for a landmark."""

URL_LENGTH_MAX = 2_000
"""Evidence URLs; 2,000 characters is the longest URL every browser accepts."""

IDEMPOTENCY_KEY_LENGTH_MAX = 128
"""Long enough for a UUID or a client's composite key, short enough to index cheaply."""

AUDIT_PATH_LENGTH_MAX = 512
"""A request path as the audit log keeps it: every route of the API is far shorter; a
longer path (only a hostile client sends one) is cut, not refused, so it is still logged."""

AUDIT_DETAIL_LENGTH_MAX = 512
"""The filter of an audited read as the log keeps it ("org_unit=tawan q=王"): a filter is
a few query parameters, each bounded far below this; a longer one is cut, not refused."""

ID_MAX = 2**63 - 1
"""Transactions, activities, claims and redemptions are numbered in BIGINT columns: a
larger number names nothing, and no database query can take it as a parameter."""

ROLES_MAX = 8
"""A member holds a handful of roles; more is a data error."""

EARLIEST_OCCURRED_AT = datetime(2000, 1, 1, tzinfo=UTC)
"""Work recorded in this ledger happened this century; an older date is a typing slip."""


@dataclass(frozen=True, slots=True)
class Posting:
    account_id: int
    amount_points: int


@dataclass(frozen=True, slots=True)
class TxnDraft:
    """A transaction about to be posted: everything but its place in the chain."""

    kind: TxnKind
    category: Category
    member_id: str | None
    org_unit: str
    occurred_at: datetime
    recorded_by: str
    memo: str
    postings: tuple[Posting, ...]
    evidence_url: str | None = None
    reverses_id: int | None = None
    period: str = ""
    # How this transaction changes points earned (tiers read it) on the member's account.
    member_account_id: int | None = None
    earned_points: int = 0
    extra: dict[str, object] = field(default_factory=dict)
    # Lots (journal.lots): a debit of the member draws on these lots before the soonest-
    # expiring; a credit that gives back drawn points refills these (lot id, points)
    # instead of opening a new lot.
    draw_first: tuple[int, ...] = ()
    refill: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Balance:
    member_id: str
    available_points: int
    held_points: int
    lifetime_earned_points: int
    period: str
    period_earned_points: int
    expiring_points: int  # of the available points, those that expire within EXPIRY_NOTICE
    expiring_before: datetime
    next_expiry_at: datetime | None
