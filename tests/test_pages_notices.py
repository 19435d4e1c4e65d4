"""The notice pages and the landing page without a browser: the desk's notice pages stay
inside the organizer's subtree, the public page answers only its own code and names no
member, and ``/`` needs no sign-in.

On SQLite only, like the other page tests: the reads behind these pages are tested on both
databases (``test_notices.py``)."""

from __future__ import annotations

import re

import httpx
import pytest

from api import routes
from api.app import create_app
from tests.builders import COMMUNITY, FAR_MICRO, MICRO, OTHER_COMMUNITY, award, member, other_community, tiers, tree
from tests.conftest import http_client, settings

pytestmark = pytest.mark.sqlite_only


@pytest.fixture
async def web(ledger) -> httpx.AsyncClient:
    """A browser's view of the service: no Authorization header, cookies kept."""
    async with http_client(create_app(settings(ledger), ledger), headers={}) as client:
        yield client


async def _notices(client, ledger) -> dict[str, int]:
    """A flagged member of each community, each on their community's notice."""
    await tree(ledger)
    await other_community(ledger)
    await tiers(ledger)
    await award(client, await member(ledger, "m-甲", MICRO), 40)
    await award(client, await member(ledger, "m-乙", FAR_MICRO), 40)
    units = (COMMUNITY, OTHER_COMMUNITY)
    return {
        unit: (await client.post(routes.api(routes.NOTICES), json={"org_unit": unit})).json()["id"] for unit in units
    }


async def _sign_in_desk(client, web) -> None:
    response = await client.post(
        routes.api(routes.TOKENS), json={"label": "测试", "role": "organizer", "org_unit": COMMUNITY}
    )
    await web.post(routes.PAGE_DESK_SIGNIN, data={"token": response.json()["token"]})


async def test_the_desk_shows_its_own_notice_and_refuses_another_in_chinese(client, ledger, web):
    """The organizer's notice page names the member and links the public page; another
    community's notice is a Chinese error page, and the list holds only the own notice."""
    opened = await _notices(client, ledger)
    await _sign_in_desk(client, web)
    own = await web.get(routes.path(routes.PAGE_DESK_NOTICE, notice_id=opened[COMMUNITY]))
    assert 200 == own.status_code
    assert "m-甲" in own.text and "东关南里1-1微网格" in own.text
    [link] = re.findall(r'data-testid="public-link">([^<]+)<', own.text)
    assert link.startswith(f"http://ledger.test/notices/{opened[COMMUNITY]}/")
    other = await web.get(routes.path(routes.PAGE_DESK_NOTICE, notice_id=opened[OTHER_COMMUNITY]))
    assert (403, True) == (other.status_code, "该公示不在您的管辖范围内" in other.text)
    listing = await web.get(routes.PAGE_DESK_NOTICES)
    assert [str(opened[COMMUNITY])] == re.findall(r'href="/desk/notices/(\d+)"', listing.text)


async def test_the_public_page_needs_its_code_and_shows_no_member_id(client, ledger, web):
    """Without signing in, the right code shows the name and unit and no member id; the
    code of one notice does not open another, nor does a code in Chinese characters."""
    opened = await _notices(client, ledger)
    code = ledger.notice_public_code(opened[COMMUNITY])
    public = await web.get(routes.path(routes.PAGE_NOTICE_PUBLIC, notice_id=opened[COMMUNITY], code=code))
    assert 200 == public.status_code
    assert "张三" in public.text and "东关南里1-1微网格" in public.text
    assert "m-甲" not in public.text
    for wrong_path in (
        routes.path(routes.PAGE_NOTICE_PUBLIC, notice_id=opened[OTHER_COMMUNITY], code=code),
        routes.path(routes.PAGE_NOTICE_PUBLIC, notice_id=opened[COMMUNITY], code="公示"),
    ):
        wrong = await web.get(wrong_path)
        assert (404, True) == (wrong.status_code, "找不到该公示" in wrong.text)


async def test_the_landing_page_needs_no_sign_in(web):
    """``/`` answers anyone with the Chinese description and the two ways in."""
    response = await web.get("/")
    assert 200 == response.status_code
    assert 'href="/me"' in response.text and 'href="/desk"' in response.text and "积分超市" in response.text
