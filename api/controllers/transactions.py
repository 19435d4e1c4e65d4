from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from api import dto, routes, views
from api.access import ADMIN, AUDITOR, READERS, WRITERS, allow
from api.dependencies import LedgerDep
from api.idempotency import IdempotencyKey, created, idempotent_request
from ledger import CHECKPOINT_PAGE_SIZE_MAX, AwardCommand, WorkDone

CHECKPOINT_PAGE_SIZE_DEFAULT = 100


class AwardController(Controller):
    tags = ["points"]

    @post(routes.AWARDS, summary="Award points to a member (Idempotency-Key required)", status_code=201, opt=WRITERS)
    async def award(
        self,
        data: JSONBody[dto.AwardCreate],
        ledger: LedgerDep,
        request: Request[Any, Any, Any],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[dto.AwardRead]:
        work = None if data.quantity is None else WorkDone(data.quantity, data.steps, data.handled_within_limit)
        command = AwardCommand(
            member_id=data.member_id,
            points=data.points,
            category=data.category,
            occurred_at=data.occurred_at,
            memo=data.memo,
            evidence_url=data.evidence_url,
            org_unit=data.org_unit,
            rule=data.rule,
            work=work,
            clip=data.clip,
        )
        result, replayed = await ledger.award(request.user, command, idempotent_request(request, data, idempotency_key))
        return created(views.read(result, dto.AwardRead), replayed)


class TransactionController(Controller):
    tags = ["points"]

    @get(routes.TRANSACTION, summary="One transaction with its postings and hash", opt=READERS)
    async def read(
        self, transaction_id: FromPath[int], ledger: LedgerDep, request: Request[Any, Any, Any]
    ) -> dto.TransactionRead:
        return views.transaction_read(await ledger.transaction(request.user, transaction_id))

    @post(
        routes.TRANSACTION_REVERSAL,
        summary="Reverse a transaction (Idempotency-Key required)",
        status_code=201,
        opt=WRITERS,
    )
    async def reverse(
        self,
        transaction_id: FromPath[int],
        data: JSONBody[dto.ReversalCreate],
        ledger: LedgerDep,
        request: Request[Any, Any, Any],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[dto.ReversalRead]:
        result, replayed = await ledger.reverse(
            request.user, transaction_id, data.reason, idempotent_request(request, data, idempotency_key)
        )
        return created(views.read(result, dto.ReversalRead), replayed)


class LedgerController(Controller):
    tags = ["audit"]

    @get(routes.LEDGER_VERIFY, summary="Recompute every balance and the hash chain", opt=allow(ADMIN, AUDITOR))
    async def verify(self, ledger: LedgerDep) -> dto.VerifyRead:
        return views.read(await ledger.verify(), dto.VerifyRead)

    @get(
        routes.CHECKPOINTS,
        summary="The sealed checkpoints of the chain head, newest first, to print or keep outside the database",
        opt=allow(ADMIN, AUDITOR),
    )
    async def checkpoints(
        self,
        ledger: LedgerDep,
        limit: Annotated[int, QueryParameter(ge=1, le=CHECKPOINT_PAGE_SIZE_MAX)] = CHECKPOINT_PAGE_SIZE_DEFAULT,
        cursor: Annotated[str | None, QueryParameter(pattern=r"^[0-9]{1,18}$")] = None,
    ) -> dto.CheckpointPage:
        found = await ledger.checkpoints(limit, int(cursor) if cursor else None)
        next_cursor = str(found[-1].id) if len(found) == limit else None
        return dto.CheckpointPage([views.read(c, dto.CheckpointRead) for c in found], next_cursor)
