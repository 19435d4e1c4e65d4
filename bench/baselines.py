"""Baselines measured in the same run as the service, so the ratios mean something.

(a) ``raw_writes``: the database's own rate for the same writes without the service —
    per award, one database transaction that updates the two account rows and inserts the
    transaction row and its two postings, into scratch copies of the ledger's tables, from
    plain asyncpg (PostgreSQL) or sqlite3 (SQLite) with prepared statements — and the p50
    of one such write, at 1 connection (the lone award's yardstick) and, on PostgreSQL, at
    8 and 32 (the service's clients).
(b) ``balance_vs_sum``: reading a materialized balance versus summing the journal for it.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from sqlalchemy import func, select

from bench.report import Table
from ledger import Database
from ledger.storage.tables import Account, PostingRow

BALANCE_SAMPLES = 500
"""Members sampled for the balance comparison: enough for a stable p99."""


def asyncpg_dsn(url: str) -> str:
    """The service's database URL as asyncpg itself takes it."""
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def admin_sql(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


RAW_CONNECTIONS = (1, 8, 32)
"""PostgreSQL connections the raw baseline writes from: as many as the service's clients."""


@dataclass(frozen=True, slots=True)
class Raw:
    """A raw baseline: writes per second, the p50 of one write, and how it was written."""

    per_second: float
    p50_ms: float
    what: str


def _percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


async def balance_vs_sum(db: Database, accounts: dict[str, list[int]], table: Table, backend: str) -> None:
    """p99 of reading an account's materialized balance vs summing its postings, for each
    group of accounts (members have a few postings each; a unit's issuance account has
    one per award the unit made)."""
    rng = random.Random(3)
    async with db.read() as conn:
        for label, ids in accounts.items():
            timings: dict[str, list[float]] = {"materialized": [], "journal sum": []}
            for account_id in (rng.choice(ids) for _ in range(BALANCE_SAMPLES)):
                for kind, query in (
                    ("materialized", select(Account.available).where(Account.id == account_id)),
                    ("journal sum", select(func.sum(PostingRow.amount)).where(PostingRow.account_id == account_id)),
                ):
                    started = time.perf_counter()
                    await conn.execute(query)
                    timings[kind].append(time.perf_counter() - started)
            fast, slow = (_percentile(timings[k], 0.99) * 1000 for k in ("materialized", "journal sum"))
            table.add(
                backend,
                f"baseline (b): {label} balance p99, journal sum ÷ materialized",
                slow / fast,
                "x",
                f"{fast:.2f} ms vs {slow:.2f} ms, in-process",
            )


_TXN_COLUMNS = (
    "id, kind, category, member_id, org_unit, occurred_at, recorded_at, recorded_by, memo, evidence_url, "
    "reverses_id, period, earned_points, extra, prev_hash, hash"
)


async def _pg_raw(dsn: str, connections: int, writes: int) -> Raw:
    setup = await asyncpg.connect(dsn)
    await setup.execute("""
        DROP TABLE IF EXISTS bench_posting, bench_txn, bench_account;
        CREATE TABLE bench_account AS SELECT * FROM account; ALTER TABLE bench_account ADD PRIMARY KEY (id);
        CREATE TABLE bench_txn (LIKE journal_txn INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
        CREATE TABLE bench_posting (LIKE posting INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES);
    """)
    pairs = await setup.fetch(
        "SELECT o.issuance_account_id AS source, m.account_id AS target "
        "FROM member m JOIN org_unit o ON o.code = m.org_unit"
    )
    await setup.close()
    counter = iter(range(1, writes + 1))
    now = datetime.now(UTC).replace(tzinfo=None)

    async def ready() -> tuple[asyncpg.Connection, list[asyncpg.PreparedStatement]]:
        conn = await asyncpg.connect(dsn)
        statements = [
            await conn.prepare("UPDATE bench_account SET available = available - $2 WHERE id = $1"),
            await conn.prepare("UPDATE bench_account SET available = available + $2 WHERE id = $1"),
            await conn.prepare(
                f"INSERT INTO bench_txn ({_TXN_COLUMNS}) VALUES ($1,'award','patrol','m','u',$2,$2,'bench','',"
                "NULL,NULL,'2026',$3,'{}',$4,$4)"
            ),
            await conn.prepare(
                "INSERT INTO bench_posting (txn_id, account_id, amount, balance_after) VALUES ($1,$2,$3,0),($1,$4,$5,0)"
            ),
        ]
        return conn, statements

    latencies: list[float] = []

    async def writer(conn: asyncpg.Connection, statements: list[asyncpg.PreparedStatement]) -> None:
        debit, credit, txn, posting = statements
        rng = random.Random()
        for n in counter:
            pair = rng.choice(pairs)
            began = time.perf_counter()
            async with conn.transaction():
                await debit.fetch(pair["source"], 5)
                await credit.fetch(pair["target"], 5)
                await txn.fetch(n, now, 5, "0" * 64)
                await posting.fetch(n, pair["source"], -5, pair["target"], 5)
            latencies.append(time.perf_counter() - began)

    # Connections are opened and statements prepared before the clock starts, as the
    # service's pool is warm before its awards are timed.
    writers = await asyncio.gather(*(ready() for _ in range(connections)))
    started = time.perf_counter()
    await asyncio.gather(*(writer(conn, statements) for conn, statements in writers))
    seconds = time.perf_counter() - started
    for conn, _ in writers:
        await conn.close()
    cleanup = await asyncpg.connect(dsn)
    await cleanup.execute("DROP TABLE bench_posting, bench_txn, bench_account")
    await cleanup.close()
    what = f"asyncpg, {connections} connection{'s' if connections > 1 else ''}"
    return Raw(writes / seconds, _percentile(latencies, 0.5) * 1000, what)


def _sqlite_raw(path: str, writes: int) -> Raw:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.executescript("""
        DROP TABLE IF EXISTS bench_posting; DROP TABLE IF EXISTS bench_txn; DROP TABLE IF EXISTS bench_account;
        CREATE TABLE bench_account AS SELECT * FROM account; CREATE UNIQUE INDEX bench_account_id ON bench_account(id);
        CREATE TABLE bench_txn AS SELECT * FROM journal_txn WHERE 0;
        CREATE TABLE bench_posting AS SELECT * FROM posting WHERE 0;
    """)
    pairs = conn.execute(
        "SELECT o.issuance_account_id, m.account_id FROM member m JOIN org_unit o ON o.code = m.org_unit"
    ).fetchall()
    rng = random.Random()
    now = datetime.now(UTC).isoformat()
    latencies = []
    started = time.perf_counter()
    for n in range(1, writes + 1):
        source, target = rng.choice(pairs)
        began = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE bench_account SET available = available - 5 WHERE id = ?", (source,))
        conn.execute("UPDATE bench_account SET available = available + 5 WHERE id = ?", (target,))
        conn.execute(
            f"INSERT INTO bench_txn ({_TXN_COLUMNS}) VALUES (?,'award','patrol','m','u',?,?,'bench','',"
            "NULL,NULL,'2026',5,'{}',?,?)",
            (n, now, now, "0" * 64, "0" * 64),
        )
        conn.execute("INSERT INTO bench_posting VALUES (?,?,?,0),(?,?,?,0)", (n, source, -5, n, target, 5))
        conn.execute("COMMIT")
        latencies.append(time.perf_counter() - began)
    seconds = time.perf_counter() - started
    conn.executescript("DROP TABLE bench_posting; DROP TABLE bench_txn; DROP TABLE bench_account;")
    conn.close()
    return Raw(writes / seconds, _percentile(latencies, 0.5) * 1000, "sqlite3, 1 connection")


async def raw_writes(url: str, table: Table, backend: str, writes: int) -> dict[int, Raw]:
    """The raw baselines by connections: 1, 8 and 32 on PostgreSQL; SQLite's one writer."""
    if backend == "sqlite":
        raws = {1: await asyncio.to_thread(_sqlite_raw, url.split("///", 1)[1], writes)}
    else:
        raws = {connections: await _pg_raw(asyncpg_dsn(url), connections, writes) for connections in RAW_CONNECTIONS}
    for connections, raw in raws.items():
        table.add(
            backend,
            f"baseline (a): raw writes/s, one transaction per award, {connections} connection"
            + ("s" if connections > 1 else ""),
            raw.per_second,
            "/s",
            f"p50 {raw.p50_ms:.2f} ms, {raw.what}",
        )
    return raws
