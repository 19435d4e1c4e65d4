"""The web pages in a real browser (headless Chromium) at phone size: a resident signs in
and reads the balance; an organizer awards by rule, settles a roster of 30 and the
resident's page follows; a member outside the organizer's unit cannot be found; form
errors read in Chinese beside their fields. Each page leaves a screenshot for review."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from api import routes
from ledger import AwardCommand, Category, IdempotentRequest, Ledger, Principal, Role
from ledger.demo import load_demo
from ledger.earning.rules import default_rules_text
from ledger.honours.tiers import default_tiers_text
from ledger.values import Access
from tests.builders import ADMIN, principal, rule_body
from tests.site import fresh_screenshots, phone, screenshot, seeded_site

UNIT, HOME, ELSEWHERE = "xinnan", "xinnan-g1-m1", "quetan-g1-m1"
RESIDENT = "xn-01"
OUTSIDER, OUTSIDER_NAME = "qt-01", "确滩王五"
ROSTER_SIZE = 30
HOURS_EACH = 2
STARTING_POINTS = 7
TOWEL = 2  # the demo shop's 毛巾 costs 2 points
MISTAKEN, MISTAKEN_POINTS, MISTAKEN_MEMO = "xn-30", 4, "夜间巡查（录错了人）"
NAMES = "王李张刘陈杨赵黄周吴"

# One process runs this module: its tests share a server and a browser, and the folder
# of screenshots is cleared once.
pytestmark = pytest.mark.xdist_group("browser")


async def _seed(ledger: Ledger) -> dict[str, str]:
    """The demo, thirty residents of 新南社区 (the first holding 7 points, the last 4 points
    awarded by mistake), one resident of 确滩社区, and a token for the first resident and one
    for an organizer of 新南社区."""
    await ledger.load_rules(Principal.admin("test"), default_rules_text())
    await ledger.load_tiers(Principal.admin("test"), default_tiers_text())
    await load_demo(ledger)
    for i in range(1, ROSTER_SIZE + 1):
        await ledger.register_member(
            ADMIN, f"xn-{i:02d}", f"{NAMES[i % 10]}新南{i:02d}", HOME, i % 2 == 0, (Role.VOLUNTEER,)
        )
    await ledger.register_member(ADMIN, OUTSIDER, OUTSIDER_NAME, ELSEWHERE, False, (Role.VOLUNTEER,))
    start = AwardCommand(RESIDENT, STARTING_POINTS, Category.ACTIVITY, ledger.clock(), "社区清扫 7 小时")
    await ledger.award(Principal.admin("test"), start, IdempotentRequest("test", "seed", "seed"))
    mistaken = AwardCommand(MISTAKEN, MISTAKEN_POINTS, Category.PATROL, ledger.clock(), MISTAKEN_MEMO)
    await ledger.award(Principal.admin("test"), mistaken, IdempotentRequest("test", "mistaken", "mistaken"))
    tokens = {}
    for role, org_unit, member_id in ((Access.MEMBER, None, RESIDENT), (Access.ORGANIZER, UNIT, None)):
        _, tokens[role.value] = await principal(ledger, role.value, org_unit, member_id)
    return tokens


@pytest.fixture(scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[str, dict[str, str]]]:
    async with seeded_site(tmp_path_factory.mktemp("site"), lambda db: _seed(Ledger(db))) as served:
        yield served


@pytest.fixture(scope="module")
def screenshots() -> Path:
    return fresh_screenshots()


async def _accept(dialog) -> None:
    await dialog.accept()


async def test_a_resident_signs_in_by_link_and_sees_the_balance(site, browser, screenshots):
    """The link, opened from somewhere else as a chat message or a QR scanner opens it, signs
    in, leaves the token out of the address bar and keeps it in an HttpOnly, SameSite=Strict
    cookie, which a later link from elsewhere still finds; the page shows the balance, tier
    and statement."""
    base_url, tokens = site
    page = await phone(browser, base_url)
    # The link arrives from elsewhere (a chat message, a QR scanner): a cross-site navigation.
    await page.set_content(f'<a href="{base_url}{routes.PAGE_ME_SIGNIN}?token={tokens["member"]}">查看我的积分</a>')
    await page.get_by_role("link").click()
    await expect(page).to_have_url(f"{base_url}{routes.PAGE_ME}")
    await expect(page.get_by_test_id("available")).to_have_text(str(STARTING_POINTS))
    await expect(page.get_by_text("社区清扫 7 小时")).to_be_visible()
    await expect(page.get_by_role("progressbar")).to_be_visible()
    [cookie] = await page.context.cookies()
    assert (True, "Strict") == (cookie["httpOnly"], cookie["sameSite"])
    await page.set_content(f'<a href="{base_url}{routes.PAGE_ME}">我的积分</a>')
    await page.get_by_role("link").click()
    await expect(page.get_by_test_id("available")).to_have_text(str(STARTING_POINTS))
    await screenshot(page, screenshots, "me")
    await page.context.close()


async def test_an_organizer_awards_settles_a_roster_and_the_resident_sees_it(site, browser, screenshots):
    """Award by rule with the cap room in view, a form error in Chinese beside its field, a
    roster of 30 pasted (a bad line named by its number), previewed and settled; the
    resident's page then shows every point, and spends two of them on a towel."""
    base_url, tokens = site
    page = await phone(browser, base_url)
    page.on("dialog", _accept)
    await page.goto(routes.PAGE_DESK)
    assert page.url.startswith(f"{base_url}{routes.PAGE_DESK_SIGNIN}")
    await screenshot(page, screenshots, "desk-signin")
    await page.get_by_label("登录令牌").fill(tokens["organizer"])
    await page.get_by_role("button", name="登录").click()
    await expect(page).to_have_url(f"{base_url}{routes.PAGE_DESK}")
    await screenshot(page, screenshots, "desk")

    await page.get_by_label("姓名或成员编号").fill(RESIDENT)
    await page.get_by_role("button", name="查找").click()
    await page.get_by_test_id("found").get_by_role("link").first.click()
    await expect(page.get_by_test_id("available")).to_have_text(str(STARTING_POINTS))
    rule = page.locator("select[name=rule]")
    await expect(rule.locator("option[value=patrol]")).to_have_text(re.compile("还可得 2 分"))
    await expect(page.get_by_test_id("caps")).to_contain_text("网格巡查")

    await page.get_by_role("button", name="奖励积分").click()
    await expect(page.locator('[data-error-for="rule"]')).to_have_text("请选择积分规则")
    await rule.select_option("patrol")
    await page.get_by_role("button", name="奖励积分").click()
    await expect(page.locator('[data-error-for="steps"]')).to_have_text("巡查须填写步数，且达到规则要求的步数")
    await page.get_by_label("步数（巡查填写）").fill("1200")
    await page.get_by_role("button", name="奖励积分").click()
    await expect(page.locator("#flash")).to_have_text("已奖励 1 分")
    await expect(page.get_by_test_id("available")).to_have_text(str(STARTING_POINTS + 1))
    await expect(rule.locator("option[value=patrol]")).to_have_text(re.compile("还可得 1 分"))
    await page.get_by_role("button", name="生成登录链接和二维码").click()
    await expect(page.locator("#signin-card .qr svg")).to_be_visible()
    await expect(page.locator("#signin-card .link")).to_contain_text(f"{base_url}{routes.PAGE_ME_SIGNIN}?token=glp_")
    await screenshot(page, screenshots, "desk-member")

    await page.get_by_role("link", name="返回工作台").click()
    await page.get_by_label("活动名称").fill("爱心义剪")
    await page.get_by_label("积分规则").select_option("volunteer-hour")
    await page.get_by_label("组织者成员编号").fill(RESIDENT)
    await page.get_by_role("button", name="创建活动，录入名单").click()
    await expect(page).to_have_url(re.compile(routes.path(routes.PAGE_DESK_ACTIVITY, activity_id=r"\d+") + "$"))

    roster = page.locator("textarea[name=participants]")
    await roster.fill(f"成员编号,小时\n{RESIDENT},{HOURS_EACH}\nxn-02,两小时\n")
    await page.get_by_role("button", name="保存名单并预览").click()
    roster_error = page.locator('[data-error-for="participants"]')
    await expect(roster_error).to_have_text("第 3 行：数量须为正整数，且不超过规则允许的上限")
    lines = [f"xn-{i:02d},{HOURS_EACH}" for i in range(1, ROSTER_SIZE + 1)]
    await roster.fill("成员编号,小时\n" + "\n".join(lines))
    await page.get_by_role("button", name="保存名单并预览").click()
    await expect(page.get_by_test_id("preview-total")).to_have_text(
        f"将有 {ROSTER_SIZE} 人获得积分，共 {ROSTER_SIZE * HOURS_EACH} 分。"
    )
    await screenshot(page, screenshots, "desk-activity")
    await page.get_by_role("button", name="结算").click()
    await expect(page.get_by_test_id("settled")).to_contain_text(f"{ROSTER_SIZE} 人获得积分")
    await page.get_by_role("link", name="返回工作台").click()
    latest = page.get_by_test_id("activities").get_by_role("link").first
    await expect(latest).to_contain_text("爱心义剪")
    await expect(latest).to_contain_text("已结算")
    await page.context.close()

    resident = await phone(browser, base_url)
    resident.on("dialog", _accept)  # 兑换 asks for confirmation
    await resident.goto(f"{routes.PAGE_ME_SIGNIN}?token={tokens['member']}")
    await expect(resident.get_by_test_id("available")).to_have_text(str(STARTING_POINTS + 1 + HOURS_EACH))
    await expect(resident.get_by_text("爱心义剪", exact=True)).to_be_visible()
    towel = resident.locator("form", has_text="毛巾")
    await towel.get_by_role("button", name="兑换").click()
    await expect(resident.locator("#flash")).to_contain_text("已兑换“毛巾”，请凭取货码")
    await expect(resident.get_by_test_id("available")).to_have_text(str(STARTING_POINTS + 1 + HOURS_EACH - TOWEL))
    await expect(resident.get_by_test_id("held")).to_contain_text("毛巾")
    await screenshot(resident, screenshots, "me-after")
    await resident.context.close()


async def _desk(browser: Browser, base_url: str, token: str) -> Page:
    page = await phone(browser, base_url)
    await page.goto(routes.PAGE_DESK_SIGNIN)
    await page.get_by_label("登录令牌").fill(token)
    await page.get_by_role("button", name="登录").click()
    await expect(page).to_have_url(f"{base_url}{routes.PAGE_DESK}")
    return page


async def test_a_member_outside_the_unit_cannot_be_found_from_the_desk(site, browser, screenshots):
    """Searching by the outsider's exact name finds no one, and the outsider's page refuses
    in Chinese: the desk sees only the organizer's subtree."""
    base_url, tokens = site
    page = await _desk(browser, base_url, tokens["organizer"])
    await page.get_by_label("姓名或成员编号").fill(OUTSIDER_NAME)
    await page.get_by_role("button", name="查找").click()
    await expect(page.get_by_test_id("not-found")).to_contain_text(f"没有找到“{OUTSIDER_NAME}”")
    await page.goto(routes.path(routes.PAGE_DESK_MEMBER, member_id=OUTSIDER))
    await expect(page.get_by_test_id("error-message")).to_have_text("该成员不在您的管辖范围内")
    await screenshot(page, screenshots, "desk-out-of-scope")
    await page.context.close()


async def test_an_organizer_reverses_a_mistaken_award_and_downloads_the_nominations(site, browser):
    """A reversal needs a reason (asked for in Chinese) and takes the points back; the
    nomination list downloads as a CSV file."""
    base_url, tokens = site
    page = await _desk(browser, base_url, tokens["organizer"])
    async with page.expect_download() as download:
        await page.get_by_role("button", name="下载 CSV").click()
    assert (await download.value).suggested_filename.endswith(".csv")
    await page.goto(routes.path(routes.PAGE_DESK_MEMBER, member_id=MISTAKEN))
    before = int(await page.get_by_test_id("available").inner_text())
    line = page.locator("li.line", has_text=MISTAKEN_MEMO)
    await line.get_by_text("撤销", exact=True).click()
    await line.get_by_role("button", name="确认撤销").click()
    await expect(line.locator('[data-error-for="reason"]')).to_have_text("请填写原因（最多 500 字）")
    await line.get_by_label("撤销原因").fill("录错了人")
    await line.get_by_role("button", name="确认撤销").click()
    await expect(page.locator("#flash")).to_contain_text("已撤销")
    await expect(page.get_by_test_id("available")).to_have_text(str(before - MISTAKEN_POINTS))
    await expect(page.locator("li.line", has_text=MISTAKEN_MEMO)).to_contain_text("已撤销")
    await page.context.close()


async def test_the_api_docs_load_with_no_way_out_to_the_internet(site, browser, screenshots):
    """Swagger UI at /schema comes whole from the service: with every request elsewhere
    refused, the page still lists the operations, and it asked nothing of anywhere else."""
    base_url, _ = site
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, base_url=base_url)
    elsewhere: list[str] = []

    async def only_the_service(route) -> None:
        if route.request.url.startswith(base_url):
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort("internetdisconnected")

    await context.route("**/*", only_the_service)
    page = await context.new_page()
    await page.goto(f"{routes.OPENAPI}/swagger")
    awards = page.locator(".opblock-summary-path", has_text=re.compile(r"^/v1/awards$"))
    await expect(awards.first).to_be_visible()
    assert await page.locator(".opblock").count() >= 50
    assert [] == elsewhere
    await page.screenshot(path=screenshots / "api-docs.png")
    await context.close()


async def test_a_resident_reports_a_patrol_and_sees_it_approved(site, browser, screenshots):
    """A patrol of too few steps is refused beside the steps field, in Chinese, before it
    waits for anyone; a real one waits as 待审核, the desk approves it from its queue, and
    the resident's page then says it was approved with its point."""
    base_url, tokens = site
    resident = await phone(browser, base_url)
    await resident.goto(f"{routes.PAGE_ME_SIGNIN}?token={tokens['member']}")
    before = int(await resident.get_by_test_id("available").inner_text())
    report = resident.get_by_test_id("report").locator("form", has_text="步数")
    await report.get_by_label(re.compile("^步数")).fill("800")
    await report.get_by_label("说明（选填）").fill("巡查新南小区 3 号楼到 8 号楼")
    await report.get_by_role("button", name="提交巡查").click()
    await expect(report.locator('[data-error-for="steps"]')).to_have_text("巡查须填写步数，且达到规则要求的步数")
    await report.get_by_label(re.compile("^步数")).fill("1600")
    await report.get_by_role("button", name="提交巡查").click()
    await expect(resident.locator("#flash")).to_have_text("已提交，等待社区审核")
    mine = resident.get_by_test_id("claims").locator("li").first
    await expect(mine).to_contain_text("1600 步")
    await expect(mine.get_by_test_id("claim-state")).to_have_text("待审核")
    await screenshot(resident, screenshots, "me-report")

    desk = await _desk(browser, base_url, tokens["organizer"])
    await desk.get_by_test_id("review-link").click()
    card = desk.locator("section.claim", has_text="1600 步")
    await expect(card).to_contain_text("巡查新南小区 3 号楼到 8 号楼")
    await card.get_by_role("button", name="通过", exact=True).click()
    await expect(desk.locator("#flash")).to_contain_text("已通过第")
    await expect(desk.locator("section.claim", has_text="1600 步")).to_have_count(0)
    await desk.context.close()

    await resident.reload()
    await expect(mine.get_by_test_id("claim-state")).to_have_text("已通过 +1 分")
    await expect(resident.get_by_test_id("available")).to_have_text(str(before + 1))
    await screenshot(resident, screenshots, "me-claim-approved")
    await resident.context.close()


async def test_an_organizer_declines_one_claim_and_approves_the_ticked_ones_at_once(site, browser, screenshots):
    """The queue shows a repeated event report beside the one it repeats; declining asks for
    a reason in Chinese; the ticked claims are approved in one go, and the declined one is
    gone from the queue with the others."""
    base_url, tokens = site
    bearer = {"Authorization": f"Bearer {tokens['organizer']}"}
    event = {"member_id": "xn-03", "rule": "event-report", "quantity": 1, "reference": "郑好办-1203-17"}
    bodies = [
        event | {"memo": "楼道堆物", "evidence_url": "https://photos.example/1203-17.jpg"},
        event | {"memo": "楼道堆物（补拍）"},
        {"member_id": "xn-04", "rule": "diary", "quantity": 1200, "memo": "走访独居老人"},
    ]
    desk = await _desk(browser, base_url, tokens["organizer"])
    ids = []
    for body in bodies:
        claim = body | {"occurred_at": _hour_ago()}
        response = await desk.request.post(f"{base_url}{routes.api(routes.CLAIMS)}", data=claim, headers=bearer)
        assert response.ok, await response.text()
        ids.append((await response.json())["id"])
    first, repeat, diary = ids
    await desk.goto(routes.PAGE_DESK_CLAIMS)
    twin = desk.get_by_test_id(f"twin-{repeat}")
    await expect(twin).to_contain_text(f"原上报 第 {first} 号 · 待审核")
    await expect(twin).to_contain_text("楼道堆物")
    await expect(desk.get_by_test_id(f"claim-{first}").get_by_role("link", name="查看照片")).to_be_visible()
    await screenshot(desk, screenshots, "desk-claims")

    repeated = desk.get_by_test_id(f"claim-{repeat}")
    await repeated.get_by_role("button", name="退回").click()
    await expect(repeated.locator('[data-error-for="reason"]')).to_have_text("请填写原因（最多 500 字）")
    await repeated.get_by_label("退回原因").fill(f"与第 {first} 号重复")
    await repeated.get_by_role("button", name="退回").click()
    await expect(desk.locator("#flash")).to_have_text(f"已退回第 {repeat} 号上报")
    await expect(desk.get_by_test_id(f"claim-{repeat}")).to_have_count(0)

    bulk = desk.get_by_test_id("bulk")
    await bulk.get_by_role("button", name="通过所选").click()
    await expect(bulk.locator('[data-error-for=""]')).to_have_text("请先勾选要审核的上报（每次最多 100 条）")
    for claim_id in (first, diary):
        await desk.get_by_test_id(f"claim-{claim_id}").get_by_role("checkbox").check()
    await bulk.get_by_role("button", name="退回所选").click()
    await expect(bulk.locator('[data-error-for=""]')).to_have_text("退回须填写原因")
    await bulk.get_by_role("button", name="通过所选").click()
    await expect(desk.locator("#flash")).to_have_text("已通过 2 条，退回 0 条")
    for claim_id in ids:
        await expect(desk.get_by_test_id(f"claim-{claim_id}")).to_have_count(0)
    await screenshot(desk, screenshots, "desk-claims-after")
    states = []
    for claim_id in ids:
        response = await desk.request.get(f"{base_url}{routes.api(routes.CLAIM, claim_id=claim_id)}", headers=bearer)
        claim = await response.json()
        states.append((claim["status"], claim["awarded_points"]))
    assert [("approved", 2), ("declined", None), ("approved", 2)] == states
    await desk.context.close()


def _hour_ago() -> str:
    return (datetime.now(UTC) - timedelta(hours=1)).isoformat()


# The shop: a resident confirms a redemption and shows its pickup code, the counter (核销台)
# hands it over, and the shelves (奖品管理) list and restock a reward.


async def test_a_resident_confirms_a_redemption_and_the_counter_hands_it_over(site, browser, screenshots):
    """兑换 asks first, naming the pickup place and the deadline (declined, nothing is held);
    accepted, /me shows the pickup code and its QR code; the organizer types the code in
    lower case at the counter, sees who collects what, and fulfils it."""
    base_url, tokens = site
    resident = await phone(browser, base_url)
    await resident.goto(f"{routes.PAGE_ME_SIGNIN}?token={tokens['member']}")
    before = await resident.get_by_test_id("available").inner_text()
    asked: list[str] = []

    async def decline(dialog) -> None:
        asked.append(dialog.message)
        await dialog.dismiss()

    resident.on("dialog", decline)
    soap = resident.locator("form", has_text="洗衣液")
    await soap.get_by_role("button", name="兑换").click()
    await expect(resident.get_by_test_id("available")).to_have_text(before)
    assert "领取地点：新南社区党群服务中心一楼（周一至周五 9:00–17:00）" in asked[0], asked
    assert re.search(r"请于 \d{4}-\d{2}-\d{2} \d{2}:\d{2} 前凭取货码领取", asked[0]), asked
    resident.remove_listener("dialog", decline)
    resident.on("dialog", _accept)
    await soap.get_by_role("button", name="兑换").click()
    await expect(resident.locator("#flash")).to_contain_text("已兑换“洗衣液”，请凭取货码")
    held = resident.get_by_test_id("held").locator("li", has_text="洗衣液")
    code = await held.get_by_test_id("pickup-code").inner_text()
    assert re.fullmatch(r"[A-Z0-9]{6}", code), code
    await expect(held.locator(".qr svg")).to_be_visible()
    await expect(held).to_contain_text("领取地点：新南社区党群服务中心一楼")
    await screenshot(resident, screenshots, "me-pickup")

    desk = await _desk(browser, base_url, tokens["organizer"])
    await desk.get_by_test_id("to-counter").click()
    await expect(desk.get_by_test_id("held-list")).to_contain_text(code)
    await desk.get_by_label("取货码").fill(f"{code[:3].lower()} {code[3:].lower()}")
    await desk.get_by_role("button", name="查询").click()
    pickup = desk.get_by_test_id("pickup")
    await expect(pickup.get_by_test_id("pickup-reward")).to_have_text("洗衣液")
    await expect(pickup.get_by_test_id("pickup-member")).to_have_text(f"{NAMES[1]}新南01")
    await expect(pickup).to_contain_text("5 分")
    await screenshot(desk, screenshots, "desk-counter")
    await pickup.get_by_test_id("fulfil").click()
    await expect(desk.locator("#flash")).to_have_text(f"已核销：洗衣液 已交给{NAMES[1]}新南01")
    await expect(desk.get_by_test_id("held-list")).not_to_contain_text(code)
    await desk.get_by_label("取货码").fill(code)
    await desk.get_by_role("button", name="查询").click()
    await expect(desk.get_by_test_id("pickup-missing")).to_contain_text(f"没有找到取货码为“{code}”")
    await desk.context.close()

    await resident.reload()
    await expect(resident.get_by_test_id("held")).not_to_contain_text("洗衣液")
    await resident.context.close()


async def test_an_organizer_lists_a_reward_restocks_and_takes_it_down(site, browser, screenshots):
    """A new reward with a pickup place is listed with its counts, a restock adds to them,
    a cost of 0 is refused in Chinese beside its field, an emptied pickup time is cleared,
    and 下架 takes it off /me until 重新上架."""
    base_url, tokens = site
    desk = await _desk(browser, base_url, tokens["organizer"])
    desk.on("dialog", _accept)
    await desk.get_by_test_id("to-shop").click()
    form = desk.get_by_test_id("new-reward")
    await form.get_by_label("奖品名称").fill("环保购物袋")
    await form.get_by_label("所需积分").fill("3")
    await form.get_by_label("库存件数（留空不限量）").fill("5")
    await form.get_by_label("限兑次数（留空不限）").fill("1")
    await form.get_by_label("限兑周期").select_option("month")
    await form.get_by_label("领取地点").fill("新南社区居委会")
    await form.get_by_label("领取时间").fill("每周六上午")
    await form.get_by_role("button", name="上架").click()
    await expect(desk.locator("#flash")).to_have_text("已上架“环保购物袋”")
    bag = desk.locator("[data-reward=环保购物袋]")
    await expect(bag.get_by_test_id("counts")).to_have_text(re.compile(r"库存 5 · 可兑 5 · 待领取 0 · 已领取 0"))
    await expect(bag).to_contain_text("每月限兑 1 次")
    await bag.get_by_label("补货件数").fill("3")
    await bag.get_by_role("button", name="补货").click()
    await expect(desk.locator("#flash")).to_have_text("已补货：环保购物袋 库存 8")
    await expect(bag.get_by_test_id("counts")).to_have_text(re.compile(r"库存 8 · 可兑 8"))
    await bag.locator("summary").click()
    await bag.get_by_label("所需积分").fill("0")
    await bag.get_by_role("button", name="保存").click()
    await expect(bag.locator('[data-error-for="cost_points"]')).to_have_text("所需积分须为 1 到 100000 之间的整数")
    await bag.get_by_label("所需积分").fill("1")
    await bag.get_by_label("领取时间").fill("")
    await bag.get_by_role("button", name="保存").click()
    await expect(desk.locator("#flash")).to_have_text("已保存“环保购物袋”")
    await expect(bag).to_contain_text("1 分")
    await expect(bag).not_to_contain_text("每周六上午")
    await screenshot(desk, screenshots, "desk-shop")

    resident = await phone(browser, base_url)
    await resident.goto(f"{routes.PAGE_ME_SIGNIN}?token={tokens['member']}")
    await expect(resident.get_by_test_id("shop")).to_contain_text("环保购物袋")
    await bag.get_by_role("button", name="下架").click()
    await expect(desk.locator("#flash")).to_have_text("已下架“环保购物袋”")
    await expect(bag).to_contain_text("已下架")
    await resident.reload()
    await expect(resident.get_by_test_id("shop")).not_to_contain_text("环保购物袋")
    await bag.get_by_role("button", name="重新上架").click()
    await expect(desk.locator("#flash")).to_have_text("已重新上架“环保购物袋”")
    await desk.context.close()
    await resident.context.close()


FAKE_CAMERA = """
window.BarcodeDetector = class {
  detect() { return Promise.resolve([{ rawValue: %s, format: "qr_code" }]); }
};
navigator.mediaDevices.getUserMedia = () => {
  const canvas = document.createElement("canvas");
  canvas.getContext("2d").fillRect(0, 0, 10, 10);
  return Promise.resolve(canvas.captureStream());
};
"""
"""A browser with a BarcodeDetector and a camera that always sees one QR code: headless
Chromium on Linux has neither, so the scan is played with stand-ins."""


async def test_the_counter_reads_a_qr_code_with_the_camera_where_the_browser_can(site, browser, screenshots):
    """Without a BarcodeDetector the scan button is not offered (the code is typed); with
    one, pressing it reads the QR code and opens the hold it names, which is cancelled."""
    base_url, tokens = site
    bearer = {"Authorization": f"Bearer {tokens['organizer']}"}
    async with httpx.AsyncClient(base_url=base_url, headers=bearer) as api:
        for path, body in (
            (routes.api(routes.AWARDS), rule_body("xn-20", "volunteer-hour", 3)),
            (routes.api(routes.REDEMPTIONS), {"reward": "xinnan-毛巾", "member_id": "xn-20"}),
        ):
            response = await api.post(path, json=body, headers={"Idempotency-Key": f"scan-{path}"})
            assert 201 == response.status_code, response.text
        code = response.json()["pickup_code"]
    desk = await _desk(browser, base_url, tokens["organizer"])
    await desk.goto(routes.PAGE_DESK_COUNTER)
    await expect(desk.get_by_role("button", name="用摄像头扫码")).to_be_hidden()
    await desk.context.add_init_script(FAKE_CAMERA % json.dumps(code))
    await desk.reload()
    await desk.get_by_role("button", name="用摄像头扫码").click()
    await expect(desk.get_by_test_id("pickup").get_by_test_id("pickup-member")).to_have_text(f"{NAMES[0]}新南20")
    assert f"code={code}" in desk.url
    desk.on("dialog", _accept)
    await desk.get_by_test_id("pickup").get_by_role("button", name="取消兑换（积分退回）").click()
    await expect(desk.locator("#flash")).to_have_text(f"已取消：2 分已退回给{NAMES[0]}新南20")
    await expect(desk.get_by_test_id("held-list")).not_to_contain_text(code)
    await desk.context.close()


# Imports on the desk.

IMPORT_HOME = "xinnan-g2-m2"
"""A demo micro-grid of 新南社区 the other tests leave alone: the imported members join its
demo residents, whom the file does not name (they are counted absent, and kept)."""

IMPORT_HEADER = "成员编号,姓名,微网格,党员,角色,电话,备注"


def _csv(*rows: str) -> dict[str, object]:
    """A member file as Excel in China saves it (UTF-8 with a byte order mark), for the picker."""
    text = "\r\n".join((IMPORT_HEADER, *rows)) + "\r\n"
    return {"name": "成员名单.csv", "mimeType": "text/csv", "buffer": "\ufeff".encode() + text.encode()}


async def test_an_organizer_checks_a_member_file_then_imports_it(site, browser, screenshots):
    """The dry run counts two new members and lists them, names the demo residents the file
    leaves out and the 备注 column it does not know; 确认导入 writes them, and the API finds
    them. A second file with an unknown micro-grid and one outside the community shows each
    reason in Chinese beside the row that would change 党员, and 确认导入 stays off."""
    base_url, tokens = site
    page = await _desk(browser, base_url, tokens["organizer"])
    await page.get_by_test_id("to-import").click()
    await expect(page).to_have_url(f"{base_url}{routes.PAGE_DESK_IMPORT}")
    report = page.get_by_test_id("import-report")
    confirm = page.get_by_role("button", name="确认导入")
    await expect(confirm).to_be_disabled()
    await page.get_by_role("button", name="预检").click()
    await expect(page.get_by_test_id("import-error")).to_have_text("请先选择要导入的文件")

    await page.get_by_label("成员名单").check()
    await page.get_by_label("选择文件", exact=True).set_input_files(
        _csv(f"xn-im-01,陈导入,{IMPORT_HOME},是,志愿者、居民,13800000000", f"xn-im-02,林导入,{IMPORT_HOME},否,居民,")
    )
    await expect(page.get_by_test_id("file-name")).to_have_text("成员名单.csv")
    await page.get_by_role("button", name="预检").click()
    await expect(report.get_by_role("heading")).to_have_text("预检结果（尚未导入）")
    for outcome, count in (("created", 2), ("updated", 0), ("unchanged", 0), ("refused", 0)):
        await expect(report.get_by_test_id(f"count-{outcome}")).to_have_text(str(count))
    rows = report.get_by_test_id("import-rows").locator("tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0)).to_have_text(re.compile(r"^2\s*xn-im-01\s*新增"))
    await expect(report.get_by_test_id("import-absent")).to_contain_text("位成员不在文件里")
    await expect(report).to_contain_text("以下列不会保存：备注")
    await expect(confirm).to_be_enabled()
    await screenshot(page, screenshots, "desk-import")

    await confirm.click()
    await expect(report.get_by_role("heading")).to_have_text("导入完成")
    await expect(report.get_by_test_id("count-created")).to_have_text("2")
    await expect(confirm).to_be_disabled()
    await screenshot(page, screenshots, "desk-import-done")
    bearer = {"Authorization": f"Bearer {tokens['organizer']}"}
    async with httpx.AsyncClient(base_url=base_url, headers=bearer) as api:
        imported = (await api.get(routes.api(routes.MEMBER, member_id="xn-im-01"))).json()
    assert ("陈导入", IMPORT_HOME, True) == (imported["name"], imported["org_unit"], imported["party_member"])

    await page.get_by_label("选择文件", exact=True).set_input_files(
        _csv(
            f"xn-im-01,陈导入,{IMPORT_HOME},否,志愿者、居民,",
            "xn-im-03,周未建,xinnan-g9-m9,否,居民,",
            f"xn-im-04,吴外区,{ELSEWHERE},否,居民,",
        )
    )
    await expect(report).to_be_hidden()
    await page.get_by_role("button", name="预检").click()
    await expect(report.get_by_test_id("count-refused")).to_have_text("2")
    await expect(report.get_by_test_id("count-updated")).to_have_text("1")
    await expect(rows.nth(0)).to_contain_text("拒绝")
    await expect(rows.nth(0)).to_contain_text("“微网格”列：找不到微网格“xinnan-g9-m9”：请先导入组织架构")
    await expect(rows.nth(1)).to_contain_text(f"“{ELSEWHERE}”不在您的管辖范围内")
    await expect(rows.nth(2)).to_have_text(re.compile(r"^2\s*xn-im-01\s*更新\s*党员$"))
    await expect(confirm).to_be_disabled()
    await screenshot(page, screenshots, "desk-import-refused")
    async with httpx.AsyncClient(base_url=base_url, headers=bearer) as api:
        assert 404 == (await api.get(routes.api(routes.MEMBER, member_id="xn-im-03"))).status_code
    await page.context.close()
