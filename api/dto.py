"""Request and response shapes of the HTTP API (msgspec structs).

Write shapes refuse unknown fields and wrong JSON types (``"5"`` is not 5, and 5.0 is
not a number of points); read shapes are what the service returns. Length and range
limits come from ``ledger.values`` so the API and the ledger agree on them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from ledger import (
    AWARD_POINTS_MAX,
    CLAIM_REVIEW_BATCH_MAX,
    CODE_LENGTH_MAX,
    ID_MAX,
    LIMIT_PERIODS,
    MEMO_LENGTH_MAX,
    NAME_LENGTH_MAX,
    PHONE_LENGTH_MAX,
    PICKUP_TEXT_LENGTH_MAX,
    QUANTITY_MAX,
    REDEMPTION_LIMIT_MAX,
    REDEMPTION_STATES,
    REWARD_CLEARABLE,
    REWARD_COST_MAX,
    REWARD_KINDS,
    ROLES_MAX,
    ROSTER_SIZE_MAX,
    STOCK_MAX,
    URL_LENGTH_MAX,
    Access,
    Category,
    Level,
    Role,
)

Code = Annotated[str, msgspec.Meta(min_length=1, max_length=CODE_LENGTH_MAX, pattern=r"^[^\s/]+$")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=NAME_LENGTH_MAX)]
Memo = Annotated[str, msgspec.Meta(max_length=MEMO_LENGTH_MAX)]
Points = Annotated[int, msgspec.Meta(ge=1, le=AWARD_POINTS_MAX)]
Url = Annotated[str, msgspec.Meta(max_length=URL_LENGTH_MAX, pattern=r"^https?://\S+$")]
Roles = Annotated[list[Role], msgspec.Meta(max_length=ROLES_MAX)]
Quantity = Annotated[int, msgspec.Meta(ge=1, le=QUANTITY_MAX)]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=MEMO_LENGTH_MAX)]


class Write(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every request body."""


class OrgUnitCreate(Write):
    code: Code
    name: Name
    level: Level
    parent: Code | None = None


class OrgUnitRead(msgspec.Struct):
    code: str
    name: str
    level: Level
    parent: str | None
    path: list[str]
    created_at: datetime


class OrgUnitPatch(Write):
    name: Name | None = None
    parent: Code | None = None
    """Move the unit, with its subtree, under this unit of the level above its own."""


class OrgUnitListed(OrgUnitRead):
    members_direct: int
    """Active members whose micro-grid this unit is."""
    members_total: int
    """Active members anywhere in the unit's subtree."""


class OrgUnitPage(msgspec.Struct):
    units: list[OrgUnitListed]
    next_cursor: str | None


class MoveRead(msgspec.Struct):
    id: int
    subject: str
    """The member or unit that moved."""
    from_unit: str
    to_unit: str
    """Micro-grids for a member's move, parents for a unit's."""
    moved_by: str
    moved_at: datetime


class MovePage(msgspec.Struct):
    moves: list[MoveRead]
    next_cursor: str | None


class MemberCreate(Write):
    id: Code
    name: Name
    org_unit: Code
    party_member: bool = False
    roles: Roles = msgspec.field(default_factory=list)
    phone: Annotated[str, msgspec.Meta(min_length=1, max_length=PHONE_LENGTH_MAX)] | None = None


class MemberPatch(Write):
    name: Name | None = None
    org_unit: Code | None = None
    party_member: bool | None = None
    roles: Roles | None = None
    active: bool | None = None


class MemberRead(msgspec.Struct):
    id: str
    name: str
    org_unit: str
    roles: list[Role]
    active: bool
    created_at: datetime
    party_member: bool | msgspec.UnsetType = msgspec.UNSET
    """Sensitive personal information: present only to an admin, an organizer in scope
    and the member itself (``api.views.SEES_PARTY_MEMBERSHIP``)."""
    phone: str | None | msgspec.UnsetType = msgspec.UNSET
    """Personal information, present to the same readers as ``party_member`` (null: none
    is on record)."""


class CapRead(msgspec.Struct):
    window: Literal["day", "week", "year"]
    cap_points: int
    used_points: int
    room_points: int


class CapRoomRead(msgspec.Struct):
    """One rule's room left for a member now; ``room_points`` null when nothing caps it."""

    rule: str
    name_zh: str
    category: str
    eligible: bool
    active: bool
    caps: list[CapRead]
    room_points: int | None


class AwardCreate(Write):
    """Either ``points`` and ``category``, or ``rule`` and ``quantity`` (with ``steps`` for a
    patrol rule and ``handled_within_limit`` for an event report)."""

    member_id: Code
    occurred_at: datetime
    points: Points | None = None
    category: Category | None = None
    rule: Code | None = None
    quantity: Quantity | None = None
    steps: Quantity | None = None
    handled_within_limit: bool = False
    clip: bool = False
    memo: Memo = ""
    evidence_url: Url | None = None
    org_unit: Code | None = None


class AwardRead(msgspec.Struct):
    transaction_id: int
    member_id: str
    points: int
    category: str
    available_points: int
    hash: str
    rule: str | None
    rule_version: int | None
    clipped_from_points: int | None


class ReversalCreate(Write):
    reason: Reason


class ErasureCreate(Write):
    reason: Reason


class ErasureRead(msgspec.Struct):
    member_id: str
    pseudonym: str
    values_erased: int
    claims_cleared: int
    replies_scrubbed: int
    erasure_id: int


class ReversalRead(msgspec.Struct):
    transaction_id: int
    reverses_id: int
    member_id: str | None
    points: int
    available_points: int | None
    hash: str


class BalanceRead(msgspec.Struct):
    member_id: str
    available_points: int
    held_points: int
    lifetime_earned_points: int
    period: str
    period_earned_points: int
    expiring_points: int
    expiring_before: datetime
    next_expiry_at: datetime | None


class StatementLineRead(msgspec.Struct):
    transaction_id: int
    kind: str
    points: int
    category: str
    occurred_at: datetime
    recorded_at: datetime
    memo: str
    balance_after: int
    reverses_id: int | None
    rule: str | None
    """The earning rule an award was computed by (none for a manual award)."""
    reward: str | None
    """The reward a hold, fulfilment or release was for."""


class StatementRead(msgspec.Struct):
    member_id: str
    lines: list[StatementLineRead]
    next_cursor: str | None


class PostingRead(msgspec.Struct):
    account_id: int
    account_kind: str
    account_owner: str
    points: int


class TransactionRead(msgspec.Struct):
    id: int
    kind: str
    category: str
    member_id: str | None
    org_unit: str
    occurred_at: datetime
    recorded_at: datetime
    recorded_by: str
    memo: str
    evidence_url: str | None
    reverses_id: int | None
    reversed_by_id: int | None
    period: str
    earned_points: int
    prev_hash: str
    hash: str
    postings: list[PostingRead]


class VerifyRead(msgspec.Struct):
    ok: bool
    transactions: int
    postings: int
    accounts: int
    last_hash: str
    checkpoints: int
    """How many checkpoints were checked against the key and the journal."""
    erased_verbatim: int
    """Transactions from before digests whose erased text leaves their hash linked, not recomputed."""
    problems: list[dict[str, Any]]


class CheckpointRead(msgspec.Struct):
    """The chain head at ``sealed_at``: transaction ``transaction_id`` had hash ``hash``.
    ``mac`` is HMAC-SHA256 under the checkpoint key, over the id, hash and sealing time."""

    id: int
    transaction_id: int
    hash: str
    sealed_at: datetime
    sealed_by: str
    mac: str


class CheckpointPage(msgspec.Struct):
    checkpoints: list[CheckpointRead]
    next_cursor: str | None


class DeductionCreate(Write):
    member_id: Code
    points: Points
    reason: Reason
    occurred_at: datetime
    category: Category = Category.OTHER


class DeductionRead(msgspec.Struct):
    transaction_id: int
    member_id: str
    requested_points: int
    deducted_points: int
    clipped_points: int
    available_points: int
    hash: str


class RuleRead(msgspec.Struct):
    code: str
    version: int
    definition: dict[str, Any]


class ActivityCreate(Write):
    name: Name
    org_unit: Code
    rule: Code
    starts_at: datetime
    ends_at: datetime
    organizer: Code


class Participant(Write):
    member_id: Code
    quantity: Quantity


class RosterPut(Write):
    participants: Annotated[list[Participant], msgspec.Meta(max_length=ROSTER_SIZE_MAX)]


class ParticipantRead(msgspec.Struct):
    member_id: str
    quantity: int


class ActivityRead(msgspec.Struct):
    id: int
    name: str
    org_unit: str
    rule_code: str
    starts_at: datetime
    ends_at: datetime
    organizer: str
    created_by: str
    created_at: datetime
    settled_at: datetime | None
    settled_by: str | None
    settlement: dict[str, Any] | None
    roster: list[ParticipantRead]


class ActivityPage(msgspec.Struct):
    activities: list[ActivityRead]
    next_cursor: str | None


class SettlementLine(msgspec.Struct):
    member_id: str
    status: str
    points: int
    reason: str | None = None
    detail: str | None = None
    clipped_from_points: int | None = None
    transaction_id: int | None = None


class SettlementRead(msgspec.Struct):
    activity_id: int
    awarded: int
    skipped: int
    points: int
    lines: list[SettlementLine]


class ClaimCreate(Write):
    member_id: Code
    rule: Code
    quantity: Quantity
    occurred_at: datetime
    steps: Quantity | None = None
    handled_within_limit: bool = False
    reference: Code | None = None
    memo: Memo = ""
    evidence_url: Url | None = None


class ClaimDecline(Write):
    reason: Reason


class ClaimRead(msgspec.Struct):
    id: int
    member_id: str
    rule_code: str
    quantity: int
    steps: int | None
    handled_within_limit: bool
    reference: str | None
    occurred_at: datetime
    day: str
    memo: str
    evidence_url: str | None
    possible_duplicate_of: int | None
    status: str
    created_by: str
    created_at: datetime
    reviewed_by: str | None
    reviewed_at: datetime | None
    decision_reason: str | None
    transaction_id: int | None
    awarded_points: int | None  # what the approval awarded (caps applied); None until approved


class ClaimDecisionWrite(Write):
    claim_id: Annotated[int, msgspec.Meta(ge=1, le=ID_MAX)]
    decision: Literal["approve", "decline"]
    reason: Reason | None = None  # required to decline


class ClaimReview(Write):
    decisions: Annotated[list[ClaimDecisionWrite], msgspec.Meta(max_length=CLAIM_REVIEW_BATCH_MAX)]


class ClaimReviewLine(msgspec.Struct):
    """One claim's answer: approved (with the award), declined, or refused (the problem
    the single-claim route would have answered)."""

    claim_id: int
    outcome: Literal["approved", "declined", "refused"]
    replayed: bool
    claim: ClaimRead | None
    award: AwardRead | None
    problem: dict[str, Any] | None


class ClaimReviewRead(msgspec.Struct):
    lines: list[ClaimReviewLine]


class ClaimPage(msgspec.Struct):
    claims: list[ClaimRead]
    next_cursor: str | None


class ClaimApproval(msgspec.Struct):
    claim: ClaimRead
    award: AwardRead


class LeaderRead(msgspec.Struct):
    """A leaderboard line: no member id, party membership or phone, whoever reads it."""

    rank: int
    name: str
    org_unit: str
    earned_points: int


class SummaryRead(msgspec.Struct):
    org_unit: str
    name: str
    period: str
    total_points: int
    by_category: dict[str, int]
    top_members: list[LeaderRead]


class MonthRead(msgspec.Struct):
    month: str
    by_category: dict[str, int]


class MonthsRead(msgspec.Struct):
    org_unit: str
    name: str
    period: str
    months: list[MonthRead]


Period = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4}$")]
Flag = Literal["先进工作者", "优秀共产党员"]


class TierRead(msgspec.Struct):
    name: str
    points: int


class SchemeRead(msgspec.Struct):
    org_unit: str | None
    version: int
    tiers: list[TierRead]
    advanced_worker_roles: list[str]
    notice_working_days: int


class SchemeVersionRead(msgspec.Struct):
    org_unit: str | None
    """None: the default scheme."""
    version: int


class SchemesLoaded(msgspec.Struct):
    created: list[SchemeVersionRead]
    """The schemes the file changed, each with its new version; an unchanged one is not listed."""


class FlagStateRead(msgspec.Struct):
    flag: str
    state: str


class MemberTierRead(msgspec.Struct):
    member_id: str
    period: str
    earned_points: int
    tier: str | None
    tiers: list[TierRead]
    next_tier: str | None
    next_threshold: int | None
    points_to_next: int
    scheme_org_unit: str | None
    flags: list[FlagStateRead]


class NominationRead(msgspec.Struct):
    member_id: str
    name: str
    org_unit: str
    period: str
    flag: str
    state: str
    flagged_at: datetime
    transaction_id: int
    notice_id: int | None
    objections: int
    updated_at: datetime
    party_member: bool | msgspec.UnsetType = msgspec.UNSET
    """As ``MemberRead.party_member``: absent to an auditor."""


class EvidenceRead(msgspec.Struct):
    id: int
    kind: str
    category: str
    earned_points: int
    occurred_at: datetime
    recorded_at: datetime
    recorded_by: str
    memo: str
    evidence_url: str | None
    reverses_id: int | None
    extra: dict[str, Any]


class EvidencePage(msgspec.Struct):
    member_id: str
    period: str
    transactions: list[EvidenceRead]
    next_cursor: str | None


class NoticeCreate(Write):
    org_unit: Code
    period: Period | None = None
    flag: Flag | None = None
    working_days: Annotated[int, msgspec.Meta(ge=1, le=30)] | None = None


class NoticeRead(msgspec.Struct):
    id: int
    period: str
    org_unit: str
    flag: str | None
    working_days: int
    ends_on: str
    names: int
    checkpoint: CheckpointRead
    """Sealed as the notice opened: print it on the notice to anchor the ledger outside it."""


class ObjectionCreate(Write):
    member_id: Code
    period: Period
    flag: Flag
    reason: Reason


class DecisionCreate(Write):
    member_id: Code
    period: Period
    flag: Flag
    decision: Literal["confirm", "withdraw"]
    reason: Reason


class NominationStateRead(msgspec.Struct):
    member_id: str
    period: str
    flag: str
    state: str
    objections: int
    notice_id: int | None
    ends_on: str | None


# The public notice (公示) as the API reads it back.


class NoticeSummaryRead(msgspec.Struct):
    id: int
    period: str
    org_unit: str
    unit_name: str
    flag: str | None
    working_days: int
    opened_on: str
    ends_on: str
    """The last day of the notice, inclusive: names are confirmed from the day after."""
    opened_at: datetime
    opened_by: str
    names: int
    checkpoint: CheckpointRead | None
    """Sealed as the notice opened (none only for a notice opened before notices sealed one)."""


class NoticePage(msgspec.Struct):
    notices: list[NoticeSummaryRead]
    next_cursor: str | None


class ObjectionRead(msgspec.Struct):
    reason: str
    by: str
    at: datetime


class NoticeNameRead(msgspec.Struct):
    member_id: str
    name: str
    org_unit: str
    unit_name: str
    flag: str
    earned_points: int
    state: str
    """The name's outcome on this notice: in_notice, confirmed, withdrawn or revoked."""
    objections: list[ObjectionRead]


class NoticeDetailRead(msgspec.Struct):
    notice: NoticeSummaryRead
    office: str
    """The street office that publishes the notice."""
    ended: bool
    """Whether the notice's last day has passed, so names on it may be confirmed."""
    names: list[NoticeNameRead]


RewardKind = Literal[REWARD_KINDS]  # type: ignore[valid-type]
LimitPeriod = Literal[LIMIT_PERIODS]  # type: ignore[valid-type]
RedemptionState = Literal[REDEMPTION_STATES]  # type: ignore[valid-type]
Cost = Annotated[int, msgspec.Meta(ge=1, le=REWARD_COST_MAX)]
Stock = Annotated[int, msgspec.Meta(ge=0, le=STOCK_MAX)]
LimitCount = Annotated[int, msgspec.Meta(ge=1, le=REDEMPTION_LIMIT_MAX)]
TierName = Annotated[str, msgspec.Meta(min_length=1, max_length=20)]
PickupText = Annotated[str, msgspec.Meta(min_length=1, max_length=PICKUP_TEXT_LENGTH_MAX)]
Clearable = Literal[REWARD_CLEARABLE]  # type: ignore[valid-type]


class RewardCreate(Write):
    """A good or service at a unit's points shop. ``stock`` null is unlimited; a limit is
    ``limit_count`` redemptions per member per ``limit_period``."""

    code: Code
    org_unit: Code
    name_zh: Name
    kind: RewardKind
    cost_points: Cost
    name_en: Name | None = None
    stock: Stock | None = None
    limit_count: LimitCount | None = None
    limit_period: LimitPeriod | None = None
    active_from: datetime | None = None
    active_until: datetime | None = None
    min_tier: TierName | None = None
    pickup_place: PickupText | None = None
    pickup_hours: PickupText | None = None


class RewardPatch(Write):
    """A change to a listed reward: a field sent is set, one named in ``clear`` emptied.
    ``stock`` sets the total, ``add_stock`` restocks by a count, ``unlimited_stock``
    stops counting; one of the three at a time."""

    name_zh: Name | None = None
    name_en: Name | None = None
    kind: RewardKind | None = None
    cost_points: Cost | None = None
    stock: Stock | None = None
    unlimited_stock: bool = False
    add_stock: Annotated[int, msgspec.Meta(ge=1, le=STOCK_MAX)] | None = None
    limit_count: LimitCount | None = None
    limit_period: LimitPeriod | None = None
    active_from: datetime | None = None
    active_until: datetime | None = None
    min_tier: TierName | None = None
    pickup_place: PickupText | None = None
    pickup_hours: PickupText | None = None
    clear: Annotated[list[Clearable], msgspec.Meta(max_length=len(REWARD_CLEARABLE))] = []


class RewardRead(msgspec.Struct):
    code: str
    org_unit: str
    name_zh: str
    name_en: str | None
    kind: str
    cost_points: int
    stock: int | None
    reserved: int
    sold: int
    available_stock: int | None
    limit_count: int | None
    limit_period: str | None
    active_from: datetime | None
    active_until: datetime | None
    active: bool
    min_tier: str | None
    pickup_place: str | None
    pickup_hours: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime


class RewardPage(msgspec.Struct):
    rewards: list[RewardRead]
    next_cursor: str | None


class RedemptionCreate(Write):
    reward: Code
    member_id: Code


class RedemptionRead(msgspec.Struct):
    """A redemption; ``available_points`` and ``held_points`` are the member's balances
    right after a hold, fulfil or cancel (absent on plain reads)."""

    id: int
    reward_code: str
    member_id: str
    org_unit: str
    cost_points: int
    state: RedemptionState
    held_at: datetime
    expires_at: datetime
    held_by: str
    hold_txn_id: int | None
    settled_at: datetime | None
    settled_by: str | None
    settle_txn_id: int | None
    available_points: int | None = None
    held_points: int | None = None
    # Absent from answers stored for replay before holds had codes, and null for those holds.
    pickup_code: str | None = None


class RedemptionPage(msgspec.Struct):
    redemptions: list[RedemptionRead]
    next_cursor: str | None


class HeldRedemptionRead(msgspec.Struct):
    """An open hold as the counter sees it: the code the member shows, who they are, what
    they collect, by when and where."""

    id: int
    pickup_code: str | None
    reward_code: str
    reward_name: str
    member_id: str
    member_name: str
    cost_points: int
    held_at: datetime
    expires_at: datetime
    pickup_place: str | None
    pickup_hours: str | None


class HeldRedemptionPage(msgspec.Struct):
    redemptions: list[HeldRedemptionRead]
    next_cursor: str | None


class SweepRead(msgspec.Struct):
    holds_expired: int
    lots_expired: int
    points_expired: int
    audit_rows_purged: int
    tokens_purged: int


class TokenCreate(Write):
    """An organizer's token names their unit; a member's token names the member."""

    role: Access
    label: Name
    org_unit: Code | None = None
    member_id: Code | None = None
    expires_at: datetime | None = None


class PrincipalRead(msgspec.Struct):
    id: str
    role: Access
    label: str
    org_unit: str | None
    member_id: str | None
    created_at: datetime | None
    created_by: str | None
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(msgspec.Struct):
    principal: PrincipalRead
    token: str
    """Shown this once: only a hash of it is kept."""


class PrincipalPage(msgspec.Struct):
    principals: list[PrincipalRead]
    next_cursor: str | None


class AuditRead(msgspec.Struct):
    id: int
    at: datetime
    principal: str
    role: str
    method: str
    path: str
    status: int
    idempotency_key: str | None
    kind: Literal["write", "read"]
    subject: str | None
    """The member whose data a read showed."""
    detail: str | None
    """A read's filter."""
    rows: int | None
    """How many rows a read showed."""


class AuditPage(msgspec.Struct):
    entries: list[AuditRead]
    next_cursor: str | None


class ImportRowRead(msgspec.Struct):
    """One row's outcome: ``row`` as the sheet numbers it (the header is row 1), ``changed``
    the fields an update changes. A refused row has the ``column`` (its header as the file
    writes it), a stable ``code`` (``ledger.org.imports.Refusal``: column_missing,
    cell_empty, yes_no_unknown, micro_grid_unknown …) and the ``reason`` in English and,
    for a clerk at the desk, in Chinese (``reason_zh``)."""

    row: int
    key: str
    outcome: Literal["created", "updated", "unchanged", "refused"]
    changed: list[str]
    column: str | None
    code: str | None
    reason: str | None
    reason_zh: str | None


class ImportReportRead(msgspec.Struct):
    """An import's report. The counts cover every row; ``outcomes`` lists the first rows,
    refused ones first, and ``outcomes_omitted`` counts the rest. ``absent`` counts the
    members of the file's micro-grids whom the file does not name (kept, never removed)."""

    kind: Literal["org_units", "members"]
    dry_run: bool
    applied: bool
    rows: int
    created: int
    updated: int
    unchanged: int
    refused: int
    outcomes: list[ImportRowRead]
    outcomes_omitted: int
    absent: int
    absent_ids: list[str]
    ignored_columns: list[str]


class ProblemRead(msgspec.Struct):
    """An RFC 9457 problem, the body of every error. ``code`` is stable and meant for
    programs; ``field`` names the offending input when there is one; other members
    depend on the code (``available_points`` and ``cost_points`` of insufficient_points,
    ``errors`` of invalid_input, ``errors`` (each a ``path`` and a ``reason``) and
    ``errors_omitted`` of invalid_data_file, ``refusals`` (each a ``row``, ``column``, ``key``,
    ``code``, ``reason`` and ``reason_zh``) and ``refusals_omitted`` of import_refused,
    ``attempts`` of import_conflict, ``retry_after_seconds`` of rate_limited …)."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    field: str | None = None
