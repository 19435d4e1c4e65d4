"""Tamper evidence: a SHA-256 chain over each transaction's canonical content.

``hash(n) = sha256(hash(n-1) || canonical(n))``. The canonical form is JSON with sorted
keys, no whitespace, UTC timestamps with microseconds and postings sorted by account,
so the same transaction always serializes to the same bytes whichever database stored
it. Changing any field, posting or the order of transactions breaks every later hash.
``memo`` and ``evidence_url`` hold salted digests of the text, which is kept apart so it
can be erased (``ledger.journal.personal``).

Sealing costs one hash per transaction and one row lock per database transaction (the
chain head), so a batch of transactions seals under a single lock.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first transaction."""

HASHED_FIELDS = (
    "id",
    "kind",
    "category",
    "member_id",
    "org_unit",
    "occurred_at",
    "recorded_at",
    "recorded_by",
    "memo",
    "evidence_url",
    "reverses_id",
    "period",
    "earned_points",
    "extra",
)


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
"""The canonical JSON: sorted keys, no whitespace, text written as it is (not \\u-escaped)."""

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
"""How the canonical form writes a time: UTC, to the microsecond."""
_TIMESTAMP = f'"{TIMESTAMP_FORMAT}"'
_SORTED_FIELDS = tuple(sorted((*HASHED_FIELDS, "postings")))

TIMESTAMPS_REMEMBERED = 256
"""Timestamps whose canonical text is kept: a batch seals every transaction with the same
``recorded_at``, and a settle gives all of them the same ``occurred_at`` too, so a few
recent instants answer nearly every lookup (writing one out costs a time zone conversion
and a ``strftime``, the dearest field of a link)."""


@functools.lru_cache(maxsize=TIMESTAMPS_REMEMBERED)
def _timestamp(moment: datetime) -> str:
    # Equal instants in other zones share an entry, rightly: the text is of the UTC instant.
    return moment.astimezone(UTC).strftime(_TIMESTAMP)


def _json(value: Any) -> str:
    """One value as the canonical JSON writes it (timestamps as UTC text). The scalars a
    transaction is made of are written here directly, the rest by the encoder: this runs
    for every field of every transaction posted or verified."""
    if value is None:
        return "null"
    kind = type(value)
    if kind is str:
        return str(encode_basestring(value))
    if kind is int:
        return int.__repr__(value)
    if kind is datetime:
        return _timestamp(value)
    encoded: str = _ENCODER.encode(value)
    return encoded


def canonical(txn: Mapping[str, Any], postings: Iterable[tuple[int, int]]) -> bytes:
    """The bytes that are hashed for one transaction: the canonical JSON of its hashed
    fields and its postings, written field by field in sorted order (the same bytes as
    encoding the whole object at once, at a third of the cost)."""
    fields = [f'"{name}":{_postings(postings) if name == "postings" else _json(txn[name])}' for name in _SORTED_FIELDS]
    return ("{" + ",".join(fields) + "}").encode()


def _postings(postings: Iterable[tuple[int, int]]) -> str:
    """The postings, sorted by account, as the encoder writes a list of integer pairs
    (``[[1,-5],[2,5]]``), without its walk over every element."""
    return "[" + ",".join(f"[{account:d},{amount:d}]" for account, amount in sorted(postings)) + "]"


def link(prev_hash: str, txn: Mapping[str, Any], postings: Iterable[tuple[int, int]]) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical(txn, postings)).hexdigest()


def canonical_record(values: Mapping[str, Any]) -> bytes:
    """A flat record (scalars and timestamps) in the same canonical JSON, for what is
    signed beside the chain (a checkpoint's MAC): one encoding, one set of rules."""
    fields = [f"{encode_basestring(name)}:{_json(values[name])}" for name in sorted(values)]
    return ("{" + ",".join(fields) + "}").encode()
