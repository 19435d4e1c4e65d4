"""The access log: one line per request with method, path, status, time, principal and
request id, never a token, a body or a query string; the request id is echoed."""

from __future__ import annotations

import logging
import re

import httpx
import pytest

from api import routes
from api.access_log import REQUEST_ID_LENGTH_MAX, AccessLog
from api.app import create_app
from tests.builders import award_body, member, post, tree
from tests.conftest import ADMIN_TOKEN, AUTH, settings

pytestmark = [pytest.mark.sqlite_only]

LINE = re.compile(
    r"^(?P<method>[A-Z]+) (?P<path>\S+) (?P<status>\d{3}) \d+\.\dms principal=(?P<principal>\S+) request=(?P<id>\S+)$"
)


@pytest.fixture
async def logged(ledger):
    app = AccessLog(create_app(settings(ledger), ledger))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ledger.test") as http:
        yield http


def _text(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.name == "api.access")


def _lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, str]]:
    return [LINE.match(r.getMessage()).groupdict() for r in caplog.records if r.name == "api.access"]


async def test_each_request_is_one_line_naming_its_principal_and_id(logged, ledger, caplog):
    """An award, a refused request without a token and a path no route has: three lines."""
    caplog.set_level(logging.INFO, logger="api.access")
    await tree(ledger)
    mid = await member(ledger)
    body = award_body(mid, memo="秘密的备注")
    awarded = await post(
        logged, routes.api(routes.AWARDS), body, Authorization=AUTH["Authorization"], X_Request_Id="desk-42"
    )
    refused = await logged.get(routes.api(routes.MEMBER, member_id=mid))
    missing = await logged.get("/nowhere")
    assert (201, 401, 404) == (awarded.status_code, refused.status_code, missing.status_code)
    assert "desk-42" == awarded.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", refused.headers["x-request-id"])
    lines = _lines(caplog)
    assert [
        {"method": "POST", "path": routes.api(routes.AWARDS), "status": "201", "principal": "admin", "id": "desk-42"},
        {
            "method": "GET",
            "path": routes.api(routes.MEMBER, member_id=mid),
            "status": "401",
            "principal": "-",
            "id": refused.headers["x-request-id"],
        },
        {"method": "GET", "path": "/nowhere", "status": "404", "principal": "-", "id": missing.headers["x-request-id"]},
    ] == lines
    text = "\n".join(r.getMessage() for r in caplog.records if r.name == "api.access")
    assert ADMIN_TOKEN not in text and "秘密" not in text


async def test_no_query_string_reaches_the_log(logged, caplog):
    """A sign-in link carries its token in the query: the line has the path alone."""
    caplog.set_level(logging.INFO, logger="api.access")
    await logged.get(routes.PAGE_ME_SIGNIN, params={"token": "glp_secret.value"})
    [line] = _lines(caplog)
    assert routes.PAGE_ME_SIGNIN == line["path"]
    assert "glp_secret" not in _text(caplog)


async def test_a_request_id_that_is_too_long_or_odd_is_replaced(logged, caplog):
    """Only a short printable id without spaces is kept; anything else gets a new one."""
    caplog.set_level(logging.INFO, logger="api.access")
    for sent in ("x" * (REQUEST_ID_LENGTH_MAX + 1), "two words", "x" * REQUEST_ID_LENGTH_MAX):
        answer = await logged.get("/nowhere", headers={"X-Request-Id": sent})
        kept = answer.headers["x-request-id"] == sent
        assert kept == (sent == "x" * REQUEST_ID_LENGTH_MAX)
    assert [line["id"] for line in _lines(caplog)][-1] == "x" * REQUEST_ID_LENGTH_MAX
