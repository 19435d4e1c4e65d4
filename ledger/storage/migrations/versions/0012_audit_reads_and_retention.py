"""personal data: the audit log also records reads of personal data in bulk, and old
audit rows may be purged past their retention

A read's row says what was read (``kind`` "read"), about whom (``subject``: the member
whose data it was, for a resident's copy of "who read my data"), with which filter
(``detail``) and how many rows. Rows before this migration are writes.

The audit log stays append-only for every row younger than a year, whatever the
ledger's retention setting says: the database itself refuses to update any row or to
delete a recent one, so a mistyped setting or a stray console session cannot wipe the
recent evidence. The floor is written here in days, frozen with the migration; the
ledger refuses a retention setting below it (``ledger.access.retention``).

Revision ID: audit_reads_and_retention
Revises: personal_values_apart
"""

import sqlalchemy as sa
from alembic import op

from ledger.storage.migrations.append_only import append_only_triggers, drop_append_only_triggers

revision = "audit_reads_and_retention"
down_revision = "personal_values_apart"
branch_labels = None
depends_on = None

AUDIT = ("audit",)
FLOOR_DAYS = 365

_PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION ledger_refuse_recent_audit_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND OLD.at < (now() AT TIME ZONE 'UTC') - interval '{FLOOR_DAYS} days' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'append-only: % on % is refused (rows younger than {FLOOR_DAYS} days are kept)',
        TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql
"""

_PG_TRIGGERS = (
    "DROP TRIGGER IF EXISTS audit_append_only ON audit",
    _PG_FUNCTION,
    "CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit "
    "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_recent_audit_change()",
)

_SQLITE_TRIGGERS = (
    "DROP TRIGGER IF EXISTS audit_no_delete",
    # SQLite keeps the naive UTC time as 'YYYY-MM-DD HH:MM:SS.ffffff': text order is time order.
    "CREATE TRIGGER audit_no_recent_delete BEFORE DELETE ON audit "
    f"WHEN OLD.at >= datetime('now', '-{FLOOR_DAYS} days') "
    f"BEGIN SELECT RAISE(ABORT, 'append-only: DELETE on audit is refused (rows younger than {FLOOR_DAYS} "
    "days are kept)'); END",
)


def upgrade() -> None:
    with op.batch_alter_table("audit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=8), nullable=False, server_default="write"))
        batch_op.add_column(sa.Column("subject", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("detail", sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column("rows", sa.Integer(), nullable=True))
        batch_op.create_index("ix_audit_subject_id", ["subject", "id"], unique=False)
    dialect = op.get_bind().dialect.name
    for statement in _PG_TRIGGERS if dialect == "postgresql" else _SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    # Columns first: SQLite drops a column by copying the table, which loses its triggers.
    with op.batch_alter_table("audit", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_subject_id")
        batch_op.drop_column("rows")
        batch_op.drop_column("detail")
        batch_op.drop_column("subject")
        batch_op.drop_column("kind")
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_append_only ON audit")
        op.execute("DROP FUNCTION IF EXISTS ledger_refuse_recent_audit_change()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_no_recent_delete")
    # Back to refusing every change: the old triggers, made whole again.
    for statement in drop_append_only_triggers(dialect, AUDIT):
        op.execute(statement)
    for statement in append_only_triggers(dialect, AUDIT):
        op.execute(statement)
