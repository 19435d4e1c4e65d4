"""The public notice (公示) and the landing page in a real browser (headless Chromium):
an organizer opens a notice of thirty names on the desk and prints it on one A4 page;
objections are entered, and names confirmed or withdrawn once a notice has ended; the
public page opened from the notice's link shows names, units and flags and no member id.
Each page leaves a screenshot for review."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from api import routes
from ledger import AwardCommand, Category, Database, IdempotentRequest, Ledger, Principal, Role
from ledger.demo import load_demo
from ledger.earning.rules import default_rules_text
from ledger.honours.tiers import default_tiers_text
from tests.builders import ADMIN, principal
from tests.conftest import CHECKPOINT_KEY
from tests.site import SCREENSHOTS, phone, screenshot, seeded_site

UNIT, HOME, EARLIER_HOME, OPEN_HOME = "xinnan", "xinnan-g1-m1", "xinnan-g2-m1", "xinnan-g2-m2"
OPEN_UNIT_NAME = "新南社区2-2微网格"
OFFICE = "紫荆山南路街道"
NAMES_ON_NOTICE = 30
"""The most names the printed notice must fit on one A4 page."""
EXCELLENT_POINTS = 300  # the default scheme's 优秀
ADVANCED = "先进工作者"
EARLIER = ("xn-91", "xn-92")
ON_NOTICE = ("xn-93", "xn-94")
ENDED_DAYS_AGO = 14
"""The earlier notice opened two weeks ago: its five working days are over."""
MEMBER_ID = re.compile(r"\bxn-\d+\b")

pytestmark = pytest.mark.xdist_group("browser")


async def _flagged(ledger: Ledger, member_id: str, name: str, home: str) -> None:
    await ledger.register_member(ADMIN, member_id, name, home, False, (Role.VOLUNTEER,))
    command = AwardCommand(member_id, EXCELLENT_POINTS, Category.ACTIVITY, ledger.clock(), "全年志愿服务")
    await ledger.award(Principal.admin("test"), command, IdempotentRequest("test", member_id, member_id))


async def _seed(ledger: Ledger, db: Database) -> str:
    """Thirty flagged volunteers of 新南社区 waiting for a notice, two more on a notice that
    has ended, two on a notice still running, and an organizer's token for 新南社区."""
    await ledger.load_rules(Principal.admin("test"), default_rules_text())
    await ledger.load_tiers(Principal.admin("test"), default_tiers_text())
    await load_demo(ledger)
    for member_id in EARLIER:
        await _flagged(ledger, member_id, f"赵前{member_id[-1]}", EARLIER_HOME)
    past = ledger.clock() - timedelta(days=ENDED_DAYS_AGO)
    earlier = Ledger(db, clock=lambda: past, checkpoint_key=CHECKPOINT_KEY.encode())
    await earlier.open_notice(Principal.admin("test"), None, EARLIER_HOME, ADVANCED, None)
    for member_id in ON_NOTICE:
        await _flagged(ledger, member_id, f"李公示{member_id[-1]}", OPEN_HOME)
    await ledger.open_notice(Principal.admin("test"), None, OPEN_HOME, ADVANCED, None)
    for i in range(1, NAMES_ON_NOTICE + 1):
        await _flagged(ledger, f"xn-{i:02d}", f"王新南{i:02d}", HOME)
    _, token = await principal(ledger, "organizer", UNIT)
    return token


@pytest.fixture(scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[str, str]]:
    def seed(db: Database) -> Awaitable[str]:
        return _seed(Ledger(db, checkpoint_key=CHECKPOINT_KEY.encode()), db)

    async with seeded_site(tmp_path_factory.mktemp("site"), seed) as served:
        yield served


@pytest.fixture(scope="module")
def screenshots() -> Path:
    """A folder of its own under the screenshots, so the other page tests' pictures stay."""
    folder = SCREENSHOTS / "notices"
    for old in folder.glob("*"):
        old.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def _desk(browser: Browser, base_url: str, token: str) -> Page:
    page = await phone(browser, base_url)
    page.on("dialog", lambda dialog: dialog.accept())
    await page.goto(routes.PAGE_DESK_SIGNIN)
    await page.get_by_label("登录令牌").fill(token)
    await page.get_by_role("button", name="登录").click()
    await expect(page).to_have_url(f"{base_url}{routes.PAGE_DESK}")
    return page


def _pdf_pages(pdf: bytes) -> int:
    """Page objects in a PDF (``/Type /Page``, not the ``/Pages`` tree above them)."""
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))


async def test_an_organizer_opens_a_notice_and_prints_it_on_one_a4_page(site, browser, screenshots):
    """From the desk's notice list, open a notice of the unit's 30 flagged names; its page
    prints as one A4 page holding the title, the street office, the 30 names with 序号,
    the dates, where to object and the checkpoint, and none of the desk's controls."""
    base_url, token = site
    page = await _desk(browser, base_url, token)
    await page.get_by_role("link", name="公示").click()
    await expect(page).to_have_url(f"{base_url}{routes.PAGE_DESK_NOTICES}")
    await page.get_by_label("推荐类别").select_option(ADVANCED)
    await screenshot(page, screenshots, "desk-notices")
    await page.get_by_role("button", name="发起公示").click()
    await expect(page).to_have_url(re.compile(routes.path(routes.PAGE_DESK_NOTICE, notice_id=r"\d+") + "$"))
    sheet = page.get_by_test_id("notice-sheet")
    await expect(sheet.locator("tbody tr")).to_have_count(NAMES_ON_NOTICE)
    last = [str(NAMES_ON_NOTICE), "王新南30", "新南社区1-1微网格", ADVANCED]
    await expect(sheet.locator("tbody tr").last.locator("td")).to_have_text(last)
    await screenshot(page, screenshots, "desk-notice")

    await page.emulate_media(media="print")
    for hidden in (page.locator(".bar"), page.get_by_test_id("notice-names"), page.get_by_test_id("public-link")):
        await expect(hidden).to_be_hidden()
    printed = await sheet.inner_text()
    for words in ("公　示", OFFICE, "序号", "公示期：", "如对上述人选有异议", "账本检查点：交易"):
        assert words in printed
    assert re.search(r"账本检查点：交易 \d+ · [0-9a-f]{16}$", printed.strip())
    assert not MEMBER_ID.search(printed)
    pdf = await page.pdf(format="A4", prefer_css_page_size=True, print_background=True)
    (screenshots / "desk-notice.pdf").write_bytes(pdf)
    assert 1 == _pdf_pages(pdf)
    await page.screenshot(path=screenshots / "desk-notice-print.png", full_page=True)
    await page.context.close()


async def test_objections_are_entered_and_names_decided_after_the_notice_ends(site, browser, screenshots):
    """On the notice that has ended, one name is confirmed and the other withdrawn with a
    reason; on the open notice an objection is entered and shows under the name."""
    base_url, token = site
    page = await _desk(browser, base_url, token)
    await page.goto(routes.PAGE_DESK_NOTICES)
    await page.locator("[data-testid=notices] a", has_text="已期满").click()
    names = page.get_by_test_id("notice-names")
    first, second = names.locator("li", has_text="赵前1"), names.locator("li", has_text="赵前2")
    await first.get_by_text("确认或撤回").click()
    await first.get_by_role("button", name="确认推荐").click()
    await expect(page.locator("#flash")).to_contain_text("已确认推荐“赵前1”")
    await expect(first.locator(".tag")).to_have_text("已确认推荐")
    await second.get_by_text("确认或撤回").click()
    await second.get_by_role("button", name="撤回推荐").click()
    await expect(second.locator('[data-error-for="reason"]').last).to_have_text("请填写原因（最多 500 字）")
    await second.get_by_label("撤回原因").fill("经核查有误")
    await second.get_by_role("button", name="撤回推荐").click()
    await expect(second.locator(".tag")).to_have_text("已撤回")
    await screenshot(page, screenshots, "desk-notice-decided")

    await page.goto(routes.PAGE_DESK_NOTICES)
    await page.locator("[data-testid=notices] a", has_text=OPEN_UNIT_NAME).click()
    name = page.get_by_test_id("notice-names").locator("li", has_text="李公示3")
    await name.get_by_text("登记异议或撤回").click()
    await name.get_by_label("异议内容").fill("群众反映服务时长有出入")
    await name.get_by_role("button", name="登记异议").click()
    await expect(page.get_by_test_id("notice-names").locator("li", has_text="李公示3")).to_contain_text(
        "异议：群众反映服务时长有出入"
    )
    await page.context.close()


async def test_the_public_notice_page_shows_no_member_id(site, browser, screenshots):
    """The notice's public link opens without signing in and shows the names, units and
    flags only; a link with a changed code finds nothing."""
    base_url, token = site
    desk = await _desk(browser, base_url, token)
    await desk.goto(routes.PAGE_DESK_NOTICES)
    await desk.locator("[data-testid=notices] a", has_text=OPEN_UNIT_NAME).click()
    link = await desk.get_by_test_id("public-link").get_attribute("href")
    await desk.context.close()
    assert link is not None and link.startswith(f"{base_url}/notices/")

    page = await phone(browser, base_url)
    await page.goto(link)
    sheet = page.get_by_test_id("notice-sheet")
    rows = [[str(i), f"李公示{m[-1]}", OPEN_UNIT_NAME, ADVANCED] for i, m in enumerate(ON_NOTICE, 1)]
    for row, cells in zip(await sheet.locator("tbody tr").all(), rows, strict=True):
        await expect(row.locator("td")).to_have_text(cells)
    html = await page.content()
    assert not MEMBER_ID.search(html)
    assert "退出登录" not in html
    await screenshot(page, screenshots, "notice-public")
    forged = link[:-1] + ("0" if link[-1] != "0" else "1")
    response = await page.goto(forged)
    assert response is not None and 404 == response.status
    await expect(page.locator("main")).to_contain_text("找不到该公示")
    await page.context.close()


async def test_the_landing_page_says_what_the_service_is_and_leads_to_both_pages(site, browser, screenshots):
    """``/`` says in Chinese what the service does and links to 我的积分 and the desk."""
    base_url, _ = site
    page = await phone(browser, base_url)
    await page.goto("/")
    await expect(page.locator("main")).to_contain_text("积分超市")
    await expect(page.get_by_test_id("to-me")).to_have_attribute("href", routes.PAGE_ME)
    await expect(page.get_by_test_id("to-desk")).to_have_attribute("href", routes.PAGE_DESK)
    await screenshot(page, screenshots, "landing")
    await page.get_by_test_id("to-me").click()
    await expect(page).to_have_url(re.compile(re.escape(routes.PAGE_ME_SIGNIN) + "$"))
    await page.context.close()
