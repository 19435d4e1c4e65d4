"""idempotency keys unique ledger-wide, not per principal

Until now a key was unique per principal, so a client that changed its token between an
attempt and its retry was awarded twice. From now on the key alone is the primary key.

A database may already hold one key used by several principals. The earliest use (by
``created_at``, then principal) keeps the key; every later one is renamed to
``principal + "\\x1f" + key``, so the history still shows whose key it was and what it
read. The unit separator is not printable and the API accepts only printable keys, so a
renamed key is never one a client can send, and none can collide with another. A name
too long for the column keeps as much of it as fits and ends with its SHA-256 digest.

Revision ID: 0007
Revises: 0006
"""

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

KEY_LENGTH = 128
"""The key column's length at this revision (``IDEMPOTENCY_KEY_LENGTH_MAX`` then): a
migration keeps the figures of its day, whatever the code says later."""

SEPARATOR = "\x1f"

PRIMARY_KEY = "idempotency_pkey"
"""PostgreSQL's own name for the primary key 0001 created unnamed; the new one keeps it."""


def renamed(principal: str, key: str) -> str:
    """The key a later use of ``key`` by ``principal`` is kept under: deterministic, so
    that running the migration on two copies of a database gives the same history."""
    name = f"{principal}{SEPARATOR}{key}"
    if len(name) <= KEY_LENGTH:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()
    return f"{name[: KEY_LENGTH - len(digest) - len(SEPARATOR)]}{SEPARATOR}{digest}"


def _idempotency(*primary_key: str) -> sa.Table:
    """The table as 0001 made it, with ``primary_key`` as its primary key."""
    return sa.Table(
        "idempotency",
        sa.MetaData(),
        sa.Column("principal", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=KEY_LENGTH), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint(*primary_key),
    )


def _rename_later_uses() -> None:
    table = _idempotency("principal", "key")
    shared = sa.select(table.c.key).group_by(table.c.key).having(sa.func.count() > 1)
    rows = (
        op.get_bind()
        .execute(
            sa.select(table.c.principal, table.c.key)
            .where(table.c.key.in_(shared))
            .order_by(table.c.key, table.c.created_at, table.c.principal)
        )
        .all()
    )
    earlier: set[str] = set()
    for principal, key in rows:
        if key not in earlier:
            earlier.add(key)
            continue
        op.get_bind().execute(
            sa.update(table)
            .where(table.c.principal == principal, table.c.key == key)
            .values(key=renamed(principal, key))
        )


def _primary_key(*columns: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot alter a primary key: the table is rebuilt as declared and its rows copied.
        with op.batch_alter_table("idempotency", copy_from=_idempotency(*columns), recreate="always"):
            pass
    else:
        op.drop_constraint(PRIMARY_KEY, "idempotency", type_="primary")
        op.create_primary_key(PRIMARY_KEY, "idempotency", list(columns))


def upgrade() -> None:
    _rename_later_uses()
    _primary_key("key")


def downgrade() -> None:
    # Renamed keys stay renamed: which of them were renamed is not recorded, and each is
    # still unique per principal, which is all the old primary key asks.
    _primary_key("principal", "key")
