"""The web pages without a browser: signing in and out, the cookie's flags, refusals in
Chinese, the API's acceptance of the cookie, and the pieces the pages are drawn from.

On SQLite only: cookies, redirects and templates are the same whatever the database, and
the reads the pages show are tested on both databases (``test_pages_reads.py``)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from api import routes
from api.app import create_app
from api.auth import PAGE_HEADER, SESSION_COOKIE
from api.pages import STATIC, TEMPLATES, zh
from api.pages.chart import monthly_chart, nice_step
from api.pages.resident import STATEMENT_PAGE_SIZE
from api.pages.session import DESK_COOKIE_MAX_AGE_SECONDS, MEMBER_COOKIE_MAX_AGE_SECONDS
from ledger import Month
from tests.builders import COMMUNITY, GRID, MICRO, OTHER_MICRO, award, member, tree
from tests.conftest import AUTH, http_client, settings

pytestmark = pytest.mark.sqlite_only


@pytest.fixture
async def web(ledger) -> httpx.AsyncClient:
    """A browser's view of the service: no Authorization header, cookies kept."""
    async with http_client(create_app(settings(ledger), ledger), headers={}) as client:
        yield client


async def _token(client, **body) -> str:
    response = await client.post(routes.api(routes.TOKENS), json={"label": "测试", **body})
    assert 201 == response.status_code, response.text
    return response.json()["token"]


def _set_cookie(response: httpx.Response) -> str:
    return response.headers["set-cookie"]


def _moves_on_to(response: httpx.Response) -> str:
    """Where a signed-in page sends the browser next (its refresh target)."""
    assert 200 == response.status_code, response.text
    assert ("no-store", "no-referrer") == (response.headers["cache-control"], response.headers["referrer-policy"])
    [target] = re.findall(r'http-equiv="refresh" content="0; url=([^"]+)"', response.text)
    return target


async def test_the_printed_link_signs_in_and_moves_the_token_into_a_cookie(client, ledger, web):
    """On to /me with an HttpOnly, SameSite=Strict cookie for the whole site, kept half a
    year for a resident; not Secure over plain http, Secure over https. The answer is a page
    that moves on by itself, kept from caches and from Referer headers."""
    await tree(ledger)
    token = await _token(client, role="member", member_id=await member(ledger))
    response = await web.get(routes.PAGE_ME_SIGNIN, params={"token": token})
    assert routes.PAGE_ME == _moves_on_to(response)
    cookie = _set_cookie(response)
    assert f"{SESSION_COOKIE}={token}" in cookie
    for flag in ("HttpOnly", "SameSite=strict", "Path=/", f"Max-Age={MEMBER_COOKIE_MAX_AGE_SECONDS}"):
        assert flag in cookie
    assert "Secure" not in cookie
    page = await web.get(routes.PAGE_ME)
    assert 200 == page.status_code and "可用积分" in page.text
    web.cookies.clear()
    secure = await web.get("https://ledger.test/me/signin", params={"token": token})
    assert "Secure" in _set_cookie(secure)


async def test_an_organizer_signs_in_with_the_form_for_a_working_day(client, ledger, web):
    """The pasted token goes to the desk, and its cookie lasts twelve hours."""
    await tree(ledger)
    token = await _token(client, role="organizer", org_unit=COMMUNITY)
    response = await web.post(routes.PAGE_DESK_SIGNIN, data={"token": token})
    assert routes.PAGE_DESK == _moves_on_to(response)
    assert f"Max-Age={DESK_COOKIE_MAX_AGE_SECONDS}" in _set_cookie(response)
    desk = await web.get(routes.PAGE_DESK)
    assert 200 == desk.status_code and "东关南里社区" in desk.text


async def test_a_bad_or_revoked_token_gets_a_page_in_chinese(client, ledger, web):
    """No cookie is set; the form says what is wrong in Chinese."""
    await tree(ledger)
    bad = await web.get(routes.PAGE_ME_SIGNIN, params={"token": "glp_nope.nope"})
    assert 401 == bad.status_code and "set-cookie" not in bad.headers
    assert "登录链接无效" in bad.text and bad.headers["content-type"].startswith("text/html")
    assert "令牌" not in bad.text
    token = await _token(client, role="member", member_id=await member(ledger))
    principal_id = token.removeprefix("glp_").split(".")[0]
    await client.post(routes.api(routes.TOKEN_REVOKE, principal_id=principal_id))
    revoked = await web.post(routes.PAGE_ME_SIGNIN, data={"token": token})
    assert 401 == revoked.status_code and "已被收回" in revoked.text
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    expiring = await _token(client, role="member", member_id="m-张三", expires_at=soon)
    ledger.clock = lambda: datetime.now(UTC) + timedelta(minutes=1)
    expired = await web.get(routes.PAGE_ME_SIGNIN, params={"token": expiring})
    assert 401 == expired.status_code and "已过期" in expired.text


async def test_pages_send_whoever_is_not_signed_in_to_the_sign_in_form(client, ledger, web):
    """Without a cookie, with a token of the wrong role, or with one revoked since: a
    redirect to the right form, which says why (and the dead cookie is dropped). A link from
    another site, whose navigation a browser sends without the SameSite=Strict cookie, is
    first tried once more from this site."""
    await tree(ledger)
    assert routes.PAGE_ME_SIGNIN == (await web.get(routes.PAGE_ME)).headers["location"]
    assert routes.PAGE_DESK_SIGNIN == (await web.get(routes.PAGE_DESK)).headers["location"]
    assert routes.PAGE_ME_SIGNIN == (await web.get(routes.PAGE_ME_STATEMENT)).headers["location"]
    from_elsewhere = await web.get(routes.PAGE_ME_STATEMENT + "?cursor=9", headers={"Sec-Fetch-Site": "cross-site"})
    assert routes.PAGE_ME_STATEMENT + "?cursor=9" == _moves_on_to(from_elsewhere)
    assert (
        routes.PAGE_ME_SIGNIN
        == (await web.get(routes.PAGE_ME, headers={"Sec-Fetch-Site": "same-origin"})).headers["location"]
    )
    token = await _token(client, role="member", member_id=await member(ledger))
    await web.get(routes.PAGE_ME_SIGNIN, params={"token": token})
    wrong_role = await web.get(routes.PAGE_DESK)
    assert (303, routes.PAGE_DESK_SIGNIN + "?why=desk") == (wrong_role.status_code, wrong_role.headers["location"])
    assert "工作台需要组织者的登录令牌" in (await web.get(routes.PAGE_DESK_SIGNIN + "?why=desk")).text
    principal_id = token.removeprefix("glp_").split(".")[0]
    # Revoked through the same service, whose cache of the token then forgets it at once.
    await web.post(routes.api(routes.TOKEN_REVOKE, principal_id=principal_id), headers=AUTH)
    expired = await web.get(routes.PAGE_ME)
    assert routes.PAGE_ME_SIGNIN + "?why=expired" == expired.headers["location"]
    assert f'{SESSION_COOKIE}=""' in _set_cookie(expired)


async def test_the_statement_comes_a_page_at_a_time(client, ledger, web):
    """The resident's page shows the newest lines and a link to the next page, whose rows
    end without one."""
    await tree(ledger)
    volunteer = await member(ledger)
    for points in range(1, STATEMENT_PAGE_SIZE + 6):
        await award(client, volunteer, points)
    await web.get(routes.PAGE_ME_SIGNIN, params={"token": await _token(client, role="member", member_id=volunteer)})
    first = (await web.get(routes.PAGE_ME)).text
    assert STATEMENT_PAGE_SIZE == first.count('class="line"')
    [more] = re.findall(r'href="(/me/statement\?cursor=\d+)" data-more', first)
    rest = (await web.get(more)).text
    assert (5, False) == (rest.count('class="line"'), "data-more" in rest)
    points = re.findall(r'class="pts plus">\+(\d+)<', rest)
    assert ["5", "4", "3", "2", "1"] == points


async def test_signing_out_forgets_the_cookie(client, ledger, web):
    """The cookie is cleared and the form the page came from says so."""
    await tree(ledger)
    await web.post(routes.PAGE_DESK_SIGNIN, data={"token": await _token(client, role="organizer", org_unit=COMMUNITY)})
    response = await web.post(routes.PAGE_SIGNOUT, data={"to": routes.PAGE_DESK_SIGNIN})
    assert (303, routes.PAGE_DESK_SIGNIN + "?why=signed_out") == (response.status_code, response.headers["location"])
    assert f'{SESSION_COOKIE}=""' in _set_cookie(response)
    assert routes.PAGE_DESK_SIGNIN == (await web.get(routes.PAGE_DESK)).headers["location"]


async def test_the_api_takes_the_cookie_and_wants_the_page_header_on_writes(client, ledger, web):
    """A read with the cookie alone is answered; a write needs the pages' header, so a form
    forged on another site cannot move points; a bearer header still wins over the cookie."""
    await tree(ledger)
    volunteer = await member(ledger)
    await award(client, volunteer, 3)
    await web.get(routes.PAGE_ME_SIGNIN, params={"token": await _token(client, role="member", member_id=volunteer)})
    balance = await web.get(routes.api(routes.MEMBER_BALANCE, member_id=volunteer))
    assert (200, 3) == (balance.status_code, balance.json()["available_points"])
    hold = {"reward": "r-毛巾", "member_id": volunteer}
    forged = await web.post(routes.api(routes.REDEMPTIONS), json=hold, headers={"Idempotency-Key": "k1"})
    assert (403, "forbidden", PAGE_HEADER) == (forged.status_code, forged.json()["code"], forged.json()["field"])
    from_page = await web.post(
        routes.api(routes.REDEMPTIONS), json=hold, headers={"Idempotency-Key": "k1", PAGE_HEADER: "1"}
    )
    assert (404, "reward_not_found") == (from_page.status_code, from_page.json()["code"])
    bearer = await web.get(routes.api(routes.LEDGER_VERIFY), headers=AUTH)
    assert 200 == bearer.status_code


async def test_the_desk_refuses_members_outside_its_unit_in_chinese(client, ledger, web):
    """A member of another micro-grid is an error page, not their data."""
    await tree(ledger)
    await member(ledger, "inside", MICRO)
    await member(ledger, "outside", OTHER_MICRO)
    await web.post(routes.PAGE_DESK_SIGNIN, data={"token": await _token(client, role="organizer", org_unit=MICRO)})
    assert 200 == (await web.get(routes.path(routes.PAGE_DESK_MEMBER, member_id="inside"))).status_code
    refused = await web.get(routes.path(routes.PAGE_DESK_MEMBER, member_id="outside"))
    assert 403 == refused.status_code and "该成员不在您的管辖范围内" in refused.text
    found = await web.get(routes.PAGE_DESK, params={"q": "张三"})
    assert (
        routes.path(routes.PAGE_DESK_MEMBER, member_id="inside") in found.text
        and routes.path(routes.PAGE_DESK_MEMBER, member_id="outside") not in found.text
    )


async def test_the_desk_shows_a_members_moves(client, ledger, web):
    """A member's page lists each move between micro-grids, from where to where."""
    await tree(ledger)
    await member(ledger, "mover", MICRO)
    await web.post(routes.PAGE_DESK_SIGNIN, data={"token": await _token(client, role="organizer", org_unit=GRID)})
    assert "迁移记录" not in (await web.get(routes.path(routes.PAGE_DESK_MEMBER, member_id="mover"))).text
    assert (
        200
        == (
            await client.patch(routes.api(routes.MEMBER, member_id="mover"), json={"org_unit": OTHER_MICRO})
        ).status_code
    )
    page = (await web.get(routes.path(routes.PAGE_DESK_MEMBER, member_id="mover"))).text
    assert "迁移记录" in page and f"{MICRO} → {OTHER_MICRO}" in page


def test_messages_prefer_the_field_then_the_code_then_the_detail():
    """code:field beats code; placeholders are filled, with windows and categories in Chinese;
    an unknown code, or a message missing a value, falls back to the server's detail."""
    assert "请选择积分规则" == zh.message({"code": "invalid_input", "field": "rule", "detail": "x"})
    line = {"code": "invalid_input", "field": "participants[4].quantity"}
    assert "数量须为正整数，且不超过规则允许的上限" == zh.message(line)
    cap = {"code": "cap_exceeded", "cap": "day", "cap_points": 2, "used_points": 2, "room_points": 0}
    assert "已达上限：该规则每天最多 2 分，已得 2 分，还可得 0 分" == zh.message(cap)
    assert "something new" == zh.message({"code": "brand_new", "detail": "something new"})
    assert "no room" == zh.message({"code": "cap_exceeded", "detail": "no room"})


def test_the_chart_stacks_categories_on_a_readable_scale():
    """Bars stand on the axis in proportion; ticks step by 1, 2 or 5 × 10ⁿ; reversals that
    outweigh a month's awards draw nothing."""
    assert [1, 2, 5, 10, 20] == [nice_step(n) for n in (3, 10, 21, 50, 51)]
    shown = {3: {"activity": 24, "patrol": 6}, 4: {"patrol": -2}}
    chart = monthly_chart([Month(f"2026-{m:02d}", shown.get(m, {})) for m in range(1, 13)])
    assert ["0", "10", "20", "30"] == [t.label for t in chart.ticks]
    patrol, activity = chart.bars
    assert (pytest.approx(patrol.height * 4), chart.axis_y) == (activity.height, patrol.y + patrol.height)
    assert activity.y + activity.height == pytest.approx(patrol.y)
    assert (28, [c for _, c in chart.legend]) == (chart.total_points, ["网格巡查", "志愿活动"])


def test_every_asset_is_served_by_the_service():
    """No page names another host, nor runs script the policy would block: the pages work
    on a network with no way out."""
    # Only the pages' own files: the vendored Swagger UI (a folder) is checked by loading the
    # API docs in a browser that may reach nothing else (test_pages_browser).
    texts = [p.read_text(encoding="utf-8") for d in (TEMPLATES, STATIC) for p in Path(d).iterdir() if p.is_file()]
    assert [] == [url for text in texts for url in re.findall(r"(?:src|href)=\"(?:https?:)?//[^\"]+", text)]
    assert [] == [text for text in texts if re.search(r"\son\w+=|javascript:", text)]


async def test_pages_tell_the_browser_to_load_nothing_from_elsewhere(web):
    """Every page carries a policy that allows this service's own script and styles only."""
    policy = (await web.get(routes.PAGE_ME_SIGNIN)).headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy


async def test_static_files_are_served_without_a_token(web):
    """The stylesheet and the script, cached for a while."""
    for name in ("pages.css", "pages.js"):
        response = await web.get(f"{routes.STATIC}/{name}")
        assert 200 == response.status_code and "max-age" in response.headers["cache-control"]


# Imports on the desk.


async def test_the_import_page_is_for_a_signed_in_organizer(client, ledger, web):
    """Without a cookie the page sends to the desk's sign-in; an organizer gets the two
    kinds, each bound to its API route, the templates to download (by cookie), the words for the
    script, and a link to it from the desk."""
    await tree(ledger)
    assert routes.PAGE_DESK_SIGNIN == (await web.get(routes.PAGE_DESK_IMPORT)).headers["location"]
    await web.post(routes.PAGE_DESK_SIGNIN, data={"token": await _token(client, role="organizer", org_unit=GRID)})
    page = await web.get(routes.PAGE_DESK_IMPORT)
    assert 200 == page.status_code, page.text
    for text in ('data-api="/v1/imports/members"', 'data-api="/v1/imports/org-units"', "预检", "确认导入", "成员名单"):
        assert text in page.text
    for name in ("org-units.xlsx", "org-units.csv", "members.xlsx", "members.csv"):
        assert f'href="/v1/imports/templates/{name}"' in page.text
    # The links download with the page's cookie, as a signed-in browser follows them.
    template = await web.get(routes.api(routes.IMPORT_TEMPLATE, name="members.csv"))
    assert 200 == template.status_code and template.content.decode("utf-8-sig").startswith("成员编号,姓名,微网格")
    [script] = re.findall(r'<script type="application/json" id="import-zh">(.*?)</script>', page.text, re.S)
    words = json.loads(script)
    assert ("微网格", "名称") == (words["fields"]["members"]["org_unit"], words["fields"]["org-units"]["name"])
    assert 'href="/desk/import"' in (await web.get(routes.PAGE_DESK)).text
