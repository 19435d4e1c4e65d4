"""A ledger written by the release before memos and evidence left the chain: migrated, it
verifies as it did, its text reads back, and it can then be erased and still verify."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import text

from ledger import Database, IdempotentRequest, Ledger, migrate
from tests.builders import ADMIN, CHECKPOINT_KEY

REPO = Path(__file__).resolve().parent.parent
MEMO, EVIDENCE, NAME = "王秀兰家门口清理杂物", "https://pics.example/wang-xiulan.jpg", "王秀兰"

PREVIOUS_RELEASE_SECONDS_MAX = 120
"""Building the old ledger takes a few seconds; this only stops a hung subprocess."""

# Run with the previous release's own code: its posting wrote the text into the chain.
OLD_LEDGER = f"""
import asyncio, sys
from datetime import UTC, datetime, timedelta
from ledger import AwardCommand, Category, Database, IdempotentRequest, Ledger, Level, Role, migrate

async def main(url):
    db = Database(url, create=True)
    await migrate(db)
    ledger = Ledger(db)
    await ledger.register_unit("s-1", "街道", Level.STREET, None)
    await ledger.register_unit("c-1", "社区", Level.COMMUNITY, "s-1")
    await ledger.register_unit("g-1", "网格", Level.GRID, "c-1")
    await ledger.register_unit("m-1", "微网格", Level.MICRO_GRID, "g-1")
    await ledger.register_member("w-1", {NAME!r}, "m-1", True, (Role.VOLUNTEER,))
    await ledger.register_member("w-2", "李四", "m-1", False, (Role.VOLUNTEER,))
    when = datetime.now(UTC) - timedelta(hours=1)
    for i, (member, memo, url_) in enumerate([("w-1", {MEMO!r}, {EVIDENCE!r}), ("w-2", "巡查", None)]):
        command = AwardCommand(member, 10, Category.PATROL, when, memo, evidence_url=url_)
        await ledger.award(command, "old", IdempotentRequest("old", f"k-{{i}}", "f"))
    first = (await ledger.statement("w-1", 10, None)).lines[0].transaction_id
    await ledger.reverse(first, "记错了", "old", IdempotentRequest("old", "k-r", "f"))
    report = await ledger.verify()
    await db.dispose()
    print(report.ok, report.transactions, report.problems)

asyncio.run(main(sys.argv[1]))
"""


def _previous_release(into: Path) -> Path | None:
    """The code of the commit before this scheme came in, unpacked; None outside a git checkout."""
    try:
        first = subprocess.run(
            ["git", "log", "--format=%H", "--reverse", "--", "ledger/journal/personal.py"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()[0]
        archive = into / "previous.tar"
        subprocess.run(["git", "archive", "-o", str(archive), f"{first}~1", "ledger", "api"], cwd=REPO, check=True)
    except (OSError, subprocess.CalledProcessError, IndexError):
        return None
    with tarfile.open(archive) as tar:
        tar.extractall(into / "previous", filter="data")
    return into / "previous"


async def test_a_ledger_of_the_previous_release_verifies_before_and_after_migration_and_erasure(
    empty_database_url, tmp_path
):
    """The old code's verify passes; migrated, this release's verify passes, the old rows'
    text reads back from the erasable rows and not from the journal; erased, verify passes
    and counts the transaction whose hash covered the erased text."""
    previous = _previous_release(tmp_path)
    if previous is None:
        pytest.skip("no git history to take the previous release from")
    env = {**os.environ, "PYTHONPATH": str(previous)}
    old = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", OLD_LEDGER, empty_database_url],
        cwd=previous,
        env=env,
        capture_output=True,
        text=True,
        timeout=PREVIOUS_RELEASE_SECONDS_MAX,
    )
    assert "True 3 []" == old.stdout.strip(), old.stderr
    db = Database(empty_database_url)
    try:
        await migrate(db)
        ledger = Ledger(db, checkpoint_key=CHECKPOINT_KEY.encode())
        report = await ledger.verify()
        assert (True, 3, 0) == (report.ok, report.transactions, report.erased_verbatim)
        lines = (await ledger.statement(ADMIN, "w-1", 10, None)).lines
        assert ["记错了", MEMO] == [line.memo for line in lines]
        assert EVIDENCE == (await ledger.transaction(ADMIN, lines[1].transaction_id)).evidence_url
        async with db.read() as conn:
            in_journal = (await conn.execute(text("SELECT memo, evidence_url FROM journal_txn"))).all()
            verbatim = (await conn.execute(text("SELECT count(*) FROM personal_value WHERE chained_verbatim"))).scalar()
        assert [] == [cell for row in in_journal for cell in row if cell in (MEMO, EVIDENCE, "巡查")]
        assert 4 == verbatim  # two awards' memos, one evidence URL, the reversal's reason
        erased, _ = await ledger.erase_member(ADMIN, "w-1", "本人申请", IdempotentRequest("admin", "e-1", "f"))
        assert (3, "已注销-") == (erased.values_erased, erased.pseudonym[:4])
        report = await ledger.verify()
        assert (True, [], 2) == (report.ok, report.problems, report.erased_verbatim)
        assert ["", ""] == [line.memo for line in (await ledger.statement(ADMIN, "w-1", 10, None)).lines]
        assert "巡查" == (await ledger.statement(ADMIN, "w-2", 10, None)).lines[0].memo
    finally:
        await db.dispose()
