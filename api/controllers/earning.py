"""Earning by rule: the rules, deductions, activities with rosters, claims and roll-ups."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post, put
from litestar.params import FromPath, JSONBody, QueryParameter

from api import dto, routes, views
from api.access import ADMIN, EVERYONE, MEMBER, ORGANIZER, OVERSEERS, READERS, WRITERS, allow, unit_or_own
from api.dependencies import LedgerDep
from api.idempotency import IdempotencyKey, created, idempotent_request
from api.problems import from_ledger_error, problem_document
from ledger import (
    ACTIVITY_PAGE_SIZE_MAX,
    CLAIM_PAGE_SIZE_MAX,
    CODE_LENGTH_MAX,
    LEADERBOARD_SIZE_MAX,
    ActivityCommand,
    ClaimCommand,
    ClaimDecision,
    DeductionCommand,
    InvalidInput,
    Reviewed,
    WorkDone,
)

CLAIM_PAGE_SIZE_DEFAULT = 50
ACTIVITY_PAGE_SIZE_DEFAULT = 20
LEADERBOARD_SIZE_DEFAULT = 10

Req = Request[Any, Any, Any]


def _cursor(cursor: str | None) -> int | None:
    return int(cursor) if cursor else None


class RuleController(Controller):
    tags = ["earning rules"]

    @get(routes.RULES, summary="The current version of every earning rule", opt=EVERYONE)
    async def list(self, ledger: LedgerDep) -> list[dto.RuleRead]:
        return [dto.RuleRead(r.code, r.version, dict(r.definition)) for r in await ledger.rules()]


class DeductionController(Controller):
    tags = ["points"]

    @post(
        routes.DEDUCTIONS,
        summary="Deduct points for cause, clipped at the balance (Idempotency-Key)",
        status_code=201,
        opt=WRITERS,
    )
    async def deduct(
        self,
        data: JSONBody[dto.DeductionCreate],
        ledger: LedgerDep,
        request: Req,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[dto.DeductionRead]:
        command = DeductionCommand(data.member_id, data.points, data.reason, data.occurred_at, data.category)
        result, replayed = await ledger.deduct(
            request.user, command, idempotent_request(request, data, idempotency_key)
        )
        return created(views.read(result, dto.DeductionRead), replayed)


class ActivityController(Controller):
    tags = ["activities"]

    @post(routes.ACTIVITIES, summary="Record an activity (义剪, 茶艺 …) to settle by roster", opt=WRITERS)
    async def create(self, data: JSONBody[dto.ActivityCreate], ledger: LedgerDep, request: Req) -> dto.ActivityRead:
        command = ActivityCommand(data.name, data.org_unit, data.rule, data.starts_at, data.ends_at, data.organizer)
        return views.read(await ledger.create_activity(request.user, command), dto.ActivityRead)

    @get(routes.ACTIVITIES, summary="A subtree's activities, newest first, without rosters", opt=OVERSEERS)
    async def list(
        self,
        ledger: LedgerDep,
        request: Req,
        org_unit: Annotated[str | None, QueryParameter(max_length=CODE_LENGTH_MAX)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=ACTIVITY_PAGE_SIZE_MAX)] = ACTIVITY_PAGE_SIZE_DEFAULT,
        cursor: Annotated[str | None, QueryParameter(pattern=r"^[0-9]{1,18}$")] = None,
    ) -> dto.ActivityPage:
        unit = unit_or_own(request.user, org_unit)
        if unit is None:
            raise InvalidInput("org_unit", "name the unit whose activities to list")
        found = await ledger.activities(request.user, unit, limit, _cursor(cursor))
        next_cursor = str(found[-1].id) if len(found) == limit else None
        return dto.ActivityPage([views.read(a, dto.ActivityRead) for a in found], next_cursor)

    @get(routes.ACTIVITY, summary="An activity with its roster and, once settled, its settlement", opt=OVERSEERS)
    async def read(self, activity_id: FromPath[int], ledger: LedgerDep, request: Req) -> dto.ActivityRead:
        return views.read(await ledger.activity(request.user, activity_id), dto.ActivityRead)

    @put(routes.ACTIVITY_ROSTER, summary="Replace the roster (idempotent)", opt=WRITERS)
    async def roster(
        self, activity_id: FromPath[int], data: JSONBody[dto.RosterPut], ledger: LedgerDep, request: Req
    ) -> dto.ActivityRead:
        participants = [(p.member_id, p.quantity) for p in data.participants]
        return views.read(await ledger.put_roster(request.user, activity_id, participants), dto.ActivityRead)

    @get(routes.ACTIVITY_PREVIEW, summary="What settling now would award each participant (no write)", opt=OVERSEERS)
    async def preview(self, activity_id: FromPath[int], ledger: LedgerDep, request: Req) -> dto.SettlementRead:
        return views.read(await ledger.preview_settlement(request.user, activity_id), dto.SettlementRead)

    @post(
        routes.ACTIVITY_SETTLE,
        summary="Award everyone on the roster at once (Idempotency-Key)",
        status_code=201,
        opt=WRITERS,
    )
    async def settle(
        self, activity_id: FromPath[int], ledger: LedgerDep, request: Req, idempotency_key: IdempotencyKey = None
    ) -> Response[dto.SettlementRead]:
        result, replayed = await ledger.settle(
            request.user, activity_id, idempotent_request(request, None, idempotency_key)
        )
        return created(views.read(result, dto.SettlementRead), replayed)


class ClaimController(Controller):
    tags = ["claims"]

    @post(
        routes.CLAIMS,
        summary="Report work for review (随手拍): pending until approved",
        opt=allow(ADMIN, ORGANIZER, MEMBER),
    )
    async def submit(self, data: JSONBody[dto.ClaimCreate], ledger: LedgerDep, request: Req) -> dto.ClaimRead:
        command = ClaimCommand(
            data.member_id,
            data.rule,
            WorkDone(data.quantity, data.steps, data.handled_within_limit),
            data.occurred_at,
            data.memo,
            data.reference,
            data.evidence_url,
        )
        return views.read(await ledger.submit_claim(request.user, command), dto.ClaimRead)

    @get(
        routes.CLAIMS,
        summary="The reviewer's queue, oldest first (organizers: their subtree)",
        opt=OVERSEERS,
    )
    async def queue(
        self,
        ledger: LedgerDep,
        request: Req,
        status: Annotated[str | None, QueryParameter(pattern=r"^(pending|approved|declined)$")] = None,
        org_unit: Annotated[str | None, QueryParameter(max_length=CODE_LENGTH_MAX)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=CLAIM_PAGE_SIZE_MAX)] = CLAIM_PAGE_SIZE_DEFAULT,
        cursor: Annotated[str | None, QueryParameter(pattern=r"^[0-9]{1,18}$")] = None,
    ) -> dto.ClaimPage:
        org_unit = unit_or_own(request.user, org_unit)
        found = await ledger.claims(request.user, status, org_unit, limit, _cursor(cursor))
        next_cursor = str(found[-1].id) if len(found) == limit else None
        return dto.ClaimPage([views.read(c, dto.ClaimRead) for c in found], next_cursor)

    @get(routes.CLAIM, summary="One claim", opt=READERS)
    async def read(self, claim_id: FromPath[int], ledger: LedgerDep, request: Req) -> dto.ClaimRead:
        return views.read(await ledger.claim(request.user, claim_id), dto.ClaimRead)

    @get(routes.MEMBER_CLAIMS, summary="A member's claims, newest first, with their states", opt=READERS)
    async def of_member(
        self,
        member_id: FromPath[str],
        ledger: LedgerDep,
        request: Req,
        limit: Annotated[int, QueryParameter(ge=1, le=CLAIM_PAGE_SIZE_MAX)] = CLAIM_PAGE_SIZE_DEFAULT,
        cursor: Annotated[str | None, QueryParameter(pattern=r"^[0-9]{1,18}$")] = None,
    ) -> dto.ClaimPage:
        found = await ledger.member_claims(request.user, member_id, limit, _cursor(cursor))
        next_cursor = str(found[-1].id) if len(found) == limit else None
        return dto.ClaimPage([views.read(c, dto.ClaimRead) for c in found], next_cursor)

    @post(
        routes.CLAIM_APPROVE,
        summary="Approve: award by rule, caps applied (Idempotency-Key)",
        status_code=201,
        opt=WRITERS,
    )
    async def approve(
        self, claim_id: FromPath[int], ledger: LedgerDep, request: Req, idempotency_key: IdempotencyKey = None
    ) -> Response[dto.ClaimApproval]:
        approved, replayed = await ledger.approve_claim(
            request.user, claim_id, idempotent_request(request, None, idempotency_key)
        )
        claim = views.read(approved.claim, dto.ClaimRead)
        return created(dto.ClaimApproval(claim, views.read(approved.award, dto.AwardRead)), replayed)

    @post(
        routes.CLAIMS_REVIEW,
        summary="Approve or decline many claims, each answered by itself and each exactly once (Idempotency-Key)",
        status_code=200,
        opt=WRITERS,
    )
    async def review(
        self, data: JSONBody[dto.ClaimReview], ledger: LedgerDep, request: Req, idempotency_key: IdempotencyKey = None
    ) -> dto.ClaimReviewRead:
        # Every claim must lie in the reviewer's scope before any is decided: a batch that
        # names one outside is refused whole, naming its line, as a roster is.
        decisions = [ClaimDecision(d.claim_id, d.decision == "approve", d.reason) for d in data.decisions]
        reviewed = await ledger.review_claims(
            request.user, decisions, idempotent_request(request, data, idempotency_key)
        )
        return dto.ClaimReviewRead([_review_line(r) for r in reviewed])

    @post(routes.CLAIM_DECLINE, summary="Decline with a reason; the claim is kept", status_code=200, opt=WRITERS)
    async def decline(
        self, claim_id: FromPath[int], data: JSONBody[dto.ClaimDecline], ledger: LedgerDep, request: Req
    ) -> dto.ClaimRead:
        return views.read(await ledger.decline_claim(request.user, claim_id, data.reason), dto.ClaimRead)


def _review_line(reviewed: Reviewed) -> dto.ClaimReviewLine:
    claim_id = reviewed.decision.claim_id
    if reviewed.refused is not None:
        problem = problem_document(from_ledger_error(reviewed.refused))
        return dto.ClaimReviewLine(claim_id, "refused", False, None, None, problem)
    assert reviewed.result is not None and reviewed.claim is not None
    claim = views.read(reviewed.claim, dto.ClaimRead)
    if reviewed.decision.approve:
        award = views.read(reviewed.result.award, dto.AwardRead)
        return dto.ClaimReviewLine(claim_id, "approved", reviewed.replayed, claim, award, None)
    return dto.ClaimReviewLine(claim_id, "declined", reviewed.replayed, claim, None, None)


class SummaryController(Controller):
    tags = ["org tree"]

    @get(routes.ORG_UNIT_SUMMARY, summary="Points awarded in a subtree by category, and its top members", opt=OVERSEERS)
    async def summary(
        self,
        code: FromPath[str],
        ledger: LedgerDep,
        request: Req,
        period: Annotated[str | None, QueryParameter(pattern=r"^[0-9]{4}$")] = None,
        top: Annotated[int, QueryParameter(ge=1, le=LEADERBOARD_SIZE_MAX)] = LEADERBOARD_SIZE_DEFAULT,
    ) -> dto.SummaryRead:
        return views.read(await ledger.unit_summary(request.user, code, period, top), dto.SummaryRead)

    @get(routes.ORG_UNIT_MONTHS, summary="Points earned in a subtree per month and category", opt=OVERSEERS)
    async def months(
        self,
        code: FromPath[str],
        ledger: LedgerDep,
        request: Req,
        period: Annotated[str | None, QueryParameter(pattern=r"^[0-9]{4}$")] = None,
    ) -> dto.MonthsRead:
        return views.read(await ledger.unit_months(request.user, code, period), dto.MonthsRead)
