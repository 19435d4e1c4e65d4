"""Triggers that make the journal append-only inside the database itself.

The application never updates or deletes a transaction or a posting, but "never" is
only true if the database refuses it too: a stray script, a console session or a bug
must hit the same wall. A correction is a reversal transaction, never an edit.
"""

from __future__ import annotations

APPEND_ONLY_TABLES = ("journal_txn", "posting")

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'append-only: % on % is refused; post a reversal instead', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql
"""


def append_only_triggers(dialect: str, tables: tuple[str, ...]) -> list[str]:
    if dialect == "postgresql":
        statements = [_PG_FUNCTION]
        for table in tables:
            statements.append(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()"
            )
            statements.append(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()"
            )
        return statements
    statements = []
    for table in tables:
        for op in ("UPDATE", "DELETE"):
            statements.append(
                f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'append-only: {op} on {table} is refused; "
                "post a reversal instead'); END"
            )
    return statements


def drop_append_only_triggers(dialect: str, tables: tuple[str, ...], drop_function: bool = False) -> list[str]:
    """The function is shared by every append-only table: only the first migration drops it."""
    if dialect == "postgresql":
        statements = []
        for table in tables:
            statements.append(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            statements.append(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        return statements + (["DROP FUNCTION IF EXISTS ledger_refuse_change()"] if drop_function else [])
    return [f"DROP TRIGGER IF EXISTS {table}_no_{op} " for table in tables for op in ("update", "delete")]
