"""Alembic environment: migrations always run on a connection handed in by ``ledger.storage.migrate``."""

from alembic import context

from ledger.storage.tables import metadata

connection = context.config.attributes.get("connection")
assert connection is not None, "run migrations through ledger.storage.migrate, which supplies a connection"
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
