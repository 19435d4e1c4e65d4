"""pickup codes: a held redemption has a short code the counter finds it by; a reward says
where and when it is handed over

The code is unique among held redemptions only (a partial unique index), so codes are
reused once a hold is settled while each redemption keeps its own for the record. Holds
placed before this migration have no code: they are handed over by id, as before.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

HELD = sa.text("state = 'held'")


def upgrade() -> None:
    with op.batch_alter_table("reward", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pickup_place", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("pickup_hours", sa.String(length=100), nullable=True))
    with op.batch_alter_table("redemption", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pickup_code", sa.String(length=6), nullable=True))
    op.create_index(
        "ux_redemption_held_pickup_code",
        "redemption",
        ["pickup_code"],
        unique=True,
        sqlite_where=HELD,
        postgresql_where=HELD,
    )


def downgrade() -> None:
    op.drop_index("ux_redemption_held_pickup_code", table_name="redemption")
    with op.batch_alter_table("redemption", schema=None) as batch_op:
        batch_op.drop_column("pickup_code")
    with op.batch_alter_table("reward", schema=None) as batch_op:
        batch_op.drop_column("pickup_hours")
        batch_op.drop_column("pickup_place")
