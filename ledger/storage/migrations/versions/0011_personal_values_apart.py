"""personal values apart: memos and evidence URLs move out of the journal into erasable
rows, members get an optional phone, and erasures are recorded

Every existing transaction's memo and evidence URL become ``personal_value`` rows with a
fresh salt and their digest, marked ``chained_verbatim``: their hash covers the text, so
``verify`` puts it back before hashing (``ledger.journal.personal`` says why the chain is
not rewritten). The transaction row keeps the digest in place of the text. This is the
one UPDATE of the journal ever made, so the append-only triggers of ``journal_txn`` are
lifted for it and put back in the same transaction.

Downgrade puts back the text of the transactions that hashed it verbatim and was not
erased; newer transactions hashed the digest and keep it, their text is lost with the table.

Revision ID: personal_values_apart
Revises: 0010
"""

import hashlib
import os

import sqlalchemy as sa
from alembic import op

from ledger.storage.migrations.append_only import append_only_triggers, drop_append_only_triggers

revision = "personal_values_apart"
down_revision = "0010"
branch_labels = None
depends_on = None

CHUNK_ROWS = 5_000
"""Transactions converted per round trip: memory stays flat on a journal of millions."""

_SALT_BYTES = 16  # as ledger.journal.personal.SALT_BYTES, frozen here with this revision
_JOURNAL = ("journal_txn",)


def upgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone", sa.String(length=32), nullable=True))
    op.create_table(
        "personal_value",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=True),
        sa.Column("value", sa.String(length=2000), nullable=True),
        sa.Column("salt", sa.String(length=64), nullable=True),
        sa.Column("chained_verbatim", sa.Boolean(), nullable=False),
        sa.Column("erased_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("digest"),
    )
    op.create_index("ix_personal_value_member", "personal_value", ["member_id"], unique=False)
    op.create_table(
        "erasure",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("member_id", sa.String(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("erased_by", sa.String(length=64), nullable=False),
        sa.Column("erased_at", sa.DateTime(), nullable=False),
        sa.Column("values_erased", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_erasure_member_id"), "erasure", ["member_id"], unique=False)
    _move_text_out()


def _salted(value: str) -> tuple[str, str]:
    salt = os.urandom(_SALT_BYTES).hex()
    return salt, hashlib.sha256(bytes.fromhex(salt) + value.encode()).hexdigest()


def _move_text_out() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    for statement in drop_append_only_triggers(dialect, _JOURNAL):
        op.execute(statement)
    after = 0
    while rows := bind.execute(
        sa.text("SELECT id, member_id, memo, evidence_url FROM journal_txn WHERE id > :after ORDER BY id LIMIT :limit"),
        {"after": after, "limit": CHUNK_ROWS},
    ).all():
        values, changes = [], []
        for txn_id, member_id, memo, evidence_url in rows:
            digests: dict[str, str | None] = {}
            for kind, text in (("memo", memo), ("evidence_url", evidence_url)):
                if text is None:
                    digests[kind] = None
                    continue
                salt, digest = _salted(text)
                digests[kind] = digest
                values.append({"digest": digest, "kind": kind, "member_id": member_id, "value": text, "salt": salt})
            changes.append({"id": txn_id, "memo": digests["memo"], "evidence_url": digests["evidence_url"]})
        bind.execute(
            sa.text(
                "INSERT INTO personal_value (digest, kind, member_id, value, salt, chained_verbatim) "
                "VALUES (:digest, :kind, :member_id, :value, :salt, TRUE)"
            ),
            values,
        )
        bind.execute(
            sa.text("UPDATE journal_txn SET memo = :memo, evidence_url = :evidence_url WHERE id = :id"), changes
        )
        after = rows[-1].id
    for statement in append_only_triggers(dialect, _JOURNAL):
        op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    for statement in drop_append_only_triggers(dialect, _JOURNAL):
        op.execute(statement)
    for kind in ("memo", "evidence_url"):
        op.execute(
            f"UPDATE journal_txn SET {kind} = (SELECT value FROM personal_value p WHERE p.digest = journal_txn.{kind}) "
            f"WHERE {kind} IN (SELECT digest FROM personal_value WHERE chained_verbatim AND value IS NOT NULL)"
        )
    for statement in append_only_triggers(dialect, _JOURNAL):
        op.execute(statement)
    op.drop_index(op.f("ix_erasure_member_id"), table_name="erasure")
    op.drop_table("erasure")
    op.drop_index("ix_personal_value_member", table_name="personal_value")
    op.drop_table("personal_value")
    # Not a batch: on SQLite a batch copies the table and drops the old one, which the
    # tables that reference members refuse while foreign keys are on (SQLite 3.35+ drops
    # a column in place, as PostgreSQL does).
    op.execute("ALTER TABLE member DROP COLUMN phone")
