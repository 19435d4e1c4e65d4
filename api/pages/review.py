"""The desk's review queue (``/desk/claims``): the pending claims of the organizer's unit
with their evidence, a likely duplicate shown beside the claim it repeats, and approve
or decline, one claim at a time or the ticked ones at once.

The queue is read with the API's own scope (the ledger checks the unit against the
signed-in actor, then reads the unit's subtree only). Decisions are calls from ``static/pages.js`` to the JSON API: a
single claim's approve or decline route, or the bulk review, which answers per claim.
"""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import Provide
from litestar.response import Template

from api import routes
from api.dependencies import LedgerDep
from api.pages.desk import UnitParam, choose_unit, unit_of
from api.pages.session import Me, organizer
from ledger import CLAIM_REVIEW_BATCH_MAX, PENDING, Claim, Ledger

CLAIMS_SHOWN = CLAIM_REVIEW_BATCH_MAX
"""Pending claims the queue lists, oldest first: as many as one bulk review decides, so
"tick all" on the page is always one batch; the next ones appear once these are decided."""


async def _earlier(ledger: Ledger, actor: Me, pending: list[Claim]) -> dict[int, Claim]:
    """The claims that pending ones repeat, by id, whatever their state: the reviewer
    compares the two before deciding."""
    listed = {c.id: c for c in pending}
    wanted = {c.possible_duplicate_of for c in pending if c.possible_duplicate_of is not None}
    return {i: listed[i] if i in listed else await ledger.claim(actor, i) for i in sorted(wanted)}


class ReviewController(Controller):
    include_in_schema = False
    dependencies = {"actor": Provide(organizer)}

    @get(routes.PAGE_DESK_CLAIMS)
    async def queue(self, actor: Me, ledger: LedgerDep, unit: UnitParam = None) -> Template:
        where = await unit_of(actor, ledger, unit)
        if where is None:
            return await choose_unit(actor, ledger)
        code = where.code
        pending = await ledger.claims(actor, PENDING, code, CLAIMS_SHOWN, None)
        earlier = await _earlier(ledger, actor, pending)
        members = await ledger.find_members(sorted({c.member_id for c in [*pending, *earlier.values()]}))
        repeated_by: dict[int, list[int]] = {}
        for claim in pending:
            if claim.possible_duplicate_of is not None:
                repeated_by.setdefault(claim.possible_duplicate_of, []).append(claim.id)
        context = {
            "me": actor,
            "unit": where,
            "claims": pending,
            "earlier": earlier,
            "repeated_by": repeated_by,
            "names": {m.id: m.name for m in members.values()},
            "rules": {r.code: r for r in await ledger.rules()},
            "batch_max": CLAIM_REVIEW_BATCH_MAX,
        }
        return Template(template_name="desk_claims.html", context=context)
