"""The storage tables, declared once with SQLModel.

The journal (``journal_txn`` and ``posting``) is append-only: the migration installs
triggers that refuse UPDATE and DELETE on both PostgreSQL and SQLite. Everything a
read needs in O(1) is materialized beside it (``account``, ``account_period``) and
changed in the same database transaction as the postings that justify it.

Points are BIGINT everywhere. Timestamps are stored in UTC (``UtcDateTime``) because
SQLite keeps no time zone and the hash chain must read back exactly what it hashed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from ledger.values import (
    AUDIT_DETAIL_LENGTH_MAX,
    AUDIT_PATH_LENGTH_MAX,
    CODE_LENGTH_MAX,
    IDEMPOTENCY_KEY_LENGTH_MAX,
    MEMO_LENGTH_MAX,
    NAME_LENGTH_MAX,
    PHONE_LENGTH_MAX,
    PICKUP_CODE_LENGTH,
    PICKUP_TEXT_LENGTH_MAX,
    URL_LENGTH_MAX,
)


def table_of(model: type[SQLModel]) -> Table:
    """The Core table behind a SQLModel table class.

    SQLModel sets ``__table__`` at class creation but does not declare it, so a type checker
    cannot see it; the hot paths use Core statements on these tables.
    """
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored as naive UTC, returned as aware UTC."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        assert value.tzinfo is not None, "naive datetimes never reach storage"
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


AUTO_ID = BigInteger().with_variant(Integer, "sqlite")
"""BIGINT ids; on SQLite only INTEGER PRIMARY KEY is the auto-assigned rowid."""


def _points(**kwargs: Any) -> Any:
    return Field(default=0, sa_type=BigInteger, nullable=False, **kwargs)


def _when(**kwargs: Any) -> Any:
    return Field(sa_type=UtcDateTime, nullable=False, **kwargs)


class OrgUnit(SQLModel, table=True):
    __tablename__ = "org_unit"

    code: str = Field(primary_key=True, max_length=CODE_LENGTH_MAX)
    name: str = Field(max_length=NAME_LENGTH_MAX)
    level: str = Field(max_length=16)
    parent_code: str | None = Field(default=None, foreign_key="org_unit.code", index=True)
    # "/street/community/grid/micro/": a subtree is one indexed prefix match.
    path: str = Field(sa_column=Column(String(5 * (CODE_LENGTH_MAX + 1)), nullable=False, index=True))
    issuance_account_id: int = Field(sa_type=BigInteger)
    redemption_account_id: int = Field(sa_type=BigInteger)
    created_at: datetime = _when()


class Member(SQLModel, table=True):
    __tablename__ = "member"

    id: str = Field(primary_key=True, max_length=CODE_LENGTH_MAX)
    name: str = Field(max_length=NAME_LENGTH_MAX)
    org_unit: str = Field(foreign_key="org_unit.code", index=True)
    # Personal information outside the chain: erasure overwrites it (``ledger.erasure``).
    phone: str | None = Field(default=None, max_length=PHONE_LENGTH_MAX)
    party_member: bool = False
    roles: list[str] = Field(default_factory=list, sa_type=JSON)
    active: bool = True
    # Unique, one account per member, and indexed: every award's tier evaluation and every
    # leaderboard joins points earned (by account) to the member who owns the account.
    account_id: int = Field(sa_type=BigInteger, unique=True, index=True)
    created_at: datetime = _when()


class Account(SQLModel, table=True):
    """One row per account with its materialized balances."""

    __tablename__ = "account"
    __table_args__ = (
        UniqueConstraint("kind", "owner"),
        # Only an issuance account is a source of points and may run negative.
        CheckConstraint("kind = 'issuance' OR available >= 0", name="available_not_negative"),
        CheckConstraint("held >= 0", name="held_not_negative"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=AUTO_ID)
    kind: str = Field(max_length=16)
    owner: str = Field(max_length=CODE_LENGTH_MAX)
    available: int = _points()
    held: int = _points()
    lifetime_earned: int = _points()


class AccountPeriod(SQLModel, table=True):
    """Points earned by an account in one evaluation period (tiers read this)."""

    __tablename__ = "account_period"
    # Leaderboards: the members of a period in order of points earned.
    __table_args__ = (Index("ix_account_period_period_earned", "period", "earned"),)

    account_id: int = Field(sa_type=BigInteger, foreign_key="account.id", primary_key=True)
    period: str = Field(primary_key=True, max_length=16)
    earned: int = _points()


class JournalTxn(SQLModel, table=True):
    """One journal transaction. ``id`` is its position in the hash chain (gap-free)."""

    __tablename__ = "journal_txn"
    __table_args__ = (
        Index("ix_journal_txn_member", "member_id", "id"),
        Index("ix_journal_txn_unit_occurred", "org_unit", "occurred_at"),
    )

    id: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    kind: str = Field(max_length=16)
    category: str = Field(max_length=16)
    member_id: str | None = Field(default=None, max_length=CODE_LENGTH_MAX)
    org_unit: str = Field(max_length=CODE_LENGTH_MAX)
    occurred_at: datetime = _when()
    recorded_at: datetime = _when()
    recorded_by: str = Field(max_length=CODE_LENGTH_MAX)
    memo: str = Field(max_length=MEMO_LENGTH_MAX)
    evidence_url: str | None = Field(default=None, max_length=URL_LENGTH_MAX)
    # UNIQUE: the database itself makes "reversed at most once" true under any race.
    reverses_id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger, ForeignKey("journal_txn.id"), unique=True, nullable=True),
    )
    period: str = Field(max_length=16)
    earned_points: int = _points()
    extra: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class PostingRow(SQLModel, table=True):
    __tablename__ = "posting"
    __table_args__ = (Index("ix_posting_account_txn", "account_id", "txn_id"),)

    txn_id: int = Field(sa_column=Column(BigInteger, ForeignKey("journal_txn.id"), primary_key=True))
    account_id: int = Field(sa_column=Column(BigInteger, ForeignKey("account.id"), primary_key=True))
    amount: int = Field(sa_type=BigInteger, nullable=False)
    # The account's available balance right after this posting: statements read it.
    balance_after: int = Field(sa_type=BigInteger, nullable=False)


class ChainHead(SQLModel, table=True):
    """The single row every journal write locks last: the chain's tip."""

    __tablename__ = "chain_head"

    id: int = Field(default=1, primary_key=True)
    last_txn_id: int = Field(default=0, sa_type=BigInteger)
    last_hash: str = Field(max_length=64)


class Checkpoint(SQLModel, table=True):
    """The chain head at a moment, sealed with an HMAC under a key the database does not
    hold (``ledger.journal.checkpoints``). Append-only: a seal is evidence, not state."""

    __tablename__ = "checkpoint"

    id: int | None = Field(default=None, primary_key=True, sa_type=AUTO_ID)
    transaction_id: int = Field(sa_type=BigInteger, index=True)
    hash: str = Field(max_length=64)
    sealed_at: datetime = _when()
    sealed_by: str = Field(max_length=CODE_LENGTH_MAX)
    mac: str = Field(max_length=64)


class IdempotencyRecord(SQLModel, table=True):
    """A claimed Idempotency-Key. The key alone is unique: it belongs to the ledger, and
    ``principal`` is who used it first (``ledger.journal.idempotency``)."""

    __tablename__ = "idempotency"

    principal: str = Field(max_length=CODE_LENGTH_MAX)
    key: str = Field(primary_key=True, max_length=IDEMPOTENCY_KEY_LENGTH_MAX)
    fingerprint: str = Field(max_length=64)
    result: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    created_at: datetime = _when()


class PersonalValue(SQLModel, table=True):
    """A memo or evidence URL of a transaction, kept apart from the chain so it can be
    erased (``ledger.journal.personal``). The transaction row holds ``digest`` where the
    text was; erasure clears ``value`` and ``salt`` and keeps the digest the chain covers."""

    __tablename__ = "personal_value"
    __table_args__ = (Index("ix_personal_value_member", "member_id"),)

    digest: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=16)
    member_id: str | None = Field(default=None, max_length=CODE_LENGTH_MAX)
    value: str | None = Field(default=None, max_length=URL_LENGTH_MAX)
    salt: str | None = Field(default=None, max_length=64)
    # True for values written before the chain hashed digests: their transaction's hash
    # covers the text itself (see ``ledger.journal.personal``).
    chained_verbatim: bool = False
    erased_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class Erasure(SQLModel, table=True):
    """A member's personal information erased on request: who asked it done, why, when."""

    __tablename__ = "erasure"

    id: int | None = Field(default=None, primary_key=True, sa_type=AUTO_ID)
    member_id: str = Field(foreign_key="member.id", index=True)
    reason: str = Field(max_length=MEMO_LENGTH_MAX)
    erased_by: str = Field(max_length=CODE_LENGTH_MAX)
    erased_at: datetime = _when()
    values_erased: int = Field(sa_type=BigInteger)


class RuleVersion(SQLModel, table=True):
    """Every version of every earning rule, append-only: a transaction names the version
    it was computed from, so a rule is never edited in place."""

    __tablename__ = "rule_version"

    code: str = Field(primary_key=True, max_length=CODE_LENGTH_MAX)
    version: int = Field(primary_key=True)
    definition: dict[str, Any] = Field(sa_type=JSON)
    loaded_at: datetime = _when()
    loaded_by: str = Field(max_length=CODE_LENGTH_MAX)


class RuleUsage(SQLModel, table=True):
    """Points a member earned under one rule in one cap window ("d:2026-11-25",
    "w:2026-W48", "y:2026"); caps read it under the member's account lock."""

    __tablename__ = "rule_usage"

    account_id: int = Field(sa_type=BigInteger, foreign_key="account.id", primary_key=True)
    rule_code: str = Field(primary_key=True, max_length=CODE_LENGTH_MAX)
    window: str = Field(primary_key=True, max_length=16)
    points: int = _points()


class UnitPeriodCategory(SQLModel, table=True):
    """Points earned per issuing org unit, period and category: roll-ups sum these rows
    over a subtree instead of scanning the journal."""

    __tablename__ = "unit_period_category"

    org_unit: str = Field(primary_key=True, max_length=CODE_LENGTH_MAX)
    period: str = Field(primary_key=True, max_length=16)
    category: str = Field(primary_key=True, max_length=16)
    points: int = _points()


class MemberUnitPeriod(SQLModel, table=True):
    """Points a member earned per issuing org unit and period: a roll-up's top list sums
    these rows over a subtree's units, as its total sums ``unit_period_category``, so a
    member who moved ranks in each unit for what was earned there (ledger.earning.summary)."""

    __tablename__ = "member_unit_period"
    # A top list reads the rows of a subtree's units in one period.
    __table_args__ = (Index("ix_member_unit_period_unit_period", "org_unit", "period"),)

    account_id: int = Field(sa_type=BigInteger, foreign_key="account.id", primary_key=True)
    org_unit: str = Field(primary_key=True, max_length=CODE_LENGTH_MAX)
    period: str = Field(primary_key=True, max_length=16)
    points: int = _points()


class Activity(SQLModel, table=True):
    __tablename__ = "activity"

    id: int | None = Field(default=None, primary_key=True, sa_type=AUTO_ID)
    name: str = Field(max_length=NAME_LENGTH_MAX)
    org_unit: str = Field(foreign_key="org_unit.code", index=True)
    rule_code: str = Field(max_length=CODE_LENGTH_MAX)
    starts_at: datetime = _when()
    ends_at: datetime = _when()
    organizer: str = Field(max_length=CODE_LENGTH_MAX)
    created_by: str = Field(max_length=CODE_LENGTH_MAX)
    created_at: datetime = _when()
    settled_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    settled_by: str | None = Field(default=None, max_length=CODE_LENGTH_MAX)
    settlement: dict[str, Any] | None = Field(default=None, sa_type=JSON)


class ActivityParticipant(SQLModel, table=True):
    __tablename__ = "activity_participant"

    activity_id: int = Field(sa_type=BigInteger, foreign_key="activity.id", primary_key=True)
    member_id: str = Field(primary_key=True, max_length=CODE_LENGTH_MAX)
    quantity: int = Field(sa_type=BigInteger)


class Claim(SQLModel, table=True):
    """Work a member reports themselves; pending until reviewed, never deleted."""

    __tablename__ = "claim"
    __table_args__ = (
        Index("ix_claim_status_id", "status", "id"),
        Index("ix_claim_dedupe", "member_id", "rule_code", "day"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=AUTO_ID)
    member_id: str = Field(foreign_key="member.id")
    rule_code: str = Field(max_length=CODE_LENGTH_MAX)
    quantity: int = Field(sa_type=BigInteger)
    steps: int | None = None
    reference: str | None = Field(default=None, max_length=CODE_LENGTH_MAX)
    handled_within_limit: bool = False
    occurred_at: datetime = _when()
    day: str = Field(max_length=10)
    memo: str = Field(max_length=MEMO_LENGTH_MAX)
    evidence_url: str | None = Field(default=None, max_length=URL_LENGTH_MAX)
    possible_duplicate_of: int | None = Field(default=None, sa_type=BigInteger)
    status: str = Field(max_length=16)
    created_by: str = Field(max_length=CODE_LENGTH_MAX)
    created_at: datetime = _when()
    reviewed_by: str | None = Field(default=None, max_length=CODE_LENGTH_MAX)
    reviewed_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    decision_reason: str | None = Field(default=None, max_length=MEMO_LENGTH_MAX)
    transaction_id: int | None = Field(default=None, sa_type=BigInteger)


class MemberPeriodCategory(SQLModel, table=True):
    """Points a member earned in a period per category (nomination exports read it)."""

    __tablename__ = "member_period_category"

    account_id: int = Field(sa_type=BigInteger, foreign_key="account.id", primary_key=True)
    period: str = Field(primary_key=True, max_length=16)
    category: str = Field(primary_key=True, max_length=16)
    points: int = _points()


class MemberPeriodEvidence(SQLModel, table=True):
    """How many transactions stand behind a member's points in a period: awards that were
    not reversed. A reviewer checks them before an honour."""

    __tablename__ = "member_period_evidence"

    account_id: int = Field(sa_type=BigInteger, foreign_key="account.id", primary_key=True)
    period: str = Field(primary_key=True, max_length=16)
    transactions: int = _points()


class UnitVersion(SQLModel):
    """A version of data a unit overrides for its subtree (ledger.unit_versions): append-only,
    ``org_unit`` "" for the default."""

    org_unit: str = Field(primary_key=True, max_length=CODE_LENGTH_MAX)
    version: int = Field(primary_key=True)
    definition: dict[str, Any] = Field(sa_type=JSON)
    loaded_at: datetime = _when()
    loaded_by: str = Field(max_length=CODE_LENGTH_MAX)


class TierScheme(UnitVersion, table=True):
    """Every version of every tier scheme."""

    __tablename__ = "tier_scheme"


class NominationEvent(SQLModel, table=True):
    """Append-only history of every nomination flag: raised, revoked, put on notice,
    objected to, confirmed, withdrawn — with who, when, why and the transaction behind it."""

    __tablename__ = "nomination_event"
    __table_args__ = (Index("ix_nomination_event_member", "member_id", "period", "flag"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=AUTO_ID)
    member_id: str = Field(max_length=CODE_LENGTH_MAX)
    period: str = Field(max_length=16)
    flag: str = Field(max_length=16)
    action: str = Field(max_length=16)
    points: int | None = Field(default=None, sa_type=BigInteger)
    transaction_id: int | None = Field(default=None, sa_type=BigInteger)
    notice_id: int | None = Field(default=None, sa_type=BigInteger)
    reason: str | None = Field(default=None, max_length=MEMO_LENGTH_MAX)
    actor: str = Field(max_length=CODE_LENGTH_MAX)
    at: datetime = _when()


class NominationCurrent(SQLModel, table=True):
    """The present state of each flag, derived from its events, for listing and export.
    The key makes a second raise for the same member, period and flag impossible."""

    __tablename__ = "nomination_current"
    __table_args__ = (Index("ix_nomination_current_period", "period", "flag", "state"),)

    member_id: str = Field(primary_key=True, max_length=CODE_LENGTH_MAX)
    period: str = Field(primary_key=True, max_length=16)
    flag: str = Field(primary_key=True, max_length=16)
    state: str = Field(max_length=16)
    flagged_at: datetime = _when()
    transaction_id: int = Field(sa_type=BigInteger)
    notice_id: int | None = Field(default=None, sa_type=BigInteger)
    objections: int = 0
    updated_at: datetime = _when()


class Notice(SQLModel, table=True):
    """A public notice (公示) of the flags of a subtree for a period."""

    __tablename__ = "notice"

    id: int | None = Field(default=None, primary_key=True, sa_type=AUTO_ID)
    period: str = Field(max_length=16)
    org_unit: str = Field(foreign_key="org_unit.code")
    flag: str | None = Field(default=None, max_length=16)
    working_days: int
    ends_on: str = Field(max_length=10)
    opened_by: str = Field(max_length=CODE_LENGTH_MAX)
    opened_at: datetime = _when()
    # The checkpoint sealed as the notice opened: the chain head its names rest on.
    checkpoint_id: int | None = Field(default=None, sa_type=BigInteger)


class ExpiryPolicy(UnitVersion, table=True):
    """Every version of every expiry policy."""

    __tablename__ = "expiry_policy"


class Lot(SQLModel, table=True):
    """Points that reached a member together and expire together. The ``remaining`` of a
    member's lots always sums to the member's available balance: spending draws on the
    lot that expires soonest, so an expiry only ever takes points still unspent."""

    __tablename__ = "lot"
    __table_args__ = (
        CheckConstraint("remaining >= 0 AND remaining <= points", name="lot_remaining_in_range"),
        # Spending order: a member's lots by expiry.
        Index("ix_lot_account_expires", "account_id", "expires_at"),
        # The sweep: lots past their date that still hold points.
        Index(
            "ix_lot_expiring",
            "expires_at",
            postgresql_where=text("remaining > 0"),
            sqlite_where=text("remaining > 0"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=AUTO_ID)
    account_id: int = Field(sa_type=BigInteger, foreign_key="account.id")
    txn_id: int = Field(sa_type=BigInteger, foreign_key="journal_txn.id", index=True)
    org_unit: str = Field(max_length=CODE_LENGTH_MAX)  # the issuing unit: expired points go back to it
    points: int = Field(sa_type=BigInteger)
    remaining: int = Field(sa_type=BigInteger)
    expires_at: datetime | None = Field(default=None, sa_type=UtcDateTime)  # None: never


class Reward(SQLModel, table=True):
    """A good (物品) or service (服务项目) at a unit's points shop (积分超市)."""

    __tablename__ = "reward"
    __table_args__ = (
        # Stock is never oversold: the database refuses it even if the code did not.
        CheckConstraint("stock IS NULL OR reserved + sold <= stock", name="stock_not_oversold"),
        CheckConstraint("reserved >= 0 AND sold >= 0", name="stock_counts_not_negative"),
    )

    code: str = Field(primary_key=True, max_length=CODE_LENGTH_MAX)
    org_unit: str = Field(foreign_key="org_unit.code", index=True)
    name_zh: str = Field(max_length=NAME_LENGTH_MAX)
    name_en: str | None = Field(default=None, max_length=NAME_LENGTH_MAX)
    kind: str = Field(max_length=16)
    cost_points: int = Field(sa_type=BigInteger)
    stock: int | None = Field(default=None, sa_type=BigInteger)  # None: unlimited
    reserved: int = _points()
    sold: int = _points()
    limit_count: int | None = None
    limit_period: str | None = Field(default=None, max_length=16)
    active_from: datetime | None = Field(default=None, sa_type=UtcDateTime)
    active_until: datetime | None = Field(default=None, sa_type=UtcDateTime)
    min_tier: str | None = Field(default=None, max_length=NAME_LENGTH_MAX)
    # Where and when the shop hands the reward over, as the resident reads it.
    pickup_place: str | None = Field(default=None, max_length=PICKUP_TEXT_LENGTH_MAX)
    pickup_hours: str | None = Field(default=None, max_length=PICKUP_TEXT_LENGTH_MAX)
    created_by: str = Field(max_length=CODE_LENGTH_MAX)
    created_at: datetime = _when()
    updated_at: datetime = _when()


class Redemption(SQLModel, table=True):
    """One redemption: held, then fulfilled, cancelled or expired. Never deleted."""

    __tablename__ = "redemption"
    __table_args__ = (
        Index("ix_redemption_member", "member_id", "id"),
        Index("ix_redemption_reward", "reward_code", "id"),
        Index("ix_redemption_limit", "member_id", "reward_code", "window"),
        Index("ix_redemption_state_expires", "state", "expires_at"),
        # The counter finds a hold by the code the member shows; two open holds never share
        # one, while a settled redemption keeps its code for the record.
        Index(
            "ux_redemption_held_pickup_code",
            "pickup_code",
            unique=True,
            sqlite_where=text("state = 'held'"),
            postgresql_where=text("state = 'held'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=AUTO_ID)
    reward_code: str = Field(foreign_key="reward.code")
    member_id: str = Field(foreign_key="member.id")
    org_unit: str = Field(max_length=CODE_LENGTH_MAX)
    cost_points: int = Field(sa_type=BigInteger)
    state: str = Field(max_length=16)
    # The reward's limit window this redemption counts against ("y:2026", "ever" …).
    window: str = Field(max_length=16)
    held_at: datetime = _when()
    expires_at: datetime = _when()
    held_by: str = Field(max_length=CODE_LENGTH_MAX)
    pickup_code: str | None = Field(default=None, max_length=PICKUP_CODE_LENGTH)  # None: held before codes
    hold_txn_id: int | None = Field(default=None, sa_type=BigInteger)
    settled_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    settled_by: str | None = Field(default=None, max_length=CODE_LENGTH_MAX)
    settle_txn_id: int | None = Field(default=None, sa_type=BigInteger)


class RedemptionLot(SQLModel, table=True):
    """The lots a hold drew on, so a cancel or expiry gives the points back to them."""

    __tablename__ = "redemption_lot"

    redemption_id: int = Field(sa_type=BigInteger, foreign_key="redemption.id", primary_key=True)
    lot_id: int = Field(sa_type=BigInteger, foreign_key="lot.id", primary_key=True)
    points: int = Field(sa_type=BigInteger)


metadata = SQLModel.metadata


class PrincipalRow(SQLModel, table=True):
    """A person's or a system's API token. Only a keyed hash of the token's secret is
    stored: the token itself is shown once, when it is created."""

    __tablename__ = "principal"

    id: str = Field(primary_key=True, max_length=CODE_LENGTH_MAX)
    role: str = Field(max_length=16)
    org_unit: str | None = Field(default=None, foreign_key="org_unit.code")
    member_id: str | None = Field(default=None, foreign_key="member.id", index=True)
    label: str = Field(max_length=NAME_LENGTH_MAX)
    token_hash: str = Field(max_length=64)
    created_at: datetime = _when()
    created_by: str = Field(max_length=CODE_LENGTH_MAX)
    expires_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    revoked_by: str | None = Field(default=None, max_length=CODE_LENGTH_MAX)


class Move(SQLModel):
    """A move in the org tree, kept as evidence of who moved what where and when: append-only."""

    id: int | None = Field(default=None, primary_key=True, sa_type=AUTO_ID)
    from_unit: str = Field(max_length=CODE_LENGTH_MAX)
    to_unit: str = Field(max_length=CODE_LENGTH_MAX)
    moved_by: str = Field(max_length=CODE_LENGTH_MAX)
    moved_at: datetime = _when()


class MemberMove(Move, table=True):
    """A member's move from one micro-grid to another."""

    __tablename__ = "member_move"
    # A member's history reads its moves in order.
    __table_args__ = (Index("ix_member_move_member_id_id", "member_id", "id"),)

    member_id: str = Field(foreign_key="member.id", max_length=CODE_LENGTH_MAX)


class UnitMove(Move, table=True):
    """A unit's move under another parent (``from_unit`` and ``to_unit`` are the parents)."""

    __tablename__ = "unit_move"
    __table_args__ = (Index("ix_unit_move_org_unit_id", "org_unit", "id"),)

    org_unit: str = Field(foreign_key="org_unit.code", max_length=CODE_LENGTH_MAX)


class AuditEntry(SQLModel, table=True):
    """One write request, or one read of personal data: who, what, and how it ended.
    Append-only; only rows past their retention are purged (ledger.access.retention)."""

    __tablename__ = "audit"
    __table_args__ = (
        Index("ix_audit_principal_id", "principal", "id"),
        # A resident's copy lists the reads of their own data.
        Index("ix_audit_subject_id", "subject", "id"),
    )

    id: int | None = Field(default=None, sa_column=Column(AUTO_ID, primary_key=True, autoincrement=True))
    at: datetime = _when(index=True)
    principal: str = Field(max_length=CODE_LENGTH_MAX)
    role: str = Field(max_length=16)
    method: str = Field(max_length=8)
    path: str = Field(max_length=AUDIT_PATH_LENGTH_MAX)
    status: int
    idempotency_key: str | None = Field(default=None, max_length=128)
    kind: str = Field(default="write", max_length=8, sa_column_kwargs={"server_default": "write"})
    # A read's member (None: a read of many members, or a write), filter and row count.
    subject: str | None = Field(default=None, max_length=CODE_LENGTH_MAX)
    detail: str | None = Field(default=None, max_length=AUDIT_DETAIL_LENGTH_MAX)
    rows: int | None = None
