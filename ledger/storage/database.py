"""Connections to the one database that holds the ledger: SQLite or PostgreSQL.

Writes and reads take separate paths because the two engines lock differently:

* SQLite has a single writer. A write transaction starts with ``BEGIN IMMEDIATE`` so it
  holds the write lock from its first statement; a deferred transaction that reads and
  then writes can fail with SQLITE_BUSY instead of waiting. Reads use a second engine
  with ordinary deferred transactions, which WAL mode lets run beside the writer.
* PostgreSQL runs at READ COMMITTED; the journal takes explicit row locks
  (``SELECT … FOR UPDATE``) in a fixed order, so concurrent writers queue, never deadlock.

Callers see only ``Database.write()`` and ``Database.read()``. A connection that breaks
under either (a restarted or overloaded server, a terminated backend, a network fault)
comes out as ``DatabaseUnavailable`` rather than as the driver's error: the pool has
already dropped the broken connection, and the next transaction opens a fresh one.

A PostgreSQL connection that died while it sat in the pool is replaced before the
transaction sees it (``_prove_alive_on_checkout``): its first round trip is made as it is
checked out, where a failure has done nothing and the pool can open another. For a write
that round trip is the transaction's own ``BEGIN``; for a read, whose statements run
without one, an empty statement. SQLAlchemy's ``pool_pre_ping`` did the same with three
round trips of its own (``BEGIN``, an empty statement, ``ROLLBACK``) before every
transaction, 6-8 % of the service's profile under load.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InvalidatePoolError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.util import await_

from ledger.errors import DatabaseBusy, DatabaseMissing, DatabaseUnavailable
from ledger.storage import bulk

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/ledger.sqlite3"
"""An embedded SQLite file beside the working directory: nothing to install or run."""

POSTGRES_POOL_SIZE = 16
"""Write connections per process. Two cores saturate long before 16 busy connections,
and PostgreSQL's default max_connections (100) leaves room for several workers."""

READ_POOL_SHARE = 2
"""Reads have a pool of their own, a half of the write pool's size (at least two): a
write path stuck behind a lock or a slow disk holds every write connection, and a
resident's balance must still answer. Reads are one short statement each, so half as
many connections serve them; 16 + 8 per process keeps four workers under PostgreSQL's
default 100."""

SQLITE_BUSY_TIMEOUT_MS = 5_000
"""How long a SQLite writer waits for the lock before answering 503 database_busy: the
service's own writers hold it for milliseconds, so a longer wait means a lock held
elsewhere, and the client is better told to retry than kept waiting."""

POSTGRES_LOCK_TIMEOUT_MS = 5_000
"""How long a PostgreSQL statement waits for a row or table lock: the journal's own
locks are held for milliseconds, so 5 s only runs out on a lock held elsewhere (an
operator's session, a stuck transaction)."""

POSTGRES_STATEMENT_TIMEOUT_MS = 30_000
"""The longest a PostgreSQL statement may run; far above any request's statements. The
long jobs stay under it too: verify and the exports read in keyset chunks (each statement
a fraction of a second at a million transactions); a migration lifts it for its own
transaction, as one schema change on a large table is one long statement."""

POOL_TIMEOUT_SECONDS = 10
"""How long a request waits for a pooled PostgreSQL connection before a 503."""

_BUSY_SQLSTATES = frozenset({"55P03", "57014", "53100"})
"""lock_not_available, query_canceled (statement_timeout), disk_full."""

_NO_CONNECTION_SQLSTATES = frozenset({"3D000", "28000", "28P01"})
"""invalid_catalog_name (no such database), invalid_authorization_specification (no such
role, or pg_hba refuses it), invalid_password: the server answered, and the connection
was never made."""

_CONFLICT_SQLSTATES = frozenset({"23505", "40P01"})
"""unique_violation and deadlock_detected: what PostgreSQL answers the loser of two
transactions writing the same new keys, or locking the same rows in opposite orders."""

_BUSY_SQLITE_MESSAGES = ("database is locked", "database or disk is full")


_log = logging.getLogger("ledger.database")


@asynccontextmanager
async def _connection_lost_is_unavailable() -> AsyncIterator[None]:
    try:
        yield
    except PoolTimeout as error:
        _log.warning("no pooled database connection came free: %s", error)
        raise DatabaseBusy() from error
    except DBAPIError as error:
        if _is_busy(error):
            _log.warning("the database is busy: %s", error.orig)
            raise DatabaseBusy() from error
        if not error.connection_invalidated and _sqlstate(error) not in _NO_CONNECTION_SQLSTATES:
            raise
        _log.warning("the database connection was lost: %s", error.orig)
        raise DatabaseUnavailable() from error
    except OSError as error:  # the driver could not open a connection: refused, unreachable, reset
        _log.warning("the database cannot be reached: %s", error)
        raise DatabaseUnavailable() from error


def _sqlstate(error: DBAPIError) -> str | None:
    # SQLAlchemy's asyncpg adapter keeps asyncpg's error, which carries the SQLSTATE, as the cause.
    cause = getattr(error.orig, "__cause__", None)
    return getattr(error.orig, "sqlstate", None) or getattr(cause, "sqlstate", None)


def is_write_conflict(error: DBAPIError) -> bool:
    """Whether ``error`` says another transaction wrote the same rows first: the work,
    rolled back, can be run again and finds them."""
    return _sqlstate(error) in _CONFLICT_SQLSTATES


def _is_busy(error: DBAPIError) -> bool:
    return _sqlstate(error) in _BUSY_SQLSTATES or any(m in str(error.orig) for m in _BUSY_SQLITE_MESSAGES)


def database_url() -> str:
    return os.environ.get("LEDGER_DATABASE_URL", DEFAULT_DATABASE_URL)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Autocommit at the driver level: SQLAlchemy's "begin" event issues BEGIN itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")  # a committed point survives a power cut
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _sqlite_engine(url: str, begin: str) -> AsyncEngine:
    engine = create_async_engine(url)
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    event.listen(engine.sync_engine, "begin", lambda conn: conn.exec_driver_sql(begin))
    return engine


_FRESH = "ledger_fresh"
"""The pool entry's mark of a connection opened for this checkout: it has just answered."""


def _prove_alive_on_checkout(engine: AsyncEngine, *, begin: bool) -> None:
    """Make each checkout's first round trip at once, while a failure has done nothing: a
    connection found dead there (the server restarted, the backend was terminated) is
    discarded with every older one, and the pool opens a fresh connection instead (it
    tries twice). ``begin``: the round trip is the transaction's own ``BEGIN`` (the
    driver adapter then sends none of its own); else an empty statement. A connection
    opened by this checkout is left as it is."""

    def connected(_dbapi_connection: Any, entry: ConnectionPoolEntry) -> None:
        entry.info[_FRESH] = True

    def checkout(dbapi_connection: Any, entry: ConnectionPoolEntry, _proxy: PoolProxiedConnection) -> None:
        if entry.info.pop(_FRESH, False):
            return  # opened for this checkout: it has just answered (and a connect hook may have begun its transaction)
        driver = dbapi_connection.driver_connection
        if driver.is_closed():  # its end came in while it sat in the pool: no round trip to find it
            _log.warning("a pooled database connection had closed; opening another")
            raise InvalidatePoolError("the connection closed while it sat in the pool")
        try:
            if begin:
                # The adapter's own start of a transaction (isolation and all), which it
                # would otherwise send with the transaction's first statement.
                await_(dbapi_connection._start_transaction())
            else:
                await_(driver.fetchrow(";"))
        except Exception as error:
            if not driver.is_closed():  # SQLAlchemy's own test of a lost asyncpg connection
                raise
            _log.warning("a pooled database connection had died; opening another: %s", error)
            raise InvalidatePoolError(str(error)) from error

    event.listen(engine.sync_engine.pool, "connect", connected)
    event.listen(engine.sync_engine.pool, "checkout", checkout)


class Database:
    """The ledger's handle on its storage; one per process."""

    def __init__(
        self,
        url: str | None = None,
        pool_size: int = POSTGRES_POOL_SIZE,
        pool_timeout: float = POOL_TIMEOUT_SECONDS,
        *,
        create: bool = False,
    ) -> None:
        """``create``: a missing SQLite file (and its folders) is made, for the migration
        that gives it its schema. Without it a missing file is refused: SQLite would
        otherwise create an empty one on the first connection, and a mistyped path would
        leave an empty database behind that answers every query with a missing table."""
        self.url = url or database_url()
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                path = Path(parsed.database)
                if create:
                    path.parent.mkdir(parents=True, exist_ok=True)
                elif not path.exists():
                    raise DatabaseMissing(str(path))
            self._writer = _sqlite_engine(self.url, "BEGIN IMMEDIATE")
            self._reader = _sqlite_engine(self.url, "BEGIN")
        elif self.dialect == "postgresql":
            timeouts = {
                "lock_timeout": str(POSTGRES_LOCK_TIMEOUT_MS),
                "statement_timeout": str(POSTGRES_STATEMENT_TIMEOUT_MS),
            }

            def engine(size: int, *, begin: bool) -> AsyncEngine:
                made = create_async_engine(
                    self.url,
                    pool_size=size,
                    max_overflow=0,
                    pool_timeout=pool_timeout,
                    connect_args={"server_settings": timeouts},
                )
                # A pooled connection may have died idle: found on checkout, never seen.
                _prove_alive_on_checkout(made, begin=begin)
                return made

            self._writer = engine(pool_size, begin=True)
            # A read is one statement or a few that need no common snapshot: autocommit
            # spares it the BEGIN and COMMIT round trips. ``snapshot()`` is for the rest.
            self._reader = engine(max(2, pool_size // READ_POOL_SHARE), begin=False).execution_options(
                isolation_level="AUTOCOMMIT"
            )
        else:
            raise ValueError(f"unsupported database {self.dialect!r}: use sqlite or postgresql")

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One database transaction that may write: committed on success, else rolled back.
        Its writes ``bulk.at_commit`` go just before the commit."""
        async with _connection_lost_is_unavailable(), self._writer.begin() as conn, bulk.committing(conn):
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with _connection_lost_is_unavailable(), self._reader.connect() as conn, conn.begin():
            yield conn

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncConnection]:
        """A read transaction that sees one consistent state across many statements
        (SQLite's read transactions always do; PostgreSQL needs REPEATABLE READ)."""
        async with _connection_lost_is_unavailable(), self._reader.connect() as conn:
            if self.is_postgres:
                await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                yield conn

    @property
    def engine(self) -> AsyncEngine:
        return self._writer

    async def dispose(self) -> None:
        await self._writer.dispose()
        await self._reader.dispose()
