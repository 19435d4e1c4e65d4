"""The hash chain's canonical form (pure, no database)."""

from datetime import UTC, datetime

import pytest

from ledger import chain

TXN = {
    "id": 7,
    "kind": "award",
    "category": "patrol",
    "member_id": "m-1",
    "org_unit": "微网格-1",
    "occurred_at": datetime(2026, 3, 6, 6, 0, tzinfo=UTC),
    "recorded_at": datetime(2026, 3, 6, 9, 0, 0, 123456, tzinfo=UTC),
    "recorded_by": "admin",
    "memo": "爱心义剪",
    "evidence_url": None,
    "reverses_id": None,
    "period": "2026",
    "earned_points": 3,
    "extra": {},
}
POSTINGS = [(2, 3), (1, -3)]


def test_canonical_form_is_deterministic_and_keeps_chinese():
    """The same transaction always serializes to the same bytes, postings sorted, text unescaped."""
    first = chain.canonical(TXN, POSTINGS)
    assert first == chain.canonical(dict(reversed(list(TXN.items()))), list(reversed(POSTINGS)))
    assert "爱心义剪".encode() in first


def test_time_zone_of_a_timestamp_does_not_change_the_hash():
    """An instant written with another offset is the same instant and hashes the same."""
    shanghai = TXN["occurred_at"].astimezone(datetime.now().astimezone().tzinfo)
    assert chain.link("0" * 64, TXN, POSTINGS) == chain.link("0" * 64, {**TXN, "occurred_at": shanghai}, POSTINGS)


@pytest.mark.parametrize("field", chain.HASHED_FIELDS)
def test_changing_any_hashed_field_changes_the_hash(field):
    """Every hashed field is covered by the hash."""
    changed = dict(TXN)
    value = TXN[field]
    if isinstance(value, datetime):
        changed[field] = value.replace(microsecond=value.microsecond + 1)
    elif isinstance(value, int):
        changed[field] = value + 1
    elif isinstance(value, dict):
        changed[field] = {"x": 1}
    else:
        changed[field] = (value or "") + "x"
    assert chain.link("0" * 64, TXN, POSTINGS) != chain.link("0" * 64, changed, POSTINGS)


def test_changing_a_posting_or_the_previous_hash_changes_the_hash():
    """The postings and the link to the previous transaction are covered too."""
    base = chain.link("0" * 64, TXN, POSTINGS)
    assert base != chain.link("0" * 64, TXN, [(2, 4), (1, -4)])
    assert base != chain.link("1" + "0" * 63, TXN, POSTINGS)
