"""Stored replies of exactly-once writes: a retry is answered from what the first request
stored, in today's format and in the format of a release before a field was added."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from api import routes
from ledger import AwardResult, Redemption
from ledger.storage.tables import IdempotencyRecord, table_of
from tests.builders import award_body, member, post, redeem, reward, tree

_records = table_of(IdempotencyRecord)


async def _stored(ledger, key):
    async with ledger.db.read() as conn:
        return (await conn.execute(select(_records.c.result).where(_records.c.key == key))).scalar_one()


async def _restore(ledger, key, result):
    """Store ``result`` under ``key`` as an earlier release would have stored it."""
    async with ledger.db.write() as conn:
        await conn.execute(update(_records).where(_records.c.key == key).values(result=result))


async def _awarded(client, ledger, key="award-1"):
    await tree(ledger)
    mid = await member(ledger)
    body = award_body(mid, 30)
    first = await post(client, routes.api(routes.AWARDS), body, Idempotency_Key=key)
    assert 201 == first.status_code, first.text
    return body, first.json()


async def test_an_award_replays_as_first_answered(client, ledger):
    """A retried award answers the body of the first, marked as a replay."""
    body, first = await _awarded(client, ledger)
    again = await post(client, routes.api(routes.AWARDS), body, Idempotency_Key="award-1")
    assert (first, "true") == (again.json(), again.headers.get("idempotent-replayed"))


async def test_a_reversal_replays_as_first_answered(client, ledger):
    """A retried reversal answers the body of the first, marked as a replay."""
    _, awarded = await _awarded(client, ledger)
    path = routes.api(routes.TRANSACTION_REVERSAL, transaction_id=awarded["transaction_id"])
    first = await post(client, path, {"reason": "重复录入"}, Idempotency_Key="undo-1")
    again = await post(client, path, {"reason": "重复录入"}, Idempotency_Key="undo-1")
    assert 201 == first.status_code, first.text
    assert (first.json(), "true") == (again.json(), again.headers.get("idempotent-replayed"))
    assert awarded["transaction_id"] == again.json()["reverses_id"]


async def test_a_hold_replays_as_first_answered_with_its_timestamps(client, ledger):
    """A retried hold answers the first body, its times and balances included."""
    await _awarded(client, ledger)
    await reward(client)
    first = await redeem(client, "m-张三", Idempotency_Key="hold-1")
    again = await redeem(client, "m-张三", Idempotency_Key="hold-1")
    assert 201 == first.status_code, first.text
    assert (first.json(), "true") == (again.json(), again.headers.get("idempotent-replayed"))
    assert (10, 20) == (again.json()["available_points"], again.json()["held_points"])


async def test_an_award_stored_before_fields_were_added_replays_with_their_defaults(client, ledger):
    """An award stored by a release that had no rule fields, and with a field a later
    release dropped, still replays: the missing fields take their defaults (none for a
    manual award), the dropped one is ignored."""
    body, first = await _awarded(client, ledger)
    stored = await _stored(ledger, "award-1")
    older = {k: v for k, v in stored.items() if k not in ("rule", "rule_version", "clipped_from_points")}
    await _restore(ledger, "award-1", older | {"a_field_since_dropped": 1})
    again = await post(client, routes.api(routes.AWARDS), body, Idempotency_Key="award-1")
    assert (first, "true") == (again.json(), again.headers.get("idempotent-replayed"))


async def test_a_hold_stored_before_pickup_codes_replays_without_one(client, ledger):
    """A hold answered before holds had pickup codes replays with a null code and
    otherwise the body first answered."""
    await _awarded(client, ledger)
    await reward(client)
    first = (await redeem(client, "m-张三", Idempotency_Key="hold-1")).json()
    stored = await _stored(ledger, "hold-1")
    await _restore(ledger, "hold-1", {k: v for k, v in stored.items() if k != "pickup_code"})
    again = await redeem(client, "m-张三", Idempotency_Key="hold-1")
    assert first | {"pickup_code": None} == again.json()


@dataclass(frozen=True, slots=True)
class _LaterAward(AwardResult):
    """An award reply as a later release might extend it."""

    badge: str | None = None


def test_a_reply_of_today_replays_in_a_release_that_added_a_field():
    """Today's stored award replays as a later release's reply, the new field at its default."""
    today = AwardResult(7, "m-张三", 30, "patrol", 30, "ab" * 32, "patrol", 2, None)
    assert _LaterAward(**{**today.stored(), "badge": None}) == _LaterAward.replayed(today.stored())


def test_a_stored_redemption_keeps_its_timestamps_as_timestamps():
    """Timestamps are stored as ISO 8601 text and replay as the instants they were."""
    held_at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    hold = Redemption(1, "r-毛巾", "m-张三", "c", 20, "held", "ever", held_at, held_at + timedelta(days=3), "admin")
    assert isinstance(hold.stored()["held_at"], str)
    assert hold == Redemption.replayed(hold.stored())
