"""Accounts: one per member, and an issuance and a redemption account per org unit."""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.storage.tables import Account
from ledger.values import AccountKind

_accounts = Account.__table__


async def open_account(conn: AsyncConnection, kind: AccountKind, owner: str) -> int:
    result = await conn.execute(insert(_accounts).values(kind=kind.value, owner=owner).returning(_accounts.c.id))
    return result.scalar_one()
