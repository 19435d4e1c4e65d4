"""a unique index on member.account_id

Tier evaluation joins each award's earned points (kept by account) to the member who owns
the account; without the index that join read every member, and an award in a community
of 100,000 members took 19 ms on SQLite instead of 10.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.create_index("ix_member_account_id", ["account_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_index("ix_member_account_id")
