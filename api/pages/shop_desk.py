"""The shop on the organizer's desk: the counter (核销台, ``/desk/counter``) where a member's
pickup code is typed or scanned and the hold fulfilled or cancelled, with the unit's open
holds soonest to expire first; and the shelves (``/desk/shop``) where rewards are listed,
edited, restocked and taken down, each with its held and handed-over counts.

Reads take the same scope as the API (the unit is authorized, and the counter looks only
inside its subtree, so a code held in another community is not found here); the buttons
call the JSON API from ``static/pages.js``.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from litestar import Controller, get
from litestar.di import Provide
from litestar.params import QueryParameter
from litestar.response import Template

from api import routes
from api.dependencies import LedgerDep
from api.pages import zh
from api.pages.desk import UnitParam, choose_unit, unit_of
from api.pages.forms import form_time
from api.pages.session import Me, organizer
from ledger import (
    LIMIT_PERIODS,
    PICKUP_CODE_TYPED_LENGTH_MAX,
    REWARD_PAGE_SIZE_MAX,
    Ledger,
    Unit,
    normal_pickup_code,
    tiers,
)

COUNTER_HOLDS_SHOWN = 50
"""Open holds the counter lists: a busy shop's day of pickups; the rest are found by code."""

REWARD_CODE_SUFFIX_BYTES = 3
"""Random bytes in a new reward's code (six hex digits): the desk names a reward in
Chinese and never asks the keeper to invent an identifier; a clash is refused as taken."""


async def _tier_names(ledger: Ledger, unit: Unit) -> list[str]:
    schemes = {scheme.org_unit: scheme for scheme in await ledger.tier_schemes()}
    scheme = tiers.scheme_for(unit.path, schemes)
    return [name for name, _ in scheme.tiers] if scheme else []


class ShopDeskController(Controller):
    include_in_schema = False
    dependencies = {"actor": Provide(organizer)}

    @get(routes.PAGE_DESK_COUNTER)
    async def counter(
        self,
        actor: Me,
        ledger: LedgerDep,
        unit: UnitParam = None,
        code: Annotated[str | None, QueryParameter(max_length=PICKUP_CODE_TYPED_LENGTH_MAX)] = None,
    ) -> Template:
        """The counter: the hold a typed or scanned code names, and the unit's open holds."""
        where = await unit_of(actor, ledger, unit)
        if where is None:
            return await choose_unit(actor, ledger)
        typed = normal_pickup_code(code or "")
        found = await ledger.held_at_counter(actor, where.code, 1, None, typed) if typed else []
        context = {
            "me": actor,
            "unit": where,
            "code": typed,
            "found": found[0] if found else None,
            "held": await ledger.held_at_counter(actor, where.code, COUNTER_HOLDS_SHOWN),
        }
        return Template(template_name="desk_counter.html", context=context)

    @get(routes.PAGE_DESK_SHOP)
    async def shop(self, actor: Me, ledger: LedgerDep, unit: UnitParam = None) -> Template:
        """The unit's own rewards (a unit above keeps its own shelves) and the form for a new one."""
        where = await unit_of(actor, ledger, unit)
        if where is None:
            return await choose_unit(actor, ledger)
        offered = await ledger.rewards(where.code, REWARD_PAGE_SIZE_MAX, None)
        context = {
            "me": actor,
            "unit": where,
            "rewards": [r for r in offered if r.org_unit == where.code],
            "tier_names": await _tier_names(ledger, where),
            "limit_periods": LIMIT_PERIODS,
            "zh_kinds": zh.REWARD_KINDS,
            "zh_periods": zh.LIMIT_PERIODS,
            "new_code": f"{where.code}-{secrets.token_hex(REWARD_CODE_SUFFIX_BYTES)}",
            "now": form_time(ledger.clock(), ledger),
        }
        return Template(template_name="desk_shop.html", context=context)
