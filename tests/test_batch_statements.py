"""What an award batch sends to the database: as many statements whatever its size, and
the writes of a phase together, without one write hiding another."""

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, select

from api import routes
from ledger import AwardCommand, Category, IdempotentRequest, Ledger, Principal
from ledger.access import audit
from ledger.honours.tiers import default_tiers_text
from ledger.storage import bulk
from ledger.storage.statements import counting
from ledger.storage.tables import AccountPeriod, table_of
from tests.builders import ADMIN, key, member, tree

BURST = 40

POSTGRES_STATEMENTS_MAX = 4
"""Statements of an award batch on PostgreSQL, whatever its size (BEGIN and COMMIT aside):
the idempotency claims with the members and units; the locks with the expiry policies,
tier schemes and unit paths; the writes with the nomination flags' read; the stored
replies with the audit rows."""


def _award(member_id: str, points: int) -> AwardCommand:
    return AwardCommand(member_id, points, Category.PATROL, datetime.now(UTC) - timedelta(hours=1), "巡查")


async def test_a_batch_sends_as_many_statements_alone_as_with_forty_awards(ledger: Ledger):
    """One award alone and a batch of forty behind another cost the same statements, at
    most four on PostgreSQL with tier schemes to evaluate and audit rows to store, and
    every award lands (the member's balance is the sum)."""
    await tree(ledger)
    await ledger.load_tiers(ADMIN, default_tiers_text())
    members = [await member(ledger, f"m-{i}") for i in range(4)]

    async def award(i: int) -> None:
        with audit.serving(audit.Entry("admin", "admin", "POST", routes.api(routes.AWARDS), 201)):
            await ledger.award(
                Principal.admin("organizer"), _award(members[i % 4], 1 + i % 3), IdempotentRequest("admin", key(), "f")
            )

    with counting(ledger.db.engine) as count:
        await award(0)
        await asyncio.gather(*(award(i) for i in range(1, BURST + 2)))
    alone, second_alone, burst = count.per_transaction
    assert (alone, alone) == (second_alone, burst)
    if ledger.db.is_postgres:
        assert burst <= POSTGRES_STATEMENTS_MAX
    expected = sum(1 + i % 3 for i in range(BURST + 2) if i % 4 == 0)
    assert expected == (await ledger.balance(ADMIN, members[0])).available_points


async def test_on_postgresql_the_writes_of_a_posting_go_as_one_statement(ledger: Ledger):
    """Balances, counters, transactions, postings, lots and the chain head: one statement
    on PostgreSQL; SQLite, where a statement costs no round trip, runs them one by one."""
    await tree(ledger)
    mid = await member(ledger)
    await ledger.award(Principal.admin("organizer"), _award(mid, 1), IdempotentRequest("admin", key(), "f"))
    sent: list[str] = []

    def seen(_conn, _cursor, statement, *_):
        sent.append(statement)

    event.listen(ledger.db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        await ledger.award(Principal.admin("organizer"), _award(mid, 2), IdempotentRequest("admin", key(), "f"))
    finally:
        event.remove(ledger.db.engine.sync_engine, "before_cursor_execute", seen)
    inserts = [s for s in sent if "INSERT INTO posting" in s]
    assert 1 == len(inserts)
    if ledger.db.is_postgres:
        assert inserts[0].startswith("WITH ")
        assert all(f"INSERT INTO {t}" in inserts[0] for t in ("journal_txn", "lot", "account_period"))
    assert 3 == (await ledger.balance(ADMIN, mid)).available_points


async def test_a_second_write_to_a_table_is_sent_after_the_first(ledger: Ledger):
    """Two additions to one counter row in one phase both count: the second goes after
    the first is sent (in one statement PostgreSQL would keep only one of them)."""
    await tree(ledger)
    mid = await member(ledger)
    await ledger.award(Principal.admin("organizer"), _award(mid, 1), IdempotentRequest("admin", key(), "f"))
    table = table_of(AccountPeriod)
    async with ledger.db.write() as conn:
        [(account_id, period, earned)] = (await conn.execute(select(table))).all()
        async with bulk.writing(conn) as writes:
            await writes.add_to_counters(table, ("account_id", "period"), "earned", [(account_id, period, 5)])
            await writes.add_to_counters(table, ("account_id", "period"), "earned", [(account_id, period, 7)])
        assert earned + 12 == (await conn.execute(select(table.c.earned))).scalar_one()
