"""How long the ledger keeps what is not the books: old audit rows and dead tokens.

The journal is kept forever (it is the books, and a reversal must always find what it
reverses); personal data beyond it is kept only as long as it serves a purpose. The
sweep purges, in short batches:

- audit rows older than ``audit_days`` (default three years: a dispute over an award,
  a deduction or an honour is raised within the year of the evaluation or the next, and
  the 公示 appeals of the following year still find who did what);
- tokens (principals) that expired or were revoked more than ``token_days`` ago (default
  half a year: long enough to answer "why was I signed out" and to match an audit row's
  principal id to its label, after which a dead token's row only keeps a label and a
  unit of a person who no longer holds it).

The database itself refuses to delete an audit row younger than ``AUDIT_RETENTION_DAYS_MIN``
(the migration's trigger), and a setting below it is refused here, at start.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.errors import InvalidInput
from ledger.storage.tables import AuditEntry, PrincipalRow, table_of

AUDIT_RETENTION_DAYS_DEFAULT = 1095
"""Three years: see the module docstring."""

AUDIT_RETENTION_DAYS_MIN = 365
"""The database's own floor (migration audit_reads_and_retention): a year of
evidence survives any setting, so a mistyped one cannot wipe it."""

TOKEN_RETENTION_DAYS_DEFAULT = 180
"""Half a year after a token expired or was revoked: see the module docstring."""

PURGE_BATCH = 5_000
"""Rows deleted per database transaction: a first purge of three years of audit rows
(millions on a busy street office) runs as many short transactions, each holding its
locks for milliseconds, instead of one that blocks the audit log for minutes."""

AUDIT_DAYS_VARIABLE = "LEDGER_AUDIT_RETENTION_DAYS"
TOKEN_DAYS_VARIABLE = "LEDGER_TOKEN_RETENTION_DAYS"

_audit = table_of(AuditEntry)
_principals = table_of(PrincipalRow)


@dataclass(frozen=True, slots=True)
class Retention:
    audit_days: int = AUDIT_RETENTION_DAYS_DEFAULT
    token_days: int = TOKEN_RETENTION_DAYS_DEFAULT

    def __post_init__(self) -> None:
        if self.audit_days < AUDIT_RETENTION_DAYS_MIN:
            raise InvalidInput(
                AUDIT_DAYS_VARIABLE,
                f"audit rows are kept at least {AUDIT_RETENTION_DAYS_MIN} days",
                minimum=AUDIT_RETENTION_DAYS_MIN,
            )
        if self.token_days < 0:
            raise InvalidInput(TOKEN_DAYS_VARIABLE, "a retention is a number of days, 0 or more", minimum=0)

    @classmethod
    def from_environment(cls) -> Retention:
        return cls(
            _days(AUDIT_DAYS_VARIABLE, AUDIT_RETENTION_DAYS_DEFAULT),
            _days(TOKEN_DAYS_VARIABLE, TOKEN_RETENTION_DAYS_DEFAULT),
        )


def _days(variable: str, default: int) -> int:
    text = os.environ.get(variable) or str(default)
    if not text.isdigit():
        raise InvalidInput(variable, f"a whole number of days, not {text!r}")
    return int(text)


async def purge_audit(conn: AsyncConnection, retention: Retention, now: datetime) -> int:
    """Delete up to ``PURGE_BATCH`` audit rows older than the retention, oldest first."""
    before = now - timedelta(days=retention.audit_days)
    oldest = select(_audit.c.id).where(_audit.c.at < before).order_by(_audit.c.id).limit(PURGE_BATCH)
    result = await conn.execute(delete(_audit).where(_audit.c.id.in_(oldest.scalar_subquery())))
    return result.rowcount


async def purge_tokens(conn: AsyncConnection, retention: Retention, now: datetime) -> int:
    """Delete up to ``PURGE_BATCH`` tokens that expired or were revoked before the retention."""
    before = now - timedelta(days=retention.token_days)
    dead = or_(_principals.c.revoked_at < before, _principals.c.expires_at < before)
    batch = select(_principals.c.id).where(dead).limit(PURGE_BATCH)
    result = await conn.execute(delete(_principals).where(_principals.c.id.in_(batch.scalar_subquery())))
    return result.rowcount
