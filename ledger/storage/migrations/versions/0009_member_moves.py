"""moves in the org tree (member_move, unit_move) and points earned per member and unit

A member's move to another micro-grid and a unit's move under another parent are kept,
append-only like the audit log: who moved what, from where, to where, and when.

A roll-up ranks members by the points they earned in its subtree, not by where they live
now (ledger.earning.summary); ``member_unit_period`` keeps those points per member,
issuing unit and period, filled here from the journal for what was earned before.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from ledger.storage.migrations.append_only import append_only_triggers, drop_append_only_triggers

APPEND_ONLY = ("member_move", "unit_move")

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _moves(table: str, subject: str, target: str) -> None:
    op.create_table(
        table,
        sa.Column("id", _AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("from_unit", sa.String(length=64), nullable=False),
        sa.Column("to_unit", sa.String(length=64), nullable=False),
        sa.Column("moved_by", sa.String(length=64), nullable=False),
        sa.Column("moved_at", sa.DateTime(), nullable=False),
        sa.Column(subject, sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint([subject], [target]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.create_index(f"ix_{table}_{subject}_id", [subject, "id"], unique=False)


def upgrade() -> None:
    _moves("member_move", "member_id", "member.id")
    _moves("unit_move", "org_unit", "org_unit.code")
    for statement in append_only_triggers(op.get_bind().dialect.name, APPEND_ONLY):
        op.execute(statement)

    op.create_table(
        "member_unit_period",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("org_unit", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"]),
        sa.PrimaryKeyConstraint("account_id", "org_unit", "period"),
    )
    with op.batch_alter_table("member_unit_period", schema=None) as batch_op:
        batch_op.create_index("ix_member_unit_period_unit_period", ["org_unit", "period"], unique=False)
    # What the journal earned so far, as ledger.journal.counters counts it: a member's
    # transactions with earned points, by issuing unit and period.
    op.execute(
        "INSERT INTO member_unit_period (account_id, org_unit, period, points) "
        "SELECT m.account_id, t.org_unit, t.period, SUM(t.earned_points) FROM journal_txn t "
        "JOIN member m ON m.id = t.member_id WHERE t.earned_points <> 0 "
        "GROUP BY m.account_id, t.org_unit, t.period"
    )


def downgrade() -> None:
    with op.batch_alter_table("member_unit_period", schema=None) as batch_op:
        batch_op.drop_index("ix_member_unit_period_unit_period")
    op.drop_table("member_unit_period")
    for statement in drop_append_only_triggers(op.get_bind().dialect.name, APPEND_ONLY):
        op.execute(statement)
    for table, subject in (("unit_move", "org_unit"), ("member_move", "member_id")):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_{subject}_id")
        op.drop_table(table)
