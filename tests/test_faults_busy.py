"""A row lock held by another session: the request answers 503 database_busy within the
lock timeout, changes nothing, and its retry with the same Idempotency-Key succeeds."""

import time

import asyncpg
import pytest

from ledger.storage.database import POSTGRES_LOCK_TIMEOUT_MS
from tests.builders import assert_problem, award_body, member, post, tree

pytestmark = [pytest.mark.postgres_only]

MARGIN_SECONDS = 3
"""Time beyond the lock timeout for the request's other work on a loaded machine."""


async def test_an_award_behind_a_held_lock_is_a_503_and_its_retry_awards_once(client, ledger, database_url):
    """An award blocked by another session's lock on the journal answers 503 database_busy in bounded time."""
    await tree(ledger)
    someone = await member(ledger)
    holder = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        async with holder.transaction():
            await holder.execute("LOCK TABLE journal_txn IN EXCLUSIVE MODE")
            started = time.monotonic()
            busy = await post(client, "/v1/awards", award_body(someone), Idempotency_Key="k-busy")
            elapsed = time.monotonic() - started
    finally:
        await holder.close()
    assert_problem(busy, 503, "database_busy")
    assert "1" == busy.headers["Retry-After"]
    assert elapsed < POSTGRES_LOCK_TIMEOUT_MS / 1000 + MARGIN_SECONDS
    retried = await post(client, "/v1/awards", award_body(someone), Idempotency_Key="k-busy")
    assert 201 == retried.status_code
    assert (await ledger.verify()).ok
