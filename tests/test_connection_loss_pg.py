"""A database connection that dies in the middle of a settle or a redemption hold: the
client gets a 503 problem, nothing of the killed transaction remains, the ledger
verifies, and a retry with the same Idempotency-Key succeeds exactly once.

The write is stopped at a known point. Another connection holds the ``lot`` table in
EXCLUSIVE mode; ``journal.post`` sends a batch's balances, transactions, postings and
lots together after it has claimed the key and locked the accounts and the chain head,
so the request waits there with its claim written and its locks taken. Once PostgreSQL
shows its backend waiting on that lock, a third connection terminates it, as a server
restart, a failover or an operator would. A database that cannot be reached at all is answered the same way."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from httpx import Response
from sqlalchemy import text

from api import routes
from api.app import create_app
from ledger import Database, Ledger
from ledger.earning.activities import ActivityCommand
from tests.builders import ADMIN, COMMUNITY, MICRO, assert_problem, award, member, post, redeem, reward, rules, tree
from tests.conftest import MANY_CONNECTIONS, http_client, settings

pytestmark = [pytest.mark.postgres_only, MANY_CONNECTIONS]

WAIT_FOR_LOCK_SECONDS = 10
"""How long the request may take to reach the lock: far more than it needs (a few
milliseconds), so only a request that never waits there fails the test."""

KEY = "retried-after-a-lost-connection"

TABLES = ("journal_txn", "posting", "lot", "redemption", "idempotency", "account_period")


def _plain(database_url: str) -> str:
    """The test database's URL as asyncpg itself takes it."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


@asynccontextmanager
async def _lots_locked(database_url: str) -> AsyncIterator[int]:
    """Hold the lot table against writers; the holder's backend pid."""
    conn = await asyncpg.connect(_plain(database_url))
    try:
        async with conn.transaction():
            await conn.execute("LOCK TABLE lot IN EXCLUSIVE MODE")
            yield conn.get_server_pid()
    finally:
        await conn.close()


_WAITING_ON = """SELECT a.pid, a.query, l.relation::regclass::text AS waits_for
    FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid AND NOT l.granted
    WHERE a.wait_event_type = 'Lock' AND $1 = ANY(pg_blocking_pids(a.pid))"""


async def _terminate_the_waiter(database_url: str, blocker: int, request: asyncio.Task) -> None:
    """Wait until a backend waits for ``blocker``'s lock, then terminate that backend."""
    admin = await asyncpg.connect(_plain(database_url))
    try:
        async with asyncio.timeout(WAIT_FOR_LOCK_SECONDS):
            while (waiter := await admin.fetchrow(_WAITING_ON, blocker)) is None:
                assert not request.done(), f"the request ended without waiting on the lock: {request.result()}"
                await asyncio.sleep(0.01)
        assert "lot" == waiter["waits_for"], waiter["query"]  # in the batch's writes, which book lots
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", waiter["pid"])
    finally:
        await admin.close()


async def _killed_midway(database_url: str, send: Callable[[], Awaitable[Response]]) -> Response:
    """The response to a request whose database connection is terminated midway."""
    async with _lots_locked(database_url) as blocker:
        request = asyncio.create_task(send())
        await _terminate_the_waiter(database_url, blocker, request)
        return await request


async def _state(ledger, member_ids: list[str]) -> dict[str, object]:
    """Rows per table, and every member's balances: what a killed write must not change."""
    async with ledger.db.read() as conn:
        rows = {t: (await conn.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one() for t in TABLES}
    balances = [await ledger.balance(ADMIN, m) for m in member_ids]
    return rows | {"balances": [(b.available_points, b.held_points, b.lifetime_earned_points) for b in balances]}


async def _after_a_lost_connection(client, ledger, response, before, member_ids) -> None:
    """The problem a client gets, the ledger as it was, and a service that still works."""
    body = assert_problem(response, 503, "database_unavailable")
    assert "1" == response.headers["Retry-After"]
    assert "retry with the same Idempotency-Key" in body["detail"]
    assert before == await _state(ledger, member_ids)
    verified = await client.get(routes.api(routes.LEDGER_VERIFY))
    assert (200, True) == (verified.status_code, verified.json()["ok"])


async def test_a_settle_killed_midway_leaves_nothing_and_its_retry_settles_once(client, ledger, database_url):
    """The roster's awards, balances, lots and the activity's settlement all vanish with
    the killed transaction; the same key then settles once, and again only replays."""
    await tree(ledger)
    await rules(ledger)
    roster = [await member(ledger, f"m-{i}") for i in range(3)]
    ended = datetime.now(UTC) - timedelta(hours=1)
    command = ActivityCommand("义剪", MICRO, "hour", ended - timedelta(hours=3), ended, roster[0])
    activity = await ledger.create_activity(ADMIN, command)
    await ledger.put_roster(ADMIN, activity.id, [(m, 3) for m in roster])
    path = routes.api(routes.ACTIVITY_SETTLE, activity_id=activity.id)
    before = await _state(ledger, roster)

    killed = await _killed_midway(database_url, lambda: post(client, path, Idempotency_Key=KEY))
    await _after_a_lost_connection(client, ledger, killed, before, roster)
    assert None is (await ledger.activity(ADMIN, activity.id)).settled_at

    settled = await post(client, path, Idempotency_Key=KEY)
    replayed = await post(client, path, Idempotency_Key=KEY)
    assert (201, 3, 9) == (settled.status_code, settled.json()["awarded"], settled.json()["points"])
    assert ("true", settled.json()) == (replayed.headers.get("Idempotent-Replayed"), replayed.json())
    assert [(3, 0, 3)] * 3 == (await _state(ledger, roster))["balances"]
    assert (await ledger.verify()).ok


async def test_a_hold_killed_midway_leaves_stock_and_points_and_its_retry_holds_once(client, ledger, database_url):
    """The redemption row, the held points and the reserved unit of stock vanish with
    the killed transaction; the same key then holds once, and again only replays."""
    await tree(ledger)
    buyer = await member(ledger)
    await award(client, buyer, 30)
    await reward(client, "r-油", org_unit=COMMUNITY, cost=20, stock=1)
    before = await _state(ledger, [buyer])

    killed = await _killed_midway(database_url, lambda: redeem(client, buyer, "r-油", Idempotency_Key=KEY))
    await _after_a_lost_connection(client, ledger, killed, before, [buyer])
    stock = (await client.get(routes.api(routes.REWARD, code="r-油"))).json()
    assert (0, 0, 1) == (stock["reserved"], stock["sold"], stock["available_stock"])

    held = await redeem(client, buyer, "r-油", Idempotency_Key=KEY)
    replayed = await redeem(client, buyer, "r-油", Idempotency_Key=KEY)
    assert (201, "held") == (held.status_code, held.json()["state"])
    assert ("true", held.json()) == (replayed.headers.get("Idempotent-Replayed"), replayed.json())
    stock = (await client.get(routes.api(routes.REWARD, code="r-油"))).json()
    assert (1, 0, 0) == (stock["reserved"], stock["sold"], stock["available_stock"])
    assert [(10, 20, 30)] == (await _state(ledger, [buyer]))["balances"]
    assert (await ledger.verify()).ok


async def test_a_database_that_cannot_be_reached_is_a_503_too():
    """A connection refused outright is answered as a lost one: 503, retry later."""
    unreachable = Ledger(Database("postgresql+asyncpg://postgres@127.0.0.1:1/ledger"))
    try:
        async with http_client(create_app(settings(unreachable), unreachable)) as client:
            assert_problem(await client.get(routes.api(routes.MEMBER, member_id="m-张三")), 503, "database_unavailable")
    finally:
        await unreachable.db.dispose()
