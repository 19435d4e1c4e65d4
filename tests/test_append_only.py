"""The journal is append-only, and the database itself enforces it."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.builders import award, member, tree

ATTEMPTS = [
    "UPDATE journal_txn SET memo = 'edited'",
    "DELETE FROM journal_txn",
    "UPDATE posting SET amount = amount + 1",
    "DELETE FROM posting",
]


async def _snapshot(ledger):
    async with ledger.db.read() as conn:
        txns = (await conn.execute(text("SELECT id, memo, hash FROM journal_txn ORDER BY id"))).all()
        postings = (await conn.execute(text("SELECT txn_id, account_id, amount FROM posting ORDER BY 1, 2"))).all()
    return txns, postings


@pytest.mark.parametrize("sql", ATTEMPTS + ["TRUNCATE journal_txn, posting CASCADE"])
async def test_raw_sql_cannot_change_the_journal(client, ledger, sql):
    """UPDATE, DELETE (and TRUNCATE on PostgreSQL) of transactions or postings fail, and the rows stay."""
    if sql.startswith("TRUNCATE") and not ledger.db.is_postgres:
        pytest.skip("SQLite has no TRUNCATE")
    await tree(ledger)
    await award(client, await member(ledger), 5)
    before = await _snapshot(ledger)
    with pytest.raises(DBAPIError, match="append-only"):
        async with ledger.db.write() as conn:
            await conn.execute(text(sql))
    assert before == await _snapshot(ledger)
