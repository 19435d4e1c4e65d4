"""The points shop (积分超市): the catalog, redemptions (hold → fulfil or cancel), and the
sweep that releases holds past their time and expires points past their date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter

from api import dto, routes, views
from api.access import ADMIN, ADMIN_ONLY, EVERYONE, MEMBER, ORGANIZER, OVERSEERS, READERS, WRITERS, allow
from api.dependencies import LedgerDep
from api.idempotency import IdempotencyKey, created, idempotent_request
from ledger import (
    CODE_LENGTH_MAX,
    PICKUP_CODE_TYPED_LENGTH_MAX,
    REDEMPTION_PAGE_SIZE_MAX,
    REWARD_PAGE_SIZE_MAX,
    HeldRedemption,
    Redemption,
    RewardChanges,
    RewardCommand,
)

REWARD_PAGE_SIZE_DEFAULT = 100
REDEMPTION_PAGE_SIZE_DEFAULT = 50

Limit = Annotated[int, QueryParameter(ge=1, le=REDEMPTION_PAGE_SIZE_MAX)]
Cursor = Annotated[str | None, QueryParameter(pattern=r"^[0-9]{1,18}$")]
# The counter's cursor: the last hold's expiry in microseconds since 1970 (UTC), and its id.
CounterCursor = Annotated[str | None, QueryParameter(pattern=r"^[0-9]{1,18}\.[0-9]{1,18}$")]
PickupCode = Annotated[str | None, QueryParameter(min_length=1, max_length=PICKUP_CODE_TYPED_LENGTH_MAX)]
Req = Request[Any, Any, Any]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
RedemptionRead = dto.RedemptionRead


def _redemption(result: Redemption) -> dto.RedemptionRead:
    return views.read(result, dto.RedemptionRead)


def _counter_cursor(held: HeldRedemption) -> str:
    micros = (held.expires_at - EPOCH) // timedelta(microseconds=1)
    return f"{micros}.{held.id}"


def _after(cursor: str) -> tuple[datetime, int]:
    micros, redemption_id = cursor.split(".")
    return EPOCH + timedelta(microseconds=int(micros)), int(redemption_id)


def _page(found: list[Redemption], limit: int) -> dto.RedemptionPage:
    next_cursor = str(found[-1].id) if len(found) == limit else None
    return dto.RedemptionPage([_redemption(r) for r in found], next_cursor)


class RewardController(Controller):
    tags = ["points shop"]

    @post(routes.REWARDS, summary="List a good or service at a unit's points shop", opt=WRITERS)
    async def create(self, data: JSONBody[dto.RewardCreate], ledger: LedgerDep, request: Req) -> dto.RewardRead:
        command = RewardCommand(**msgspec.structs.asdict(data))
        return views.read(await ledger.create_reward(request.user, command), dto.RewardRead)

    @get(routes.REWARDS, summary="The catalog: with org_unit, what that unit's members may redeem", opt=EVERYONE)
    async def catalog(
        self,
        ledger: LedgerDep,
        org_unit: Annotated[str | None, QueryParameter(max_length=CODE_LENGTH_MAX)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=REWARD_PAGE_SIZE_MAX)] = REWARD_PAGE_SIZE_DEFAULT,
        cursor: Annotated[str | None, QueryParameter(max_length=CODE_LENGTH_MAX)] = None,
    ) -> dto.RewardPage:
        found = await ledger.rewards(org_unit, limit, cursor)
        next_cursor = found[-1].code if len(found) == limit else None
        return dto.RewardPage([views.read(r, dto.RewardRead) for r in found], next_cursor)

    @get(routes.REWARD, summary="One reward, with its free stock", opt=EVERYONE)
    async def read(self, code: FromPath[str], ledger: LedgerDep) -> dto.RewardRead:
        return views.read(await ledger.reward(code), dto.RewardRead)

    @patch(
        routes.REWARD,
        summary="Edit, restock or close a reward (stock never below what is held and sold)",
        opt=WRITERS,
    )
    async def change(
        self, code: FromPath[str], data: JSONBody[dto.RewardPatch], ledger: LedgerDep, request: Req
    ) -> dto.RewardRead:
        changes = RewardChanges(**msgspec.structs.asdict(data) | {"clear": tuple(data.clear)})
        return views.read(await ledger.change_reward(request.user, code, changes), dto.RewardRead)

    @get(routes.REWARD_REDEMPTIONS, summary="A reward's redemptions, newest first", opt=OVERSEERS)
    async def redemptions(
        self,
        code: FromPath[str],
        ledger: LedgerDep,
        request: Req,
        limit: Limit = REDEMPTION_PAGE_SIZE_DEFAULT,
        cursor: Cursor = None,
    ) -> dto.RedemptionPage:
        # "state" is a name Litestar reserves for handler arguments: read from the query
        # string and checked by the ledger, which names the field when it is wrong.
        state = request.query_params.get("state")
        before = int(cursor) if cursor else None
        return _page(await ledger.reward_redemptions(request.user, code, state, limit, before), limit)


class RedemptionController(Controller):
    tags = ["points shop"]

    @post(
        routes.REDEMPTIONS,
        summary="Redeem: hold the points and one unit of stock (Idempotency-Key); members for themselves",
        opt=allow(ADMIN, ORGANIZER, MEMBER),
    )
    async def hold(
        self,
        data: JSONBody[dto.RedemptionCreate],
        ledger: LedgerDep,
        request: Req,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[dto.RedemptionRead]:
        result, replayed = await ledger.redeem(
            request.user, data.reward, data.member_id, idempotent_request(request, data, idempotency_key)
        )
        return created(_redemption(result), replayed)

    @get(
        routes.REDEMPTIONS,
        summary="The counter: a unit's open holds, soonest to expire first; pickup_code finds the one shown",
        opt=OVERSEERS,
    )
    async def held(
        self,
        ledger: LedgerDep,
        request: Req,
        org_unit: Annotated[str, QueryParameter(min_length=1, max_length=CODE_LENGTH_MAX)],
        pickup_code: PickupCode = None,
        limit: Limit = REDEMPTION_PAGE_SIZE_DEFAULT,
        cursor: CounterCursor = None,
    ) -> dto.HeldRedemptionPage:
        # The unit is the scope: a code held in another community is simply not found here.
        after = _after(cursor) if cursor else None
        found = await ledger.held_at_counter(request.user, org_unit, limit, after, pickup_code)
        next_cursor = _counter_cursor(found[-1]) if len(found) == limit else None
        return dto.HeldRedemptionPage([views.read(h, dto.HeldRedemptionRead) for h in found], next_cursor)

    @get(routes.REDEMPTION, summary="One redemption", opt=READERS)
    async def read(self, redemption_id: FromPath[int], ledger: LedgerDep, request: Req) -> dto.RedemptionRead:
        return _redemption(await ledger.redemption(request.user, redemption_id))

    @post(
        routes.REDEMPTION_FULFIL,
        summary="Hand the reward over: the held points are spent (Idempotency-Key)",
        opt=WRITERS,
    )
    async def fulfil(
        self, redemption_id: FromPath[int], ledger: LedgerDep, request: Req, idempotency_key: IdempotencyKey = None
    ) -> Response[dto.RedemptionRead]:
        result, replayed = await ledger.fulfil(
            request.user, redemption_id, idempotent_request(request, None, idempotency_key)
        )
        return created(_redemption(result), replayed)

    @post(
        routes.REDEMPTION_CANCEL,
        summary="Cancel a hold: points and stock go back (Idempotency-Key); members their own",
        opt=allow(ADMIN, ORGANIZER, MEMBER),
    )
    async def cancel(
        self, redemption_id: FromPath[int], ledger: LedgerDep, request: Req, idempotency_key: IdempotencyKey = None
    ) -> Response[dto.RedemptionRead]:
        result, replayed = await ledger.cancel(
            request.user, redemption_id, idempotent_request(request, None, idempotency_key)
        )
        return created(_redemption(result), replayed)

    @get(routes.MEMBER_REDEMPTIONS, summary="A member's redemptions, newest first", tags=["members"], opt=READERS)
    async def of_member(
        self,
        member_id: FromPath[str],
        ledger: LedgerDep,
        request: Req,
        limit: Limit = REDEMPTION_PAGE_SIZE_DEFAULT,
        cursor: Cursor = None,
    ) -> dto.RedemptionPage:
        before = int(cursor) if cursor else None
        return _page(await ledger.member_redemptions(request.user, member_id, limit, before), limit)


class SweepController(Controller):
    tags = ["points shop"]

    @post(
        routes.ADMIN_SWEEP,
        summary="Release overdue holds, expire points past their date, purge old audit rows and dead tokens",
        status_code=200,
        opt=ADMIN_ONLY,
    )
    async def sweep(self, ledger: LedgerDep) -> dto.SweepRead:
        report = await ledger.sweep()
        return views.read(report, dto.SweepRead)
