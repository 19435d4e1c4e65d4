"""points shop: rewards, redemptions, lots, expiry policies

Every member gains a held account (points reserved by open redemptions), and every
member's available points become one lot that never expires: points earned before
expiry policies existed were promised without a date.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from ledger.storage.migrations.append_only import append_only_triggers, drop_append_only_triggers

APPEND_ONLY = ("expiry_policy",)


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "expiry_policy",
        sa.Column("org_unit", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.Column("loaded_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("org_unit", "version"),
    )
    op.create_table(
        "lot",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("txn_id", sa.BigInteger(), nullable=False),
        sa.Column("org_unit", sa.String(length=64), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("remaining", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("remaining >= 0 AND remaining <= points", name="lot_remaining_in_range"),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
        ),
        sa.ForeignKeyConstraint(
            ["txn_id"],
            ["journal_txn.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("lot", schema=None) as batch_op:
        batch_op.create_index("ix_lot_account_expires", ["account_id", "expires_at"], unique=False)
        batch_op.create_index(
            "ix_lot_expiring",
            ["expires_at"],
            unique=False,
            postgresql_where=sa.text("remaining > 0"),
            sqlite_where=sa.text("remaining > 0"),
        )
        batch_op.create_index(batch_op.f("ix_lot_txn_id"), ["txn_id"], unique=False)

    op.create_table(
        "reward",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("org_unit", sa.String(length=64), nullable=False),
        sa.Column("name_zh", sa.String(length=100), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("cost_points", sa.BigInteger(), nullable=False),
        sa.Column("stock", sa.BigInteger(), nullable=True),
        sa.Column("reserved", sa.BigInteger(), nullable=False),
        sa.Column("sold", sa.BigInteger(), nullable=False),
        sa.Column("limit_count", sa.Integer(), nullable=True),
        sa.Column("limit_period", sa.String(length=16), nullable=True),
        sa.Column("active_from", sa.DateTime(), nullable=True),
        sa.Column("active_until", sa.DateTime(), nullable=True),
        sa.Column("min_tier", sa.String(length=100), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("reserved >= 0 AND sold >= 0", name="stock_counts_not_negative"),
        sa.CheckConstraint("stock IS NULL OR reserved + sold <= stock", name="stock_not_oversold"),
        sa.ForeignKeyConstraint(
            ["org_unit"],
            ["org_unit.code"],
        ),
        sa.PrimaryKeyConstraint("code"),
    )
    with op.batch_alter_table("reward", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reward_org_unit"), ["org_unit"], unique=False)

    op.create_table(
        "redemption",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("reward_code", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("org_unit", sa.String(length=64), nullable=False),
        sa.Column("cost_points", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("window", sa.String(length=16), nullable=False),
        sa.Column("held_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("held_by", sa.String(length=64), nullable=False),
        sa.Column("hold_txn_id", sa.BigInteger(), nullable=True),
        sa.Column("settled_at", sa.DateTime(), nullable=True),
        sa.Column("settled_by", sa.String(length=64), nullable=True),
        sa.Column("settle_txn_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
        ),
        sa.ForeignKeyConstraint(
            ["reward_code"],
            ["reward.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("redemption", schema=None) as batch_op:
        batch_op.create_index("ix_redemption_limit", ["member_id", "reward_code", "window"], unique=False)
        batch_op.create_index("ix_redemption_member", ["member_id", "id"], unique=False)
        batch_op.create_index("ix_redemption_reward", ["reward_code", "id"], unique=False)
        batch_op.create_index("ix_redemption_state_expires", ["state", "expires_at"], unique=False)

    op.create_table(
        "redemption_lot",
        sa.Column("redemption_id", sa.BigInteger(), nullable=False),
        sa.Column("lot_id", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lot_id"],
            ["lot.id"],
        ),
        sa.ForeignKeyConstraint(
            ["redemption_id"],
            ["redemption.id"],
        ),
        sa.PrimaryKeyConstraint("redemption_id", "lot_id"),
    )
    op.execute(
        "INSERT INTO account (kind, owner, available, held, lifetime_earned)"
        " SELECT 'held', id, 0, 0, 0 FROM member ORDER BY id"
    )
    op.execute(
        "INSERT INTO lot (account_id, txn_id, org_unit, points, remaining, expires_at)"
        " SELECT a.id, (SELECT MAX(p.txn_id) FROM posting p WHERE p.account_id = a.id), m.org_unit,"
        " a.available, a.available, NULL"
        " FROM account a JOIN member m ON m.account_id = a.id WHERE a.available > 0 ORDER BY a.id"
    )
    for statement in append_only_triggers(op.get_bind().dialect.name, APPEND_ONLY):
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_append_only_triggers(op.get_bind().dialect.name, APPEND_ONLY):
        op.execute(statement)
    op.execute("DELETE FROM account WHERE kind = 'held'")
    op.drop_table("redemption_lot")
    with op.batch_alter_table("redemption", schema=None) as batch_op:
        batch_op.drop_index("ix_redemption_state_expires")
        batch_op.drop_index("ix_redemption_reward")
        batch_op.drop_index("ix_redemption_member")
        batch_op.drop_index("ix_redemption_limit")

    op.drop_table("redemption")
    with op.batch_alter_table("reward", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reward_org_unit"))

    op.drop_table("reward")
    with op.batch_alter_table("lot", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lot_txn_id"))
        batch_op.drop_index(
            "ix_lot_expiring", postgresql_where=sa.text("remaining > 0"), sqlite_where=sa.text("remaining > 0")
        )
        batch_op.drop_index("ix_lot_account_expires")

    op.drop_table("lot")
    op.drop_table("expiry_policy")
