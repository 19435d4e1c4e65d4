"""A database a newer release migrated: this release neither serves it nor touches it.
Every command, ``migrate`` and ``serve`` among them, and the ASGI app's startup answer one
line and exit 2, and the database keeps the revision it had."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from api.cli import EXIT_REFUSED
from api.cli import main as cli
from ledger import Database, head_revision, revision

FUTURE = "0099_from_a_newer_release"
ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS_MAX = 60  # a refused startup exits at once; this only stops a hung test


def _refusal() -> str:
    return (
        f"the database was upgraded by a newer release (schema revision {FUTURE}; this release's is "
        f"{head_revision()}): install that release or restore a backup\n"
    )


@pytest.fixture
async def newer_database_url(database_url: str) -> str:
    """A migrated database whose alembic_version names a revision this release lacks."""
    db = Database(database_url)
    try:
        async with db.write() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = :future"), {"future": FUTURE})
    finally:
        await db.dispose()
    return database_url


async def _revision(url: str) -> str | None:
    db = Database(url)
    try:
        return await revision(db)
    finally:
        await db.dispose()


async def test_every_command_refuses_it_with_one_line(newer_database_url, tmp_path, capsys):
    """Reads, writes, migrate (which would otherwise try to move it) and serve: each
    prints the one line, exit 2, and the revision is left as the newer release set it."""
    url = ["--database-url", newer_database_url]
    for argv in (
        ["verify"],
        ["sweep"],
        ["checkpoint"],
        ["token", "list"],
        ["export", "nominations", "--output", str(tmp_path / "n.csv")],
        ["migrate"],
        ["serve", "--port", "1"],
    ):
        code = await asyncio.to_thread(cli, [*argv, *url])
        out, err = capsys.readouterr()
        assert (EXIT_REFUSED, "", _refusal()) == (code, out, err), argv
    assert FUTURE == await _revision(newer_database_url)
    assert [] == list(tmp_path.iterdir())


async def test_the_app_does_not_start_on_it(newer_database_url, tmp_path):
    """``uvicorn api.asgi:app``, as a production server runs it: the one line on stderr
    and exit 2 before it listens, no traceback."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LEDGER_DATABASE_URL": newer_database_url}
    env |= {"LEDGER_ADMIN_TOKEN": "t" * 32}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "uvicorn", "api.asgi:app", "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=STARTUP_SECONDS_MAX,
    )
    assert (EXIT_REFUSED, _refusal()) == (done.returncode, done.stderr)
    assert FUTURE == await _revision(newer_database_url)
