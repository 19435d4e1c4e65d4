"""journal, accounts and org tree

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from ledger.storage.migrations.append_only import (
    APPEND_ONLY_TABLES,
    append_only_triggers,
    drop_append_only_triggers,
)

GENESIS_HASH = "0" * 64
"""The chain head before any transaction (``ledger.journal.chain.GENESIS_HASH``), written
here as a value: a migration stays what it was when the code it serves moves on."""

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("available", sa.BigInteger(), nullable=False),
        sa.Column("held", sa.BigInteger(), nullable=False),
        sa.Column("lifetime_earned", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("kind = 'issuance' OR available >= 0", name="available_not_negative"),
        sa.CheckConstraint("held >= 0", name="held_not_negative"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "owner"),
    )
    op.create_table(
        "chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_txn_id", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "idempotency",
        sa.Column("principal", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("principal", "key"),
    )
    op.create_table(
        "journal_txn",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=True),
        sa.Column("org_unit", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("memo", sa.String(length=500), nullable=False),
        sa.Column("evidence_url", sa.String(length=2000), nullable=True),
        sa.Column("reverses_id", sa.BigInteger(), nullable=True),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("earned_points", sa.BigInteger(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["journal_txn.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reverses_id"),
    )
    with op.batch_alter_table("journal_txn", schema=None) as batch_op:
        batch_op.create_index("ix_journal_txn_member", ["member_id", "id"], unique=False)
        batch_op.create_index("ix_journal_txn_unit_occurred", ["org_unit", "occurred_at"], unique=False)

    op.create_table(
        "org_unit",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("parent_code", sa.String(length=64), nullable=True),
        sa.Column("path", sa.String(length=325), nullable=False),
        sa.Column("issuance_account_id", sa.BigInteger(), nullable=False),
        sa.Column("redemption_account_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_code"],
            ["org_unit.code"],
        ),
        sa.PrimaryKeyConstraint("code"),
    )
    with op.batch_alter_table("org_unit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_org_unit_parent_code"), ["parent_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_org_unit_path"), ["path"], unique=False)

    op.create_table(
        "account_period",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("earned", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
        ),
        sa.PrimaryKeyConstraint("account_id", "period"),
    )
    op.create_table(
        "member",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("org_unit", sa.String(length=64), nullable=False),
        sa.Column("party_member", sa.Boolean(), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_unit"],
            ["org_unit.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_member_org_unit"), ["org_unit"], unique=False)

    op.create_table(
        "posting",
        sa.Column("txn_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
        ),
        sa.ForeignKeyConstraint(
            ["txn_id"],
            ["journal_txn.id"],
        ),
        sa.PrimaryKeyConstraint("txn_id", "account_id"),
    )
    with op.batch_alter_table("posting", schema=None) as batch_op:
        batch_op.create_index("ix_posting_account_txn", ["account_id", "txn_id"], unique=False)

    op.execute(
        sa.text("INSERT INTO chain_head (id, last_txn_id, last_hash) VALUES (1, 0, :genesis)").bindparams(
            genesis=GENESIS_HASH
        )
    )
    for statement in append_only_triggers(op.get_bind().dialect.name, APPEND_ONLY_TABLES):
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_append_only_triggers(op.get_bind().dialect.name, APPEND_ONLY_TABLES, drop_function=True):
        op.execute(statement)
    with op.batch_alter_table("posting", schema=None) as batch_op:
        batch_op.drop_index("ix_posting_account_txn")

    op.drop_table("posting")
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_member_org_unit"))

    op.drop_table("member")
    op.drop_table("account_period")
    with op.batch_alter_table("org_unit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_org_unit_path"))
        batch_op.drop_index(batch_op.f("ix_org_unit_parent_code"))

    op.drop_table("org_unit")
    with op.batch_alter_table("journal_txn", schema=None) as batch_op:
        batch_op.drop_index("ix_journal_txn_unit_occurred")
        batch_op.drop_index("ix_journal_txn_member")

    op.drop_table("journal_txn")
    op.drop_table("idempotency")
    op.drop_table("chain_head")
    op.drop_table("account")
