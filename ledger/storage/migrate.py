"""Schema migrations (Alembic), run by ``ledger migrate`` and by the tests.

The service never creates tables at request time: a database is brought to the
current revision explicitly, once, before it is served.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from ledger.storage.database import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def migrate(db: Database, revision: str = "head") -> None:
    def upgrade(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    async with db.write() as conn:
        if db.is_postgres:
            # One schema change on a large table is one long statement (see POSTGRES_STATEMENT_TIMEOUT_MS).
            await conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
        await conn.run_sync(upgrade)


def head_revision() -> str:
    """The revision this release's migrations bring a database to."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the migrations have one head"
    return head


async def revision(db: Database) -> str | None:
    """The revision the database is at (None: never migrated), as ``alembic_version`` says."""
    async with db.read() as conn:
        return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
