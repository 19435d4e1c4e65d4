"""``verify``: recompute everything the ledger materializes, and the hash chain, from
the journal alone, and name every discrepancy.

One pass over the journal in chain order checks, per transaction: the id follows the
previous one, ``prev_hash`` is the previous hash, the hash matches the content (with the
memo and evidence URL as the chain covers them, and each kept text still hashing to its
salted digest: ``ledger.journal.personal``), there
are at least two postings and they sum to zero, and each posting's ``balance_after``
is the running balance of its account. Then every account's materialized balances
(available, lifetime earned, earned per period) are compared with the sums, and the
chain head with the last transaction. The points shop's books are checked against the
accounts: each member's lots hold exactly the member's available points, each held
account exactly the member's open holds (and the member's ``held`` mirrors it), and
each reward's reserved and sold counts match its redemptions. Memory grows with the number of
accounts, not of transactions: the journal is streamed.

Last, every checkpoint is checked against the journal (``ledger.journal.checkpoints``): its
MAC is valid under the key, and the transaction it names holds exactly the hash it sealed.
The walk has already shown each stored hash to follow from the content and the one before,
so an equal hash at the checkpoint means nothing at or before it was rewritten. Without a
key the checkpoints cannot be checked, and verify says so as a problem rather than pass.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, bindparam, cast, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.journal import chain, checkpoints, counters, personal
from ledger.shop.redemptions import FULFILLED, HELD
from ledger.storage.tables import (
    Account,
    ChainHead,
    Checkpoint,
    JournalTxn,
    Lot,
    Member,
    PostingRow,
    Redemption,
    Reward,
    table_of,
)
from ledger.values import AccountKind

VERIFY_FETCH_ROWS = 5_000
"""Transactions fetched per round trip while walking the journal: large enough to
amortize latency, small enough that memory stays flat at millions of transactions."""

_NO_END = 2**63 - 1  # the last chunk also collects postings past the last transaction

_txns = table_of(JournalTxn)
_postings = table_of(PostingRow)
_members = table_of(Member)
_head = table_of(ChainHead)


@dataclass(slots=True)
class Report:
    transactions: int = 0
    postings: int = 0
    accounts: int = 0
    last_hash: str = chain.GENESIS_HASH
    checkpoints: int = 0  # checked against the key and the journal
    # Transactions from before digests whose text was erased: linked, not recomputed (journal.personal).
    erased_verbatim: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, name: str, /, **where: Any) -> None:
        self.problems.append({"problem": name, **where})


@dataclass(slots=True)
class _Totals:
    balance: defaultdict[int, int] = field(default_factory=lambda: defaultdict(int))
    earned: defaultdict[int, int] = field(default_factory=lambda: defaultdict(int))
    counters: counters.Tallies = field(default_factory=lambda: counters.tally(()))


async def verify(conn: AsyncConnection, checkpoint_key: bytes | None) -> Report:
    report, totals = Report(), _Totals()
    await _walk_journal(conn, report, totals)
    await _compare_accounts(conn, report, totals)
    await _compare_shop(conn, report)
    for mismatch in await counters.mismatches(conn, totals.counters):
        report.problem("counter_mismatch", **mismatch)
    head = (await conn.execute(select(_head.c.last_txn_id, _head.c.last_hash))).one()
    if (head.last_txn_id, head.last_hash) != (report.transactions, report.last_hash):
        report.problem("chain_head_mismatch", chain_head_id=head.last_txn_id, journal_last_id=report.transactions)
    await _check_checkpoints(conn, report, checkpoint_key)
    return report


_checkpoints = table_of(Checkpoint)
_CHECKPOINTS_WITH_FOUND_HASH = (
    select(_checkpoints, _txns.c.hash.label("found_hash"))
    .outerjoin(_txns, _txns.c.id == _checkpoints.c.transaction_id)
    .order_by(_checkpoints.c.id)
    .execution_options(yield_per=VERIFY_FETCH_ROWS)
)


async def _check_checkpoints(conn: AsyncConnection, report: Report, key: bytes | None) -> None:
    if key is None:
        sealed = (await conn.execute(select(func.count()).select_from(_checkpoints))).scalar_one()
        if sealed:
            reason = "no checkpoint key is configured (LEDGER_CHECKPOINT_KEY)"
            report.problem("checkpoints_unchecked", checkpoints=sealed, reason=reason)
        return
    async for row in await conn.stream(_CHECKPOINTS_WITH_FOUND_HASH):
        report.checkpoints += 1
        checkpoint = checkpoints.from_row(row)
        where = {"checkpoint_id": checkpoint.id, "transaction_id": checkpoint.transaction_id}
        # The empty journal's head is transaction 0, which has the genesis hash and no row.
        found = chain.GENESIS_HASH if checkpoint.transaction_id == 0 else row.found_hash
        if not checkpoints.authentic(key, checkpoint):
            report.problem("checkpoint_forged", **where)
        elif found is None:
            report.problem("checkpoint_transaction_missing", **where, sealed_hash=checkpoint.hash)
        elif found != checkpoint.hash:
            report.problem("checkpoint_mismatch", **where, sealed_hash=checkpoint.hash, found_hash=found)


def _check_txn(
    report: Report,
    totals: _Totals,
    txn: Any,
    postings: list[tuple[int, int, int]],
    expected_id: int,
    values: dict[str, personal.Stored],
) -> None:
    """Check one transaction; ``postings`` are its (account, amount, balance after), by
    account; ``values`` the personal values of its chunk, by digest."""
    if txn.id != expected_id:
        report.problem("chain_gap", transaction_id=txn.id, expected_id=expected_id)
    if txn.prev_hash != report.last_hash:
        report.problem("prev_hash_mismatch", transaction_id=txn.id)
    checked = personal.check(txn._mapping, values)
    for name, field_name in checked.problems:
        report.problem(name, transaction_id=txn.id, field=field_name)
    if checked.hashed is None:
        report.erased_verbatim += 1
    else:
        computed = chain.link(
            txn.prev_hash, checked.hashed, [(account_id, amount) for account_id, amount, _ in postings]
        )
        if computed != txn.hash:
            report.problem("hash_mismatch", transaction_id=txn.id, stored=txn.hash, computed=computed)
    if len(postings) < 2:
        report.problem("too_few_postings", transaction_id=txn.id, postings=len(postings))
    total = sum(amount for _, amount, _ in postings)
    if total != 0:
        report.problem("unbalanced", transaction_id=txn.id, sum=total)
    balance = totals.balance
    for account_id, amount, stored in postings:
        running = balance[account_id] = balance[account_id] + amount
        if running != stored:
            report.problem(
                "balance_after_mismatch",
                transaction_id=txn.id,
                account_id=account_id,
                stored=stored,
                computed=running,
            )
    report.last_hash = txn.hash


_TXN_CHUNK = select(_txns).where(_txns.c.id > bindparam("after")).order_by(_txns.c.id).limit(bindparam("limit"))
_POSTING_CHUNK = (
    select(_postings.c.txn_id, _postings.c.account_id, _postings.c.amount, _postings.c.balance_after)
    .where(_postings.c.txn_id > bindparam("after"), _postings.c.txn_id <= bindparam("last"))
    .order_by(_postings.c.txn_id, _postings.c.account_id)
)


async def _walk_journal(conn: AsyncConnection, report: Report, totals: _Totals) -> None:
    """Walk the journal in chunks of ``VERIFY_FETCH_ROWS`` transactions (keyset pages in
    one snapshot), each with its postings: two statements per chunk, not a round trip
    per row."""
    member_accounts: dict[str, int] = {
        row.id: row.account_id for row in await conn.execute(select(_members.c.id, _members.c.account_id))
    }
    after = 0
    while True:
        txns = (await conn.execute(_TXN_CHUNK, {"after": after, "limit": VERIFY_FETCH_ROWS})).all()
        last = txns[-1].id if txns else _NO_END
        by_txn: defaultdict[int, list[tuple[int, int, int]]] = defaultdict(list)
        for txn_id, account_id, amount, balance_after in await conn.execute(
            _POSTING_CHUNK, {"after": after, "last": last}
        ):
            by_txn[txn_id].append((account_id, amount, balance_after))
        values = await personal.stored(
            conn, (t._mapping[k] for t in txns for k in personal.KINDS if t._mapping[k] is not None)
        )
        for txn in txns:
            postings = by_txn.pop(txn.id, [])
            report.transactions += 1
            report.postings += len(postings)
            _check_txn(report, totals, txn, postings, report.transactions, values)
            if txn.earned_points:
                account_id = member_accounts[txn.member_id]
                totals.earned[account_id] += txn.earned_points
                counters.tally(
                    counters.increments(
                        txn.kind, account_id, txn.earned_points, txn.period, txn.org_unit, txn.category, txn.extra
                    ),
                    into=totals.counters,
                )
        for txn_id, orphans in sorted(by_txn.items()):
            for account_id, _, _ in orphans:
                report.problem("orphan_posting", transaction_id=txn_id, account_id=account_id)
        if not txns:
            return
        after = last


async def _compare_accounts(conn: AsyncConnection, report: Report, totals: _Totals) -> None:
    accounts = await conn.stream(select(table_of(Account)).execution_options(yield_per=VERIFY_FETCH_ROWS))
    async for account in accounts:
        report.accounts += 1
        computed = totals.balance.get(account.id, 0)
        if account.available != computed:
            report.problem(
                "balance_mismatch",
                account_id=account.id,
                owner=account.owner,
                kind=account.kind,
                materialized=account.available,
                computed=computed,
            )
        if account.kind != "issuance" and account.available < 0:
            report.problem("negative_balance", account_id=account.id, owner=account.owner)
        if account.lifetime_earned != totals.earned.get(account.id, 0):
            report.problem(
                "earned_mismatch",
                account_id=account.id,
                owner=account.owner,
                materialized=account.lifetime_earned,
                computed=totals.earned.get(account.id, 0),
            )


_lots = table_of(Lot)
_accounts = table_of(Account)
_redemptions = table_of(Redemption)
_rewards = table_of(Reward)


def _points_sum(column: Any) -> Any:
    """SUM() over bigint is numeric on PostgreSQL, read back as Decimal; the cast keeps
    every figure verify reports an int, as JSON and the CLI need."""
    return cast(func.sum(column), BigInteger)


async def _grouped(conn: AsyncConnection, query: Any) -> dict[Any, Any]:
    return {row[0]: row[1] for row in await conn.execute(query)}


async def _compare_shop(conn: AsyncConnection, report: Report) -> None:
    available = await _grouped(
        conn, select(_accounts.c.id, _accounts.c.available).where(_accounts.c.kind == AccountKind.MEMBER.value)
    )
    in_lots = await _grouped(
        conn, select(_lots.c.account_id, _points_sum(_lots.c.remaining)).group_by(_lots.c.account_id)
    )
    for account_id in sorted(available.keys() | in_lots.keys()):
        if available.get(account_id, 0) != in_lots.get(account_id, 0):
            report.problem(
                "lots_mismatch",
                account_id=account_id,
                available=available.get(account_id, 0),
                in_lots=in_lots.get(account_id, 0),
            )
    held = await _grouped(
        conn, select(_accounts.c.owner, _accounts.c.available).where(_accounts.c.kind == AccountKind.HELD.value)
    )
    mirrored = await _grouped(
        conn, select(_accounts.c.owner, _accounts.c.held).where(_accounts.c.kind == AccountKind.MEMBER.value)
    )
    open_holds = await _grouped(
        conn,
        select(_redemptions.c.member_id, _points_sum(_redemptions.c.cost_points))
        .where(_redemptions.c.state == HELD)
        .group_by(_redemptions.c.member_id),
    )
    for member_id in sorted(held.keys() | mirrored.keys() | open_holds.keys()):
        expected = open_holds.get(member_id, 0)
        if held.get(member_id, 0) != expected or mirrored.get(member_id, 0) != expected:
            report.problem(
                "held_mismatch",
                member_id=member_id,
                held_account=held.get(member_id, 0),
                member_held=mirrored.get(member_id, 0),
                open_holds=expected,
            )
    counted = (
        await conn.execute(
            select(_redemptions.c.reward_code, _redemptions.c.state, func.count()).group_by(
                _redemptions.c.reward_code, _redemptions.c.state
            )
        )
    ).all()
    counts = {(code, state): n for code, state, n in counted}
    for reward in await conn.execute(select(_rewards.c.code, _rewards.c.reserved, _rewards.c.sold)):
        found = (counts.get((reward.code, HELD), 0), counts.get((reward.code, FULFILLED), 0))
        if (reward.reserved, reward.sold) != found:
            report.problem(
                "stock_mismatch", reward=reward.code, reserved=reward.reserved, sold=reward.sold, counted=list(found)
            )
