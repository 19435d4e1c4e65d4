"""The expiry sweep: points past their lot's date leave the member, as transactions.

Each expiry is one transaction per lot (member → the issuing unit's issuance account)
naming the lot, so the statement says which points went and why. The amount is read
under the member's account lock from what the lot still holds, and a lot whose points
were all spent — or already expired by a concurrent or earlier sweep — yields nothing:
the sweep is safe to run concurrently and twice. Expiry never lowers points earned.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.journal.periods import period_of
from ledger.journal.posting import Journal, lock_member_accounts, post
from ledger.storage.tables import Account, Lot, OrgUnit, table_of
from ledger.values import Category, Posting, TxnDraft, TxnKind

EXPIRY_BATCH = 500
"""Lots expired per database transaction: a year-end sweep of 100,000 members runs in a
few hundred short transactions instead of one that holds every member's lock."""

_lots = table_of(Lot)
_accounts = table_of(Account)
_units = table_of(OrgUnit)

_DUE = (
    select(_lots.c.id, _lots.c.account_id)
    .where(_lots.c.expires_at <= bindparam("now"), _lots.c.remaining > 0)
    .order_by(_lots.c.expires_at, _lots.c.id)
    .limit(EXPIRY_BATCH)
)
_UNDER_LOCK = (
    select(
        _lots.c.id,
        _lots.c.account_id,
        _lots.c.remaining,
        _lots.c.expires_at,
        _lots.c.org_unit,
        _accounts.c.owner,
        _units.c.issuance_account_id,
    )
    .join(_accounts, _accounts.c.id == _lots.c.account_id)
    .join(_units, _units.c.code == _lots.c.org_unit)
    .where(_lots.c.id.in_(bindparam("ids", expanding=True)), _lots.c.remaining > 0)
    .order_by(_lots.c.id)
)


async def expire_lots(conn: AsyncConnection, now: datetime, journal: Journal) -> tuple[int, int, int]:
    """Expire up to ``EXPIRY_BATCH`` due lots: (lots looked at, lots expired, points expired)."""
    due = (await conn.execute(_DUE, {"now": now})).all()
    if not due:
        return 0, 0, 0
    await lock_member_accounts(conn, {row.account_id for row in due}, journal.for_update)
    lots = (await conn.execute(_UNDER_LOCK, {"ids": [row.id for row in due]})).all()
    drafts = [
        TxnDraft(
            kind=TxnKind.EXPIRY,
            category=Category.OTHER,
            member_id=lot.owner,
            org_unit=lot.org_unit,
            occurred_at=lot.expires_at,
            recorded_by="system",
            memo="积分到期",
            postings=(Posting(lot.account_id, -lot.remaining), Posting(lot.issuance_account_id, lot.remaining)),
            period=period_of(now, journal.tz),
            extra={"lot": lot.id},
            draw_first=(lot.id,),
        )
        for lot in lots
    ]
    if drafts:
        posted = await post(conn, drafts, now, journal)
        assert all(p.drawn == ((lot.id, lot.remaining),) for p, lot in zip(posted, lots, strict=True)), (
            "an expiry takes its own lot's unspent points and nothing else"
        )
    return len(due), len(drafts), sum(lot.remaining for lot in lots)
