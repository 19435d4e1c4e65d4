"""One command for every benchmark figure: ``python -m bench [--quick] [--repeat N] [sizes…]``.

For each database it creates a fresh database, loads a synthetic community, starts the
real service the way the README does (``ledger serve``, uvicorn workers), drives it from a
separate load-generator process over HTTP, runs the in-process measurements, and prints
one table with ratios against baselines measured in the same run. ``--repeat N`` does the
whole run N times and prints each figure's median and spread (min–max); every ratio is
taken within one run, before the runs are compared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from bench import baselines, statements
from bench.community import Community, Shape, load, load_transactions
from bench.loadgen import HOT_REWARD
from bench.report import Table
from ledger import Database, Ledger, Principal, migrate
from ledger.earning.activities import ROSTER_SIZE_MAX
from ledger.honours.tiers import default_tiers_text
from ledger.shop.rewards import RewardCommand

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN_URL = os.environ.get("LEDGER_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SERVER_START_SECONDS_MAX = 60
"""How long the service may take to migrate and start before the run gives up."""

SHOPPER_POINTS_MIN = 20
"""Members who redeem in the benchmark hold at least this many points: at one point a
hold, each can be picked many times before running short (which would be a refusal,
not a hold)."""

QUICK = Shape(streets=2, communities=5, grids=5, micro_grids=4, members=10_000, transactions=20_000)
"""A quick run: every figure in about two minutes on two cores. Ten thousand members, so
that the settle is of a full 10,000-member roster."""

REQUESTS = 2_000
REQUESTS_QUICK = 600
"""Requests per HTTP scenario: the full run's p99 rests on its 20 slowest; the quick run's
600 take a rate over half a second or more (at 300 one run's awards differed from the
next's by half), and its p99 is a glance."""

WARM_UP_REQUESTS = 200
"""Awards sent, and not timed, before a service's first timed awards: a fresh process opens
its pooled connections and prepares and compiles its statements on its first requests,
which would be charged to whichever figure came first (the empty ledger's)."""

REPEAT_MAX = 10
"""Runs one command repeats: ten full runs are over two hours; a spread needs three to five."""

RAW_WRITES = 3_000
"""Writes of each raw-database baseline, whatever the size of the run: a second or two of
writing at its rate, long enough that the rate is the writes', not the first moments'."""


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small sizes: finishes in about two minutes")
    p.add_argument("--backends", default="postgres,sqlite")
    p.add_argument("--members", type=int)
    p.add_argument("--transactions", type=int)
    requests_help = f"requests per HTTP scenario (default {REQUESTS}, quick {REQUESTS_QUICK})"
    p.add_argument("--requests", type=int, default=None, help=requests_help)
    p.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes (1 is fastest for writes on 2 cores)"
    )
    p.add_argument(
        "--repeat", type=int, default=1, help="runs of every figure: the table shows each one's median and min–max"
    )
    args = p.parse_args()
    if not 1 <= args.repeat <= REPEAT_MAX:
        p.error(f"--repeat is between 1 and {REPEAT_MAX}")
    return args


@contextmanager
def _phase(backend: str, name: str) -> Iterator[None]:
    """Say on stderr how long each phase took, so a slow run shows where its time went
    (the table on stdout stays the figures alone)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        print(f"bench: {backend}: {name}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)


async def _create_database(backend: str, workdir: Path) -> str:
    name = f"ledger_bench_{uuid.uuid4().hex[:10]}"
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{workdir / (name + '.sqlite3')}"
    await baselines.admin_sql(POSTGRES_ADMIN_URL, f'CREATE DATABASE "{name}"')
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"


async def _drop_database(url: str) -> None:
    if url.startswith("postgresql"):
        name = url.rsplit("/", 1)[1]
        await baselines.admin_sql(POSTGRES_ADMIN_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _free_port() -> int:
    """A port nothing listens on now (the service binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Service:
    """``ledger serve`` in a subprocess, as the README starts it."""

    def __init__(self, url: str, workers: int, log: Path) -> None:
        self.token = secrets.token_urlsafe(16)
        self.port = _free_port()
        self.log = log
        env = {
            **os.environ,
            "LEDGER_ADMIN_TOKEN": self.token,
            "LEDGER_TOKEN_SECRET": secrets.token_urlsafe(32),
            # One token drives thousands of writes a second here: the run measures the
            # ledger, and the per-token limit would only measure itself.
            "LEDGER_WRITES_PER_SECOND": "0",
        }
        command = [
            str(ROOT / ".venv/bin/ledger"),
            "serve",
            "--port",
            str(self.port),
            "--workers",
            str(workers),
            "--database-url",
            url,
        ]
        # Into a file, not a pipe: nobody reads a pipe while the load runs, and a service
        # that fills one (a warning per request) would stall on it.
        with log.open("ab") as sink:
            self.process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=sink)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + SERVER_START_SECONDS_MAX
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.base + "/schema/openapi.json", timeout=1)
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the service did not start; its log ({log}) ends:\n{log.read_text()[-2000:]}")

    def call(self, method: str, path: str, body: object, headers: dict[str, str] | None = None) -> dict:
        request = urllib.request.Request(
            self.base + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json", **(headers or {})},
        )
        with urllib.request.urlopen(request, timeout=600) as response:
            return json.loads(response.read())

    def drive(self, scenario: str, concurrency: int, requests: int, members_file: Path) -> dict:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.loadgen",
                self.base,
                self.token,
                scenario,
                str(concurrency),
                str(requests),
                str(members_file),
            ],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        return json.loads(out.stdout)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


async def _timed_verify(ledger: Ledger) -> tuple[float, int]:
    started = time.perf_counter()
    report = await ledger.verify()
    assert report.ok, report.problems[:5]
    return time.perf_counter() - started, report.transactions


BENCH_TIERS = "schemes:\n  - tiers: [{name: 优秀, points: 1}]\n    advanced_worker_roles: [volunteer]\n"

_PEAK_RSS = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def _export(url: str, fmt: str, workdir: Path) -> tuple[float, str, str]:
    """Seconds and peak memory of `ledger export nominations` in a process of its own."""
    output = workdir / f"nominations.{fmt}"
    command = [
        str(ROOT / ".venv/bin/ledger"),
        "export",
        "nominations",
        "--format",
        fmt,
        "--output",
        str(output),
        "--database-url",
        url,
    ]
    started = time.perf_counter()
    peak_kb = int(
        subprocess.run([sys.executable, "-c", _PEAK_RSS, *command], check=True, capture_output=True, text=True).stdout
    )
    seconds = time.perf_counter() - started
    rows = sum(1 for _ in output.open(encoding="utf-8-sig")) - 1 if fmt == "csv" else None
    size = output.stat().st_size / 1e6
    what = f"{rows:,} rows, " if rows is not None else ""
    return seconds, "s", f"{what}{size:.1f} MB file, peak memory {peak_kb / 1024:.0f} MB"


def _settle(service: Service, member_ids: list[str], unit: str) -> tuple[float, str, str]:
    """Seconds for one settle of a roster of up to ROSTER_SIZE_MAX members (3 hours each)."""
    roster = member_ids[:ROSTER_SIZE_MAX]
    ends = datetime.now(UTC) - timedelta(minutes=5)
    activity = service.call(
        "POST",
        "/v1/activities",
        {
            "name": "bench 义剪",
            "org_unit": unit,
            "rule": "volunteer-hour",
            "organizer": roster[0],
            "starts_at": (ends - timedelta(hours=3)).isoformat(),
            "ends_at": ends.isoformat(),
        },
    )
    service.call(
        "PUT",
        f"/v1/activities/{activity['id']}/roster",
        {"participants": [{"member_id": m, "quantity": 3} for m in roster]},
    )
    started = time.perf_counter()
    result = service.call("POST", f"/v1/activities/{activity['id']}/settle", None, {"Idempotency-Key": "bench"})
    seconds = time.perf_counter() - started
    return seconds, "s", f"{result['awarded']:,} members awarded in one transaction"


def _clients(concurrency: int) -> str:
    return f"{concurrency} client" if concurrency == 1 else f"{concurrency} clients"


def _latency(r: dict) -> str:
    return f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms"


def _http(
    table: Table, backend: str, service: Service, members_file: Path, requests: int, label: str
) -> dict[int, dict]:
    """Awards at each concurrency (32 alone on the empty ledger); the results by concurrency."""
    results = {}
    service.drive("award", 32, WARM_UP_REQUESTS, members_file)
    for concurrency in (1, 8, 32) if label == "" else (32,):
        r = service.drive("award", concurrency, requests if concurrency > 1 else requests // 4, members_file)
        table.add(
            backend,
            f"awards/s, {_clients(concurrency)}{label}",
            r["per_second"],
            "/s",
            f"{_latency(r)}, errors {r['errors'] or 0}",
        )
        results[concurrency] = r
    return results


def _reads(table: Table, backend: str, service: Service, members_file: Path, requests: int) -> None:
    """Reads alone (the latency of one read) and under 32 clients (the rate; its latency is
    mostly the wait for the worker's turn)."""
    for scenario in ("balance", "statement"):
        for concurrency in (1, 32):
            r = service.drive(scenario, concurrency, requests * 2 if concurrency > 1 else requests, members_file)
            table.add(backend, f"{scenario} reads/s, {_clients(concurrency)}", r["per_second"], "/s", _latency(r))


async def _shoppers(ledger: Ledger, workdir: Path, holds: int) -> Path:
    """List one reward at the first street, priced at a point and stocked for every hold,
    and write the file of that street's members with points to spend."""
    street = "s0"
    command = RewardCommand(HOT_REWARD, street, "洗衣液", "goods", 1, stock=holds)
    await ledger.create_reward(Principal.admin("bench"), command)
    async with ledger.db.read() as conn:
        rows = await conn.execute(
            text(
                "SELECT m.id FROM member m JOIN account a ON a.id = m.account_id"
                " WHERE m.org_unit LIKE :street AND a.available >= :enough"
            ),
            {"street": f"{street}%", "enough": SHOPPER_POINTS_MIN},
        )
        shoppers = [row[0] for row in rows]
    path = workdir / "shoppers.txt"
    path.write_text("\n".join(shoppers))
    return path


async def _serve(
    table: Table,
    backend: str,
    args: argparse.Namespace,
    url: str,
    requests: int,
    members_file: Path,
    ledger: Ledger,
    community: Community,
    workdir: Path,
) -> tuple[dict[int, dict], dict]:
    """The figures measured over HTTP on the loaded ledger; the awards' results by
    concurrency, and the holds'."""
    service = Service(url, args.workers, workdir / f"service-{backend}.log")
    try:
        awards = _http(table, backend, service, members_file, requests, "")
        _reads(table, backend, service, members_file, requests)
        table.add(backend, "settle a roster", *_settle(service, community.member_ids, community.micro_grids[0]))
        holds = service.drive("redeem", 32, requests, await _shoppers(ledger, workdir, requests))
        table.add(
            backend,
            "redemption holds/s, 32 clients, one reward",
            holds["per_second"],
            "/s",
            f"{_latency(holds)}, errors {holds['errors'] or 0}",
        )
    finally:
        service.stop()
    return awards, holds


def _ratios(
    table: Table,
    backend: str,
    runs: tuple[dict, dict[int, dict], dict],
    raws: dict[int, baselines.Raw],
    transactions: int,
) -> None:
    """Every ratio the targets name, each between figures of this one run: the loaded
    ledger's awards against the empty one's, against the raw database at as many
    connections as clients (SQLite has one writer: its one connection), a lone award's p50
    against one raw write's, and holds on one reward against awards."""
    empty, loaded, holds = runs
    table.add(
        backend,
        "awards/s at 32 clients, loaded ÷ empty ledger",
        loaded[32]["per_second"] / empty["per_second"],
        "x",
        f"{loaded[32]['per_second']:,.0f} /s with {transactions:,} transactions vs {empty['per_second']:,.0f} /s",
    )
    for clients in (32, 8):
        raw = raws.get(clients, raws[1])
        table.add(
            backend,
            f"awards/s at {clients} clients ÷ baseline (a)",
            loaded[clients]["per_second"] / raw.per_second,
            "x",
            f"{loaded[clients]['per_second']:,.0f} /s through HTTP vs {raw.per_second:,.0f} /s raw, {raw.what}",
        )
    table.add(
        backend,
        "award p50 at 1 client ÷ baseline (a) p50 at 1 connection",
        loaded[1]["p50_ms"] / raws[1].p50_ms,
        "x",
        f"{loaded[1]['p50_ms']:.1f} ms through HTTP vs {raws[1].p50_ms:.2f} ms raw",
    )
    table.add(
        backend,
        "holds/s at 32 clients on one reward ÷ awards/s at 32 clients",
        holds["per_second"] / loaded[32]["per_second"],
        "x",
        f"{holds['per_second']:,.0f} holds/s vs {loaded[32]['per_second']:,.0f} awards/s",
    )


async def _run_backend(backend: str, shape: Shape, args: argparse.Namespace, table: Table, workdir: Path) -> None:
    url = await _create_database(backend, workdir)
    requests = args.requests or (REQUESTS_QUICK if args.quick else REQUESTS)
    db = Database(url, create=True)
    try:
        with _phase(backend, "community"):
            await migrate(db)
            ledger = Ledger(db, checkpoint_key=os.environ["LEDGER_CHECKPOINT_KEY"].encode())
            community = await load(ledger, shape)
            await ledger.load_tiers(
                Principal.admin("bench"), default_tiers_text()
            )  # awards pay for tier evaluation, as in production
        with _phase(backend, "statements per award batch"):
            await statements.measure(table, backend, ledger, community)
        members_file = workdir / f"members-{backend}.txt"
        members_file.write_text("\n".join(community.member_ids))
        with _phase(backend, "awards on the empty ledger"):
            service = Service(url, args.workers, workdir / f"service-{backend}.log")
            try:
                empty = _http(table, backend, service, members_file, requests, " (empty ledger)")
            finally:
                service.stop()
        # While the journal loads, a one-point scheme flags every member who earns, so the
        # export lists everyone; the default scheme is back for everything measured after.
        await ledger.load_tiers(Principal.admin("bench"), BENCH_TIERS)
        with _phase(backend, "journal load"):
            started = time.perf_counter()
            await load_transactions(ledger, community, shape.transactions)
            load_seconds = time.perf_counter() - started
        await ledger.load_tiers(Principal.admin("bench"), default_tiers_text())
        if backend == "postgres":
            # A million transactions loaded in minutes leave PostgreSQL's autovacuum and
            # checkpointer minutes of work, which would share the two cores with the
            # service and be charged to the loaded ledger's figures; a ledger that grew
            # over months has had its vacuums as it went.
            with _phase(backend, "vacuum and checkpoint after the load"):
                dsn = baselines.asyncpg_dsn(url)
                await baselines.admin_sql(dsn, "VACUUM (ANALYZE)")
                await baselines.admin_sql(dsn, "CHECKPOINT")
        table.add(
            backend,
            "bulk load via journal.post",
            shape.transactions / load_seconds,
            "txn/s",
            f"{shape.transactions:,} transactions in {load_seconds:.1f} s",
        )
        with _phase(backend, "service: awards, reads, settle, holds"):
            loaded, holds = await _serve(table, backend, args, url, requests, members_file, ledger, community, workdir)
        with _phase(backend, "exports"):
            for fmt in ("csv", "xlsx"):
                table.add(backend, f"nomination export ({fmt}), whole ledger", *_export(url, fmt, workdir))
        with _phase(backend, "verify"):
            seconds, transactions = await _timed_verify(ledger)
        table.add(
            backend,
            "verify, seconds per million transactions",
            seconds * 1e6 / transactions,
            "s",
            f"{transactions:,} transactions in {seconds:.1f} s",
        )
        groups = {
            "member": list(community.member_accounts.values()),
            "micro-grid issuance": list(community.issuance_accounts.values()),
        }
        with _phase(backend, "baselines"):
            await baselines.balance_vs_sum(db, groups, table, backend)
            raws = await baselines.raw_writes(url, table, backend, RAW_WRITES)
        _ratios(table, backend, (empty[32], loaded, holds), raws, shape.transactions)
    finally:
        await db.dispose()
        await _drop_database(url)


async def main() -> None:
    args = _args()
    base = QUICK if args.quick else Shape()
    shape = Shape(
        **{**base.__dict__, **{k: v for k, v in (("members", args.members), ("transactions", args.transactions)) if v}}
    )
    table = Table()
    # The run's own checkpoint key, for the service, the exports and the verify it runs: a
    # bench database is thrown away, and no key file is left in the working directory.
    os.environ["LEDGER_CHECKPOINT_KEY"] = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as tmp, _phase(args.backends, "whole run"):
        for run in range(args.repeat):
            for backend in args.backends.split(","):
                with _phase(backend, f"run {run + 1} of {args.repeat}"):
                    await _run_backend(backend, shape, args, table, Path(tmp))
    print(table.render(shape))


if __name__ == "__main__":
    asyncio.run(main())
