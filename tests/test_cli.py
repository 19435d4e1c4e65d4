"""The `ledger` command and the demo data."""

import asyncio

from sqlalchemy import text

from api.cli import main as cli
from ledger import Database, Ledger
from ledger.demo import load_demo


def test_migrate_then_verify_a_fresh_file(tmp_path, capsys):
    """`ledger migrate` creates the schema in a new SQLite file, and an empty ledger verifies."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.sqlite3'}"
    assert 0 == cli(["migrate", "--database-url", url])
    assert 0 == cli(["migrate", "--database-url", url])  # a second run has nothing to do
    assert 0 == cli(["verify", "--database-url", url])
    assert '"ok": true' in capsys.readouterr().out


async def test_the_demo_holds_the_seed_streets_and_events(ledger):
    """The demo loads the street offices of the source text and the 义剪 and 茶艺 awards, once."""
    assert await load_demo(ledger)
    assert not await load_demo(ledger)
    async with ledger.db.read() as conn:
        streets = {row[0] for row in await conn.execute(text("SELECT name FROM org_unit WHERE level = 'street'"))}
        memos = [row[0] for row in await conn.execute(text("SELECT memo FROM journal_txn"))]
        haircut_units = {
            row[0]
            for row in await conn.execute(
                text(
                    "SELECT m.org_unit FROM journal_txn t JOIN member m ON m.id = t.member_id"
                    " WHERE t.memo LIKE '%义剪%'"
                )
            )
        }
    assert {"东大街街道", "陇海马路街道", "紫荆山南路街道", "城东路街道"} == streets
    assert any("义剪" in memo for memo in memos) and any("茶艺" in memo for memo in memos)
    assert all(unit.startswith("xinnan") for unit in haircut_units)  # 新南社区
    report = await ledger.verify()
    assert report.ok and report.transactions == len(memos)


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
    await load_demo(ledger)
    async with ledger.db.read() as conn:
        member_id, total = (
            await conn.execute(
                text("SELECT member_id, SUM(earned_points) FROM journal_txn GROUP BY member_id ORDER BY 2 DESC LIMIT 1")
            )
        ).one()
    assert total == (await Ledger(ledger.db).balance(member_id)).available_points
