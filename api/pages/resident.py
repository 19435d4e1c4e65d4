"""The resident's points page (``/me``): balance, tier, statement, the shop and open
redemptions, the reports of their own work (a patrol, a diary, an event) and each one's
state, read from the ledger for the signed-in member only.

Reads are rendered here; the page's buttons (redeem, cancel, report) call the JSON API from
``static/pages.js`` with the sign-in cookie, so every write takes the API's one path
(roles, scope, idempotency, audit) and its problem+json errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

import segno
from litestar import Controller, get
from litestar.di import Provide
from litestar.params import QueryParameter
from litestar.response import Template

from api import routes
from api.dependencies import LedgerDep
from api.pages import zh
from api.pages.forms import form_time
from api.pages.session import Me, resident
from ledger import (
    HELD,
    Ledger,
    Member,
    MemberTier,
    RewardView,
    Rule,
    StatementLine,
    StatementPage,
    TxnKind,
    active_on,
    rewards_roles,
)

STATEMENT_PAGE_SIZE = 20
"""Statement lines per page: a phone screen and a half; scrolling loads the next page."""

REWARDS_SHOWN_MAX = 100
"""Rewards listed: a community shop holds a few dozen goods and services."""

OPEN_REDEMPTIONS_MAX = 50
"""Redemptions read to find the open ones: a resident holds a handful at a time, and a
hold lapses after its time anyway."""

CLAIMS_SHOWN = 20
"""The resident's own reports listed with their states: a few weeks of patrols and diaries."""

PICKUP_QR_SCALE = 4
"""Pixels per QR module of a pickup code: 25 modules make 100 px, which a counter's camera
reads off a phone screen at arm's length."""

Cursor = Annotated[str | None, QueryParameter(pattern=r"^[0-9]{1,19}$")]


def progress(tier: MemberTier) -> dict[str, Any]:
    """The tier bar: how far the points earned are from the last threshold to the next."""
    thresholds = [t.points for t in tier.tiers]
    earned = tier.earned_points
    if tier.next_threshold is None:
        return {"percent": 100 if thresholds else 0, "to_next": 0, "next": None}
    floor = max((p for p in thresholds if p <= earned), default=0)
    span = tier.next_threshold - floor
    return {
        "percent": int(100 * (earned - floor) / span),
        "to_next": tier.points_to_next,
        "next": tier.next_tier,
    }


def report_rules(rules: list[Rule], member: Member, today: date) -> dict[str, Rule]:
    """The rule a resident reports each kind of work by (``zh.CLAIM_KINDS``): the first, by
    code, that is active today and pays one of the member's roles. A kind no rule pays
    here is not offered, so the page never takes a report that could not be approved."""
    roles = [r.value for r in member.roles]
    chosen: dict[str, Rule] = {}
    for rule in rules:
        kind = rule.category.value
        if kind in zh.CLAIM_KINDS and kind not in chosen and active_on(rule, today) and rewards_roles(rule, roles):
            chosen[kind] = rule
    return {kind: chosen[kind] for kind in zh.CLAIM_KINDS if kind in chosen}


MEMO_KINDS = frozenset({TxnKind.AWARD, TxnKind.DEDUCTION, TxnKind.REVERSAL})
"""Lines whose memo a person wrote (why the points moved); the shop's and expiry's memos
are the ledger's own words, which the line's title already says in Chinese."""


async def line_titles(ledger: Ledger, lines: Sequence[StatementLine]) -> dict[int, str]:
    """What each statement line is, in Chinese: the rule's name for a rule award, the
    reward's for a redemption, else the category."""
    rules = {r.code: r.definition["name_zh"] for r in await ledger.rules()}
    rewards = await ledger.reward_names([line.reward for line in lines if line.reward])
    titles = {}
    for line in lines:
        if line.reward:
            title = f"{zh.SHOP} · {rewards.get(line.reward, line.reward)}"
        elif line.rule in rules:
            title = rules[line.rule]
        else:
            title = zh.CATEGORIES.get(line.category, line.category)
        titles[line.transaction_id] = title
    return titles


@dataclass(frozen=True, slots=True)
class Shelf:
    """The shop as one resident sees it: what they can redeem now, what costs more than
    they have, and when nothing can be redeemed, the sentence that says why."""

    redeemable: list[RewardView]
    out_of_reach: list[RewardView]
    why_empty: str | None


def shelf(offered: list[RewardView], available_points: int) -> Shelf:
    on_offer = [r for r in offered if r.active]
    in_stock = [r for r in on_offer if r.available_stock is None or r.available_stock > 0]
    redeemable = [r for r in in_stock if r.cost_points <= available_points]
    out_of_reach = sorted((r for r in in_stock if r.cost_points > available_points), key=lambda r: r.cost_points)
    why = None
    if not on_offer:
        why = zh.SHOP_EMPTY["no_shop"]
    elif not in_stock:
        why = zh.SHOP_EMPTY["sold_out"]
    elif not redeemable:
        cheapest = out_of_reach[0]
        why = zh.SHOP_EMPTY["short"].format(
            name=cheapest.name_zh, cost=cheapest.cost_points, short=cheapest.cost_points - available_points
        )
    return Shelf(redeemable, out_of_reach, why)


def pickup_qr(code: str | None) -> str | None:
    """The QR code the counter scans: the pickup code alone, as inline SVG drawn here."""
    return None if code is None else segno.make(code, error="m", micro=False).svg_inline(scale=PICKUP_QR_SCALE)


async def statement_context(ledger: Ledger, page: StatementPage) -> dict[str, Any]:
    return {
        "lines": page.lines,
        "next_cursor": page.next_cursor,
        "titles": await line_titles(ledger, page.lines),
        "memo_kinds": MEMO_KINDS,
    }


class ResidentController(Controller):
    include_in_schema = False
    dependencies = {"actor": Provide(resident)}

    @get(routes.PAGE_ME)
    async def page(self, actor: Me, ledger: LedgerDep) -> Template:
        assert actor.member_id is not None
        seen = await ledger.member_overview(
            actor,
            actor.member_id,
            lines=STATEMENT_PAGE_SIZE,
            claims_shown=CLAIMS_SHOWN,
            redemptions_shown=OPEN_REDEMPTIONS_MAX,
        )
        member, balance, tier = seen.member, seen.balance, seen.tier
        offered = await ledger.rewards(member.org_unit, REWARDS_SHOWN_MAX, None)
        held = [r for r in seen.redemptions if r.state == HELD]
        rules = await ledger.rules()
        context = {
            "member": member,
            "unit": seen.unit,
            "balance": balance,
            "tier": tier,
            "progress": progress(tier),
            "shelf": shelf(offered, balance.available_points),
            "held": held,
            "qr": {r.id: pickup_qr(r.pickup_code) for r in held},
            "rewards_by_code": {r.code: r for r in offered},
            "deadline": ledger.clock() + ledger.hold_ttl,
            "statement": await statement_context(ledger, seen.statement),
            "statement_path": routes.PAGE_ME_STATEMENT,
            "report_rules": report_rules(rules, member, ledger.clock().astimezone(ledger.tz).date()),
            "claims": seen.claims,
            "rule_names": {r.code: r.definition["name_zh"] for r in rules},
            "zh_claim_kinds": zh.CLAIM_KINDS,
            "now": form_time(ledger.clock(), ledger),
        }
        return Template(template_name="me.html", context=context)

    @get(routes.PAGE_ME_STATEMENT)
    async def statement(self, actor: Me, ledger: LedgerDep, cursor: Cursor = None) -> Template:
        """The next page of statement lines, as rows the page appends as it scrolls."""
        assert actor.member_id is not None
        context = {
            "statement": await statement_context(
                ledger, await ledger.statement(actor, actor.member_id, STATEMENT_PAGE_SIZE, cursor)
            ),
            "statement_path": routes.PAGE_ME_STATEMENT,
        }
        return Template(template_name="_statement.html", context=context)
