"""Lots: the points that reached a member together, with the date they expire.

``journal.post`` books every movement of a member's available points here, in the same
database transaction, so the ``remaining`` of a member's lots always sums to the
member's available balance:

* a credit opens a lot dated by the issuing unit's expiry date (the journal does not know
  the policies that set it: ``post`` is given a function that names the dates) — unless it gives back
  points drawn earlier (a cancelled hold), which refill the lots they came from;
* a debit draws on the lots the draft names first (an expiry names its lot, a reversal
  the award's lot), then on the lots that expire soonest, never-expiring ones last.

Drawing soonest-expiring first is what keeps an expiry from taking points that were
already spent. Lots are changed only under the member's account lock, held by ``post``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.storage import bulk
from ledger.storage.tables import Lot, table_of
from ledger.values import AccountKind, TxnDraft

Drawn = tuple[tuple[int, int], ...]  # (lot id, points) a debit took, in order

_lots = table_of(Lot)

_SPENDABLE = (
    select(_lots.c.id, _lots.c.account_id, _lots.c.remaining)
    .where(bulk.OneOf(_lots.c.account_id, "accounts"), _lots.c.remaining > 0)
    .order_by(_lots.c.account_id, _lots.c.expires_at.asc().nulls_last(), _lots.c.id)
)
_NEW_LOT_COLUMNS = ("account_id", "txn_id", "org_unit", "points", "remaining", "expires_at")
ExpiryDates = Callable[[Sequence[str], datetime], Mapping[str, datetime | None]]
"""When points issued by each of these units at this instant expire (None: never)."""


async def book(
    conn: AsyncConnection,
    writes: bulk.Writes,
    drafts: Sequence[TxnDraft],
    txn_ids: Sequence[int],
    kinds: dict[int, str],
    recorded_at: datetime,
    expiry_dates: ExpiryDates,
) -> list[Drawn]:
    """Book the member-account postings of ``drafts`` (posted as ``txn_ids``) on lots,
    adding the writes to ``writes``; per draft, the lots its debit drew on. ``kinds``
    maps each account to its kind."""
    member_postings = [
        [p for p in draft.postings if kinds[p.account_id] == AccountKind.MEMBER.value] for draft in drafts
    ]
    debited = {p.account_id for postings in member_postings for p in postings if p.amount_points < 0}
    spendable: dict[int, list[list[int]]] = defaultdict(list)  # account → [[lot id, remaining], …] in order
    if debited:
        for row in await conn.execute(_SPENDABLE, {"accounts": sorted(debited)}):
            spendable[row.account_id].append([row.id, row.remaining])
    opened: list[tuple[int, int, int, str]] = []  # account, transaction, points, issuing unit
    refills: defaultdict[int, int] = defaultdict(int)
    drawn_per_draft: list[Drawn] = []
    for draft, txn_id, postings in zip(drafts, txn_ids, member_postings, strict=True):
        drawn: list[tuple[int, int]] = []
        for posting in postings:
            if posting.amount_points < 0:
                drawn += _draw(spendable[posting.account_id], -posting.amount_points, draft.draw_first)
            elif draft.refill:
                assert sum(p for _, p in draft.refill) == posting.amount_points, "a refill gives back what was drawn"
                for lot_id, points in draft.refill:
                    refills[lot_id] += points
            else:
                assert posting.account_id not in debited, "a batch that opens a lot does not also draw on it"
                opened.append((posting.account_id, txn_id, posting.amount_points, draft.org_unit))
        drawn_per_draft.append(tuple(drawn))
    drawn_from = {lot_id for drawn in drawn_per_draft for lot_id, _ in drawn}
    remaining = {lot[0]: lot[1] for lots in spendable.values() for lot in lots if lot[0] in drawn_from}
    await _write(writes, remaining, refills, opened, recorded_at, expiry_dates)
    return drawn_per_draft


def _draw(lots: list[list[int]], need: int, first: tuple[int, ...]) -> list[tuple[int, int]]:
    """Take ``need`` points from ``lots`` (in spending order), the ``first`` lots before any other."""
    ordered = sorted(lots, key=lambda lot: lot[0] not in first)  # stable: spending order otherwise kept
    drawn = []
    for lot in ordered:
        if need == 0:
            break
        take = min(lot[1], need)
        if take:
            lot[1] -= take
            need -= take
            drawn.append((lot[0], take))
    assert need == 0, "a member's lots hold exactly the member's available points"
    return drawn


async def _write(
    writes: bulk.Writes,
    remaining: dict[int, int],
    refills: dict[int, int],
    opened: list[tuple[int, int, int, str]],
    recorded_at: datetime,
    expiry_dates: ExpiryDates,
) -> None:
    await writes.update(_lots, ("id",), sorted(remaining.items()), set_=("remaining",))
    await writes.update(_lots, ("id",), sorted(refills.items()), add=("remaining",))
    if opened:
        await writes.insert(_lots, _NEW_LOT_COLUMNS, _new_lots(opened, recorded_at, expiry_dates))


def _new_lots(
    opened: list[tuple[int, int, int, str]], recorded_at: datetime, expiry_dates: ExpiryDates
) -> list[tuple[object, ...]]:
    """Each credit's lot (``_NEW_LOT_COLUMNS``), dated for the unit that issued the points."""
    # Every lot of a batch arrives at ``recorded_at``: one date per issuing unit.
    expires = expiry_dates(sorted({unit for *_, unit in opened}), recorded_at)
    return [(account_id, txn_id, unit, points, points, expires[unit]) for account_id, txn_id, points, unit in opened]
