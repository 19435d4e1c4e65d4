"""principals (API tokens with a role and an org scope) and the audit log of writes

The audit log is append-only like the journal: who did what is evidence, not state.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from ledger.storage.migrations.append_only import append_only_triggers, drop_append_only_triggers

APPEND_ONLY = ("audit",)

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("principal", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit", schema=None) as batch_op:
        batch_op.create_index("ix_audit_at", ["at"], unique=False)
        batch_op.create_index("ix_audit_principal_id", ["principal", "id"], unique=False)

    op.create_table(
        "principal",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("org_unit", sa.String(), nullable=True),
        sa.Column("member_id", sa.String(), nullable=True),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.ForeignKeyConstraint(["org_unit"], ["org_unit.code"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("principal", schema=None) as batch_op:
        batch_op.create_index("ix_principal_member_id", ["member_id"], unique=False)

    for statement in append_only_triggers(op.get_bind().dialect.name, APPEND_ONLY):
        op.execute(statement)


def downgrade() -> None:
    for statement in drop_append_only_triggers(op.get_bind().dialect.name, APPEND_ONLY):
        op.execute(statement)
    op.drop_table("principal")
    op.drop_table("audit")
