"""A synthetic community for benchmarks: org tree, members and a journal of awards.

The org tree and members are bulk-inserted (they are not journal entries). The journal
is written through ``ledger.journal.post`` in large batches, so every counter, balance
and hash the service keeps is exactly what the service itself would have written, and
``verify`` holds on the result.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select

from ledger import Database, Ledger
from ledger.earning.awards import AwardCommand, award_draft
from ledger.journal.periods import zone
from ledger.journal.posting import post
from ledger.org.members import Member
from ledger.storage.tables import Account, OrgUnit
from ledger.storage.tables import Member as MemberRow
from ledger.values import AccountKind, Category, Level, Role

LOAD_BATCH_TRANSACTIONS = 5_000
"""Drafts per ``post`` call while loading: big enough to amortize round trips, small
enough that one batch's locks and parameters stay a few MB."""

INSERT_CHUNK_ROWS = 10_000
"""Rows per bulk insert of members and accounts."""


@dataclass(frozen=True)
class Shape:
    streets: int = 5
    communities: int = 10  # per street
    grids: int = 10  # per community
    micro_grids: int = 10  # per grid
    members: int = 100_000
    transactions: int = 1_000_000

    @property
    def micro_grid_count(self) -> int:
        return self.streets * self.communities * self.grids * self.micro_grids


@dataclass
class Community:
    member_ids: list[str]
    micro_grids: list[str]
    member_accounts: dict[str, int]
    issuance_accounts: dict[str, int]
    load_seconds: float


async def _insert_accounts(conn, kind: AccountKind, owners: list[str]) -> list[int]:
    """Insert the accounts of ``owners``; their ids, in the same order. The ids are read
    back by owner afterwards: an INSERT … RETURNING that keeps the rows' order runs row by
    row on SQLite, which made loading 200,000 accounts take most of a minute."""
    table = Account.__table__
    for start in range(0, len(owners), INSERT_CHUNK_ROWS):
        chunk = owners[start : start + INSERT_CHUNK_ROWS]
        await conn.execute(insert(table), [{"kind": kind.value, "owner": owner} for owner in chunk])
    ids = dict((await conn.execute(select(table.c.owner, table.c.id).where(table.c.kind == kind.value))).all())
    return [ids[owner] for owner in owners]


def _tree(shape: Shape) -> list[tuple[str, str, Level, str | None, str]]:
    units = []
    for s in range(shape.streets):
        street = f"s{s}"
        units.append((street, f"第{s}街道", Level.STREET, None, f"/{street}/"))
        for c in range(shape.communities):
            community = f"{street}c{c}"
            units.append((community, f"第{c}社区", Level.COMMUNITY, street, f"/{street}/{community}/"))
            for g in range(shape.grids):
                grid = f"{community}g{g}"
                units.append((grid, f"第{g}大网格", Level.GRID, community, f"/{street}/{community}/{grid}/"))
                for m in range(shape.micro_grids):
                    micro = f"{grid}m{m}"
                    path = f"/{street}/{community}/{grid}/{micro}/"
                    units.append((micro, f"第{m}微网格", Level.MICRO_GRID, grid, path))
    return units


async def _load_tree_and_members(db: Database, shape: Shape, now: datetime) -> tuple[list[str], list[str], dict]:
    units = _tree(shape)
    codes = [u[0] for u in units]
    member_ids = [f"p{i:07d}" for i in range(shape.members)]
    micro_grids = [u[0] for u in units if u[2] is Level.MICRO_GRID]
    async with db.write() as conn:
        issuance = await _insert_accounts(conn, AccountKind.ISSUANCE, codes)
        redemption = await _insert_accounts(conn, AccountKind.REDEMPTION, codes)
        await conn.execute(
            insert(OrgUnit.__table__),
            [
                {
                    "code": code,
                    "name": name,
                    "level": level.value,
                    "parent_code": parent,
                    "path": path,
                    "issuance_account_id": i,
                    "redemption_account_id": r,
                    "created_at": now,
                }
                for (code, name, level, parent, path), i, r in zip(units, issuance, redemption, strict=True)
            ],
        )
        accounts = await _insert_accounts(conn, AccountKind.MEMBER, member_ids)
        await _insert_accounts(conn, AccountKind.HELD, member_ids)  # where a member's redemption holds sit
        rows = [
            {
                "id": mid,
                "name": f"成员{mid}",
                "org_unit": micro_grids[i % len(micro_grids)],
                "party_member": i % 3 == 0,
                "roles": [Role.VOLUNTEER.value],
                "active": True,
                "account_id": accounts[i],
                "created_at": now,
            }
            for i, mid in enumerate(member_ids)
        ]
        for start in range(0, len(rows), INSERT_CHUNK_ROWS):
            await conn.execute(insert(MemberRow.__table__), rows[start : start + INSERT_CHUNK_ROWS])
    issuance_by_unit = dict(zip(codes, issuance, strict=True))
    return (
        member_ids,
        micro_grids,
        {"accounts": dict(zip(member_ids, accounts, strict=True)), "issuance": issuance_by_unit},
    )


async def load(ledger: Ledger, shape: Shape) -> Community:
    """Fill an empty, migrated database with the org tree and members of ``shape``."""
    started = time.perf_counter()
    member_ids, micro_grids, ids = await _load_tree_and_members(ledger.db, shape, ledger.clock())
    return Community(member_ids, micro_grids, ids["accounts"], ids["issuance"], time.perf_counter() - started)


async def load_transactions(ledger: Ledger, community: Community, count: int, seed: int = 7) -> None:
    """Append ``count`` awards to random members, dated earlier this year."""
    rng = random.Random(seed)
    tz = zone("Asia/Shanghai")
    now = ledger.clock()
    year_start = datetime(now.astimezone(tz).year, 1, 1, tzinfo=tz)
    span_seconds = max(1, int((now - year_start).total_seconds()) - 3600)
    categories = list(Category)
    done = 0
    while done < count:
        drafts = []
        for _ in range(min(LOAD_BATCH_TRANSACTIONS, count - done)):
            i = rng.randrange(len(community.member_ids))
            member_id = community.member_ids[i]
            home = community.micro_grids[i % len(community.micro_grids)]
            member = Member(member_id, "", home, False, (), True, community.member_accounts[member_id], now)
            when = year_start + timedelta(seconds=rng.randrange(span_seconds))
            command = AwardCommand(member_id, rng.randint(1, 20), rng.choice(categories), when, "bench")
            drafts.append(award_draft(member, community.issuance_accounts[home], home, command, "bench", tz))
        async with ledger.db.write() as conn:
            await post(conn, drafts, ledger.clock(), ledger.journal)
        done += len(drafts)
