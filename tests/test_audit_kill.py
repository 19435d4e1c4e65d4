"""A serving process killed (SIGKILL) in the middle of a burst of awards leaves every
committed write with its audit row, every acknowledged award in the ledger exactly once,
and books that verify: the audit row commits in the write's own transaction."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import select

from api import routes
from ledger import Ledger
from ledger.storage.tables import AuditEntry, IdempotencyRecord, JournalTxn
from tests.builders import ADMIN, award_body, member, tree
from tests.conftest import ADMIN_TOKEN, TOKEN_SECRET
from tests.site import STARTUP_SECONDS_MAX, free_socket

CLIENTS = 16
"""Concurrent clients in the burst: enough that group commit batches several awards."""

ACKNOWLEDGED_BEFORE_KILL = 60
"""Awards answered before the kill: the burst is in full flow, batches in flight."""

BURST_SECONDS_MAX = 60.0
"""How long the burst may take to reach its count before the test gives up."""


def _start(database_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "LEDGER_ADMIN_TOKEN": ADMIN_TOKEN,
        "LEDGER_TOKEN_SECRET": TOKEN_SECRET,
        "LEDGER_WRITES_PER_SECOND": "0",
    }
    command = [sys.executable, "-m", "api.cli", "serve", "--database-url", database_url, "--port", str(port)]
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


async def _wait_until_up(http: httpx.AsyncClient, server: subprocess.Popen[bytes], log: Path, mid: str) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS_MAX
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()
        try:
            if (await http.get(routes.api(routes.MEMBER, member_id=mid))).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"the service did not start: {log.read_text()}")


async def _burst(http: httpx.AsyncClient, mid: str, acknowledged: list[str], enough: asyncio.Event) -> None:
    async def client(n: int) -> None:
        for i in range(10_000):
            key = f"kill-{n}-{i}"
            try:
                response = await http.post(
                    routes.api(routes.AWARDS), json=award_body(mid, 1), headers={"Idempotency-Key": key}
                )
            except httpx.TransportError:
                return  # the server is gone
            if response.status_code == 201:
                acknowledged.append(key)
                if len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL:
                    enough.set()

    await asyncio.gather(*(client(n) for n in range(CLIENTS)))


async def test_a_killed_server_leaves_every_committed_award_with_its_audit_row(database_url, ledger: Ledger, tmp_path):
    await tree(ledger)
    mid = await member(ledger)
    with free_socket() as sock:
        port = sock.getsockname()[1]
    log = tmp_path / "serve.log"
    server = _start(database_url, port, log)
    acknowledged: list[str] = []
    try:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30) as http:
            await _wait_until_up(http, server, log, mid)
            enough = asyncio.Event()
            burst = asyncio.create_task(_burst(http, mid, acknowledged, enough))
            await asyncio.wait_for(enough.wait(), BURST_SECONDS_MAX)
            server.send_signal(signal.SIGKILL)
            server.wait(timeout=10)
            await asyncio.wait_for(burst, 30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)

    async with ledger.db.read() as conn:
        keys = {r.key: r.result for r in await conn.execute(select(IdempotencyRecord))}
        audited = {
            r.idempotency_key
            for r in await conn.execute(select(AuditEntry).where(AuditEntry.path == routes.api(routes.AWARDS)))
            if r.status == 201
        }
        awards = [r.id for r in await conn.execute(select(JournalTxn.id).where(JournalTxn.member_id == mid))]

    assert len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL
    assert "POST /v1/awards 201" in log.read_text()  # the serving process's access log
    assert set(acknowledged) <= set(keys)  # nothing acknowledged was lost
    assert sorted(result["transaction_id"] for result in keys.values()) == sorted(awards)  # once each
    assert set(keys) <= audited  # every committed award has its row, even the ones never answered
    assert (await ledger.balance(ADMIN, mid)).available_points == len(awards)
    report = await ledger.verify()
    assert report.ok, report.problems
