"""Storage faults answer 503 with Retry-After, in bounded time, and change nothing: a lock
held by another session, a write pool held by stuck writes, a full disk, a pooled
connection that died while idle. Each is produced for real: a second connection, a
filled database, a terminated backend."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url

from api import routes
from api.app import create_app
from ledger import Ledger
from ledger.storage.database import POSTGRES_LOCK_TIMEOUT_MS, SQLITE_BUSY_TIMEOUT_MS, Database
from tests.builders import ADMIN, assert_problem, award_body, member, post, tree
from tests.conftest import http_client, service_settings

MARGIN_SECONDS = 3
"""Time beyond the lock timeout for the request's other work on a loaded machine."""

READ_SECONDS_MAX = 1.0
"""A balance read while every write connection is stuck: far more than it needs."""


def _asyncpg(database_url: str) -> str:
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


@asynccontextmanager
async def held_write_lock(database_url: str) -> AsyncIterator[None]:
    """Another session holding what every award needs: the journal table on PostgreSQL,
    the one write lock on SQLite."""
    if database_url.startswith("sqlite"):
        other = sqlite3.connect(make_url(database_url).database, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()
        return
    holder = await asyncpg.connect(_asyncpg(database_url))
    try:
        async with holder.transaction():
            await holder.execute("LOCK TABLE journal_txn IN EXCLUSIVE MODE")
            yield
    finally:
        await holder.close()


def _wait_bound_seconds(ledger: Ledger) -> float:
    timeout_ms = POSTGRES_LOCK_TIMEOUT_MS if ledger.db.is_postgres else SQLITE_BUSY_TIMEOUT_MS
    return timeout_ms / 1000 + MARGIN_SECONDS


async def test_an_award_behind_a_held_lock_is_a_503_and_its_retry_awards_once(client, ledger, database_url):
    """An award blocked by another session's lock answers 503 database_busy within the lock
    timeout; the lock gone, the same key awards once."""
    await tree(ledger)
    someone = await member(ledger)
    body = award_body(someone)
    async with held_write_lock(database_url):
        started = time.monotonic()
        busy = await post(client, routes.api(routes.AWARDS), body, Idempotency_Key="k-busy")
        elapsed = time.monotonic() - started
    problem = assert_problem(busy, 503, "database_busy")
    assert "1" == busy.headers["Retry-After"] and "Idempotency-Key" in problem["detail"]
    assert elapsed < _wait_bound_seconds(ledger)
    assert 0 == (await ledger.balance(ADMIN, someone)).available_points
    retried = await post(client, routes.api(routes.AWARDS), body, Idempotency_Key="k-busy")
    assert 201 == retried.status_code and "idempotent-replayed" not in retried.headers
    assert 10 == (await ledger.balance(ADMIN, someone)).available_points
    assert (await ledger.verify()).ok


async def test_reads_answer_while_every_write_connection_is_stuck(database_url, ledger):
    """Writes stuck behind a held lock fill the write pool; one more write is a 503 after
    the pool timeout, while a resident's balance still answers from the read pool."""
    await tree(ledger)
    someone = await member(ledger)
    small = Ledger(Database(database_url, pool_size=2, pool_timeout=1))
    app = create_app(service_settings(database_url), small)
    try:
        async with http_client(app) as http, held_write_lock(database_url):
            stuck = [
                asyncio.create_task(
                    post(http, routes.api(routes.AWARDS), award_body(someone), Idempotency_Key=f"k-stuck-{n}")
                )
                for n in range(3)
            ]
            await asyncio.sleep(0.5)  # the awards reach the lock and hold their connections
            started = time.monotonic()
            balance = await http.get(routes.api(routes.MEMBER_BALANCE, member_id=someone))
            read_seconds = time.monotonic() - started
            outcomes = await asyncio.gather(*stuck)
    finally:
        await small.db.dispose()
    assert 200 == balance.status_code and 0 == balance.json()["available_points"]
    assert read_seconds < READ_SECONDS_MAX
    assert [503, 503, 503] == [o.status_code for o in outcomes]
    assert {"database_busy"} == {o.json()["code"] for o in outcomes}
    assert 0 == (await ledger.balance(ADMIN, someone)).available_points
    assert (await ledger.verify()).ok


FULL_DISK_AWARDS_MAX = 500
"""Awards sent until the database has no room left: its pages' slack holds a few dozen."""


@pytest.mark.sqlite_only
async def test_a_full_disk_is_a_503_and_changes_nothing(database_url, ledger):
    """SQLite answering "database or disk is full" is a 503 database_busy; nothing of the
    refused award is stored, and once there is room the same key awards once."""
    await tree(ledger)
    someone = await member(ledger)
    full = Database(database_url)

    def no_room(dbapi_connection: object, _record: object) -> None:
        # The file may not grow by a page (SQLite keeps it at its current size at least):
        # what a full disk looks like to SQLite.
        dbapi_connection.cursor().execute("PRAGMA max_page_count = 1")  # type: ignore[attr-defined]

    event.listen(full.engine.sync_engine, "connect", no_room)
    app = create_app(service_settings(database_url), Ledger(full))
    try:
        async with http_client(app) as http:
            for n in range(FULL_DISK_AWARDS_MAX):
                body = award_body(someone, memo="日巡千步" * 100)
                answer = await post(http, routes.api(routes.AWARDS), body, Idempotency_Key=f"k-full-{n}")
                if answer.status_code != 201:
                    break
    finally:
        await full.dispose()
    problem = assert_problem(answer, 503, "database_busy")
    assert "1" == answer.headers["Retry-After"] and "changed nothing" in problem["detail"]
    assert 10 * n == (await ledger.balance(ADMIN, someone)).available_points
    async with http_client(create_app(service_settings(database_url), ledger)) as http:
        assert 201 == (await post(http, routes.api(routes.AWARDS), body, Idempotency_Key=f"k-full-{n}")).status_code
    assert 10 * (n + 1) == (await ledger.balance(ADMIN, someone)).available_points
    assert (await ledger.verify()).ok


@pytest.mark.postgres_only
async def test_a_pooled_connection_that_died_idle_is_replaced_unseen(client, ledger, database_url):
    """Every idle connection of the service is terminated (a restarted server, an operator's
    pg_terminate_backend): the next read and write answer as if nothing happened."""
    await tree(ledger)
    someone = await member(ledger)
    assert 201 == (await post(client, routes.api(routes.AWARDS), award_body(someone))).status_code
    assert 200 == (await client.get(routes.api(routes.MEMBER_BALANCE, member_id=someone))).status_code
    killer = await asyncpg.connect(_asyncpg(database_url))
    try:
        killed = await killer.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await killer.close()
    assert killed >= 2  # the write pool's connection and the read pool's
    balance = await client.get(routes.api(routes.MEMBER_BALANCE, member_id=someone))
    assert 200 == balance.status_code and 10 == balance.json()["available_points"]
    assert 201 == (await post(client, routes.api(routes.AWARDS), award_body(someone))).status_code
    assert (await ledger.verify()).ok
