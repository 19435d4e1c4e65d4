"""A settlement's stored reply (pure, no database): written out field by field for speed,
it must be exactly what the generic ``Reply.stored`` makes of it, and replay as it was."""

from __future__ import annotations

from ledger.earning.activities import Settlement, SettlementLine
from ledger.journal.idempotency import Reply

SETTLEMENT = Settlement(
    7,
    2,
    1,
    11,
    (
        SettlementLine("m-1", "awarded", 8, None, None, 9, 101),
        SettlementLine("m-2", "awarded", 3, transaction_id=102),
        SettlementLine("m-3", "skipped", 0, "cap_exceeded", "已达每日上限"),
    ),
)


def test_a_settlement_is_stored_as_the_generic_reply_would_store_it():
    assert Reply.stored(SETTLEMENT) == SETTLEMENT.stored()


def test_a_stored_settlement_replays_as_it_was():
    assert SETTLEMENT == Settlement.replayed(SETTLEMENT.stored())
