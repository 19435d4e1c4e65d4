"""The hash chain's canonical form (pure, no database)."""

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.journal import chain

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


def _json_dumps_form(txn, postings) -> bytes:
    """The canonical form by its definition: the whole object through json.dumps with sorted
    keys, no whitespace and text unescaped, timestamps as UTC text with microseconds."""
    body = {
        name: txn[name].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if isinstance(txn[name], datetime)
        else txn[name]
        for name in chain.HASHED_FIELDS
    }
    body["postings"] = sorted(postings)
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)  # quotes, controls, 中文, emoji
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | _TEXT, lambda inner: st.lists(inner) | st.dictionaries(_TEXT, inner)
)
_MOMENTS = st.datetimes(min_value=datetime(2000, 1, 1), timezones=st.sampled_from([UTC, timezone(timedelta(hours=8))]))


@given(
    text=st.fixed_dictionaries(
        {name: _TEXT for name in ("kind", "category", "org_unit", "recorded_by", "memo", "period")}
    ),
    maybe_text=st.fixed_dictionaries({name: st.none() | _TEXT for name in ("member_id", "evidence_url")}),
    numbers=st.fixed_dictionaries({name: st.integers(-(2**63), 2**63 - 1) for name in ("id", "earned_points")}),
    reverses_id=st.none() | st.integers(1, 2**63 - 1),
    moments=st.tuples(_MOMENTS, _MOMENTS),
    extra=st.dictionaries(_TEXT, _JSON, max_size=4),
    postings=st.lists(st.tuples(st.integers(1, 2**63 - 1), st.integers(-(2**63), 2**63 - 1)), min_size=2, max_size=6),
)
def test_canonical_form_is_the_sorted_compact_json_of_the_transaction(
    text, maybe_text, numbers, reverses_id, moments, extra, postings
):
    """Whatever the text, numbers, times and extra data, the bytes hashed are exactly the
    sorted, compact JSON of the transaction, so hashes sealed earlier still verify."""
    txn = {**text, **maybe_text, **numbers, "reverses_id": reverses_id, "extra": extra}
    txn["occurred_at"], txn["recorded_at"] = moments
    assert _json_dumps_form(txn, postings) == chain.canonical(txn, postings)
