"""Checkpoints: the chain head sealed with a key the database does not hold.

The hash chain proves that no transaction changed *unless every later hash was
recomputed too*, and anyone who can write to the database can do exactly that: rewrite
the last transactions, recompute their hashes, move the chain head, and ``verify`` is
satisfied. A checkpoint closes that door behind it. It records the head (transaction id
and hash) with an HMAC-SHA256 under a key kept outside the database (``api.settings``
reads it from the environment or a file), so a rewrite of any transaction at or before a
checkpoint changes the hash at the checkpoint's transaction, and a new MAC to match
cannot be made without the key. A checkpoint printed on a posted 公示 or an export
anchors the ledger outside the database too: deleting checkpoint rows does not unprint it.

The MAC signs the transaction id, the hash and the moment of sealing, in the chain's
canonical JSON under a label of its own, so a MAC made for anything else under the same
key never passes for a checkpoint.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.errors import InvalidInput
from ledger.journal import chain
from ledger.storage.tables import ChainHead, table_of
from ledger.storage.tables import Checkpoint as CheckpointRow

CHECKPOINT_PAGE_SIZE_MAX = 500
"""Checkpoints per page of the listing: a few days of timed seals, a few KB."""

MAC_LABEL = "ledger-checkpoint-v1"
"""Signed with every checkpoint: the key signs checkpoints and nothing else under this label."""

_checkpoints = table_of(CheckpointRow)
_head = table_of(ChainHead)
_SELECT_HEAD = select(_head.c.last_txn_id, _head.c.last_hash).where(_head.c.id == 1)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    id: int
    transaction_id: int
    hash: str
    sealed_at: datetime
    sealed_by: str
    mac: str


def mac(key: bytes, transaction_id: int, hash: str, sealed_at: datetime) -> str:
    message = chain.canonical_record(
        {"label": MAC_LABEL, "transaction_id": transaction_id, "hash": hash, "sealed_at": sealed_at}
    )
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sealed_at_text(checkpoint: Checkpoint) -> str:
    """The sealing time as the MAC signs it, to print beside the MAC."""
    return checkpoint.sealed_at.astimezone(UTC).strftime(chain.TIMESTAMP_FORMAT)


def authentic(key: bytes, checkpoint: Checkpoint) -> bool:
    expected = mac(key, checkpoint.transaction_id, checkpoint.hash, checkpoint.sealed_at)
    return hmac.compare_digest(expected, checkpoint.mac)


async def head(conn: AsyncConnection, for_update: bool = False) -> tuple[int, str]:
    """The chain head as this transaction sees it: the last transaction's id and hash."""
    row = (await conn.execute(_SELECT_HEAD.with_for_update() if for_update else _SELECT_HEAD)).one()
    return row.last_txn_id, row.last_hash


async def seal(conn: AsyncConnection, key: bytes, at: tuple[int, str], now: datetime, by: str) -> Checkpoint:
    """Seal the head ``at`` (read with ``head``, possibly in another transaction)."""
    transaction_id, hash = at
    sealed = mac(key, transaction_id, hash, now)
    inserted = await conn.execute(
        insert(_checkpoints)
        .values(transaction_id=transaction_id, hash=hash, sealed_at=now, sealed_by=by, mac=sealed)
        .returning(_checkpoints.c.id)
    )
    return Checkpoint(inserted.scalar_one(), transaction_id, hash, now, by, sealed)


async def seal_if_moved(
    conn: AsyncConnection, key: bytes, now: datetime, by: str, for_update: bool
) -> Checkpoint | None:
    """Seal the head unless the latest checkpoint already covers it. The head's row lock
    makes processes that seal at the same moment take turns, so the second sees the
    first's checkpoint and seals nothing."""
    at = await head(conn, for_update)
    latest = (await conn.execute(select(func.max(_checkpoints.c.transaction_id)))).scalar_one_or_none()
    if latest is not None and latest >= at[0]:
        return None
    return await seal(conn, key, at, now, by)


def from_row(row: Any) -> Checkpoint:
    return Checkpoint(**{f.name: getattr(row, f.name) for f in fields(Checkpoint)})


async def listing(conn: AsyncConnection, limit: int, before: int | None) -> list[Checkpoint]:
    """Newest first; ``before`` a checkpoint id for the next page."""
    if not 1 <= limit <= CHECKPOINT_PAGE_SIZE_MAX:
        raise InvalidInput("limit", f"limit must be between 1 and {CHECKPOINT_PAGE_SIZE_MAX}")
    query = select(_checkpoints).order_by(_checkpoints.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(_checkpoints.c.id < before)
    return [from_row(row) for row in await conn.execute(query)]
