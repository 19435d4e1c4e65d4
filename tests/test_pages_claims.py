"""The claims on the pages without a browser: the desk's review queue shows the unit's
pending claims with their evidence and a likely duplicate beside the claim it repeats, and
nothing of another unit; a resident's page offers the reports their rules pay and lists
each claim's state in Chinese.

On SQLite only, as the other page tests: the reads behind them are tested on both
databases (``test_claims.py``, ``test_scopes.py``)."""

from __future__ import annotations

import re

import httpx
import pytest

from api import routes
from api.app import create_app
from ledger import Role
from tests.builders import ADMIN, MICRO, OTHER_MICRO, post, recently, rules, tree
from tests.conftest import http_client, settings

pytestmark = pytest.mark.sqlite_only


@pytest.fixture
async def web(ledger) -> httpx.AsyncClient:
    """A browser's view of the service: no Authorization header, cookies kept."""
    async with http_client(create_app(settings(ledger), ledger), headers={}) as client:
        yield client


async def _signed_in(client, web, path: str, **body) -> None:
    response = await client.post(routes.api(routes.TOKENS), json={"label": "测试", **body})
    assert 201 == response.status_code, response.text
    await web.post(f"{path}/signin", data={"token": response.json()["token"]})


async def _claims(client, ledger) -> list[int]:
    """王建国 of 1-1 reports an event twice with one reference and a patrol; 赵丽娟 of 1-2 a patrol."""
    await tree(ledger)
    await rules(ledger)
    await ledger.register_member(ADMIN, "w-1", "王建国", MICRO, False, (Role.MICRO_GRID_WORKER,))
    await ledger.register_member(ADMIN, "w-2", "赵丽娟", OTHER_MICRO, False, (Role.MICRO_GRID_WORKER,))
    event = {"member_id": "w-1", "rule": "report", "quantity": 1, "occurred_at": recently(), "reference": "郑好办-7"}
    patrol = {"member_id": "w-1", "rule": "patrol", "quantity": 1, "occurred_at": recently(), "steps": 1800}
    bodies = [
        event | {"evidence_url": "https://photos.example/7.jpg"},
        event | {"memo": "补拍照片"},
        patrol,
        patrol | {"member_id": "w-2"},
    ]
    ids = []
    for body in bodies:
        response = await client.post(routes.api(routes.CLAIMS), json=body)
        assert 200 <= response.status_code < 300, response.text
        ids.append(response.json()["id"])
    return ids


def _card(page: str, claim_id: int) -> str:
    [card] = re.findall(rf'<section class="card claim"[^>]*data-testid="claim-{claim_id}">(.*?)</section>', page, re.S)
    return card


async def test_the_review_queue_shows_the_units_claims_with_evidence_and_duplicates_side_by_side(client, ledger, web):
    """An organizer of 1-1 sees its three claims with steps, reference and photo link, the
    repeated report beside the one it repeats, and nothing of 1-2."""
    first, repeat, patrol, elsewhere = await _claims(client, ledger)
    await _signed_in(client, web, routes.PAGE_DESK, role="organizer", org_unit=MICRO)
    page = (await web.get(routes.PAGE_DESK_CLAIMS)).text
    assert "待审核的上报（3）" in page
    assert f'data-testid="claim-{elsewhere}"' not in page and "赵丽娟" not in page
    assert "1800 步" in _card(page, patrol) and "疑似重复" not in _card(page, patrol)
    twin = _card(page, repeat)
    assert ["疑似重复", f"原上报 第 {first} 号 · 待审核", "补拍照片", "查看照片"] == [
        w for w in ("疑似重复", f"原上报 第 {first} 号 · 待审核", "补拍照片", "查看照片") if w in twin
    ]
    assert 'href="https://photos.example/7.jpg"' in _card(page, first) and "有 1 条疑似重复" in _card(page, first)


async def test_the_review_queue_of_another_unit_is_refused_in_chinese(client, ledger, web):
    """Naming a unit outside the organizer's is an error page, not its claims."""
    await _claims(client, ledger)
    await _signed_in(client, web, routes.PAGE_DESK, role="organizer", org_unit=MICRO)
    refused = await web.get(routes.PAGE_DESK_CLAIMS, params={"unit": OTHER_MICRO})
    assert 403 == refused.status_code and "赵丽娟" not in refused.text and "超出您的权限或管辖范围" in refused.text


async def test_a_resident_reports_and_sees_each_claims_state(client, ledger, web):
    """The page offers the kinds of report the resident's rules pay (a micro-grid worker
    patrols, writes a diary and reports events), and lists each claim: pending, approved with
    its points, declined with its reason."""
    first, repeat, patrol, _ = await _claims(client, ledger)
    await post(client, routes.api(routes.CLAIM_APPROVE, claim_id=first))
    await client.post(routes.api(routes.CLAIM_DECLINE, claim_id=repeat), json={"reason": "与第一条重复"})
    await _signed_in(client, web, routes.PAGE_ME, role="member", member_id="w-1")
    page = (await web.get(routes.PAGE_ME)).text
    kinds = re.findall(r'<details class="report"[^>]*>\s*<summary>(.*?)</summary>', page)
    assert ["巡查", "民情日记", "事件上报"] == kinds
    assert "1000 步以上才计分" in page
    states = dict(re.findall(r'data-testid="claim-(\d+)".*?data-testid="claim-state">(.*?)</span>', page, re.S))
    assert {str(first): "已通过 +2 分", str(repeat): "未通过", str(patrol): "待审核"} == states
    assert "未通过原因：与第一条重复" in page
