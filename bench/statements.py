"""Statements per award batch: what a batch costs in round trips, whatever its size.

Measured in-process on the bench's ledger, through ``Ledger.award`` (group commit) with
each award serving a request of its own, so the audit rows are counted too: one award
alone, then a burst that fills a whole batch behind it.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from bench.community import Community
from bench.report import Table
from ledger import AwardCommand, Category, IdempotentRequest, Ledger, Principal
from ledger.access import audit
from ledger.earning.award_batch import AWARD_BATCH_MAX
from ledger.storage.statements import counting


async def measure(table: Table, backend: str, ledger: Ledger, community: Community) -> None:
    now = ledger.clock()

    async def award(i: int) -> None:
        command = AwardCommand(
            community.member_ids[i % len(community.member_ids)], 1, Category.PATROL, now - timedelta(hours=1), "bench"
        )
        with audit.serving(audit.Entry("bench", "admin", "POST", "/v1/awards", 201)):
            await ledger.award(Principal.admin("bench"), command, IdempotentRequest("bench", uuid.uuid4().hex, "bench"))

    with counting(ledger.db.engine) as count:
        await award(0)
        # The burst's first award starts a batch alone; the rest queue behind it and go together.
        await asyncio.gather(*(award(i) for i in range(AWARD_BATCH_MAX + 1)))
    alone, _, full = count.per_transaction
    table.add(backend, "statements per award batch, 1 award", alone, "statements")
    note = f"{full / AWARD_BATCH_MAX:.2f} per award"
    table.add(backend, f"statements per award batch, {AWARD_BATCH_MAX} awards", full, "statements", note)
