"""Checkpoints seal the chain head under a key the database does not hold: a rewrite at or
before one is named by verify even when the attacker recomputed the whole chain after it."""

import asyncio
import dataclasses
import hashlib
import hmac
import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from api import routes
from api.app import checkpoint_every
from api.cli import checkpoint_line
from api.cli import main as cli
from ledger import Ledger, Principal
from ledger.journal import chain, checkpoints, personal
from ledger.storage.tables import JournalTxn, PostingRow
from tests.builders import ADMIN, CHECKPOINT_KEY, assert_problem, award, member, tamper, token, tree
from tests.conftest import MANY_CONNECTIONS

KEY = CHECKPOINT_KEY.encode()


@pytest.fixture(autouse=True)
def _quiet_logs(caplog):
    caplog.set_level("WARNING")


async def _awards(client, ledger, *points):
    await tree(ledger)
    mid = await member(ledger)
    return [await award(client, mid, p) for p in points]


async def _rewrite_from(ledger, transaction_id: int, memo: str) -> None:
    """What a database writer without the key does: edit one transaction's memo (its text
    kept apart, under a digest of its own, as the journal keeps it), recompute every hash
    from it to the end with the chain's own code, and move the chain head to match."""
    salt = personal.new_salt()
    digest = personal.salted_digest(salt, memo)
    async with ledger.db.write() as conn:
        await conn.execute(
            text(
                "INSERT INTO personal_value (digest, kind, member_id, value, salt, chained_verbatim) "
                "SELECT :digest, 'memo', member_id, :memo, :salt, FALSE FROM journal_txn WHERE id = :id"
            ),
            {"digest": digest, "memo": memo, "salt": salt, "id": transaction_id},
        )
    edit = [{"memo": digest, "id": transaction_id}]
    await tamper(ledger, "UPDATE journal_txn SET memo = :memo WHERE id = :id", "journal_txn", edit)
    txns = JournalTxn.__table__
    postings = PostingRow.__table__
    async with ledger.db.read() as conn:
        rows = (await conn.execute(select(txns).order_by(txns.c.id))).all()
        legs = (await conn.execute(select(postings.c.txn_id, postings.c.account_id, postings.c.amount))).all()
    prev, relinked = chain.GENESIS_HASH, []
    for row in rows:
        new = chain.link(prev, row._mapping, [(a, amount) for t, a, amount in legs if t == row.id])
        if row.id >= transaction_id:
            relinked.append({"id": row.id, "prev": prev, "hash": new})
        prev = new
    relink = "UPDATE journal_txn SET prev_hash = :prev, hash = :hash WHERE id = :id"
    await tamper(ledger, relink, "journal_txn", relinked)
    async with ledger.db.write() as conn:
        await conn.execute(text("UPDATE chain_head SET last_hash = :h"), {"h": prev})


async def _all_three(client, ledger, capsys):
    """verify's problems as the ledger, `ledger verify` and HTTP name them, and the exit code."""
    problems = (await ledger.verify()).problems
    code = await asyncio.to_thread(cli, ["verify", "--database-url", ledger.db.url])
    printed = json.loads(capsys.readouterr().out)
    answered = (await client.get(routes.api(routes.LEDGER_VERIFY))).json()
    assert problems == printed["problems"] == answered["problems"]
    return problems, code, answered["checkpoints"]


async def test_a_clean_ledger_checks_every_checkpoint(client, ledger, capsys):
    """Checkpoints of the empty journal and of a later head both verify, and are counted."""
    await ledger.checkpoint(Principal.admin("test"))
    await _awards(client, ledger, 3, 4)
    await ledger.checkpoint(Principal.admin("test"))
    assert ([], 0, 2) == await _all_three(client, ledger, capsys)


async def test_a_rewrite_behind_a_checkpoint_is_named_though_the_chain_was_recomputed(client, ledger, capsys):
    """The attacker's recomputed chain passes every chain check, but the checkpoint's transaction
    no longer has the hash it sealed."""
    awards = await _awards(client, ledger, 3, 4, 5)
    sealed = await ledger.checkpoint(Principal.admin("test"))
    assert awards[1]["transaction_id"] == sealed.transaction_id - 1
    await _rewrite_from(ledger, awards[0]["transaction_id"], "edited")
    found = (await ledger.transaction(ADMIN, sealed.transaction_id)).hash
    expected = [
        {
            "problem": "checkpoint_mismatch",
            "checkpoint_id": sealed.id,
            "transaction_id": sealed.transaction_id,
            "sealed_hash": sealed.hash,
            "found_hash": found,
        }
    ]
    assert (expected, 1, 1) == await _all_three(client, ledger, capsys)
    assert found != sealed.hash


async def test_a_rewrite_after_the_last_checkpoint_goes_unseen(client, ledger, capsys):
    """What the README says checkpoints do not prove: a write after the latest one can be
    rewritten with its chain, and verify passes."""
    awards = await _awards(client, ledger, 3)
    await ledger.checkpoint(Principal.admin("test"))
    later = await award(client, "m-张三", 4)
    await _rewrite_from(ledger, later["transaction_id"], "edited")
    assert awards[0]["transaction_id"] < later["transaction_id"]
    assert ([], 0, 1) == await _all_three(client, ledger, capsys)


async def test_a_checkpoint_moved_to_the_rewritten_hash_is_forged(client, ledger, capsys):
    """Moving the checkpoint's hash to the rewritten chain needs a new MAC, which only the key makes;
    a MAC made under another key is a forgery too."""
    awards = await _awards(client, ledger, 3, 4)
    sealed = await ledger.checkpoint(Principal.admin("test"))
    await _rewrite_from(ledger, awards[0]["transaction_id"], "edited")
    rewritten = (await ledger.transaction(ADMIN, sealed.transaction_id)).hash
    await tamper(ledger, f"UPDATE checkpoint SET hash = '{rewritten}' WHERE id = {sealed.id}", "checkpoint")
    other = await Ledger(ledger.db, checkpoint_key=b"someone else's key").checkpoint(Principal.admin("test"))
    expected = [
        {"problem": "checkpoint_forged", "checkpoint_id": c.id, "transaction_id": c.transaction_id}
        for c in (sealed, other)
    ]
    assert (expected, 1, 2) == await _all_three(client, ledger, capsys)


async def test_a_checkpoint_past_the_end_of_the_journal_names_the_missing_transaction(client, ledger, capsys):
    """A journal cut back behind its checkpoint leaves the checkpoint naming a transaction that is gone."""
    await _awards(client, ledger, 3)
    async with ledger.db.write() as conn:
        gone = await checkpoints.seal(conn, KEY, (9, "f" * 64), ledger.clock(), "test")
    missing = {"problem": "checkpoint_transaction_missing", "checkpoint_id": gone.id, "transaction_id": 9}
    expected = [{**missing, "sealed_hash": "f" * 64}]
    assert (expected, 1, 1) == await _all_three(client, ledger, capsys)


async def test_without_a_key_verify_says_the_checkpoints_went_unchecked(client, ledger, capsys, monkeypatch, tmp_path):
    """No key, no pass: the ledger and `ledger verify` say how many checkpoints went unchecked,
    and verifying never makes a key (which would call every checkpoint forged)."""
    await _awards(client, ledger, 3)
    await ledger.checkpoint(Principal.admin("test"))
    await ledger.checkpoint(Principal.admin("test"))
    monkeypatch.delenv("LEDGER_CHECKPOINT_KEY")
    monkeypatch.setenv("LEDGER_CHECKPOINT_KEY_FILE", str(tmp_path / "checkpoint-key"))
    expected = [
        {
            "problem": "checkpoints_unchecked",
            "checkpoints": 2,
            "reason": "no checkpoint key is configured (LEDGER_CHECKPOINT_KEY)",
        }
    ]
    report = await Ledger(ledger.db).verify()
    assert (expected, False, 0) == (report.problems, report.ok, report.checkpoints)
    assert 1 == await asyncio.to_thread(cli, ["verify", "--database-url", ledger.db.url])
    assert expected == json.loads(capsys.readouterr().out)["problems"]
    assert not (tmp_path / "checkpoint-key").exists()


async def test_the_checkpoint_command_prints_one_line(client, ledger, capsys):
    """`ledger checkpoint` seals the head and prints the stored checkpoint on one line, and only that."""
    awards = await _awards(client, ledger, 3, 4)
    assert 0 == await asyncio.to_thread(cli, ["checkpoint", "--database-url", ledger.db.url])
    out, err = capsys.readouterr()
    [sealed] = await ledger.checkpoints(10, None)
    assert (f"{checkpoint_line(sealed)}\n", "") == (out, err)
    assert (awards[-1]["transaction_id"], awards[-1]["hash"], "cli") == (
        sealed.transaction_id,
        sealed.hash,
        sealed.sealed_by,
    )
    assert out.startswith(f"checkpoint {sealed.id}: transaction {sealed.transaction_id} hash {sealed.hash} sealed ")
    assert checkpoints.authentic(KEY, sealed)


def test_the_checkpoint_command_on_an_unreachable_database_prints_one_line(capsys):
    """A database that cannot be reached is said in one line on stderr, with no traceback."""
    assert 2 == cli(["checkpoint", "--database-url", "postgresql+asyncpg://postgres@127.0.0.1:1/ledger"])
    out, err = capsys.readouterr()
    assert ("", 1) == (out, len(err.strip().splitlines()))
    assert "Traceback" not in err


async def test_the_checkpoints_are_read_newest_first_in_pages(client, ledger):
    """GET /v1/checkpoints lists every seal newest first, with a cursor to the next page;
    auditors read it, members do not."""
    await _awards(client, ledger, 3)
    first = await ledger.checkpoint(Principal.admin("test"))
    await award(client, "m-张三", 4)
    second = await ledger.checkpoint(Principal.admin("test"))
    page = (await client.get(routes.api(routes.CHECKPOINTS), params={"limit": 1})).json()
    rest = (await client.get(routes.api(routes.CHECKPOINTS), params={"limit": 1, "cursor": page["next_cursor"]})).json()
    assert [second.id, first.id] == [c["id"] for c in page["checkpoints"] + rest["checkpoints"]]
    assert (first.transaction_id, first.hash, first.mac, "test") == tuple(
        rest["checkpoints"][0][k] for k in ("transaction_id", "hash", "mac", "sealed_by")
    )
    _, auditor = await token(ledger, "auditor")
    _, resident = await token(ledger, "member", member_id="m-张三")
    assert 2 == len((await client.get(routes.api(routes.CHECKPOINTS), headers=auditor)).json()["checkpoints"])
    assert_problem(await client.get(routes.api(routes.CHECKPOINTS), headers=resident), 403, "forbidden")
    assert_problem(
        await client.get(routes.api(routes.CHECKPOINTS), params={"limit": 501}), 422, "invalid_input", "limit"
    )


async def test_the_timer_seals_only_when_the_head_moved(client, ledger):
    """The serving process's seal skips a head already covered, and seals again after a write;
    on its timer it does so unasked."""
    await _awards(client, ledger, 3)
    assert (await ledger.checkpoint_if_moved()) is not None
    assert (await ledger.checkpoint_if_moved()) is None
    moved = await award(client, "m-张三", 4)
    timer = asyncio.create_task(checkpoint_every(ledger, 0.01))
    try:
        for _ in range(200):
            if len(await ledger.checkpoints(10, None)) == 2:
                break
            await asyncio.sleep(0.01)
    finally:
        timer.cancel()
    newest, _ = await ledger.checkpoints(10, None)
    assert (moved["transaction_id"], "timer") == (newest.transaction_id, newest.sealed_by)
    assert 2 == len(await ledger.checkpoints(10, None))


async def test_a_notice_names_the_checkpoint_it_opened_at(client, ledger):
    """The notice's checkpoint is stored with the notice, sealed under the key at the head its names rest on."""
    awards = await _awards(client, ledger, 3)
    opened = (await client.post(routes.api(routes.NOTICES), json={"org_unit": "s-东大街"})).json()
    async with ledger.db.read() as conn:
        stored = (await conn.execute(text("SELECT checkpoint_id FROM notice WHERE id = :i"), {"i": opened["id"]})).one()
    [sealed] = await ledger.checkpoints(10, None)
    assert (sealed.id, sealed.id) == (stored[0], opened["checkpoint"]["id"])
    assert (awards[0]["transaction_id"], awards[0]["hash"], sealed.mac) == (
        opened["checkpoint"]["transaction_id"],
        opened["checkpoint"]["hash"],
        opened["checkpoint"]["mac"],
    )
    assert checkpoints.authentic(KEY, sealed)


async def test_a_refused_export_seals_nothing(client, ledger):
    """An export refused for its filter (an unknown unit) leaves no checkpoint behind."""
    assert_problem(
        await client.get(routes.api(routes.EXPORT_NOMINATIONS), params={"org_unit": "nowhere"}),
        404,
        "org_unit_not_found",
    )
    assert [] == await ledger.checkpoints(10, None)


@pytest.mark.parametrize("sql", ["UPDATE checkpoint SET hash = 'edited'", "DELETE FROM checkpoint"])
async def test_raw_sql_cannot_change_a_checkpoint(ledger, sql):
    """A seal is evidence: the database refuses to edit or delete one, as it does the journal."""
    sealed = await ledger.checkpoint(Principal.admin("test"))
    with pytest.raises(DBAPIError, match="append-only"):
        async with ledger.db.write() as conn:
            await conn.execute(text(sql))
    assert [sealed] == await ledger.checkpoints(10, None)


@pytest.mark.postgres_only
@MANY_CONNECTIONS
async def test_processes_sealing_at_once_seal_the_head_once(client, ledger, ledgers):
    """Serving processes whose timers fire together take turns on the chain head: one seals."""
    await _awards(client, ledger, 3)
    sealers = [Ledger(other.db, checkpoint_key=KEY) for other in ledgers]
    sealed = await asyncio.gather(*(sealer.checkpoint_if_moved() for sealer in sealers))
    assert 1 == len([c for c in sealed if c is not None]) == len(await ledger.checkpoints(10, None))


def test_the_mac_signs_the_text_the_readme_shows():
    """Anyone with the key can check a printed checkpoint by hand: the MAC is HMAC-SHA256 of
    this exact text, with the time written as it is printed."""
    sealed_at = datetime(2026, 12, 3, 14, 18, 25, 123456, tzinfo=ZoneInfo("Asia/Shanghai"))
    sealed = checkpoints.mac(KEY, 42, "ab" * 32, sealed_at)
    checkpoint = checkpoints.Checkpoint(7, 42, "ab" * 32, sealed_at, "cli", sealed)
    message = (
        '{"hash":"' + "ab" * 32 + '","label":"ledger-checkpoint-v1",'
        '"sealed_at":"2026-12-03T06:18:25.123456Z","transaction_id":42}'
    )
    assert hmac.new(KEY, message.encode(), hashlib.sha256).hexdigest() == checkpoint.mac
    assert "2026-12-03T06:18:25.123456Z" == checkpoints.sealed_at_text(checkpoint)
    assert checkpoints.authentic(KEY, checkpoint)
    assert not checkpoints.authentic(KEY, dataclasses.replace(checkpoint, transaction_id=41))
