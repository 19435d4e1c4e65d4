"""earning rules, activities, claims, roll-ups

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from ledger.storage.migrations.append_only import append_only_triggers, drop_append_only_triggers

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rule_version",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.Column("loaded_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("code", "version"),
    )
    op.create_table(
        "unit_period_category",
        sa.Column("org_unit", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("org_unit", "period", "category"),
    )
    op.create_table(
        "activity",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("org_unit", sa.String(length=64), nullable=False),
        sa.Column("rule_code", sa.String(length=64), nullable=False),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=False),
        sa.Column("organizer", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("settled_at", sa.DateTime(), nullable=True),
        sa.Column("settled_by", sa.String(length=64), nullable=True),
        sa.Column("settlement", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_unit"],
            ["org_unit.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_activity_org_unit"), ["org_unit"], unique=False)

    op.create_table(
        "rule_usage",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("rule_code", sa.String(length=64), nullable=False),
        sa.Column("window", sa.String(length=16), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
        ),
        sa.PrimaryKeyConstraint("account_id", "rule_code", "window"),
    )
    op.create_table(
        "activity_participant",
        sa.Column("activity_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["activity.id"],
        ),
        sa.PrimaryKeyConstraint("activity_id", "member_id"),
    )
    op.create_table(
        "claim",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("rule_code", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("steps", sa.Integer(), nullable=True),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("handled_within_limit", sa.Boolean(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("memo", sa.String(length=500), nullable=False),
        sa.Column("evidence_url", sa.String(length=2000), nullable=True),
        sa.Column("possible_duplicate_of", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("reviewed_by", sa.String(length=64), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(), nullable=True),
        sa.Column("decision_reason", sa.String(length=500), nullable=True),
        sa.Column("transaction_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("claim", schema=None) as batch_op:
        batch_op.create_index("ix_claim_dedupe", ["member_id", "rule_code", "day"], unique=False)
        batch_op.create_index("ix_claim_status_id", ["status", "id"], unique=False)

    op.create_index("ix_account_period_period_earned", "account_period", ["period", "earned"])
    # Rule versions are history: a transaction names the version it was computed from.
    for statement in append_only_triggers(op.get_bind().dialect.name, ("rule_version",)):
        op.execute(statement)


def downgrade() -> None:
    op.drop_index("ix_account_period_period_earned", "account_period")
    for statement in drop_append_only_triggers(op.get_bind().dialect.name, ("rule_version",)):
        op.execute(statement)
    with op.batch_alter_table("claim", schema=None) as batch_op:
        batch_op.drop_index("ix_claim_status_id")
        batch_op.drop_index("ix_claim_dedupe")

    op.drop_table("claim")
    op.drop_table("activity_participant")
    op.drop_table("rule_usage")
    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activity_org_unit"))

    op.drop_table("activity")
    op.drop_table("unit_period_category")
    op.drop_table("rule_version")
