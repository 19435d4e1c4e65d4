"""Least exposure: each route that returns member data, for each role, shows party
membership, phone and member id exactly as the rule says: party membership to an admin,
an organizer in scope and the member itself; never to an auditor, another member, an
organizer out of scope (refused whole) or the public notice page; a phone to the same
readers, in a member's record only (never a nomination, a leaderboard or a public page);
no member id on the public page nor on a leaderboard. Reads of personal data in bulk
leave an audit row with who, which route, which filter and how many rows."""

from __future__ import annotations

import re

import pytest

from api import routes
from api.app import create_app
from ledger import Role
from tests.builders import ADMIN, COMMUNITY, FAR_MICRO, MICRO, award, member, other_community, tiers, token, tree
from tests.conftest import http_client, settings

SELF, OTHER = "m-党员甲", "m-邻居乙"
PHONE = "13800138000"
"""SELF's: a mobile number as the public page's check for one would find it."""
ROLES = ("admin", "organizer_in", "organizer_out", "self", "other_member", "auditor")

# route → role → (status, party_member shown?)  (None: the route answers no member object)
MEMBER = routes.api(routes.MEMBER, member_id=SELF)
MEMBERS = routes.api(routes.MEMBERS) + f"?org_unit={COMMUNITY}"
SEARCH = routes.api(routes.MEMBERS) + f"?org_unit={COMMUNITY}&q=m-党"
NOMINATIONS = routes.api(routes.NOMINATIONS) + f"?org_unit={COMMUNITY}"
SUMMARY = routes.api(routes.ORG_UNIT_SUMMARY, code=COMMUNITY)
UNIT_LIST = {
    "admin": (200, True),
    "organizer_in": (200, True),
    "organizer_out": (403, False),
    "self": (403, False),
    "other_member": (403, False),
    "auditor": (200, False),
}
"""A subtree's list: an overseer's, never a member's."""

TABLE = {
    MEMBER: {**UNIT_LIST, "self": (200, True)},
    MEMBERS: UNIT_LIST,
    SEARCH: UNIT_LIST,
    NOMINATIONS: UNIT_LIST,
    # A leaderboard is an overseer's too, and shows no one's party membership.
    SUMMARY: {role: (status, False) for role, (status, _) in UNIT_LIST.items()},
}
RECORDS = frozenset({MEMBER, MEMBERS, SEARCH})
"""The routes answering member records: where a phone is shown, to whom party membership is."""


async def _world(client, ledger) -> dict[str, dict[str, str]]:
    """A flagged party member, a neighbour, and a token of every role."""
    await tree(ledger)
    await other_community(ledger)
    await tiers(ledger)
    await ledger.register_member(ADMIN, SELF, "张三", MICRO, True, (Role.VOLUNTEER,), PHONE)
    await member(ledger, OTHER, MICRO)
    await award(client, SELF, 40)
    headers = {"admin": dict(client.headers)}
    headers["organizer_in"] = (await token(ledger, "organizer", COMMUNITY))[1]
    headers["organizer_out"] = (await token(ledger, "organizer", FAR_MICRO))[1]
    headers["self"] = (await token(ledger, "member", member_id=SELF))[1]
    headers["other_member"] = (await token(ledger, "member", member_id=OTHER))[1]
    headers["auditor"] = (await token(ledger, "auditor"))[1]
    return headers


def _objects(body) -> list[dict]:
    """The member objects of a reply: a list's items, a leaderboard's lines, or the reply."""
    if isinstance(body, list):
        return body
    return body.get("top_members", [body])


def _is_self(o: dict) -> bool:
    """A leaderboard line names no member id: SELF is its rank 1, the only one awarded."""
    return SELF in (o.get("id"), o.get("member_id")) or o.get("rank") == 1


@pytest.mark.parametrize("route", list(TABLE))
async def test_each_role_sees_party_membership_exactly_as_the_rule_says(client, ledger, route):
    headers = await _world(client, ledger)
    app = create_app(settings(ledger), ledger)
    seen = {}
    for role in ROLES:
        async with http_client(app, headers=headers[role]) as caller:
            response = await caller.get(route)
        objects = _objects(response.json()) if response.status_code == 200 else []
        if route == SUMMARY and response.status_code == 200:
            assert objects and all("member_id" not in o for o in objects), (role, response.text)
        own = [o for o in objects if _is_self(o)]
        if response.status_code == 200:
            assert own, (route, role, response.text)
            assert all(o["party_member"] is True for o in own if "party_member" in o)
        for o in objects:
            shown = route in RECORDS and "party_member" in o
            assert (shown, PHONE if shown and o in own else None) == ("phone" in o, o.get("phone")), (route, role)
        seen[role] = (response.status_code, any("party_member" in o for o in own))
    assert TABLE[route] == seen


async def test_the_public_notice_shows_no_party_membership_phone_or_member_id(client, ledger):
    """The public 公示 page: the name, the unit and the honour; no id, no 党员, no phone."""
    await _world(client, ledger)
    opened = (await client.post(routes.api(routes.NOTICES), json={"org_unit": COMMUNITY, "flag": "先进工作者"})).json()
    code = ledger.notice_public_code(opened["id"])
    async with http_client(create_app(settings(ledger), ledger), headers={}) as public:
        page = await public.get(routes.path(routes.PAGE_NOTICE_PUBLIC, notice_id=opened["id"], code=code))
    assert 200 == page.status_code
    assert "张三" in page.text
    for hidden in (SELF, "党员", "party_member"):
        assert hidden not in page.text, hidden
    assert not re.search(r"1[3-9][0-9]{9}", page.text), "no phone number"


async def test_the_members_own_page_shows_their_party_membership(client, ledger):
    headers = await _world(client, ledger)
    app = create_app(settings(ledger), ledger)
    async with http_client(app, headers={}) as browser:
        for mid, shown in ((SELF, True), (OTHER, False)):
            principal, _ = await token(ledger, "member", member_id=mid)
            signin = await client.post(
                routes.api(routes.TOKENS), json={"role": "member", "label": "x", "member_id": mid}
            )
            await browser.get(routes.PAGE_ME_SIGNIN, params={"token": signin.json()["token"]})
            page = await browser.get(routes.PAGE_ME)
            assert 200 == page.status_code
            assert shown == ('data-testid="party-member"' in page.text)
    assert headers


async def test_reads_in_bulk_leave_an_audit_row_with_who_what_filter_and_rows(client, ledger):
    headers = await _world(client, ledger)
    app = create_app(settings(ledger), ledger)
    async with http_client(app, headers=headers["organizer_in"]) as desk:
        assert 2 == len((await desk.get(MEMBERS)).json())
        assert 1 == len((await desk.get(SEARCH)).json())
        assert 200 == (await desk.get(routes.api(routes.MEMBER_EVIDENCE, member_id=SELF))).status_code
        assert 200 == (await desk.get(NOMINATIONS)).status_code
        exported = await desk.get(routes.api(routes.EXPORT_NOMINATIONS), params={"org_unit": COMMUNITY})
        assert 200 == exported.status_code
    period = ledger.current_period()
    reads = [
        (e.path, e.detail, e.rows, e.subject, e.role)
        for e in await ledger.audit(ADMIN, None, None, 100, None)
        if e.kind == "read"
    ]
    assert [
        (routes.api(routes.MEMBERS), f"limit=20 org_unit={COMMUNITY}", 2, None, "organizer"),
        (routes.api(routes.MEMBERS), f"limit=20 org_unit={COMMUNITY} q=(3 characters)", 1, None, "organizer"),
        (routes.api(routes.MEMBER_EVIDENCE, member_id=SELF), None, 1, SELF, "organizer"),
        # Two flags: 先进工作者, and 优秀共产党员 for a party member.
        (routes.api(routes.NOMINATIONS), f"org_unit={COMMUNITY}", 2, None, "organizer"),
        (
            routes.api(routes.EXPORT_NOMINATIONS),
            f"format=csv org_unit={COMMUNITY} period={period}",
            2,
            None,
            "organizer",
        ),
    ] == reads
    async with http_client(app, headers=headers["organizer_in"]) as desk:
        assert 200 == (await desk.get(MEMBER)).status_code  # one member's own record: not a bulk read
    assert 5 == len([e for e in await ledger.audit(ADMIN, None, None, 100, None) if e.kind == "read"])
