"""Backups of the whole database, made while the service serves, and their restore.

A backup is worth keeping only if it is one consistent state: every transaction committed
before some moment and none after, never half of one, so that a restored ledger verifies.
Each database gives that by its own means:

* SQLite: the online backup API (``sqlite3.Connection.backup``) copies every page inside
  one read transaction. In WAL mode a reader never blocks the writer, so the service keeps
  writing while the copy is made (the WAL grows meanwhile, and is checkpointed after). The
  copy is made in one step: a stepped copy starts over whenever another connection writes
  between two steps, and under steady writes it may never finish. The copy is switched to
  the rollback journal before it is closed, so a backup is one self-contained SQLite file.
* PostgreSQL: ``pg_dump --format=custom`` reads the database in one snapshot (the same
  guarantee) and takes only ACCESS SHARE locks, which no write waits for (a migration
  does). ``pg_restore --no-owner`` restores it in one transaction, so a restore that fails
  leaves the target as empty as it found it, and the tables belong to whoever restores.

Either file is written under a temporary name beside its target, flushed to disk, made
readable by its owner only (it holds every resident's name) and renamed into place when
whole: a failed or interrupted backup leaves no partial file, and an earlier file of the
same name stays whole until the new one replaces it. A SQLite restore is written the same
way, as the target database's file.

A restore goes into an empty database only, a SQLite backup into a SQLite URL and a
PostgreSQL one into a PostgreSQL URL. The keys the ledger keeps outside the database (the
token secret, the checkpoint key) are, by design, in no backup: they must be kept apart.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from ledger.errors import BackupFailed, BackupToolMissing, DatabaseUnavailable, RestoreTargetNotEmpty
from ledger.storage.database import SQLITE_BUSY_TIMEOUT_MS

CONNECT_TIMEOUT_SECONDS = 10
"""How long a backup or restore waits for PostgreSQL to accept a connection before it
says the server cannot be reached: a reachable server answers in milliseconds, and an
operator at a terminal is better told than kept waiting for the operating system's
minutes-long TCP timeout."""

FILE_MODE = 0o600
"""Backups and restored SQLite files are readable by their owner only: they hold every
member's name and record, like the database itself."""

SQLITE_MAGIC = b"SQLite format 3\x00"
"""The first bytes of every SQLite database file."""

PG_DUMP_MAGIC = b"PGDMP"
"""The first bytes of a ``pg_dump --format=custom`` archive."""

SQLITE, POSTGRESQL = "sqlite", "postgresql"

_PG_USER_TABLES = text(
    "SELECT count(*) FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
)


@dataclass(frozen=True, slots=True)
class BackupFile:
    """A backup that was made whole: where it is, its size, and the database it holds."""

    path: Path
    size_bytes: int
    engine: str  # SQLITE or POSTGRESQL


def shown(url: str) -> str:
    """The URL as it may be printed: without its password."""
    return make_url(url).render_as_string(hide_password=True)


async def backup(url: str, file: Path) -> BackupFile:
    """Copy the database at ``url`` into ``file``, while it may be written to."""
    parsed = _parsed(url)
    if parsed.get_backend_name() == SQLITE:
        source = _sqlite_path(parsed)
        if not source.is_file():
            raise BackupFailed(f"there is no database at {source}")
        if file.resolve() in {source.resolve(), *(_sidecars(source.resolve()))}:
            raise BackupFailed(f"{file} is the database itself: name another file for the backup")
        with _written_whole(file) as draft:
            await asyncio.to_thread(_sqlite_copy, source, draft)
        return BackupFile(file, file.stat().st_size, SQLITE)
    pg_dump = _tool("pg_dump")
    with _written_whole(file) as draft:
        await _run(pg_dump, ["--format=custom", f"--file={draft}", f"--dbname={_conninfo(parsed)}"], parsed)
    return BackupFile(file, file.stat().st_size, POSTGRESQL)


async def restore(file: Path, url: str) -> None:
    """Restore the backup ``file`` into the empty database at ``url``."""
    parsed = _parsed(url)
    engine = parsed.get_backend_name()
    kind = _backup_kind(file)
    if kind != engine:
        raise BackupFailed(f"{file} is a {kind} backup: restore it into a {kind} database URL")
    if engine == SQLITE:
        target = _sqlite_path(parsed)
        tables = await asyncio.to_thread(_sqlite_tables, target)
        if tables:
            raise RestoreTargetNotEmpty(str(target), tables)
        with _written_whole(target) as draft:
            await asyncio.to_thread(_sqlite_copy, file, draft)
        return
    pg_restore = _tool("pg_restore")
    tables = await _postgres_tables(url)
    if tables:
        raise RestoreTargetNotEmpty(shown(url), tables)
    # One transaction, stopped at the first error: a restore that fails leaves nothing behind.
    options = ["--no-owner", "--single-transaction", "--exit-on-error", f"--dbname={_conninfo(parsed)}", str(file)]
    await _run(pg_restore, options, parsed)


def _parsed(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        expected = "sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/database"
        raise BackupFailed(f"{url!r} is not a database URL ({expected})") from error
    if parsed.get_backend_name() not in (SQLITE, POSTGRESQL):
        raise BackupFailed(f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql")
    return parsed


def _sqlite_path(parsed: URL) -> Path:
    if not parsed.database or parsed.database == ":memory:":
        raise BackupFailed("an in-memory SQLite database has no file to back up or restore into")
    return Path(parsed.database)


def _sidecars(database: Path) -> list[Path]:
    return [database.with_name(database.name + suffix) for suffix in ("-wal", "-shm", "-journal")]


def _backup_kind(file: Path) -> str:
    try:
        with file.open("rb") as backup_file:
            head = backup_file.read(len(SQLITE_MAGIC))
    except FileNotFoundError as error:
        raise BackupFailed(f"there is no backup at {file}") from error
    except IsADirectoryError as error:
        raise BackupFailed(f"{file} is a folder, not a backup file") from error
    if head.startswith(SQLITE_MAGIC):
        return SQLITE
    if head.startswith(PG_DUMP_MAGIC):
        return POSTGRESQL
    raise BackupFailed(f"{file} is not a backup: neither a SQLite file nor a pg_dump archive")


@contextmanager
def _written_whole(file: Path) -> Iterator[Path]:
    """A temporary path beside ``file`` to write to: when the block succeeds, its content is
    flushed to disk, made private and renamed to ``file``; when it fails, it is removed."""
    if file.is_dir():
        raise BackupFailed(f"{file} is a folder: name a file")
    if not file.parent.is_dir():
        raise BackupFailed(f"the folder {file.parent} does not exist")
    draft = file.with_name(f".{file.name}.{os.getpid()}.partial")
    leftovers = [draft, *_sidecars(draft)]
    for path in leftovers:  # an earlier run with the same process id was interrupted
        path.unlink(missing_ok=True)
    try:
        yield draft
        os.chmod(draft, FILE_MODE)
        _fsync(draft, os.O_RDONLY)
        os.replace(draft, file)
        _fsync(file.parent, os.O_RDONLY | os.O_DIRECTORY)  # the rename itself survives a power cut
    finally:
        for path in leftovers:
            path.unlink(missing_ok=True)


def _fsync(path: Path, flags: int) -> None:
    descriptor = os.open(path, flags)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _existing(path: Path) -> sqlite3.Connection:
    """A connection to the SQLite file at ``path`` that never creates it. Not read-only: a
    read-only connection to a WAL database cannot remove the -wal and -shm files it opens
    when it is the last to close, and leaves them behind."""
    return sqlite3.connect(
        f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None
    )


def _sqlite_copy(source: Path, draft: Path) -> None:
    """Copy the database ``source`` into the new file ``draft`` in one read transaction."""
    try:
        src = _existing(source)
        try:
            dst = sqlite3.connect(draft, isolation_level=None)
            try:
                src.backup(dst, pages=-1)  # every page in one step: one snapshot, never restarted
                dst.execute("PRAGMA journal_mode=DELETE")
                (check,) = dst.execute("PRAGMA quick_check").fetchone()
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as error:
        raise BackupFailed(f"could not copy {source}: {error}") from error
    if check != "ok":
        raise BackupFailed(f"the copy of {source} does not pass SQLite's quick_check: {check}")


def _sqlite_tables(target: Path) -> int:
    """How many tables the SQLite database at ``target`` holds (0 when there is no file)."""
    if not target.exists():
        if not target.parent.is_dir():
            raise BackupFailed(f"the folder {target.parent} does not exist")
        return 0
    try:
        conn = _existing(target)
        try:
            (tables,) = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as error:
        raise BackupFailed(f"{target} is not an empty SQLite database ({error}): restore into a new file") from error
    # The last connection to close removes the -wal and -shm files: one still there is
    # another process's, which would go on writing to the file the restore replaces.
    if not tables and any(path.exists() for path in _sidecars(target)):
        raise BackupFailed(f"{target} is open in another process: stop it, or restore into a new file")
    return int(tables)


async def _postgres_tables(url: str) -> int:
    """How many tables the PostgreSQL database at ``url`` holds, in any schema of its own."""
    engine = create_async_engine(url, poolclass=NullPool, connect_args={"timeout": CONNECT_TIMEOUT_SECONDS})
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(_PG_USER_TABLES)).scalar_one())
    except DBAPIError as error:
        raise DatabaseUnavailable(f"cannot reach {shown(url)}: {_reason(error.orig)}") from error
    except OSError as error:  # refused, unreachable, or no answer within the timeout
        raise DatabaseUnavailable(f"cannot reach {shown(url)}: {error or type(error).__name__}") from error
    finally:
        await engine.dispose()


def _reason(error: BaseException | None) -> str:
    """The driver's own words, without SQLAlchemy's "<class …>:" prefix."""
    return str(error).split(": ", 1)[-1] if str(error).startswith("<class") else str(error)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupToolMissing(name)
    return found


def _conninfo(parsed: URL) -> str:
    """A libpq connection string naming the database; the rest comes from ``_environment``.
    A ``dbname=`` value is never taken for a URL or another keyword, whatever its name."""
    name = (parsed.database or "").replace("\\", "\\\\").replace("'", "\\'")
    return f"dbname='{name}'"


def _environment(parsed: URL) -> dict[str, str]:
    """Where the PostgreSQL tools connect, as libpq's variables: the password stays out of
    the command line, which every user of the machine can read."""
    environment = dict(os.environ, PGCONNECT_TIMEOUT=str(CONNECT_TIMEOUT_SECONDS))
    for variable, value in (
        ("PGHOST", parsed.host),
        ("PGPORT", parsed.port),
        ("PGUSER", parsed.username),
        ("PGPASSWORD", parsed.password),
    ):
        if value is not None:
            environment[variable] = str(value)
    return environment


async def _run(tool: str, arguments: list[str], parsed: URL) -> None:
    process = await asyncio.create_subprocess_exec(
        tool,
        *arguments,
        env=_environment(parsed),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await process.communicate()
    except asyncio.CancelledError:  # interrupted: the tool stops too, and the draft is removed
        process.kill()
        await process.wait()
        raise
    if process.returncode != 0:
        raise BackupFailed(_first_error(stderr.decode("utf-8", "replace"), Path(tool).name, process.returncode))


def _first_error(stderr: str, tool: str, returncode: int | None) -> str:
    """The line that says what went wrong: the PostgreSQL tools write "pg_dump: error: …"
    first, then lines of detail and hints."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "error:" in line]
    return (errors or lines or [f"{tool} exited with code {returncode}"])[0]
