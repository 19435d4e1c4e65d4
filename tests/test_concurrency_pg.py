"""Concurrency on PostgreSQL with real concurrent connections: several ledgers, each with
its own connection pool (as several service processes would have), racing on one database."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from ledger import (
    AlreadyReversed,
    AwardCommand,
    Category,
    IdempotencyKeyTaken,
    IdempotentRequest,
    Ledger,
    Level,
    MemberChanges,
    Principal,
    UnitChanges,
)
from tests.builders import ADMIN, COMMUNITY, GRID, MICRO, OTHER_MICRO, STREET, member, tree
from tests.conftest import MANY_CONNECTIONS, PROCESSES

pytestmark = [pytest.mark.postgres_only, MANY_CONNECTIONS]


def _command(member_id: str, points: int = 5) -> AwardCommand:
    when = datetime.now(UTC) - timedelta(minutes=5)
    return AwardCommand(member_id, points, Category.PATROL, when, "巡查")


async def _count(ledger: Ledger, sql: str) -> int:
    async with ledger.db.read() as conn:
        return (await conn.execute(text(sql))).scalar_one()


async def test_concurrent_duplicates_post_exactly_once(ledger, ledgers):
    """20 identical requests with one key, from several processes at once: one transaction, one answer."""
    await tree(ledger)
    mid = await member(ledger)
    request = IdempotentRequest("admin", "dup-key", "same-body")
    outcomes = await asyncio.gather(*(ledgers[i % PROCESSES].award(ADMIN, _command(mid), request) for i in range(20)))
    assert 1 == len({result for result, _ in outcomes})
    assert 1 == sum(1 for _, replayed in outcomes if not replayed)
    assert 1 == await _count(ledger, "SELECT count(*) FROM journal_txn")
    assert 5 == (await ledger.balance(ADMIN, mid)).available_points


async def test_one_key_raced_by_two_principals_posts_once(ledger, ledgers):
    """20 requests with one key and body from two principals at once, from several
    processes: one transaction; the principal that claimed it first is answered (once
    fresh, then replays), the other is refused every time."""
    await tree(ledger)
    mid = await member(ledger)
    principals = ("organizer-a", "organizer-b")
    attempts = [
        ledgers[i % PROCESSES].award(Principal.admin(p), _command(mid), IdempotentRequest(p, "raced-key", "same-body"))
        for i in range(10)
        for p in principals
    ]
    outcomes = await asyncio.gather(*attempts, return_exceptions=True)
    answered = {p for p, o in zip(principals * 10, outcomes, strict=True) if isinstance(o, tuple)}
    [holder] = answered
    refused = [o for p, o in zip(principals * 10, outcomes, strict=True) if p != holder]
    assert all(isinstance(o, IdempotencyKeyTaken) for o in refused), refused
    assert 1 == sum(1 for o in outcomes if isinstance(o, tuple) and not o[1])
    assert 1 == await _count(ledger, "SELECT count(*) FROM journal_txn")
    assert 5 == (await ledger.balance(ADMIN, mid)).available_points


async def test_concurrent_awards_on_one_hot_unit_all_land(ledger, ledgers):
    """50 awards at once to members of one micro-grid (one issuance account) all land and add up."""
    await tree(ledger)
    members = [await member(ledger, f"m-{i}", MICRO) for i in range(10)]
    jobs = [
        ledgers[i % PROCESSES].award(
            ADMIN,
            _command(members[i % 10], 1 + i % 7),
            IdempotentRequest("admin", f"k-{i}", f"f-{i}"),
        )
        for i in range(50)
    ]
    results = await asyncio.gather(*jobs)
    expected = {m: 0 for m in members}
    for i in range(50):
        expected[members[i % 10]] += 1 + i % 7
    assert expected == {m: (await ledger.balance(ADMIN, m)).available_points for m in members}
    assert list(range(1, 51)) == sorted(result.transaction_id for result, _ in results)
    unit = await ledger.unit(MICRO)
    assert -sum(expected.values()) == await _count(
        ledger, f"SELECT available FROM account WHERE id = {unit.issuance_account_id}"
    )
    report = await ledger.verify()
    assert (True, 50) == (report.ok, report.transactions)


async def test_concurrent_reversals_of_one_transaction_have_one_winner(ledger, ledgers):
    """10 reversals of one award at once: exactly one succeeds, the others are told it is reversed."""
    await tree(ledger)
    mid = await member(ledger)
    result, _ = await ledger.award(ADMIN, _command(mid, 9), IdempotentRequest("admin", "a", "a"))
    attempts = [
        ledgers[i % PROCESSES].reverse(ADMIN, result.transaction_id, "重复", IdempotentRequest("admin", f"r{i}", "r"))
        for i in range(10)
    ]
    outcomes = await asyncio.gather(*attempts, return_exceptions=True)
    wins = [o for o in outcomes if isinstance(o, tuple)]
    assert 1 == len(wins)
    assert all(isinstance(o, AlreadyReversed) for o in outcomes if not isinstance(o, tuple)), outcomes
    assert 0 == (await ledger.balance(ADMIN, mid)).available_points
    assert (await ledger.verify()).ok


async def test_concurrent_moves_and_registrations_in_one_line_keep_every_path(ledger, ledgers):
    """A community moving to another street while its grid moves, and a micro-grid is
    registered under that grid, all at once: afterwards every unit's path is its parent's
    path and its own code, and both moves are recorded."""
    await tree(ledger)
    await ledger.register_unit(ADMIN, "s-2", "第二街道", Level.STREET, None)
    await ledger.register_unit(ADMIN, "c-2", "第二社区", Level.COMMUNITY, STREET)
    racers = [
        ledgers[0].change_unit(Principal.admin("test"), COMMUNITY, UnitChanges(parent="s-2")),
        ledgers[1].change_unit(Principal.admin("test"), GRID, UnitChanges(parent="c-2")),
        ledgers[2].register_unit(ADMIN, "m-新", "新微网格", Level.MICRO_GRID, GRID),
    ]
    await asyncio.gather(*racers)
    async with ledger.db.read() as conn:
        rows = (await conn.execute(text("SELECT code, parent_code, path FROM org_unit"))).all()
    paths = {code: path for code, _, path in rows}
    assert {code: (paths[parent] if parent else "/") + code + "/" for code, parent, _ in rows} == paths
    assert "/s-2/c-东关南里/" == paths[COMMUNITY]
    assert 2 == await _count(ledger, "SELECT count(*) FROM unit_move")


async def test_concurrent_moves_of_one_member_record_an_unbroken_history(ledger, ledgers):
    """Moves of one member at once each start where the one before left the member."""
    await tree(ledger)
    await ledger.register_unit(ADMIN, "m-3", "第三微网格", Level.MICRO_GRID, GRID)
    member_id = await member(ledger, "mover", MICRO)
    homes = (OTHER_MICRO, "m-3", OTHER_MICRO, "m-3")
    moving = zip(ledgers, homes, strict=True)
    await asyncio.gather(
        *(other.change_member(Principal.admin("test"), member_id, MemberChanges(org_unit=h)) for other, h in moving)
    )
    moves = await ledger.member_moves(ADMIN, member_id, 10, None)
    assert [m.to_unit for m in moves[:-1]] == [m.from_unit for m in moves[1:]]
    assert (MICRO, (await ledger.member(ADMIN, member_id)).org_unit) == (moves[0].from_unit, moves[-1].to_unit)
