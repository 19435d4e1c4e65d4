"""Accounts: one per member, and an issuance and a redemption account per org unit."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.storage import bulk
from ledger.storage.tables import Account, table_of
from ledger.values import AccountKind

_accounts = table_of(Account)


async def open_account(conn: AsyncConnection, kind: AccountKind, owner: str) -> int:
    result = await conn.execute(insert(_accounts).values(kind=kind.value, owner=owner).returning(_accounts.c.id))
    account_id: int = result.scalar_one()
    return account_id


ACCOUNTS_PER_LOOKUP = 999
"""Owners looked up in one statement: SQLite's oldest bound-parameter limit, less one for the kind."""

_ACCOUNT_IDS = select(_accounts.c.owner, _accounts.c.id).where(
    _accounts.c.kind == bindparam("kind"), bulk.OneOf(_accounts.c.owner, "owners")
)


async def open_accounts(conn: AsyncConnection, kind: AccountKind, owners: Sequence[str]) -> dict[str, int]:
    """Open one ``kind`` account per owner in one statement (an import's members); their ids by owner."""
    # The balances' defaults are SQLAlchemy's, not the schema's: a bulk insert names them.
    rows = [(kind.value, owner, 0, 0, 0) for owner in owners]
    columns = ("kind", "owner", "available", "held", "lifetime_earned")
    if conn.dialect.name == "postgresql":
        # The ids come back with the insert. A lookup after it runs the plan PostgreSQL
        # chose for the table as it was before the import (empty, in a new ledger): a
        # scan of every account per chunk, which made 100,000 members take minutes.
        opened = await bulk.insert_returning(conn, _accounts, columns, rows, ("owner", "id"))
        return {owner: account_id for owner, account_id in opened}
    # SQLite returns no rows from a multi-row insert; the lookup by owner uses the index.
    await bulk.insert(conn, _accounts, columns, rows)
    ids: dict[str, int] = {}
    for start in range(0, len(owners), ACCOUNTS_PER_LOOKUP):
        chunk = list(owners[start : start + ACCOUNTS_PER_LOOKUP])
        ids.update((await conn.execute(_ACCOUNT_IDS, {"kind": kind.value, "owners": chunk})).all())
    return ids
