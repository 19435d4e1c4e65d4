"""A pooled PostgreSQL connection that died while idle is replaced before a read or a
write sees it, without a ping of its own: the checkout's first round trip is the write's
``BEGIN`` or, for a read, one empty statement (``ledger.storage.database``). Both ways a
connection dies are produced for real: its backend terminated (the client hears of it
while the connection sits in the pool), and a peer that answers the next thing sent with a
reset (the client hears of it only then)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from ledger.storage.database import Database

pytestmark = pytest.mark.postgres_only

PROXY_CHUNK_BYTES = 65_536
"""What the test's relay reads at once from either side."""


def _asyncpg(database_url: str) -> str:
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _use(db: Database) -> tuple[int, int]:
    """A write and a read, each on a pooled connection: the write's row and the read's count."""
    async with db.write() as conn:
        await conn.execute(text("CREATE TABLE IF NOT EXISTS idle_death (n integer)"))
        await conn.execute(text("INSERT INTO idle_death VALUES (1)"))
    async with db.read() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM idle_death"))).scalar_one()
    async with db.write() as conn:
        written = (await conn.execute(text("SELECT count(*) FROM idle_death"))).scalar_one()
    return written, count


async def _terminate_others(database_url: str) -> int:
    killer = await asyncpg.connect(_asyncpg(database_url))
    try:
        killed: int = await killer.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        while await killer.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ):
            await asyncio.sleep(0.01)
    finally:
        await killer.close()
    return killed


async def test_a_read_and_a_write_on_connections_whose_backends_were_terminated_answer(database_url):
    """Every backend of both pools terminated while idle: the read and the write answer."""
    db = Database(database_url, pool_size=2)
    try:
        assert (1, 1) == await _use(db)
        assert await _terminate_others(database_url) >= 2  # the write pool's and the read pool's
        await asyncio.sleep(0.05)  # idle: the client hears of it
        assert (2, 2) == await _use(db)
    finally:
        await db.dispose()


class _Relay:
    """A TCP relay to the server whose connections can be made dead while idle: cut, each
    one stops relaying and resets the client's socket at the first bytes it sends, as a
    peer that lost the connection does; a connection opened afterwards relays as usual."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._cut: list[asyncio.Event] = []

    async def serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(self.host, self.port)
        cut = asyncio.Event()
        self._cut.append(cut)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while (data := await src.read(PROXY_CHUNK_BYTES)) and not cut.is_set():
                dst.write(data)
                await dst.drain()
            # Either end gone (or the relay cut): both go. Cut, the client's next bytes
            # are answered with a reset, as a peer that lost the connection answers them.
            client_w.transport.abort()
            server_w.close()

        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w), return_exceptions=True)

    def cut(self) -> None:
        for cut in self._cut:
            cut.set()


@asynccontextmanager
async def _relayed(database_url: str) -> AsyncIterator[tuple[str, _Relay]]:
    url = make_url(database_url)
    relay = _Relay(url.host or "127.0.0.1", url.port or 5432)
    server = await asyncio.start_server(relay.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False), relay
    finally:
        server.close()


async def test_a_read_and_a_write_on_connections_dead_unbeknown_to_the_client_answer(database_url):
    """Connections that died without the client hearing of it (it learns at its next send):
    the checkout's round trip finds them, and the read and the write answer."""
    async with _relayed(database_url) as (relayed_url, relay):
        db = Database(relayed_url, pool_size=2)
        try:
            assert (1, 1) == await _use(db)
            relay.cut()
            assert (2, 2) == await _use(db)
        finally:
            await db.dispose()


async def test_a_pooled_connection_is_checked_by_the_transactions_own_round_trips(database_url):
    """No ping of its own: a write sends BEGIN and COMMIT around its statements, a read one
    empty statement before them (SQLAlchemy's ``pool_pre_ping`` sent BEGIN, an empty
    statement and ROLLBACK before every transaction)."""
    db = Database(database_url, pool_size=1)
    sent: list[str] = []
    for engine in (db.engine, db._reader):
        event.listen(
            engine.sync_engine.pool,
            "connect",
            lambda dbapi_connection, _: dbapi_connection.driver_connection.add_query_logger(
                lambda record: sent.append(record.query)
            ),
        )
    try:
        await _use(db)  # every pool holds a connection now
        sent.clear()
        async with db.write() as conn:
            await conn.execute(text("INSERT INTO idle_death VALUES (3)"))
        assert ["BEGIN;", "COMMIT;"] == sent  # the INSERT goes as a prepared statement, not logged
        sent.clear()
        async with db.read() as conn:
            await conn.execute(text("SELECT count(*) FROM idle_death"))
        assert [";"] == sent
    finally:
        await db.dispose()
