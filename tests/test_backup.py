"""Backups made while the service writes, and their restore into an empty database.

A second writer (a ledger of its own, on its own connections) posts awards all through the
backup; the copy, restored into a fresh database, must verify, hold every award that was
acknowledged before the backup started, and be a prefix of the source's journal: one
moment's state, never a half-written transaction.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from api.cli import main as cli
from ledger import AwardCommand, Category, Database, IdempotentRequest, Ledger, Principal, migrate
from ledger.errors import BackupFailed, BackupToolMissing, RestoreTargetNotEmpty
from ledger.storage import backup
from ledger.storage.migrate import head_revision
from tests.builders import CHECKPOINT_KEY, MICRO, TOKEN_SECRET, key, member, principal, recently, tree
from tests.conftest import POSTGRES_URL, Backend

WRITERS = 4
"""Award loops that race the backup: the service's requests, several at once."""

ACKNOWLEDGED_BEFORE = 20
"""Awards acknowledged before the backup starts, so the copy has something to hold."""

ACKNOWLEDGED_AFTER = 10
"""Awards acknowledged after the backup ends, so that the source has moved past the copy."""

FILLER_PAGES = 8_000
"""Pages of 4 KB (some 32 MB, a ledger of a few thousand members) added to a SQLite test
database, in a table of the test's own that verify ignores: a copy of the bare test
database takes a millisecond, too short for any award to commit while it runs. pg_dump
takes long enough on its own."""


@dataclass
class Writer:
    """Posts awards in ``WRITERS`` loops until stopped; notes each acknowledged one."""

    ledger: Ledger
    member_id: str
    acknowledged: list[tuple[float, int]] = field(default_factory=list)  # (monotonic time, transaction id)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        occurred_at = datetime.fromisoformat(recently())
        while not self.stop.is_set():
            command = AwardCommand(self.member_id, 1, Category.PATROL, occurred_at, "日巡千步")
            result, _ = await self.ledger.award(
                Principal.admin("writer"), command, IdempotentRequest("writer", key(), key())
            )
            self.acknowledged.append((time.monotonic(), result.transaction_id))

    async def until(self, count: int, after: float = 0.0) -> None:
        while sum(1 for at, _ in self.acknowledged if at > after) < count:
            await asyncio.sleep(0.005)


@pytest.fixture
async def writer(backend: Backend, ledger: Ledger, database_url: str) -> AsyncIterator[Writer]:
    await tree(ledger)
    if backend.name == "sqlite":
        await asyncio.to_thread(_grow, database_url)
    second = Ledger(Database(database_url), checkpoint_key=CHECKPOINT_KEY.encode())
    writing = Writer(second, await member(ledger, "m-王秀英", MICRO))
    tasks = [asyncio.create_task(writing.run()) for _ in range(WRITERS)]
    yield writing
    writing.stop.set()
    await asyncio.gather(*tasks)
    await second.db.dispose()


def _sqlite(path: Path | str) -> str:
    return f"sqlite+aiosqlite:///{path}"


def _postgres(database: str) -> str:
    return POSTGRES_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1) + f"/{database}"


def _grow(url: str) -> None:
    conn = sqlite3.connect(url.split("///", 1)[1], isolation_level=None)
    try:
        conn.execute("CREATE TABLE test_filler (page BLOB)")
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
            " INSERT INTO test_filler SELECT zeroblob(4000) FROM n",
            (FILLER_PAGES,),
        )
    finally:
        conn.close()


async def _journal(url: str) -> list[tuple[int, str]]:
    db = Database(url)
    try:
        async with db.snapshot() as conn:
            return [tuple(row) for row in await conn.execute(text("SELECT id, hash FROM journal_txn ORDER BY id"))]
    finally:
        await db.dispose()


async def _verified(url: str) -> tuple[bool, int, list[dict[str, object]]]:
    db = Database(url)
    try:
        report = await Ledger(db, checkpoint_key=CHECKPOINT_KEY.encode()).verify()
    finally:
        await db.dispose()
    return report.ok, report.transactions, report.problems


async def test_a_backup_made_while_awards_are_written_restores_to_a_consistent_prefix(
    ledger, writer, database_url, empty_database_url, tmp_path
):
    """Awards go on through the backup; the restored copy verifies, holds every award
    acknowledged before the backup began, and its journal is the source's up to one point."""
    await writer.until(ACKNOWLEDGED_BEFORE)
    await ledger.checkpoint(Principal.admin("test"))  # the copy's checkpoints are checked too
    before = {txn for _, txn in writer.acknowledged}
    started = time.monotonic()
    made = await backup.backup(database_url, tmp_path / "ledger.backup")
    ended = time.monotonic()
    await writer.until(ACKNOWLEDGED_AFTER, after=ended)

    await backup.restore(made.path, empty_database_url)
    copy, source = await _journal(empty_database_url), await _journal(database_url)
    ok, transactions, problems = await _verified(empty_database_url)
    assert (True, [], len(copy)) == (ok, problems, transactions)
    assert set() == before - {txn for txn, _ in copy}
    assert source[: len(copy)] == copy
    assert [] != [txn for at, txn in writer.acknowledged if started < at < ended], "awards went on during the copy"


async def test_restore_refuses_a_database_that_is_not_empty(ledger, database_url, tmp_path):
    """A restore into a ledger that has tables is refused, and the ledger is left as it was."""
    await tree(ledger)
    made = await backup.backup(database_url, tmp_path / "ledger.backup")
    journal = await _journal(database_url)
    with pytest.raises(RestoreTargetNotEmpty) as refused:
        await backup.restore(made.path, database_url)
    tables = refused.value.fields()["tables"]
    assert f"{refused.value.fields()['target']} is not empty ({tables} tables): restore into a new, empty database" == (
        refused.value.detail
    )
    assert tables > 20
    assert (journal, True) == (await _journal(database_url), (await ledger.verify()).ok)


async def test_the_commands_back_up_restore_and_verify_in_one_line_each(
    ledger, database_url, empty_database_url, tmp_path, capsys
):
    """`ledger backup` and `ledger restore` print one line per outcome, the last being verify's."""
    await tree(ledger)
    await member(ledger)
    await ledger.checkpoint(Principal.admin("test"))
    file = tmp_path / "ledger.backup"
    assert 0 == await asyncio.to_thread(cli, ["backup", str(file), "--database-url", database_url])
    assert 0 == await asyncio.to_thread(cli, ["restore", str(file), "--database-url", empty_database_url])
    lines = capsys.readouterr().out.splitlines()
    assert 3 == len(lines), lines
    assert lines[0].startswith(f"backed up {backup.shown(database_url)} to {file} (")
    assert f"restored {file} into {backup.shown(empty_database_url)}" == lines[1]
    assert lines[2].startswith("verify ok: 0 transactions, ") and "1 checkpoints checked" in lines[2]
    assert 0o600 == file.stat().st_mode & 0o777  # it holds every member's name


async def test_a_copy_checked_under_another_checkpoint_key_fails_verify(
    ledger, database_url, empty_database_url, tmp_path, capsys, monkeypatch
):
    """The checkpoint key is in no backup: a restore checked without the original key says
    its checkpoints are forged, and exits 1."""
    await ledger.checkpoint(Principal.admin("test"))
    file = tmp_path / "ledger.backup"
    await backup.backup(database_url, file)
    monkeypatch.setenv("LEDGER_CHECKPOINT_KEY", "another-key")
    assert 1 == await asyncio.to_thread(cli, ["restore", str(file), "--database-url", empty_database_url])
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("verify found 1 problems in the restored copy, the first: ")
    assert '"problem": "checkpoint_forged"' in last


async def test_tokens_of_a_restored_copy_work_only_under_the_same_token_secret(
    ledger, database_url, empty_database_url, tmp_path
):
    """The token secret is in no backup: a token authenticates on the restored copy under the
    original secret, and under any other it is unknown."""
    from ledger.errors import Unauthenticated
    from ledger.values import Access

    _, token = await principal(ledger, "auditor")
    await backup.restore((await backup.backup(database_url, tmp_path / "b")).path, empty_database_url)
    restored = Ledger(Database(empty_database_url))
    try:
        assert Access.AUDITOR == (await restored.authenticate(token, TOKEN_SECRET.encode())).role
        with pytest.raises(Unauthenticated):
            await restored.authenticate(token, b"a-new-secret")
    finally:
        await restored.db.dispose()


async def test_a_failed_backup_leaves_the_earlier_file_whole_and_no_partial_file(backend, tmp_path):
    """A backup that fails (here: its database does not exist) leaves the folder as it found it."""
    earlier = tmp_path / "ledger.backup"
    earlier.write_bytes(b"yesterday's backup")
    if backend.name == "sqlite":
        url, reason = _sqlite(tmp_path / "missing.sqlite3"), "there is no database at"
    else:
        url, reason = _postgres("never_created"), 'FATAL:  database "never_created" does not exist'
    with pytest.raises(BackupFailed) as failed:
        await backup.backup(url, earlier)
    assert reason in failed.value.detail
    assert ([earlier], b"yesterday's backup") == (list(tmp_path.iterdir()), earlier.read_bytes())


@pytest.mark.sqlite_only
async def test_a_sqlite_copy_that_fails_midway_leaves_no_partial_file(backend, tmp_path):
    """A source that is not a SQLite database fails in the copy itself, and the draft is removed."""
    source = tmp_path / "not-a-database.sqlite3"
    source.write_bytes(b"x" * 8192)
    with pytest.raises(BackupFailed) as failed:
        await backup.backup(f"sqlite+aiosqlite:///{source}", tmp_path / "ledger.backup")
    assert f"could not copy {source}: file is not a database" == failed.value.detail
    assert [source] == list(tmp_path.iterdir())


@pytest.mark.sqlite_only
def test_postgresql_without_its_client_tools_is_one_line_naming_what_to_install(backend, tmp_path, monkeypatch, capsys):
    """Without pg_dump on the PATH the backup says what to install, before connecting anywhere."""
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BackupToolMissing):
        asyncio.run(backup.backup("postgresql+asyncpg://nobody@192.0.2.1/ledger", tmp_path / "b"))
    assert 2 == cli(["backup", str(tmp_path / "b"), "--database-url", "postgresql+asyncpg://nobody@192.0.2.1/x"])
    assert (
        "pg_dump is not installed: install the PostgreSQL client tools of the server's major version or later "
        "(Debian/Ubuntu: apt install postgresql-client)\n"
    ) == capsys.readouterr().err
    assert [] == list(tmp_path.iterdir())


UNREACHABLE = "postgresql+asyncpg://postgres@127.0.0.1:1/ledger"
"""No server listens on port 1: the connection is refused at once."""


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A migrated SQLite database and its backup, made once for the table of bad invocations."""
    folder = tmp_path_factory.mktemp("made")
    source, file = folder / "source.sqlite3", folder / "a.backup"
    assert 0 == cli(["migrate", "--database-url", _sqlite(source)])
    assert 0 == cli(["backup", str(file), "--database-url", _sqlite(source)])
    return {"source_file": str(source), "source": _sqlite(source), "backup": str(file)}


@pytest.mark.sqlite_only
@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["restore", "{tmp}/none.backup", "--database-url", "{new}"], "there is no backup at {tmp}/none.backup"),
        (["restore", "{tmp}", "--database-url", "{new}"], "{tmp} is a folder, not a backup file"),
        (["restore", "{tmp}/text.backup", "--database-url", "{new}"], "{tmp}/text.backup is not a backup: "),
        (["restore", "{backup}", "--database-url", "{new_in_no_folder}"], "the folder {tmp}/no does not exist"),
        (["restore", "{backup}", "--database-url", "{source}"], "{source_file} is not empty ("),
        (["restore", "{backup}", "--database-url", "mysql://x@y/z"], "unsupported database 'mysql'"),
        (["restore", "{backup}", "--database-url", "nonsense"], "'nonsense' is not a database URL ("),
        (
            ["restore", "{backup}", "--database-url", UNREACHABLE],
            "{backup} is a sqlite backup: restore it into a sqlite database URL",
        ),
        (["backup", "{tmp}/no/folder.backup", "--database-url", "{source}"], "the folder {tmp}/no does not exist"),
        (["backup", "{tmp}", "--database-url", "{source}"], "{tmp} is a folder: name a file"),
        (["backup", "{tmp}/b.backup", "--database-url", "{new}"], "there is no database at {tmp}/new.sqlite3"),
        (
            ["backup", "{source_file}", "--database-url", "{source}"],
            "{source_file} is the database itself: name another file for the backup",
        ),
    ],
)
def test_each_bad_invocation_is_one_line_and_exit_code_2(backend, made, tmp_path, capsys, argv, line):
    """A missing file or folder, a wrong or unknown URL, a target that is not empty: one
    line on stderr, exit code 2, and no file or folder made."""
    (tmp_path / "text.backup").write_text("not a backup", encoding="utf-8")
    names = {
        **made,
        "tmp": str(tmp_path),
        "new": _sqlite(tmp_path / "new.sqlite3"),
        "new_in_no_folder": _sqlite(tmp_path / "no" / "folder.sqlite3"),
    }
    folders = (tmp_path, Path(made["source_file"]).parent)
    before = sorted(path for folder in folders for path in folder.rglob("*"))
    assert 2 == cli([arg.format(**names) for arg in argv])
    output = capsys.readouterr()
    assert ("", 1) == (output.out, output.err.count("\n"))
    assert output.err.startswith(line.format(**names)), output.err
    assert before == sorted(path for folder in folders for path in folder.rglob("*"))


@pytest.mark.postgres_only
async def test_an_unreachable_or_missing_postgresql_database_is_one_line(database_url, tmp_path, capsys):
    """Restore into a server that refuses, or a database that was never created: one line, exit 2."""
    file = tmp_path / "ledger.backup"
    await backup.backup(database_url, file)
    missing = database_url.rsplit("/", 1)[0] + "/never_created"
    cases = [
        (UNREACHABLE, f"cannot reach {UNREACHABLE}: [Errno 111] Connect call failed"),
        (missing, f'cannot reach {missing}: database "never_created" does not exist'),
    ]
    for url, line in cases:
        assert 2 == await asyncio.to_thread(cli, ["restore", str(file), "--database-url", url])
        output = capsys.readouterr()
        assert ("", 1) == (output.out, output.err.count("\n"))
        assert output.err.startswith(line), output.err
    assert 2 == await asyncio.to_thread(cli, ["backup", str(tmp_path / "b"), "--database-url", UNREACHABLE])
    assert capsys.readouterr().err.startswith('pg_dump: error: connection to server at "127.0.0.1", port 1 failed')
    assert [file] == list(tmp_path.iterdir())


@pytest.mark.sqlite_only
async def test_a_copy_of_an_older_schema_is_restored_and_sent_to_migrate_before_verify(backend, tmp_path, capsys):
    """A backup made before the latest migration is restored, and the command says to migrate
    it (this release's verify reads this release's schema) instead of failing in verify."""
    source, file, target = _sqlite(tmp_path / "old.sqlite3"), tmp_path / "old.backup", _sqlite(tmp_path / "new.sqlite3")
    db = Database(source, create=True)
    await migrate(db, "0007")
    await db.dispose()
    await backup.backup(source, file)
    assert 1 == await asyncio.to_thread(cli, ["restore", str(file), "--database-url", target])
    restored, advice = capsys.readouterr().out.splitlines()
    assert f"restored {file} into {target}" == restored
    assert (
        f"the restored copy's schema is at revision 0007, this release's at {head_revision()}: run ledger migrate "
        f"--database-url {target} (or use the release that made the backup), then ledger verify"
    ) == advice
    assert 0 == await asyncio.to_thread(cli, ["migrate", "--database-url", target])
    assert 0 == await asyncio.to_thread(cli, ["verify", "--database-url", target])
