"""tiers, nominations, notices

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from ledger.storage.migrations.append_only import append_only_triggers, drop_append_only_triggers

APPEND_ONLY = ("tier_scheme", "nomination_event")


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nomination_current",
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("flag", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("flagged_at", sa.DateTime(), nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("notice_id", sa.BigInteger(), nullable=True),
        sa.Column("objections", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("member_id", "period", "flag"),
    )
    with op.batch_alter_table("nomination_current", schema=None) as batch_op:
        batch_op.create_index("ix_nomination_current_period", ["period", "flag", "state"], unique=False)

    op.create_table(
        "nomination_event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("flag", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=True),
        sa.Column("transaction_id", sa.BigInteger(), nullable=True),
        sa.Column("notice_id", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("nomination_event", schema=None) as batch_op:
        batch_op.create_index("ix_nomination_event_member", ["member_id", "period", "flag"], unique=False)

    op.create_table(
        "tier_scheme",
        sa.Column("org_unit", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.Column("loaded_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("org_unit", "version"),
    )
    op.create_table(
        "member_period_category",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
        ),
        sa.PrimaryKeyConstraint("account_id", "period", "category"),
    )
    op.create_table(
        "member_period_evidence",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("transactions", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
        ),
        sa.PrimaryKeyConstraint("account_id", "period"),
    )
    op.create_table(
        "notice",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("org_unit", sa.String(length=64), nullable=False),
        sa.Column("flag", sa.String(length=16), nullable=True),
        sa.Column("working_days", sa.Integer(), nullable=False),
        sa.Column("ends_on", sa.String(length=10), nullable=False),
        sa.Column("opened_by", sa.String(length=64), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_unit"],
            ["org_unit.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    for statement in append_only_triggers(op.get_bind().dialect.name, APPEND_ONLY):
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_append_only_triggers(op.get_bind().dialect.name, APPEND_ONLY):
        op.execute(statement)
    op.drop_table("notice")
    op.drop_table("member_period_evidence")
    op.drop_table("member_period_category")
    op.drop_table("tier_scheme")
    with op.batch_alter_table("nomination_event", schema=None) as batch_op:
        batch_op.drop_index("ix_nomination_event_member")

    op.drop_table("nomination_event")
    with op.batch_alter_table("nomination_current", schema=None) as batch_op:
        batch_op.drop_index("ix_nomination_current_period")

    op.drop_table("nomination_current")
