"""Statement lines read in Chinese: an award names its rule, a redemption its reward, and
the ledger's own memos (a claim's number, the shop's codes) never reach a resident. The
statement read names the rule and the reward; on both databases."""

from api import routes
from api.app import create_app
from tests.builders import COMMUNITY, award, member, post, redeem, reward, rules, tree
from tests.conftest import http_client, settings


async def test_statement_lines_name_the_rule_and_the_reward(client, ledger):
    """A claim approved by rule, a manual award and a towel redeemed: the API's lines carry
    the rule and the reward; /me titles them 事件上报 and 积分超市 · 毛巾, the award's own
    memo stays, and neither a claim number nor a reward code shows."""
    await tree(ledger)
    await rules(ledger)
    resident = await member(ledger)
    await award(client, resident, 30, memo="社区清扫")
    claim = {"member_id": resident, "rule": "report", "quantity": 1, "occurred_at": "2026-01-05T09:00:00+08:00"}
    claim_id = (await client.post(routes.api(routes.CLAIMS), json=claim)).json()["id"]
    assert 201 == (await post(client, routes.api(routes.CLAIM_APPROVE, claim_id=claim_id))).status_code
    await reward(client, "r-毛巾", org_unit=COMMUNITY)
    assert 201 == (await redeem(client, resident, "r-毛巾")).status_code

    lines = (await client.get(routes.api(routes.MEMBER_STATEMENT, member_id=resident))).json()["lines"]
    assert [("hold", None, "r-毛巾"), ("award", "report", None), ("award", None, None)] == [
        (line["kind"], line["rule"], line["reward"]) for line in lines
    ]
    token = (
        await client.post(routes.api(routes.TOKENS), json={"label": "测试", "role": "member", "member_id": resident})
    ).json()["token"]
    async with http_client(create_app(settings(ledger), ledger), headers={}) as web:
        await web.get(routes.PAGE_ME_SIGNIN, params={"token": token})
        page = (await web.get(routes.PAGE_ME)).text
    for words in ("兑换冻结 · 积分超市 · 毛巾", "获得 · 事件上报", "获得 · 网格巡查", "社区清扫"):
        assert words in page
    assert f"claim {claim_id}" not in page and "r-毛巾" not in page.replace('value="r-毛巾"', "")
