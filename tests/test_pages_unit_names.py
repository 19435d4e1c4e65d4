"""The desk names units in Chinese, never by code: a member found, an activity listed, and
the admin's choice of unit. On SQLite only, like the other page tests."""

from __future__ import annotations

import httpx
import pytest

from api import routes
from api.app import create_app
from tests.builders import COMMUNITY, GRID, MICRO, member, recently, rules, tree
from tests.conftest import ADMIN_TOKEN, http_client, settings

pytestmark = pytest.mark.sqlite_only


@pytest.fixture
async def web(ledger) -> httpx.AsyncClient:
    async with http_client(create_app(settings(ledger), ledger), headers={}) as client:
        yield client


async def test_the_desk_shows_unit_names_not_codes(client, ledger, web):
    """A member found and an activity listed show 东关南里1-1微网格 and 东关南里第一大网格, and
    the admin picks a unit from named streets and communities; no code is shown as text."""
    await tree(ledger)
    await rules(ledger)
    await member(ledger, "m-张三", MICRO)
    activity = {"name": "爱心义剪", "org_unit": GRID, "rule": "hour", "starts_at": recently(120)}
    activity |= {"ends_at": recently(60), "organizer": "m-张三"}
    assert 201 == (await client.post(routes.api(routes.ACTIVITIES), json=activity)).status_code
    await web.post(routes.PAGE_DESK_SIGNIN, data={"token": ADMIN_TOKEN})
    for page in (
        routes.PAGE_DESK,
        routes.PAGE_DESK_CLAIMS,
        routes.PAGE_DESK_COUNTER,
        routes.PAGE_DESK_SHOP,
    ):  # every desk page asks alike
        chooser = (await web.get(page)).text
        assert '<option value="s-东大街">东大街街道</option>' in chooser, page
        assert f'<option value="{COMMUNITY}">　东关南里社区</option>' in chooser, page
    desk = (await web.get(routes.PAGE_DESK, params={"unit": COMMUNITY, "q": "张三"})).text
    assert "东关南里1-1微网格" in desk and "东关南里第一大网格" in desk
    assert MICRO not in desk and GRID not in desk
