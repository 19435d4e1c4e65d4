"""verify recomputes balances and the chain from the journal and names what is wrong."""

import json
from unittest.mock import ANY

import pytest

from api import routes
from api.cli import main as cli
from tests.builders import ADMIN, award, member, redeem, reward, tamper, tree


async def _three_awards(client, ledger):
    await tree(ledger)
    mid = await member(ledger)
    return [await award(client, mid, points) for points in (3, 4, 5)]


async def test_a_clean_ledger_verifies(client, ledger):
    """Every count is reported and there are no problems."""
    awards = await _three_awards(client, ledger)
    body = (await client.get(routes.api(routes.LEDGER_VERIFY))).json()
    assert (True, 3, 6, []) == (body["ok"], body["transactions"], body["postings"], body["problems"])
    assert awards[-1]["hash"] == body["last_hash"]


async def test_an_edited_memo_is_named_by_transaction(client, ledger):
    """Changing the memo's digest in the journal breaks that transaction's hash and loses
    its text, and verify names both."""
    awards = await _three_awards(client, ledger)
    target = awards[1]["transaction_id"]
    await tamper(ledger, f"UPDATE journal_txn SET memo = 'edited' WHERE id = {target}", "journal_txn")
    body = (await client.get(routes.api(routes.LEDGER_VERIFY))).json()
    assert False is body["ok"]
    expected = [("personal_value_missing", target), ("hash_mismatch", target)]
    assert expected == [(p["problem"], p["transaction_id"]) for p in body["problems"]]


async def test_an_edited_posting_is_unbalanced_and_breaks_the_balances(client, ledger):
    """A changed amount is caught as a bad hash, an unbalanced transaction and balance mismatches."""
    awards = await _three_awards(client, ledger)
    target = awards[0]["transaction_id"]
    await tamper(ledger, f"UPDATE posting SET amount = amount + 100 WHERE txn_id = {target} AND amount > 0", "posting")
    problems = (await client.get(routes.api(routes.LEDGER_VERIFY))).json()["problems"]
    kinds = {p["problem"] for p in problems}
    assert {"hash_mismatch", "unbalanced", "balance_mismatch", "balance_after_mismatch"} <= kinds
    assert {target} == {p["transaction_id"] for p in problems if p["problem"] in ("hash_mismatch", "unbalanced")}


async def test_an_edited_materialized_balance_is_named_by_account(client, ledger):
    """A balance that no longer equals its postings is named with both figures."""
    await _three_awards(client, ledger)
    holder = await ledger.member(ADMIN, "m-张三")
    await tamper(ledger, f"UPDATE account SET available = 1000 WHERE id = {holder.account_id}", "account")
    await tamper(
        ledger, f"UPDATE account_period SET earned = 1 WHERE account_id = {holder.account_id}", "account_period"
    )
    problems = (await client.get(routes.api(routes.LEDGER_VERIFY))).json()["problems"]
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
    await tamper(ledger, f"DELETE FROM lot WHERE txn_id = {target}", "lot")
    await tamper(ledger, f"DELETE FROM posting WHERE txn_id = {target}", "posting")
    await tamper(ledger, f"DELETE FROM journal_txn WHERE id = {target}", "journal_txn")
    kinds = {p["problem"] for p in (await client.get(routes.api(routes.LEDGER_VERIFY))).json()["problems"]}
    assert {"chain_gap", "prev_hash_mismatch", "balance_mismatch"} <= kinds


async def test_the_verify_command_exits_1_and_prints_the_problem(client, ledger, capsys):
    """`ledger verify` exits 0 on a clean ledger and 1, naming the transaction, after tampering."""
    awards = await _three_awards(client, ledger)
    url = ledger.db.url
    assert 0 == await _run_cli(["verify", "--database-url", url])
    capsys.readouterr()
    target = awards[2]["transaction_id"]
    await tamper(ledger, f"UPDATE journal_txn SET earned_points = 50 WHERE id = {target}", "journal_txn")
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


async def _tampered_books(client, ledger):
    """Three awards (3, 4, 5), then an open hold of 5 (transaction 4): 7 left in the lots."""
    awards = await _three_awards(client, ledger)
    await reward(client, cost=5)
    assert 201 == (await redeem(client, "m-张三")).status_code
    holder = await ledger.member(ADMIN, "m-张三")
    return [(a["transaction_id"], a["hash"]) for a in awards], holder.account_id


_LOTS = ("UPDATE lot SET remaining = points", "lot")  # as if the hold had spent none of them
# The memo's text, kept apart from the chain, edited where the statement reads it.
_MEMO = (
    "UPDATE personal_value SET value = 'edited' WHERE digest = (SELECT memo FROM journal_txn WHERE id = {a1})",
    "personal_value",
)
TAMPERS = {
    "posting_amount": [("UPDATE posting SET amount = amount + 100 WHERE txn_id = {a0} AND amount > 0", "posting")],
    "memo": [_MEMO],
    "deleted_posting": [("DELETE FROM posting WHERE txn_id = {a1} AND amount > 0", "posting")],
    "materialized_balance": [("UPDATE account SET available = 1000 WHERE id = {account}", "account")],
    "lots": [_LOTS],
    "holds": [("UPDATE account SET held = 9 WHERE id = {account}", "account")],
    "lots_and_memo": [_LOTS, _MEMO],
}


def _expected(kind, awards, account):
    """The problems each tamper must be named by; a hash verify computes is not known here."""
    (a0, h0), (a1, h1), (a2, _) = awards
    hold = a2 + 1
    memo = [{"problem": "personal_value_altered", "transaction_id": a1, "field": "memo"}]
    lots = [{"problem": "lots_mismatch", "account_id": account, "available": 7, "in_lots": 12}]
    member = {"account_id": account, "owner": "m-张三", "kind": "member"}

    def after(txn, stored, computed):
        return {
            "problem": "balance_after_mismatch",
            "transaction_id": txn,
            "account_id": account,
            "stored": stored,
            "computed": computed,
        }

    return {
        "posting_amount": [
            {"problem": "hash_mismatch", "transaction_id": a0, "stored": h0, "computed": ANY},
            {"problem": "unbalanced", "transaction_id": a0, "sum": 100},
            after(a0, 3, 103),
            after(a1, 7, 107),
            after(a2, 12, 112),
            after(hold, 7, 107),
            {"problem": "balance_mismatch", **member, "materialized": 7, "computed": 107},
        ],
        "memo": memo,
        "deleted_posting": [
            {"problem": "hash_mismatch", "transaction_id": a1, "stored": h1, "computed": ANY},
            {"problem": "too_few_postings", "transaction_id": a1, "postings": 1},
            {"problem": "unbalanced", "transaction_id": a1, "sum": -4},
            after(a2, 12, 8),
            after(hold, 7, 3),
            {"problem": "balance_mismatch", **member, "materialized": 7, "computed": 3},
        ],
        "materialized_balance": [
            {"problem": "balance_mismatch", **member, "materialized": 1000, "computed": 7},
            {"problem": "lots_mismatch", "account_id": account, "available": 1000, "in_lots": 7},
        ],
        "lots": lots,
        "holds": [
            {"problem": "held_mismatch", "member_id": "m-张三", "held_account": 5, "member_held": 9, "open_holds": 5}
        ],
        "lots_and_memo": memo + lots,
    }[kind]


@pytest.mark.parametrize("kind", TAMPERS)
async def test_each_tamper_is_named_alike_by_the_ledger_the_command_and_http(client, ledger, capsys, kind):
    """Each way of tampering is named with the same integer figures by the ledger, `ledger verify` and HTTP."""
    awards, account = await _tampered_books(client, ledger)
    ids = {f"a{i}": txn for i, (txn, _) in enumerate(awards)} | {"account": account}
    for sql, table in TAMPERS[kind]:
        await tamper(ledger, sql.format(**ids), table)
    problems = (await ledger.verify()).problems
    code = await _run_cli(["verify", "--database-url", ledger.db.url])
    printed = json.loads(capsys.readouterr().out)["problems"]
    answered = (await client.get(routes.api(routes.LEDGER_VERIFY))).json()["problems"]
    expected = _expected(kind, awards, account)
    assert (expected, 1, expected, expected) == (problems, code, printed, answered)
    assert [] == [(p["problem"], k, v) for p in problems for k, v in p.items() if type(v) not in (int, str)]
