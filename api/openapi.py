"""The OpenAPI description's own words, kept out of the controllers: for every operation a
description for the organizer or integrator (what it does, who may call it, what it
changes), an example request built on the demo's ids (``ledger serve --demo``), and the
problem ``code``s each of its refusals can carry.

One table keyed by (method, route) holds them, so a controller stays a signature and one
domain call, and ``document_operations`` refuses to build an app with an operation the
table does not describe. The statuses every operation shares (401, 403, 429, 500, 503,
400 and 413) are described once; 404, 409 and 422 list the operation's own codes, and an
operation that names nothing to find or that cannot conflict does not claim a 404 or a
409. Who may call an operation is read from the roles its handler declares, so the
description cannot drift from the guard.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example, Operation
from litestar.status_codes import HTTP_404_NOT_FOUND, HTTP_409_CONFLICT, HTTP_422_UNPROCESSABLE_ENTITY

from api import routes
from api.access import ROLES
from api.dto import ProblemRead
from api.idempotency import HEADER
from api.problems import PROBLEM_MEDIA_TYPE
from api.ratelimit import WRITE_METHODS

KEY_CONFLICTS = ("exists_with_different_body", "idempotency_key_taken")
"""The conflicts of every write that takes an Idempotency-Key: the key already answered
another body, or belongs to another token."""

CODES: dict[str, str] = {
    "invalid_input": "a value breaks a rule or has the wrong type; `field` names it",
    "invalid_data_file": "the file is refused whole; `errors` lists each error's `path` and `reason`",
    "import_refused": "a row was refused and nothing was written; `refusals` lists each row's `row`, `column`, "
    "`key`, `code` and `reason` (`reason_zh`: in Chinese)",
    "import_conflict": "other imports of the same rows kept committing first; nothing was written, send it again",
    "org_unit_not_found": "no org unit has that code",
    "member_not_found": "no member has that id",
    "transaction_not_found": "no transaction has that id",
    "rule_not_found": "no earning rule has that code",
    "activity_not_found": "no activity has that id",
    "claim_not_found": "no claim has that id",
    "nomination_not_found": "the member holds no such flag in that period",
    "notice_not_found": "no public notice has that id",
    "reward_not_found": "no reward has that code",
    "redemption_not_found": "no redemption has that id",
    "principal_not_found": "no token has that principal id",
    "not_found": "the file asked for is not one the service offers",
    "already_exists": "a record with that code or id is registered already",
    "erasure_blocked": "an open notice or a held redemption names the member; `notice_ids` and "
    "`redemption_ids` list them",
    "member_inactive": "the member is deactivated and receives no new awards, claims or holds",
    "already_reversed": "the transaction was reversed already (a transaction is reversed once)",
    "not_reversible": "only awards and deductions are reversed",
    "insufficient_points": "the account would go below zero (`available`, `needed`)",
    "rule_inactive": "the rule is outside its active dates",
    "not_eligible": "the member has no role the rule rewards",
    "cap_exceeded": "the rule's cap per day, week or year has no room (`cap`, `room_left`); send clip=true to "
    "award what fits",
    "nothing_to_deduct": "the member has no available points to take",
    "already_settled": "the activity was settled already",
    "claim_not_pending": "the claim was reviewed already",
    "nomination_state_conflict": "the flag's state does not allow the step (e.g. confirmed before its notice ended)",
    "reward_inactive": "the reward is outside its active window",
    "reward_not_offered": "the reward belongs to a unit outside the member's line of the tree",
    "out_of_stock": "every unit of stock is held or handed over",
    "over_limit": "the member's limit for the period is used up",
    "tier_too_low": "the reward asks for a tier the member has not reached",
    "redemption_not_held": "the redemption was fulfilled, cancelled or expired already",
    "hold_expired": "the hold ran past its time; its points and stock went back",
    "exists_with_different_body": "the Idempotency-Key was sent before with another body",
    "idempotency_key_taken": "another token used the Idempotency-Key first",
}
"""What each code an operation names below means, as a client reads it in the description."""

_SHARED: dict[int, str] = {
    HTTPStatus.BAD_REQUEST: "`malformed_request`: the request cannot be read (a body that is not JSON, not UTF-8 …)",
    HTTPStatus.UNAUTHORIZED: "`unauthenticated`: no bearer token, or one unknown, expired or revoked",
    HTTPStatus.FORBIDDEN: "`forbidden`: the token's role or org subtree does not cover the request",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "`body_too_large`: the body is over the service's limit; nothing changed",
    HTTPStatus.TOO_MANY_REQUESTS: "`rate_limited`: this token writes too fast; retry after Retry-After seconds",
    HTTPStatus.INTERNAL_SERVER_ERROR: "`internal_error`: the request failed and changed nothing",
    HTTPStatus.SERVICE_UNAVAILABLE: "`database_unavailable` or `database_busy`: the database connection was lost or "
    "the database did not answer in time; retry after Retry-After seconds with the same Idempotency-Key",
}
_OPENING: dict[int, str] = {
    HTTP_404_NOT_FOUND: "A record the request names does not exist; `field` names it",
    HTTP_409_CONFLICT: "The ledger's state refuses the request and nothing changed",
    HTTP_422_UNPROCESSABLE_ENTITY: "The request is refused as written and nothing changed",
}

PARAMETER_EXAMPLES: dict[str, object] = {
    "member_id": "demo-013",
    "code": "tawan",
    "under": "dongdajie",
    "org_unit": "tawan",
    "activity_id": 1,
    "claim_id": 1,
    "transaction_id": 1,
    "redemption_id": 1,
    "notice_id": 1,
    "principal_id": "9f86d081884c7d65",
    "period": "2026",
    "flag": "先进工作者",
    "limit": 20,
    "cursor": "1042",
    HEADER: "6f1c2e9a-3b4d-4f60-9a51-2d8e0c6b1a47",
}
"""Example values of the parameters many operations share, from the demo (member demo-013
of 塔湾社区 tawan, activity 1 and claim 1 waiting there); an operation overrides one where
its parameter means something else."""


@dataclass(frozen=True)
class OperationDoc:
    """One operation's words. ``body`` is an example JSON body; ``body_file`` the path of
    an example file, for an operation whose body is a file. ``not_found``, ``conflicts``
    and ``refused`` are the codes of its 404, 409 and 422 beyond ``invalid_input``; the key
    conflicts of a write that takes an Idempotency-Key are added by themselves."""

    description: str
    body: object = None
    body_file: str | None = None
    parameters: Mapping[str, object] = field(default_factory=dict)
    not_found: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()


_MEMBER = ("member_not_found",)
_UNIT = ("org_unit_not_found",)
_AWARD_REFUSALS = ("member_inactive", "rule_inactive", "not_eligible", "cap_exceeded")
_HOLD = ("redemption_not_found",)

OPERATIONS: dict[tuple[str, str], OperationDoc] = {
    # The org tree
    ("POST", routes.ORG_UNITS): OperationDoc(
        "Registers a street office, community, grid or micro-grid under its parent. Organizers register inside "
        "their own subtree. Adds a unit; moves no points.",
        body={"code": "tawan-g1-m4", "name": "塔湾社区1-4微网格", "level": "micro_grid", "parent": "tawan-g1"},
        not_found=_UNIT,
        conflicts=("already_exists",),
    ),
    ("GET", routes.ORG_UNITS): OperationDoc(
        "Lists the units of a subtree in tree order with their counts of active members, a page at a time. "
        "Organizers see their own subtree when they name none.",
        parameters={"cursor": "tawan-g1-m2"},
        not_found=_UNIT,
    ),
    ("GET", routes.ORG_UNIT): OperationDoc("Reads one org unit: its name, level and parent.", not_found=_UNIT),
    ("PATCH", routes.ORG_UNIT): OperationDoc(
        "Renames a unit, or moves it with its whole subtree under another parent; a move is recorded with who "
        "made it. An organizer needs both the unit and the new parent in their subtree. Balances and past "
        "transactions are unchanged.",
        body={"name": "塔湾社区第一网格"},
        parameters={"code": "tawan-g1"},
        not_found=_UNIT,
    ),
    ("GET", routes.ORG_UNIT_MOVES): OperationDoc(
        "Lists a unit's moves under other parents, oldest first: when, from where, to where, by whom.",
        parameters={"code": "tawan-g1"},
        not_found=_UNIT,
    ),
    ("GET", routes.ORG_UNIT_SUMMARY): OperationDoc(
        "Totals the points awarded in a subtree in a period, by category, with its top members (a leaderboard). "
        "Reads only.",
        parameters={"top": 10},
        not_found=_UNIT,
    ),
    ("GET", routes.ORG_UNIT_MONTHS): OperationDoc(
        "Totals the points earned in a subtree per month and category of a period, for a chart. Reads only.",
        not_found=_UNIT,
    ),
    # Members
    ("POST", routes.MEMBERS): OperationDoc(
        "Registers a volunteer, grid worker or resident in a micro-grid, with an account of their own. "
        "Organizers register in their own subtree.",
        body={
            "id": "demo-101",
            "name": "李秀英",
            "org_unit": "tawan-g1-m1",
            "party_member": True,
            "roles": ["volunteer"],
        },
        not_found=_UNIT,
        conflicts=("already_exists",),
    ),
    ("GET", routes.MEMBERS): OperationDoc(
        "Lists a subtree's members by id a page at a time (``after`` the last id of the previous page), or, with "
        "``q``, finds them by id prefix or part of the name. Not for member tokens.",
        parameters={"q": "胡"},
        not_found=_UNIT,
    ),
    ("GET", routes.MEMBER): OperationDoc(
        "Reads one member: name, micro-grid, party membership, roles, whether active. A member token reads "
        "only its own member.",
        not_found=_MEMBER,
    ),
    ("PATCH", routes.MEMBER): OperationDoc(
        "Changes a member's name, roles or party membership; a new org_unit moves them to another micro-grid "
        "(recorded; an organizer needs both units in their subtree); active=false deactivates them, so they "
        "get no new awards. Points already earned stay.",
        body={"org_unit": "tawan-g1-m2", "roles": ["volunteer", "micro_grid_worker"]},
        not_found=(*_MEMBER, *_UNIT),
    ),
    ("GET", routes.MEMBER_EXPORT): OperationDoc(
        "A resident's copy of everything the ledger keeps about them: profile, every transaction with its "
        "postings, redemptions, claims, tiers and flags per period, notices, moves, and who read or exported "
        "their data. JSON by default; format=xlsx (or an Accept header naming XLSX) gives a workbook with a sheet "
        "per section. The member's own token, an organizer whose subtree holds the member, or an admin; the "
        "reading is itself recorded.",
        parameters={"member_id": "demo-021", "format": "json"},
        not_found=_MEMBER,
    ),
    ("POST", routes.MEMBER_ERASURE): OperationDoc(
        "Erases a member's personal information on their request: the name becomes a pseudonym (已注销-…), the "
        "phone, memos and evidence links of their transactions are erased for good; points, tiers and flags "
        "stay, and the books still verify. Refused while an open notice or a held redemption names them. Once "
        "per Idempotency-Key.",
        body={"reason": "本人申请注销个人信息(2026-12-01 书面申请)"},
        parameters={"member_id": "demo-042"},
        not_found=_MEMBER,
        conflicts=("erasure_blocked",),
    ),
    ("GET", routes.MEMBER_MOVES): OperationDoc(
        "Lists a member's moves between micro-grids, oldest first.", not_found=_MEMBER
    ),
    ("GET", routes.MEMBER_BALANCE): OperationDoc(
        "Reads a member's points: available to spend, held by open redemptions, earned in their lifetime and in "
        "the current period. One row read; a member token reads only its own.",
        not_found=_MEMBER,
    ),
    ("GET", routes.MEMBER_STATEMENT): OperationDoc(
        "Lists the transactions on a member's account, newest first, a page at a time (pass ``next_cursor`` "
        "back as ``cursor``).",
        not_found=_MEMBER,
    ),
    ("GET", routes.MEMBER_CAPS): OperationDoc(
        "Shows, for each earning rule with a cap, the room the member has left today, this week and this year, "
        "so an organizer knows what an award would clip.",
        not_found=_MEMBER,
    ),
    ("GET", routes.MEMBER_CLAIMS): OperationDoc(
        "Lists a member's claims for review, newest first, with their states.",
        parameters={"member_id": "demo-014"},
        not_found=_MEMBER,
    ),
    ("GET", routes.MEMBER_TIER): OperationDoc(
        "Reads a member's tier (合格 / 良好 / 优秀) in a period from the points they earned, and how many points "
        "the next tier needs. Spending does not lower a tier.",
        not_found=_MEMBER,
    ),
    ("GET", routes.MEMBER_EVIDENCE): OperationDoc(
        "Lists the transactions behind a member's points earned in a period: the evidence for a nomination.",
        not_found=_MEMBER,
    ),
    ("GET", routes.MEMBER_REDEMPTIONS): OperationDoc(
        "Lists a member's redemptions at the points shop, newest first, with their states.",
        parameters={"member_id": "demo-021"},
        not_found=_MEMBER,
    ),
    # Points
    ("POST", routes.AWARDS): OperationDoc(
        "Awards points to one member, by rule (points from the quantity, caps applied) or as a stated number of "
        "points in a category. Organizers award inside their subtree. Moves points from the issuing unit to the "
        "member, once per Idempotency-Key; may raise a nomination flag.",
        body={
            "member_id": "demo-013",
            "rule": "patrol",
            "quantity": 1,
            "steps": 1200,
            "occurred_at": "2026-11-25T09:30:00+08:00",
            "memo": "东关南里小区日常巡查",
        },
        not_found=(*_MEMBER, *_UNIT, "rule_not_found"),
        conflicts=_AWARD_REFUSALS,
    ),
    ("POST", routes.DEDUCTIONS): OperationDoc(
        "Deducts points from a member for cause (falsified hours, a penalty), clipped at what is available. "
        "Moves points back to the issuing unit, once per Idempotency-Key; reversible.",
        body={
            "member_id": "demo-013",
            "points": 5,
            "reason": "重复上报同一事件",
            "occurred_at": "2026-11-25T10:00:00+08:00",
            "category": "event_report",
        },
        not_found=_MEMBER,
        conflicts=("nothing_to_deduct",),
    ),
    ("GET", routes.TRANSACTION): OperationDoc(
        "Reads one journal transaction with its postings and its place in the hash chain.",
        not_found=("transaction_not_found",),
    ),
    ("POST", routes.TRANSACTION_REVERSAL): OperationDoc(
        "Reverses an award or a deduction with a reason: a new transaction that names the original and moves "
        "the points back (nothing is deleted); may revoke a nomination flag. Once per Idempotency-Key.",
        body={"reason": "误录:该次巡查已于前一日记录"},
        not_found=("transaction_not_found",),
        conflicts=("already_reversed", "not_reversible", "insufficient_points"),
    ),
    ("GET", routes.RULES): OperationDoc("Lists the current version of every earning rule: points, unit, caps, roles."),
    # Activities and claims
    ("POST", routes.ACTIVITIES): OperationDoc(
        "Records an activity (义剪, 茶艺, a fire-safety day …) of a unit, paid by a rule, to be settled by "
        "roster later. Moves no points.",
        body={
            "name": "义剪进社区",
            "org_unit": "tawan",
            "rule": "volunteer-hour",
            "starts_at": "2026-12-05T09:00:00+08:00",
            "ends_at": "2026-12-05T12:00:00+08:00",
            "organizer": "demo-013",
        },
        not_found=(*_UNIT, *_MEMBER, "rule_not_found"),
    ),
    ("GET", routes.ACTIVITIES): OperationDoc(
        "Lists a subtree's activities, newest first, without their rosters.", not_found=_UNIT
    ),
    ("GET", routes.ACTIVITY): OperationDoc(
        "Reads an activity with its roster and, once settled, its settlement.",
        not_found=("activity_not_found",),
    ),
    ("PUT", routes.ACTIVITY_ROSTER): OperationDoc(
        "Replaces the activity's roster: who took part and how much (hours, residents served). Sending it "
        "again is harmless; refused once the activity is settled.",
        body={"participants": [{"member_id": "demo-013", "quantity": 3}, {"member_id": "demo-014", "quantity": 3}]},
        not_found=("activity_not_found", *_MEMBER),
        conflicts=("already_settled",),
    ),
    ("GET", routes.ACTIVITY_PREVIEW): OperationDoc(
        "Shows what settling now would award each participant, caps applied. Writes nothing.",
        not_found=("activity_not_found",),
    ),
    ("POST", routes.ACTIVITY_SETTLE): OperationDoc(
        "Settles the activity: awards everyone on the roster in one transaction, each clipped to their caps. "
        "Once per activity and per Idempotency-Key.",
        not_found=("activity_not_found",),
        conflicts=("already_settled",),
    ),
    ("POST", routes.CLAIMS): OperationDoc(
        "Reports work for review (随手拍): an event report, a patrol, a task. The claim waits until an organizer "
        "approves it (an award by rule) or declines it. Moves no points.",
        body={
            "member_id": "demo-014",
            "rule": "event-report",
            "quantity": 1,
            "occurred_at": "2026-11-24T16:20:00+08:00",
            "handled_within_limit": True,
            "memo": "楼道堆放杂物,已协调清理",
        },
        not_found=(*_MEMBER, "rule_not_found"),
        conflicts=("member_inactive",),
    ),
    ("GET", routes.CLAIMS): OperationDoc(
        "The reviewer's queue: claims of a subtree by state, oldest first.",
        parameters={"status": "pending"},
        not_found=_UNIT,
    ),
    ("GET", routes.CLAIM): OperationDoc("Reads one claim with its state and review.", not_found=("claim_not_found",)),
    ("POST", routes.CLAIM_APPROVE): OperationDoc(
        "Approves a pending claim: awards its points by rule, caps applied, and marks it approved, in one "
        "transaction, once per Idempotency-Key.",
        not_found=("claim_not_found", "rule_not_found"),
        conflicts=("claim_not_pending", *_AWARD_REFUSALS),
    ),
    ("POST", routes.CLAIM_DECLINE): OperationDoc(
        "Declines a pending claim with a reason the member sees; the claim is kept. Moves no points.",
        body={"reason": "照片无法辨认事件地点,请补充后重新上报"},
        not_found=("claim_not_found",),
        conflicts=("claim_not_pending",),
    ),
    ("POST", routes.CLAIMS_REVIEW): OperationDoc(
        "Approves or declines many claims in one request; each decision is answered by itself (one refused "
        "claim does not stop the others) and each is carried out exactly once, per Idempotency-Key.",
        body={"decisions": [{"claim_id": 1, "decision": "approve"}]},
    ),
    # Tiers and nominations
    ("GET", routes.TIERS): OperationDoc(
        "Lists the current tier schemes: the default and each unit's override, with thresholds on points earned."
    ),
    ("POST", routes.TIERS): OperationDoc(
        "Loads tier schemes (the tiers file, as JSON); a scheme that changed gets a new version, and flags are "
        "recomputed from then on. Admins only.",
        body={
            "schemes": [
                {
                    "tiers": [
                        {"name": "合格", "points": 60},
                        {"name": "良好", "points": 150},
                        {"name": "优秀", "points": 300},
                    ],
                    "advanced_worker_roles": ["volunteer", "grid_worker", "micro_grid_worker", "grid_leader"],
                    "notice_working_days": 5,
                }
            ]
        },
        refused=("invalid_data_file",),
    ),
    ("GET", routes.NOMINATIONS): OperationDoc(
        "Lists the current nomination flags (先进工作者, 优秀共产党员) in a subtree for a period.", not_found=_UNIT
    ),
    ("POST", routes.NOTICES): OperationDoc(
        "Opens a public notice (公示) of a subtree's flags for a number of working days and seals a checkpoint "
        "of the ledger its names rest on. Moves no points.",
        body={"org_unit": "tawan", "period": "2026", "flag": "先进工作者", "working_days": 5},
        not_found=_UNIT,
    ),
    ("GET", routes.NOTICES): OperationDoc(
        "Lists a subtree's public notices, newest first (an organizer's own subtree by default).", not_found=_UNIT
    ),
    ("GET", routes.NOTICE): OperationDoc(
        "Reads a public notice: its names, units, points, flags, objections and its last day.",
        not_found=("notice_not_found",),
    ),
    ("POST", routes.NOMINATION_OBJECTIONS): OperationDoc(
        "Records an objection (异议) against a name on notice; the flag cannot be confirmed until it is decided.",
        body={"member_id": "demo-016", "period": "2026", "flag": "先进工作者", "reason": "巡查记录与实际出勤不符"},
        not_found=("nomination_not_found",),
        conflicts=("nomination_state_conflict",),
    ),
    ("POST", routes.NOMINATION_DECISIONS): OperationDoc(
        "Confirms a flag after its notice has run, or withdraws it, with a reason; both are recorded.",
        body={
            "member_id": "demo-013",
            "period": "2026",
            "flag": "先进工作者",
            "decision": "confirm",
            "reason": "公示期满无异议",
        },
        not_found=("nomination_not_found",),
        conflicts=("nomination_state_conflict",),
    ),
    ("GET", routes.EXPORT_NOMINATIONS): OperationDoc(
        "Streams the nomination list of a subtree and period as CSV (UTF-8 with BOM, for Excel) or XLSX (ready "
        "to print): org path, party membership, points by category, tier, when flagged, evidence count.",
        parameters={"org_unit": "dongdajie", "format": "xlsx"},
        not_found=_UNIT,
    ),
    # The points shop
    ("POST", routes.REWARDS): OperationDoc(
        "Lists a good or a service at a unit's points shop (积分超市): its cost, stock, per-member limit and "
        "active window. Moves no points.",
        body={
            "code": "tawan-洗衣液",
            "org_unit": "tawan",
            "name_zh": "洗衣液",
            "name_en": "Laundry detergent",
            "kind": "goods",
            "cost_points": 4,
            "stock": 25,
            "limit_count": 1,
            "limit_period": "month",
        },
        not_found=_UNIT,
        conflicts=("already_exists",),
    ),
    ("GET", routes.REWARDS): OperationDoc(
        "Lists the catalog; with org_unit, what that unit's members may redeem (their own unit's shop and those "
        "above it).",
        parameters={"org_unit": "xinnan-g1-m1", "cursor": "xinnan-毛巾"},
        not_found=_UNIT,
    ),
    ("GET", routes.REWARD): OperationDoc(
        "Reads one reward with its free stock.", parameters={"code": "xinnan-毛巾"}, not_found=("reward_not_found",)
    ),
    ("PATCH", routes.REWARD): OperationDoc(
        "Edits, restocks or closes a reward; stock never goes below what is held and handed over. Held "
        "redemptions keep the cost they were made at.",
        body={"add_stock": 20, "cost_points": 3},
        parameters={"code": "xinnan-毛巾"},
        not_found=("reward_not_found",),
    ),
    ("GET", routes.REWARD_REDEMPTIONS): OperationDoc(
        "Lists a reward's redemptions, newest first.",
        parameters={"code": "xinnan-毛巾"},
        not_found=("reward_not_found",),
    ),
    ("POST", routes.REDEMPTIONS): OperationDoc(
        "Redeems a reward: holds its cost on the member's account and one unit of stock, and gives a pickup "
        "code. Members redeem for themselves; the hold is fulfilled at the counter or cancelled. Once per "
        "Idempotency-Key.",
        body={"reward": "xinnan-毛巾", "member_id": "demo-021"},
        not_found=("reward_not_found", *_MEMBER),
        conflicts=(
            "member_inactive",
            "reward_inactive",
            "reward_not_offered",
            "out_of_stock",
            "over_limit",
            "tier_too_low",
            "insufficient_points",
        ),
    ),
    ("GET", routes.REDEMPTIONS): OperationDoc(
        "The counter (核销台): a unit's open holds, soonest to expire first; pickup_code finds the one a "
        "resident shows.",
        parameters={"org_unit": "xinnan", "pickup_code": "K7MQ3X", "cursor": "1796112000000000.12"},
        not_found=_UNIT,
    ),
    ("GET", routes.REDEMPTION): OperationDoc(
        "Reads one redemption with its state, pickup code and place.", not_found=_HOLD
    ),
    ("POST", routes.REDEMPTION_FULFIL): OperationDoc(
        "Hands the reward over: the held points are spent and the stock unit is sold, once per Idempotency-Key.",
        not_found=_HOLD,
        conflicts=("redemption_not_held", "hold_expired"),
    ),
    ("POST", routes.REDEMPTION_CANCEL): OperationDoc(
        "Cancels a hold: its points go back to available and its stock unit back on the shelf, once per "
        "Idempotency-Key. Members cancel their own.",
        not_found=_HOLD,
        conflicts=("redemption_not_held",),
    ),
    ("POST", routes.ADMIN_SWEEP): OperationDoc(
        "Runs the sweep now (the service also runs it on a timer): releases holds past their time and expires "
        "points past their date, each as a transaction. Admins only."
    ),
    # Tokens and audit
    ("POST", routes.TOKENS): OperationDoc(
        "Creates an API token for a principal with a role and an org subtree (or, for a member, their member); "
        "the token is in this answer only, never again. Admins create any role; organizers member tokens in "
        "their subtree.",
        body={"role": "member", "label": "王红梅", "member_id": "demo-021", "expires_at": "2027-12-31T23:59:59+08:00"},
        not_found=(*_UNIT, *_MEMBER),
    ),
    ("GET", routes.TOKENS): OperationDoc(
        "Lists every token's principal (role, subtree, label, expiry, revocation), never the token itself.",
        parameters={"cursor": "9f86d081884c7d65"},
    ),
    ("GET", routes.TOKEN): OperationDoc("Reads one token's principal.", not_found=("principal_not_found",)),
    ("POST", routes.TOKEN_REVOKE): OperationDoc(
        "Revokes a token: it stops working at once, in every worker. Revoking again keeps the first revocation.",
        not_found=("principal_not_found",),
    ),
    ("GET", routes.AUDIT): OperationDoc(
        "Lists the writes, oldest first: who made each, what it was and how it ended. For auditors.",
        parameters={"principal": "admin", "since": "2026-11-01T00:00:00+08:00"},
    ),
    ("GET", routes.LEDGER_VERIFY): OperationDoc(
        "Recomputes every balance from the postings and the hash chain from the transactions, and checks the "
        "sealed checkpoints; answers ok or the problems found. Reads only; on a large ledger it takes a while."
    ),
    ("GET", routes.CHECKPOINTS): OperationDoc(
        "Lists the sealed checkpoints of the chain head, newest first, to print or keep outside the database."
    ),
    # Imports
    ("POST", routes.IMPORT_ORG_UNITS): OperationDoc(
        "Imports org units (编码, 名称, 层级, 上级) from an XLSX or CSV file sent as the body. A dry run (the "
        "default) reports every row and writes nothing; dry_run=false writes all rows or, if one is refused, "
        "none.",
        body_file=routes.api(routes.IMPORT_TEMPLATE, name="org-units.xlsx"),
        parameters={"dry_run": True},
        refused=("import_refused",),
        conflicts=("import_conflict",),
    ),
    ("POST", routes.IMPORT_MEMBERS): OperationDoc(
        "Imports members (成员编号, 姓名, 微网格 …) from an XLSX or CSV file sent as the body. A dry run (the "
        "default) reports every row and writes nothing; dry_run=false writes all rows or, if one is refused, "
        "none.",
        body_file=routes.api(routes.IMPORT_TEMPLATE, name="members.xlsx"),
        parameters={"dry_run": True},
        refused=("import_refused",),
        conflicts=("import_conflict",),
    ),
    ("GET", routes.IMPORT_TEMPLATE): OperationDoc(
        "Downloads a file to fill in for an import, with its header row: org-units.xlsx, org-units.csv, "
        "members.xlsx or members.csv.",
        parameters={"name": "members.xlsx"},
        not_found=("not_found",),
    ),
}
"""Every operation of the API, by method and route. A new handler without an entry here
stops the app from being built (``document_operations``)."""


def _roles(handler: HTTPRouteHandler) -> str:
    return ", ".join(sorted(role.value for role in handler.opt[ROLES]))


def _inputs(handler: HTTPRouteHandler) -> set[str]:
    """What the client sends: the handler's parameters but its dependencies and the request."""
    return set(handler.parsed_fn_signature.parameters.keys() - handler.resolve_dependencies().keys() - {"request"})


def _takes_key(handler: HTTPRouteHandler) -> bool:
    return any(
        getattr(parameter.kwarg_definition, "name", None) == HEADER
        for parameter in handler.parsed_fn_signature.parameters.values()
    )


def problem_codes(handler: HTTPRouteHandler, doc: OperationDoc) -> dict[int, tuple[str, ...]]:
    """The codes of the operation's own refusals, by status: 422 whenever it takes input."""
    inputs = _inputs(handler)
    conflicts = (*doc.conflicts, *KEY_CONFLICTS) if _takes_key(handler) else doc.conflicts
    codes = {
        HTTP_404_NOT_FOUND: doc.not_found,
        HTTP_409_CONFLICT: conflicts,
        HTTP_422_UNPROCESSABLE_ENTITY: ("invalid_input", *doc.refused) if inputs or doc.refused else (),
    }
    return {status: found for status, found in codes.items() if found}


def shared_statuses(handler: HTTPRouteHandler) -> list[int]:
    """The statuses any operation may answer with, from what it takes and does."""
    inputs = _inputs(handler)
    statuses = {
        HTTPStatus.UNAUTHORIZED,
        HTTPStatus.FORBIDDEN,
        HTTPStatus.INTERNAL_SERVER_ERROR,
        HTTPStatus.SERVICE_UNAVAILABLE,
    }
    if inputs:
        statuses.add(HTTPStatus.BAD_REQUEST)
    # A body is a JSON ``data``, or a file the handler reads raw under a limit of its own.
    if "data" in inputs or isinstance(handler.request_max_body_size, int):
        statuses.add(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
    if handler.http_methods & WRITE_METHODS:
        statuses.add(HTTPStatus.TOO_MANY_REQUESTS)
    return sorted(statuses)


def _problem(description: str) -> ResponseSpec:
    return ResponseSpec(ProblemRead, description=description, media_type=PROBLEM_MEDIA_TYPE, generate_examples=False)


def _responses(handler: HTTPRouteHandler, doc: OperationDoc) -> dict[int, ResponseSpec]:
    described = {int(status): _problem(_SHARED[status]) for status in shared_statuses(handler)}
    for status, codes in problem_codes(handler, doc).items():
        listed = "".join(f"\n- `{code}`: {CODES[code]}" for code in codes)  # a Markdown list, as Swagger UI shows it
        described[status] = _problem(f"{_OPENING[status]}; `code` is one of:\n{listed}")
    return described


def _operation_class(base: type[Operation], doc: OperationDoc) -> type[Operation]:
    """``base`` (Litestar's Operation, or a handler's own) with the examples filled in
    once Litestar has built the request body and the parameters."""

    class Documented(base):  # type: ignore[valid-type,misc]  # a class made per operation
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            if self.request_body is not None:
                example = Example(summary="on the demo's data", value=doc.body, external_value=doc.body_file)
                for media in self.request_body.content.values():
                    media.examples = {"demo": example}
            for parameter in self.parameters or ():
                value = doc.parameters.get(parameter.name, PARAMETER_EXAMPLES.get(parameter.name))
                if value is not None:
                    parameter.examples = {"demo": Example(value=value)}

    return Documented


def document_operations(handlers: Iterable[tuple[str, HTTPRouteHandler]]) -> None:
    """Give each (API path, handler) its description, examples and problem responses (in
    place of Litestar's own 400, which is not the shape this API answers with)."""
    undescribed = []
    for path, handler in handlers:
        for method in sorted(handler.http_methods):
            doc = OPERATIONS.get((method, path.removeprefix(routes.API_PREFIX)))
            if doc is None:
                undescribed.append(f"{method} {path}")
                continue
            handler.description = f"{doc.description} Allowed roles: {_roles(handler)}."
            handler.operation_class = _operation_class(handler.operation_class, doc)
            handler.responses = {**_responses(handler, doc), **(handler.responses or {})}
    assert not undescribed, f"operations api.openapi.OPERATIONS does not describe: {undescribed}"
