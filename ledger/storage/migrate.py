"""Schema migrations (Alembic), run by ``ledger migrate`` and by the tests.

The service never creates tables at request time: a database is brought to the
current revision explicitly, once, before it is served.

A database at a revision this release does not know was migrated by a newer release.
It is refused, not "upgraded": Alembic cannot place an unknown revision in its graph,
and only the newer release knows how to take its own migrations back down, so the
operator is told to run that release or restore a backup.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from ledger.errors import DatabaseFromNewerRelease, DatabaseNotMigrated
from ledger.storage.database import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def migrate(db: Database, revision: str = "head") -> None:
    """Upgrade to ``revision``; a database from a newer release is refused, unchanged."""

    def upgrade(connection: Connection) -> None:
        _refuse_newer(MigrationContext.configure(connection).get_current_revision())
        command.upgrade(alembic_config(connection), revision)

    async with db.write() as conn:
        if db.is_postgres:
            # One schema change on a large table is one long statement (see POSTGRES_STATEMENT_TIMEOUT_MS).
            await conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
        await conn.run_sync(upgrade)


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The revision this release's migrations bring a database to."""
    head = _scripts().get_current_head()
    assert head is not None, "the migrations have one head"
    return head


def _refuse_newer(found: str | None) -> None:
    """Raise when ``found`` is a revision none of this release's migrations made."""
    if found is not None and found not in {script.revision for script in _scripts().walk_revisions()}:
        raise DatabaseFromNewerRelease(found, head_revision())


async def revision(db: Database) -> str | None:
    """The revision the database is at (None: never migrated), as ``alembic_version`` says."""
    async with db.read() as conn:
        return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


async def check_schema(db: Database) -> None:
    """Refuse a database whose schema is not the one this release reads and writes: one a
    newer release migrated, or one not yet (or never) migrated."""
    found = await revision(db)
    _refuse_newer(found)
    if found != head_revision():
        raise DatabaseNotMigrated(found, head_revision())
