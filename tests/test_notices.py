"""Reading public notices (公示) back: the notices of a subtree, and one notice with its
names, units, points, flags, objections, last day and checkpoint, scoped like every read."""

from datetime import UTC, datetime, timedelta

import pytest

from api import routes
from api.app import create_app
from ledger import Ledger, Principal
from ledger.errors import NoticeNotFound
from ledger.honours.notice_board import PUBLIC_CODE_HEX_LENGTH
from tests.builders import (
    COMMUNITY,
    FAR_MICRO,
    MICRO,
    OTHER_COMMUNITY,
    STREET,
    assert_problem,
    award,
    member,
    other_community,
    tiers,
    token,
    tree,
)
from tests.conftest import http_client, settings

ADVANCED, PARTY = "先进工作者", "优秀共产党员"


async def _world(ledger: Ledger, admin, units=(COMMUNITY, OTHER_COMMUNITY, STREET)) -> dict[str, int]:
    """A flagged member in each of two communities, and a notice opened for each unit in
    turn (a name already on one notice is not put on a later one)."""
    await tree(ledger)
    await other_community(ledger)
    await tiers(ledger)
    await award(admin, await member(ledger, "m-甲", MICRO, party=True), 40)
    await award(admin, await member(ledger, "m-乙", FAR_MICRO), 35)
    opened = {}
    for unit in units:
        response = await admin.post(routes.api(routes.NOTICES), json={"org_unit": unit})
        assert 201 == response.status_code, response.text
        opened[unit] = response.json()["id"]
    return opened


async def test_a_notice_reads_back_with_its_names(client, ledger):
    """The street's notice lists both communities' names with unit names, points earned and
    flags, the street office, its last day and the checkpoint it opened at."""
    opened = await _world(ledger, client, units=(STREET,))
    body = (await client.get(routes.api(routes.NOTICE, notice_id=opened[STREET]))).json()
    names = [(n["member_id"], n["unit_name"], n["flag"], n["earned_points"], n["state"]) for n in body["names"]]
    assert [
        ("m-甲", "东关南里1-1微网格", PARTY, 40, "in_notice"),
        ("m-甲", "东关南里1-1微网格", ADVANCED, 40, "in_notice"),
        ("m-乙", "西关1-1微网格", ADVANCED, 35, "in_notice"),
    ] == names
    notice = body["notice"]
    assert ("东大街街道", "东大街街道", 3) == (body["office"], notice["unit_name"], notice["names"])
    assert body["ended"] is False
    [sealed, *_] = (await client.get(routes.api(routes.CHECKPOINTS))).json()["checkpoints"]
    assert sealed == notice["checkpoint"]
    assert notice["ends_on"] > notice["opened_on"] == datetime.now(UTC).astimezone(ledger.tz).date().isoformat()


async def test_objections_and_outcomes_show_per_name(client, ledger, db):
    """An objection shows with its reason; a name withdrawn and one confirmed after the
    notice ended read so on the notice, and the notice says it has ended."""
    opened = await _world(ledger, client)
    objection = {"member_id": "m-甲", "period": ledger.current_period(), "flag": PARTY, "reason": "记录存疑"}
    assert 201 == (await client.post(routes.api(routes.NOMINATION_OBJECTIONS), json=objection)).status_code
    withdraw = objection | {"decision": "withdraw", "reason": "核查属实"}
    assert 201 == (await client.post(routes.api(routes.NOMINATION_DECISIONS), json=withdraw)).status_code
    later = Ledger(db, clock=lambda: datetime.now(UTC) + timedelta(days=10), checkpoint_key=ledger.checkpoint_key)
    await later.decide(Principal.admin("street-office"), "m-甲", ledger.current_period(), ADVANCED, True, "公示无异议")
    async with http_client(create_app(settings(ledger), later)) as after:
        body = (await after.get(routes.api(routes.NOTICE, notice_id=opened[COMMUNITY]))).json()
    states = {n["flag"]: (n["state"], [o["reason"] for o in n["objections"]]) for n in body["names"]}
    assert {ADVANCED: ("confirmed", []), PARTY: ("withdrawn", ["记录存疑"])} == states
    assert body["ended"] is True


async def test_an_organizer_sees_only_its_subtree_notices(client, ledger):
    """An organizer of one community lists its own notice only (not the street's, not the
    other community's), and reading another's is refused naming notice_id."""
    opened = await _world(ledger, client)
    _, organizer_a = await token(ledger, "organizer", org_unit=COMMUNITY)
    async with http_client(create_app(settings(ledger), ledger), headers=organizer_a) as organizer:
        listed = (await organizer.get(routes.api(routes.NOTICES))).json()
        assert [(opened[COMMUNITY], "东关南里社区")] == [(n["id"], n["unit_name"]) for n in listed["notices"]]
        for unit in (OTHER_COMMUNITY, STREET):
            assert_problem(
                await organizer.get(routes.api(routes.NOTICE, notice_id=opened[unit])), 403, "forbidden", "notice_id"
            )
        assert_problem(
            await organizer.get(routes.api(routes.NOTICES), params={"org_unit": STREET}), 403, "forbidden", "org_unit"
        )
        own = (await organizer.get(routes.api(routes.NOTICE, notice_id=opened[COMMUNITY]))).json()
        assert ["m-甲", "m-甲"] == [n["member_id"] for n in own["names"]]


async def test_the_listing_pages_newest_first(client, ledger):
    """An admin lists every notice newest first; a page of one carries the cursor to the next."""
    opened = await _world(ledger, client)
    first = (await client.get(routes.api(routes.NOTICES), params={"limit": 2})).json()
    rest = (await client.get(routes.api(routes.NOTICES), params={"limit": 2, "cursor": first["next_cursor"]})).json()
    newest_first = [opened[STREET], opened[OTHER_COMMUNITY], opened[COMMUNITY]]
    assert newest_first == [n["id"] for n in first["notices"] + rest["notices"]]
    assert (str(opened[OTHER_COMMUNITY]), None) == (first["next_cursor"], rest["next_cursor"])


async def test_a_member_may_not_read_notices_and_a_missing_one_is_not_found(client, ledger):
    """A member token is refused the listing; an unknown notice is a 404 naming notice_id;
    a page size over the limit is refused."""
    await _world(ledger, client)
    _, member_a = await token(ledger, "member", member_id="m-甲")
    async with http_client(create_app(settings(ledger), ledger), headers=member_a) as me:
        assert_problem(await me.get(routes.api(routes.NOTICES)), 403, "forbidden")
    assert_problem(await client.get(routes.api(routes.NOTICE, notice_id=999)), 404, "notice_not_found", "notice_id")
    assert_problem(await client.get(routes.api(routes.NOTICES), params={"limit": 201}), 422, "invalid_input", "limit")


async def test_a_public_code_opens_only_its_own_notice(client, ledger):
    """The public code of one notice opens it; the same code for another notice, or a
    changed digit, is "not found", as for a notice that does not exist."""
    opened = await _world(ledger, client)
    code = ledger.notice_public_code(opened[COMMUNITY])
    assert PUBLIC_CODE_HEX_LENGTH == len(code)
    assert opened[COMMUNITY] == (await ledger.public_notice(opened[COMMUNITY], code)).notice.id
    forged = code[:-1] + ("0" if code[-1] != "0" else "1")
    for notice_id, attempt in ((opened[STREET], code), (opened[COMMUNITY], forged), (999, code)):
        with pytest.raises(NoticeNotFound):
            await ledger.public_notice(notice_id, attempt)
