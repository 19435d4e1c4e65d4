"""The `ledger` command and the demo data."""

import asyncio
import json

import pytest
from sqlalchemy import text

from api.cli import _prepare
from api.cli import main as cli
from ledger import Database, Ledger, Principal
from ledger.demo import DEMO_REWARDS, RESIDENT, STARS, STREETS, load_demo
from ledger.earning.rules import default_rules_text
from ledger.honours.tiers import default_tiers_text
from tests.builders import ADMIN, NOTHING_SWEPT


async def _demo(ledger: Ledger) -> bool:
    """The demo on the default rules and tier scheme, as ``ledger serve --demo`` loads it."""
    await ledger.load_rules(Principal.admin("test"), default_rules_text())
    await ledger.load_tiers(Principal.admin("test"), default_tiers_text())
    return await load_demo(ledger)


def test_migrate_then_verify_a_fresh_file(tmp_path, capsys):
    """`ledger migrate` creates the schema in a new SQLite file, and an empty ledger verifies."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.sqlite3'}"
    assert 0 == cli(["migrate", "--database-url", url])
    assert 0 == cli(["migrate", "--database-url", url])  # a second run has nothing to do
    assert 0 == cli(["verify", "--database-url", url])
    assert '"ok": true' in capsys.readouterr().out


async def test_the_demo_holds_the_seed_streets_and_events(ledger):
    """The demo loads the street offices of the source text and the 义剪 and 茶艺 awards, once."""
    assert await _demo(ledger)
    assert not await load_demo(ledger)
    async with ledger.db.read() as conn:
        streets = {row[0] for row in await conn.execute(text("SELECT name FROM org_unit WHERE level = 'street'"))}
        # The journal holds each memo's digest; the text is kept apart (ledger.journal.personal).
        kept = "SELECT p.value FROM journal_txn t JOIN personal_value p ON p.digest = t.memo"
        memos = [row[0] for row in await conn.execute(text(kept))]
        haircut_units = {
            row[0]
            for row in await conn.execute(
                text(
                    "SELECT m.org_unit FROM journal_txn t JOIN member m ON m.id = t.member_id"
                    " JOIN personal_value p ON p.digest = t.memo WHERE p.value LIKE '%义剪%'"
                )
            )
        }
    assert {"东大街街道", "陇海马路街道", "紫荆山南路街道", "城东路街道"} == streets
    assert any("义剪" in memo for memo in memos) and any("茶艺" in memo for memo in memos)
    assert all(unit.startswith("xinnan") for unit in haircut_units)  # 新南社区
    report = await ledger.verify()
    assert report.ok and report.transactions == len(memos)


async def test_the_demo_gives_every_walk_through_something_to_show(ledger):
    """Every community has a shop, the demo resident may redeem its own community's 毛巾, two
    members of 塔湾社区 hold both flags between them, and an activity and a claim wait."""
    await _demo(ledger)
    communities = {code for _name, units in STREETS.values() for code in units}
    assert communities == {command.org_unit for command in DEMO_REWARDS}
    catalog = {reward.code for reward in await ledger.rewards("xinnan-g1-m1", 100, None)}
    assert "xinnan-毛巾" in catalog and (await ledger.balance(ADMIN, RESIDENT)).available_points >= 2
    flags = [(n.member_id, n.flag) for n in await ledger.nominations(ADMIN, "2026", "dongdajie", None)]
    assert [(STARS[0], "优秀共产党员"), (STARS[0], "先进工作者"), (STARS[1], "先进工作者")] == flags
    [pending] = await ledger.claims(ADMIN, "pending", "tawan", 10, None)
    assert (1, None) == (pending.id, (await ledger.activity(ADMIN, 1)).settled_at)


@pytest.mark.sqlite_only
async def test_serve_demo_prints_what_it_loaded_and_how_to_sign_in(ledger, capsys):
    """`ledger serve --demo` names the units, a member and the two sign-in pages, and a
    second start says the demo was skipped."""
    await _prepare(ledger.db.url, True, "http://127.0.0.1:8000")
    printed = capsys.readouterr().out
    assert "demo data loaded" in printed and "tawan 塔湾社区" in printed and RESIDENT in printed
    assert "http://127.0.0.1:8000/desk/signin" in printed and "http://127.0.0.1:8000/me/signin?token=" in printed
    await _prepare(ledger.db.url, True, "http://127.0.0.1:8000")
    assert "demo data skipped" in capsys.readouterr().out


def test_serve_refuses_an_unknown_database(capsys):
    """An unsupported URL is refused before anything starts."""

    async def attempt():
        try:
            Database("mysql://nowhere/x")
        except ValueError as error:
            return str(error)

    assert "unsupported database" in asyncio.run(attempt())


async def test_a_demo_member_reads_a_balance_through_the_service(ledger):
    """After the demo a member's balance is the sum of the demo awards to them."""
    await _demo(ledger)
    async with ledger.db.read() as conn:
        member_id, total = (
            await conn.execute(
                text("SELECT member_id, SUM(earned_points) FROM journal_txn GROUP BY member_id ORDER BY 2 DESC LIMIT 1")
            )
        ).one()
    assert total == (await Ledger(ledger.db).balance(ADMIN, member_id)).available_points


async def test_tiers_load_and_export_nominations_from_the_command_line(ledger, tmp_path, capsys):
    """`ledger tiers load` stores a scheme; `ledger export nominations` writes the CSV with a BOM."""
    from ledger import AwardCommand, Category, IdempotentRequest, Level, Role
    from tests.builders import TEST_TIERS, recently

    tiers_file = tmp_path / "tiers.yaml"
    tiers_file.write_text(TEST_TIERS, encoding="utf-8")
    url = ledger.db.url
    assert 0 == await asyncio.to_thread(cli, ["tiers", "load", str(tiers_file), "--database-url", url])
    bad = tmp_path / "bad.yaml"
    bad.write_text("schemes: [{tiers: []}]", encoding="utf-8")
    assert 1 == await asyncio.to_thread(cli, ["tiers", "load", str(bad), "--database-url", url])
    assert "/schemes/0/tiers" in capsys.readouterr().err
    await ledger.register_unit(ADMIN, "s", "东大街街道", Level.STREET, None)
    await ledger.register_unit(ADMIN, "c", "塔湾社区", Level.COMMUNITY, "s")
    await ledger.register_unit(ADMIN, "g", "塔湾第1大网格", Level.GRID, "c")
    await ledger.register_unit(ADMIN, "m", "塔湾1-1微网格", Level.MICRO_GRID, "g")
    await ledger.register_member(ADMIN, "p-1", "刘国庆", "m", True, (Role.GRID_WORKER,))
    from datetime import datetime

    command = AwardCommand("p-1", 40, Category.PATROL, datetime.fromisoformat(recently()), "巡查")
    await ledger.award(Principal.admin("test"), command, IdempotentRequest("test", "k", "f"))
    output = tmp_path / "nominations.csv"
    argv = ["export", "nominations", "--org-unit", "c", "--output", str(output), "--database-url", url]
    assert 0 == await asyncio.to_thread(cli, argv)
    content = output.read_bytes()
    assert content.startswith("\ufeff".encode()) and "刘国庆" in content.decode("utf-8-sig")
    lines = content.decode("utf-8-sig").strip().splitlines()
    [checkpoint] = await ledger.checkpoints(1, None)
    # The header, two flags, a blank line, and the checkpoint sealed by the command.
    assert (6, "") == (len(lines), lines[3])
    assert f"{checkpoint.id},1,{checkpoint.hash}," == lines[5][: len(f"{checkpoint.id},1,") + 65]
    assert ("cli", checkpoint.mac) == (checkpoint.sealed_by, lines[5].rsplit(",", 1)[1])


def test_expiry_policies_load_from_a_file_and_the_sweep_runs_from_the_command_line(tmp_path, capsys):
    """`ledger expiry load` refuses a bad file naming the error and loads a good one;
    `ledger sweep` reports what it released and expired as JSON."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'shop.sqlite3'}"
    assert 0 == cli(["migrate", "--database-url", url])
    bad, good = tmp_path / "bad.yaml", tmp_path / "good.yaml"
    bad.write_text("policies: [{valid: months}]", encoding="utf-8")
    good.write_text("policies: [{valid: end_of_year, extra_years: 1}]", encoding="utf-8")
    assert 1 == cli(["expiry", "load", str(bad), "--database-url", url])
    assert "/policies/0" in capsys.readouterr().err
    assert 0 == cli(["expiry", "load", str(good), "--database-url", url])
    assert "loaded default version 1" in capsys.readouterr().out
    assert 0 == cli(["sweep", "--database-url", url])
    report = json.loads(capsys.readouterr().out)
    assert NOTHING_SWEPT == report
