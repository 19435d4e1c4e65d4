"""The migrations build exactly the schema the tables declare: a column, index or
constraint added to ``ledger.storage.tables`` without a migration fails here, not in production."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import ledger.storage.tables  # noqa: F401 - the tables register themselves on SQLModel.metadata
from ledger import Database


async def test_migrated_schema_is_the_declared_one(db: Database):
    async with db.write() as conn:
        differences = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), SQLModel.metadata)
        )
    assert differences == []
    assert "member" in SQLModel.metadata.tables  # the comparison saw the tables
