"""checkpoints: the chain head sealed with a key kept outside the database

A database writer can rewrite the last transactions and recompute every later hash; a
checkpoint's MAC cannot be recomputed without the key, so verify finds a rewrite at or
before any checkpoint. Checkpoints are append-only like the journal they anchor. A
notice names the checkpoint sealed as it opened.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from ledger.storage.migrations.append_only import append_only_triggers, drop_append_only_triggers

APPEND_ONLY = ("checkpoint",)

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "checkpoint",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("sealed_at", sa.DateTime(), nullable=False),
        sa.Column("sealed_by", sa.String(length=64), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("checkpoint", schema=None) as batch_op:
        batch_op.create_index("ix_checkpoint_transaction_id", ["transaction_id"], unique=False)
    with op.batch_alter_table("notice", schema=None) as batch_op:
        batch_op.add_column(sa.Column("checkpoint_id", sa.BigInteger(), nullable=True))
    for statement in append_only_triggers(op.get_bind().dialect.name, APPEND_ONLY):
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_append_only_triggers(op.get_bind().dialect.name, APPEND_ONLY):
        op.execute(statement)
    with op.batch_alter_table("notice", schema=None) as batch_op:
        batch_op.drop_column("checkpoint_id")
    with op.batch_alter_table("checkpoint", schema=None) as batch_op:
        batch_op.drop_index("ix_checkpoint_transaction_id")
    op.drop_table("checkpoint")
