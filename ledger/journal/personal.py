"""Personal text apart from the books: the chain covers a salted digest of each memo and
evidence URL, not the text, so the text can be erased and the chain still verifies.

A memo or evidence URL often holds a resident's name or phone number, and a resident may
ask for it to be deleted (PIPL art. 47). The hash chain cannot forget: whatever it hashed
must stay to be hashed again. So the text goes into a ``personal_value`` row beside a
random salt, and the transaction row — and with it the chain — holds only
``digest = sha256(salt || text)``. Erasing clears the text and the salt and keeps the
digest: the chain verifies as before, and with the salt gone the text cannot be found
again by hashing guesses (a phone number has too few possibilities to hide behind an
unsalted hash). While the text is kept, ``verify`` also checks that it still hashes to
the digest, so the text itself cannot be edited unnoticed.

Transactions written before this scheme (the migration that brought it in) hashed the
text verbatim, and the journal is append-only: re-chaining them would rewrite history
and break every checkpoint sealed since. The migration therefore moves their text into
``personal_value`` rows marked ``chained_verbatim`` and leaves the digest in the
transaction row, and ``verify`` puts the text back in place before hashing, so their
hashes are checked exactly as before. Once such a value is erased its transaction's hash
can no longer be recomputed from content: ``verify`` still checks that the transaction
links to the one before and that the next one links to its stored hash, and counts it as
erased rather than broken. That one row's other fields are then protected only by the
rows after it and the checkpoints, not by a recomputed hash — the cost of erasing text
the old chain held verbatim, and the reason new transactions hash digests from the start.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.storage import bulk
from ledger.storage.tables import PersonalValue, table_of
from ledger.values import TxnDraft

MEMO = "memo"
EVIDENCE = "evidence_url"
KINDS = (MEMO, EVIDENCE)
"""The transaction fields kept apart: they are also the names of the journal columns."""

SALT_BYTES = 16
"""128 random bits per value: no two values share a salt, so no table of guesses is reusable."""

_values = table_of(PersonalValue)
_COLUMNS = ("digest", "kind", "member_id", "value", "salt", "chained_verbatim")


def salted_digest(salt: str, value: str) -> str:
    """``sha256(salt || value)``, the salt as stored (hex), the value as UTF-8."""
    return hashlib.sha256(bytes.fromhex(salt) + value.encode()).hexdigest()


def new_salt() -> str:
    return os.urandom(SALT_BYTES).hex()


async def sealed(writes: bulk.Writes, drafts: Sequence[TxnDraft]) -> list[TxnDraft]:
    """Store each draft's memo and evidence URL as erasable values (with the batch's other
    writes); the drafts with their digests in place of the text, ready to be chained."""
    rows: list[tuple[object, ...]] = []
    out = []
    for draft in drafts:
        digests: dict[str, str | None] = {}
        for kind, value in ((MEMO, draft.memo), (EVIDENCE, draft.evidence_url)):
            if value is None:
                digests[kind] = None
                continue
            salt = new_salt()
            digests[kind] = digest = salted_digest(salt, value)
            rows.append((digest, kind, draft.member_id, value, salt, False))
        out.append(replace(draft, memo=digests[MEMO] or "", evidence_url=digests[EVIDENCE]))
    await writes.insert(_values, _COLUMNS, rows)
    return out


def shown(column: Any, label: str) -> ColumnElement[Any]:
    """The text behind the digest in a journal column, for reading: the empty string for
    an erased memo, NULL for an erased evidence URL."""
    text = select(_values.c.value).where(_values.c.digest == column).scalar_subquery()
    if label == MEMO:
        return func.coalesce(text, "").label(label)
    return text.label(label)


@dataclass(frozen=True, slots=True)
class Stored:
    value: str | None
    salt: str | None
    chained_verbatim: bool

    @property
    def erased(self) -> bool:
        return self.value is None


async def stored(conn: AsyncConnection, digests: Iterable[str]) -> dict[str, Stored]:
    """The stored values behind ``digests``, by digest (verify reads them a chunk at a time)."""
    wanted = sorted(set(digests))
    if not wanted:
        return {}
    query = select(_values.c.digest, _values.c.value, _values.c.salt, _values.c.chained_verbatim).where(
        bulk.OneOf(_values.c.digest, "digests")
    )
    return {
        row.digest: Stored(row.value, row.salt, row.chained_verbatim)
        for row in await conn.execute(query, {"digests": wanted})
    }


@dataclass(frozen=True, slots=True)
class Checked:
    """How one transaction's personal values stand: the fields to hash (None when an erased
    value the chain held verbatim makes the hash unrecomputable) and what is wrong."""

    hashed: Mapping[str, Any] | None
    problems: tuple[tuple[str, str], ...]  # (problem, field)


def check(txn: Mapping[str, Any], found: Mapping[str, Stored]) -> Checked:
    """The transaction's fields as its hash covers them, and the problems of its values: a
    digest with no stored value, or a kept value that no longer hashes to its digest."""
    hashed = dict(txn)
    problems = []
    for kind in KINDS:
        digest = txn[kind]
        if digest is None:
            continue
        value = found.get(digest)
        if value is None:
            problems.append(("personal_value_missing", kind))
        elif value.chained_verbatim:
            if value.erased:
                return Checked(None, tuple(problems))
            hashed[kind] = value.value
        elif not value.erased and (value.salt is None or salted_digest(value.salt, value.value or "") != digest):
            problems.append(("personal_value_altered", kind))
    return Checked(hashed, tuple(problems))


async def erase(conn: AsyncConnection, member_id: str, now: datetime) -> list[str]:
    """Clear the text and salt of every value of the member's transactions not yet erased;
    the texts erased, empty memos included (copies of them elsewhere are scrubbed too)."""
    found = await conn.execute(
        select(_values.c.value).where(_values.c.member_id == member_id, _values.c.erased_at.is_(None))
    )
    texts = [value for (value,) in found]
    await conn.execute(
        update(_values)
        .where(_values.c.member_id == member_id, _values.c.erased_at.is_(None))
        .values(value=None, salt=None, erased_at=now)
    )
    return texts
