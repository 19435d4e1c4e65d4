"""Tamper evidence: a SHA-256 chain over each transaction's canonical content.

``hash(n) = sha256(hash(n-1) || canonical(n))``. The canonical form is JSON with sorted
keys, no whitespace, UTC timestamps with microseconds and postings sorted by account,
so the same transaction always serializes to the same bytes whichever database stored
it. Changing any field, posting or the order of transactions breaks every later hash.

Sealing costs one hash per transaction and one row lock per database transaction (the
chain head), so a batch of transactions seals under a single lock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
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


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def canonical(txn: Mapping[str, Any], postings: Iterable[tuple[int, int]]) -> bytes:
    """The bytes that are hashed for one transaction."""
    body = {name: _encode(txn[name]) for name in HASHED_FIELDS}
    body["postings"] = sorted(postings)
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def link(prev_hash: str, txn: Mapping[str, Any], postings: Iterable[tuple[int, int]]) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical(txn, postings)).hexdigest()
