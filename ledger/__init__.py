"""The grid points ledger: an append-only, double-entry journal of points (积分).

This package is the domain core. It knows SQL (through SQLAlchemy) but nothing of
HTTP: the web layer in ``api`` calls ``Ledger`` and maps ``LedgerError`` to responses.
What is named here is the web layer's only way in (a test holds ``api`` to it): the
modules behind it may be rearranged without the web layer noticing.
"""

from ledger import member_copy
from ledger.access import audit, scopes
from ledger.access.audit import AUDIT_PAGE_SIZE_MAX, Recorded
from ledger.access.principals import NOT_VALID, PRINCIPAL_PAGE_SIZE_MAX, TOKEN_LENGTH_MAX, Principal, check_current
from ledger.demo import guide, load_demo
from ledger.earning.activities import (
    ACTIVITY_PAGE_SIZE_MAX,
    ROSTER_SIZE_MAX,
    Activity,
    ActivityCommand,
    Settlement,
    SettlementLine,
)
from ledger.earning.awards import AwardCommand, AwardResult, Reversal
from ledger.earning.claims import (
    CLAIM_PAGE_SIZE_MAX,
    CLAIM_REVIEW_BATCH_MAX,
    PENDING,
    Approved,
    Claim,
    ClaimCommand,
    Decided,
    Reviewed,
)
from ledger.earning.claims import Decision as ClaimDecision
from ledger.earning.deductions import Deduction, DeductionCommand
from ledger.earning.rules import CapRoom, Rule, WorkDone, active_on, default_rules_text, rewards_roles
from ledger.earning.summary import LEADERBOARD_SIZE_MAX, Month, UnitMonths, UnitSummary
from ledger.erasure import Erased
from ledger.errors import (
    AccessDenied,
    AlreadyExists,
    AlreadyReversed,
    Conflict,
    DatabaseBusy,
    DatabaseFromNewerRelease,
    DatabaseMissing,
    DatabaseNotMigrated,
    DatabaseUnavailable,
    DataFileInvalid,
    ErasureBlocked,
    IdempotencyKeyReused,
    IdempotencyKeyTaken,
    ImportConflict,
    ImportRefused,
    InsufficientPoints,
    InvalidInput,
    LedgerError,
    MemberInactive,
    MemberNotFound,
    NotFound,
    NotReversible,
    OrgUnitNotFound,
    TransactionNotFound,
    Unauthenticated,
)
from ledger.honours import exports, tiers
from ledger.honours.notice_board import NOTICE_PAGE_SIZE_MAX, NoticeSummary, NoticeView
from ledger.honours.notices import NominationState, OpenedNotice
from ledger.honours.reports import EVIDENCE_PAGE_SIZE_MAX, EvidenceLine, MemberTier, Nomination
from ledger.honours.tiers import FLAGS, default_tiers_text
from ledger.journal.checkpoints import CHECKPOINT_PAGE_SIZE_MAX, Checkpoint, sealed_at_text
from ledger.journal.idempotency import IdempotentRequest, fingerprint
from ledger.journal.periods import DEFAULT_TIMEZONE, zone
from ledger.journal.queries import (
    STATEMENT_PAGE_SIZE_DEFAULT,
    STATEMENT_PAGE_SIZE_MAX,
    StatementLine,
    StatementPage,
    TransactionView,
)
from ledger.member_copy import MemberCopy
from ledger.org import imports
from ledger.org.imports import ImportReport, Outcome
from ledger.org.members import MEMBER_PAGE_SIZE_MAX, MEMBER_SEARCH_SIZE_MAX, Member, MemberChanges
from ledger.org.units import (
    MOVE_PAGE_SIZE_DEFAULT,
    MOVE_PAGE_SIZE_MAX,
    UNIT_PAGE_SIZE_MAX,
    Move,
    Unit,
    UnitChanges,
    UnitCount,
)
from ledger.service import Ledger, MemberOverview, SweepReport
from ledger.shop.expiry_policies import default_policies_text
from ledger.shop.redemptions import (
    HELD,
    HOLD_TTL_DEFAULT,
    PICKUP_CODE_TYPED_LENGTH_MAX,
    REDEMPTION_PAGE_SIZE_MAX,
    HeldRedemption,
    Redemption,
    normal_pickup_code,
)
from ledger.shop.redemptions import STATES as REDEMPTION_STATES
from ledger.shop.rewards import CLEARABLE as REWARD_CLEARABLE
from ledger.shop.rewards import KINDS as REWARD_KINDS
from ledger.shop.rewards import (
    LIMIT_PERIODS,
    REDEMPTION_LIMIT_MAX,
    REWARD_COST_MAX,
    REWARD_PAGE_SIZE_MAX,
    STOCK_MAX,
    RewardChanges,
    RewardCommand,
    RewardView,
)
from ledger.storage import backup
from ledger.storage.database import DEFAULT_DATABASE_URL, Database, database_url
from ledger.storage.migrate import check_schema, head_revision, migrate, revision
from ledger.values import (
    AWARD_POINTS_MAX,
    CODE_LENGTH_MAX,
    ID_MAX,
    IDEMPOTENCY_KEY_LENGTH_MAX,
    MEMO_LENGTH_MAX,
    NAME_LENGTH_MAX,
    PHONE_LENGTH_MAX,
    PICKUP_TEXT_LENGTH_MAX,
    QUANTITY_MAX,
    ROLES_MAX,
    URL_LENGTH_MAX,
    Access,
    Balance,
    Category,
    Level,
    Role,
    TxnKind,
)
from ledger.verify import Report as VerifyReport

__all__ = [
    "ACTIVITY_PAGE_SIZE_MAX",
    "AUDIT_PAGE_SIZE_MAX",
    "AWARD_POINTS_MAX",
    "Access",
    "AccessDenied",
    "Activity",
    "ActivityCommand",
    "AlreadyExists",
    "AlreadyReversed",
    "Approved",
    "AwardCommand",
    "AwardResult",
    "Balance",
    "CHECKPOINT_PAGE_SIZE_MAX",
    "CLAIM_PAGE_SIZE_MAX",
    "CLAIM_REVIEW_BATCH_MAX",
    "CODE_LENGTH_MAX",
    "CapRoom",
    "Category",
    "Checkpoint",
    "Claim",
    "ClaimCommand",
    "ClaimDecision",
    "Conflict",
    "DEFAULT_DATABASE_URL",
    "DEFAULT_TIMEZONE",
    "DataFileInvalid",
    "Database",
    "DatabaseBusy",
    "DatabaseFromNewerRelease",
    "DatabaseMissing",
    "DatabaseNotMigrated",
    "DatabaseUnavailable",
    "Decided",
    "Deduction",
    "DeductionCommand",
    "EVIDENCE_PAGE_SIZE_MAX",
    "Erased",
    "ErasureBlocked",
    "EvidenceLine",
    "FLAGS",
    "HELD",
    "HOLD_TTL_DEFAULT",
    "HeldRedemption",
    "IDEMPOTENCY_KEY_LENGTH_MAX",
    "ID_MAX",
    "IdempotencyKeyReused",
    "IdempotencyKeyTaken",
    "IdempotentRequest",
    "ImportConflict",
    "ImportRefused",
    "ImportReport",
    "InsufficientPoints",
    "InvalidInput",
    "LEADERBOARD_SIZE_MAX",
    "LIMIT_PERIODS",
    "Ledger",
    "LedgerError",
    "Level",
    "MEMBER_PAGE_SIZE_MAX",
    "MEMBER_SEARCH_SIZE_MAX",
    "MEMO_LENGTH_MAX",
    "MOVE_PAGE_SIZE_DEFAULT",
    "MOVE_PAGE_SIZE_MAX",
    "Member",
    "MemberChanges",
    "MemberCopy",
    "MemberInactive",
    "MemberNotFound",
    "MemberOverview",
    "MemberTier",
    "Month",
    "Move",
    "NAME_LENGTH_MAX",
    "NOTICE_PAGE_SIZE_MAX",
    "NOT_VALID",
    "Nomination",
    "NominationState",
    "NotFound",
    "NotReversible",
    "NoticeSummary",
    "NoticeView",
    "OpenedNotice",
    "OrgUnitNotFound",
    "Outcome",
    "PENDING",
    "PHONE_LENGTH_MAX",
    "PICKUP_CODE_TYPED_LENGTH_MAX",
    "PICKUP_TEXT_LENGTH_MAX",
    "PRINCIPAL_PAGE_SIZE_MAX",
    "Principal",
    "QUANTITY_MAX",
    "REDEMPTION_LIMIT_MAX",
    "REDEMPTION_PAGE_SIZE_MAX",
    "REDEMPTION_STATES",
    "REWARD_CLEARABLE",
    "REWARD_COST_MAX",
    "REWARD_KINDS",
    "REWARD_PAGE_SIZE_MAX",
    "ROLES_MAX",
    "ROSTER_SIZE_MAX",
    "Recorded",
    "Redemption",
    "Reversal",
    "Reviewed",
    "RewardChanges",
    "RewardCommand",
    "RewardView",
    "Role",
    "Rule",
    "STATEMENT_PAGE_SIZE_DEFAULT",
    "STATEMENT_PAGE_SIZE_MAX",
    "STOCK_MAX",
    "Settlement",
    "SettlementLine",
    "StatementLine",
    "StatementPage",
    "SweepReport",
    "TOKEN_LENGTH_MAX",
    "TransactionNotFound",
    "TransactionView",
    "TxnKind",
    "UNIT_PAGE_SIZE_MAX",
    "URL_LENGTH_MAX",
    "Unauthenticated",
    "Unit",
    "UnitChanges",
    "UnitCount",
    "UnitMonths",
    "UnitSummary",
    "VerifyReport",
    "WorkDone",
    "active_on",
    "audit",
    "backup",
    "check_current",
    "check_schema",
    "database_url",
    "default_policies_text",
    "default_rules_text",
    "default_tiers_text",
    "exports",
    "fingerprint",
    "guide",
    "head_revision",
    "imports",
    "load_demo",
    "member_copy",
    "migrate",
    "normal_pickup_code",
    "revision",
    "rewards_roles",
    "scopes",
    "sealed_at_text",
    "tiers",
    "zone",
]
