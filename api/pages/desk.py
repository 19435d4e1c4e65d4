"""The organizer's desk (``/desk``): find a member of the unit, award by rule with the cap
room in view, print a member's sign-in link, record an activity and settle its roster,
reverse a wrong award, download the nomination list, and see the unit's months.

Every read here passes the signed-in actor to the ledger, which makes the same scope
check the API does: a member or an activity outside the organizer's subtree is an
error page, and a search only ever looks inside the subtree. Every write is a call from
``static/pages.js`` to the JSON API, signed in by the cookie.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import segno
from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, QueryParameter
from litestar.response import Template

from api import routes
from api.audit import record_read
from api.dependencies import LedgerDep
from api.pages import zh
from api.pages.chart import monthly_chart
from api.pages.forms import form_time
from api.pages.resident import MEMO_KINDS, line_titles
from api.pages.session import Me, organizer
from api.problems import from_ledger_error, problem_members
from ledger import (
    CODE_LENGTH_MAX,
    NAME_LENGTH_MAX,
    InvalidInput,
    Ledger,
    LedgerError,
    Settlement,
    SettlementLine,
    TxnKind,
    Unit,
)

SEARCH_RESULTS_MAX = 20
"""Members a desk search lists: a screenful; typing more of the name narrows it."""

RECENT_ACTIVITIES_SHOWN = 10
"""Activities the desk lists: the last weeks' events, to finish a roster or settle."""

STATEMENT_LINES_SHOWN = 20
"""A member's latest lines on the desk: enough to find the award to correct."""

MOVES_SHOWN = 20
"""A member's moves between micro-grids on the desk: a person moves a few times at most."""

PREVIEW_ROWS_SHOWN = 200
"""Roster lines the preview lists one by one; a street-wide roster shows its totals and
the first lines, and the skipped ones always."""

SIGNIN_LINK_LENGTH_MAX = 512
"""A sign-in link is this service's address plus a token of under 100 characters."""

ACTIVITY_HOURS_DEFAULT = 2
"""The new-activity form starts two hours ago and ends now: an organizer records an event
that has just finished, and a haircut morning or a tea-art event lasts about that."""

OFFICES_LISTED_MAX = 500
"""Street offices and communities an admin's unit chooser lists: a city district's worth."""

QR_SCALE = 4
"""Pixels per QR module: about 3 cm across on paper, which any phone camera reads."""

Req = Request[Any, Any, Any]
UnitParam = Annotated[str | None, QueryParameter(max_length=CODE_LENGTH_MAX)]


async def _names(ledger: Ledger, member_ids: list[str]) -> dict[str, str]:
    return {m.id: m.name for m in (await ledger.find_members(member_ids)).values()}


def _problem_message(error: LedgerError) -> str:
    return zh.message(problem_members(from_ledger_error(error)))


async def unit_of(actor: Me, ledger: Ledger, unit: str | None) -> Unit | None:
    """The unit a desk page acts on: ``?unit=`` or the organizer's own, inside the
    principal's scope; None for an admin who has named none yet."""
    code = unit or actor.org_unit
    if code is None:
        return None
    return await ledger.acting_unit(actor, code, field="unit")


async def choose_unit(actor: Me, ledger: Ledger) -> Template:
    """An admin's choice of the street or community to work on, for every desk page."""
    offices = await ledger.offices(OFFICES_LISTED_MAX)
    return Template(template_name="desk_unit.html", context={"me": actor, "offices": offices})


class DeskController(Controller):
    include_in_schema = False
    dependencies = {"actor": Provide(organizer)}

    @get(routes.PAGE_DESK)
    async def home(
        self,
        actor: Me,
        ledger: LedgerDep,
        request: Request[Any, Any, Any],
        unit: UnitParam = None,
        q: Annotated[str | None, QueryParameter(max_length=NAME_LENGTH_MAX)] = None,
    ) -> Template:
        """The unit's desk; an admin, who acts on the whole tree, names the unit (``?unit=``)."""
        where = await unit_of(actor, ledger, unit)
        if where is None:
            return await choose_unit(actor, ledger)
        code = where.code
        query = (q or "").strip()
        found = await ledger.search_members(actor, code, query, SEARCH_RESULTS_MAX) if query else None
        if found is not None:
            await record_read(request, ledger, len(found), actor=actor, org_unit=code, q=query)
        months = await ledger.unit_months(actor, code, None)
        activities = await ledger.activities(actor, code, RECENT_ACTIVITIES_SHOWN, None)
        shown_units = [m.org_unit for m in found or []] + [a.org_unit for a in activities]
        context = {
            "me": actor,
            "unit": where,
            "q": query,
            "found": found,
            "rules": await ledger.rules(),
            "activities": activities,
            "unit_names": await ledger.unit_names(shown_units),
            "chart": monthly_chart(months.months),
            "period": months.period,
            "now": form_time(ledger.clock(), ledger),
            "earlier": form_time(ledger.clock() - timedelta(hours=ACTIVITY_HOURS_DEFAULT), ledger),
        }
        return Template(template_name="desk.html", context=context)

    @get(routes.PAGE_DESK_MEMBER)
    async def member(self, actor: Me, ledger: LedgerDep, member_id: FromPath[str]) -> Template:
        """One member: balance and tier, each rule's cap room, the award form, the sign-in
        link, the latest lines with a reversal form for each award or deduction, and the
        member's moves between micro-grids."""
        seen = await ledger.member_overview(
            actor, member_id, lines=STATEMENT_LINES_SHOWN, with_rooms=True, moves_shown=MOVES_SHOWN
        )
        statement = seen.statement
        reversed_ids = {line.reverses_id for line in statement.lines if line.reverses_id is not None}
        reversible = {TxnKind.AWARD.value, TxnKind.DEDUCTION.value}
        context = {
            "me": actor,
            "member": seen.member,
            "unit": seen.unit,
            "balance": seen.balance,
            "tier": seen.tier,
            "rooms": seen.rooms,
            "lines": statement.lines,
            "titles": await line_titles(ledger, statement.lines),
            "memo_kinds": MEMO_KINDS,
            "can_reverse": {
                line.transaction_id
                for line in statement.lines
                if line.kind in reversible and line.reverses_id is None and line.transaction_id not in reversed_ids
            },
            "reversed": reversed_ids,
            "moves": seen.moves,
            "now": form_time(ledger.clock(), ledger),
        }
        return Template(template_name="desk_member.html", context=context)

    @get(routes.PAGE_DESK_ACTIVITY)
    async def activity(self, actor: Me, ledger: LedgerDep, activity_id: FromPath[int]) -> Template:
        """An activity: its roster to paste or upload, the preview of settling it, and the
        settle button; once settled, what the settlement awarded."""
        activity = await ledger.activity(actor, activity_id)
        preview, preview_error = None, None
        if activity.settled_at is None and activity.roster:
            try:
                preview = await ledger.preview_settlement(actor, activity_id)
            except LedgerError as error:
                preview_error = _problem_message(error)
        rule = next((r for r in await ledger.rules() if r.code == activity.rule_code), None)
        context = {
            "me": actor,
            "activity": activity,
            "rule_name": rule.definition["name_zh"] if rule else activity.rule_code,
            "unit": await ledger.unit(activity.org_unit),
            "roster_text": "\n".join(f"{p.member_id},{p.quantity}" for p in activity.roster),
            "names": await _names(ledger, [p.member_id for p in activity.roster]),
            "preview": preview,
            "preview_rows": _preview_rows(preview),
            "preview_error": preview_error,
            "ended": activity.ends_at <= ledger.clock(),
        }
        return Template(template_name="desk_activity.html", context=context)

    @post(routes.PAGE_DESK_QR, status_code=200)
    async def qr(
        self, actor: Me, data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
    ) -> Response[str]:
        """The QR code of a member's sign-in link, as SVG to print. The link travels in the
        body, never in a URL that a log would keep."""
        link = data.get("link", "")
        if len(link) > SIGNIN_LINK_LENGTH_MAX or f"{routes.PAGE_ME_SIGNIN}?token=" not in link:
            raise InvalidInput("link", "a member's sign-in link is expected")
        svg = segno.make(link, error="m").svg_inline(scale=QR_SCALE)
        return Response(svg, media_type="image/svg+xml")


def _preview_rows(preview: Settlement | None) -> list[SettlementLine]:
    if preview is None:
        return []
    lines = preview.lines
    shown = list(lines[:PREVIEW_ROWS_SHOWN])
    return shown + [line for line in lines[PREVIEW_ROWS_SHOWN:] if line.status != "awarded"]
