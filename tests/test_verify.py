"""verify recomputes balances and the chain from the journal and names what is wrong."""

import json

import pytest
from sqlalchemy import text

from api.cli import main as cli
from tests.builders import award, member, tree


async def _tamper(ledger, sql: str, table: str) -> None:
    """Change rows behind the ledger's back, with the append-only triggers out of the way."""
    async with ledger.db.write() as conn:
        if ledger.db.is_postgres:
            await conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
            await conn.execute(text(sql))
            await conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
        else:
            triggers = (
                await conn.execute(
                    text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"), {"t": table}
                )
            ).all()
            for name, _ in triggers:
                await conn.execute(text(f"DROP TRIGGER {name}"))
            await conn.execute(text(sql))
            for _, create in triggers:
                await conn.execute(text(create))


async def _three_awards(client, ledger):
    await tree(ledger)
    mid = await member(ledger)
    return [await award(client, mid, points) for points in (3, 4, 5)]


async def test_a_clean_ledger_verifies(client, ledger):
    """Every count is reported and there are no problems."""
    awards = await _three_awards(client, ledger)
    body = (await client.get("/v1/ledger/verify")).json()
    assert (True, 3, 6, []) == (body["ok"], body["transactions"], body["postings"], body["problems"])
    assert awards[-1]["hash"] == body["last_hash"]


async def test_an_edited_memo_is_named_by_transaction(client, ledger):
    """Changing content breaks that transaction's hash, and verify names it."""
    awards = await _three_awards(client, ledger)
    target = awards[1]["transaction_id"]
    await _tamper(ledger, f"UPDATE journal_txn SET memo = 'edited' WHERE id = {target}", "journal_txn")
    body = (await client.get("/v1/ledger/verify")).json()
    assert False is body["ok"]
    assert [("hash_mismatch", target)] == [(p["problem"], p["transaction_id"]) for p in body["problems"]]


async def test_an_edited_posting_is_unbalanced_and_breaks_the_balances(client, ledger):
    """A changed amount is caught as a bad hash, an unbalanced transaction and balance mismatches."""
    awards = await _three_awards(client, ledger)
    target = awards[0]["transaction_id"]
    await _tamper(ledger, f"UPDATE posting SET amount = amount + 100 WHERE txn_id = {target} AND amount > 0", "posting")
    problems = (await client.get("/v1/ledger/verify")).json()["problems"]
    kinds = {p["problem"] for p in problems}
    assert {"hash_mismatch", "unbalanced", "balance_mismatch", "balance_after_mismatch"} <= kinds
    assert {target} == {p["transaction_id"] for p in problems if p["problem"] in ("hash_mismatch", "unbalanced")}


async def test_an_edited_materialized_balance_is_named_by_account(client, ledger):
    """A balance that no longer equals its postings is named with both figures."""
    await _three_awards(client, ledger)
    holder = await ledger.member("m-张三")
    await _tamper(ledger, f"UPDATE account SET available = 1000 WHERE id = {holder.account_id}", "account")
    await _tamper(
        ledger, f"UPDATE account_period SET earned = 1 WHERE account_id = {holder.account_id}", "account_period"
    )
    problems = (await client.get("/v1/ledger/verify")).json()["problems"]
    assert {
        "problem": "balance_mismatch",
        "account_id": holder.account_id,
        "owner": "m-张三",
        "kind": "member",
        "materialized": 1000,
        "computed": 12,
    } in problems
    assert [("counter_mismatch", "account_period", 1, 12)] == [
        (p["problem"], p["counter"], p["materialized"], p["computed"]) for p in problems if p.get("period")
    ]


async def test_a_deleted_transaction_breaks_the_chain(client, ledger):
    """Removing a transaction (its postings and its lot too) leaves a gap and a broken link."""
    awards = await _three_awards(client, ledger)
    target = awards[1]["transaction_id"]
    await _tamper(ledger, f"DELETE FROM lot WHERE txn_id = {target}", "lot")
    await _tamper(ledger, f"DELETE FROM posting WHERE txn_id = {target}", "posting")
    await _tamper(ledger, f"DELETE FROM journal_txn WHERE id = {target}", "journal_txn")
    kinds = {p["problem"] for p in (await client.get("/v1/ledger/verify")).json()["problems"]}
    assert {"chain_gap", "prev_hash_mismatch", "balance_mismatch"} <= kinds


async def test_the_verify_command_exits_1_and_prints_the_problem(client, ledger, capsys):
    """`ledger verify` exits 0 on a clean ledger and 1, naming the transaction, after tampering."""
    awards = await _three_awards(client, ledger)
    url = ledger.db.url
    assert 0 == await _run_cli(["verify", "--database-url", url])
    capsys.readouterr()
    target = awards[2]["transaction_id"]
    await _tamper(ledger, f"UPDATE journal_txn SET earned_points = 50 WHERE id = {target}", "journal_txn")
    assert 1 == await _run_cli(["verify", "--database-url", url])
    report = json.loads(capsys.readouterr().out)
    assert target in {p.get("transaction_id") for p in report["problems"]}


async def _run_cli(argv):
    """The command runs its own event loop, so it runs in a thread here."""
    import asyncio

    return await asyncio.to_thread(cli, argv)


@pytest.fixture(autouse=True)
def _quiet_logs(caplog):
    caplog.set_level("WARNING")
