"""Demo data from the source text: the street offices and communities it names, grids
and micro-grids under them, a few dozen members, and the awards for the 3月6日 爱心义剪
haircut day (新南社区) and the 3月8日 茶艺 tea-art event (确滩社区).

Points follow the most common public scheme: 1 hour of volunteer service = 1 point.
Every community has a points shop (积分超市) with a few goods and services, and
新南社区's points are valid to the end of the calendar year (the others keep the default:
they never expire). Two grid workers of 塔湾社区 passed 优秀 with a year of grid work, so
the nominations, a 公示 notice and the exports have names to show; an activity of 塔湾社区
waits to be settled and a resident's event report waits for review, so the desk has work.

The demo needs earning rules and a tier scheme in place (``ledger serve --demo`` loads
the defaults first): the activity and the claim name rules, and the flags come from tiers.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from ledger.access.principals import Principal
from ledger.earning.activities import ActivityCommand
from ledger.earning.awards import AwardCommand
from ledger.earning.claims import ClaimCommand
from ledger.earning.rules import WorkDone
from ledger.journal.idempotency import IdempotentRequest
from ledger.journal.periods import zone
from ledger.service import Ledger
from ledger.shop.rewards import SERVICE, RewardCommand
from ledger.storage.tables import OrgUnit
from ledger.values import Category, Level, Role

STREETS = {
    "dongdajie": (
        "东大街街道",
        {"dongguannanli": "东关南里社区", "chengnanlu": "城南路社区", "boaijie": "博爱街社区", "tawan": "塔湾社区"},
    ),
    "longhaimalu": ("陇海马路街道", {"longhai-1": "陇海马路第一社区"}),
    "zijingshannanlu": ("紫荆山南路街道", {"xinnan": "新南社区"}),
    "chengdonglu": ("城东路街道", {"quetan": "确滩社区"}),
}
GRIDS_PER_COMMUNITY = 2
MICRO_GRIDS_PER_GRID = 2

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = ["建国", "秀英", "桂兰", "志强", "丽娟", "文华", "海燕", "国庆", "红梅", "建华", "淑珍", "明"]

DEMO_MEMBERS = 54  # a few dozen: one to two per micro-grid
DEMO_RECORDER = "demo"
DEMO_ACTOR = Principal.admin(DEMO_RECORDER)  # who the demo's records say wrote them
SHANGHAI = zone("Asia/Shanghai")

DEMO_YEAR = 2026
"""The year the demo's work happened. Fixed, not the current year: the README's walk-through
reads ``period=2026`` and must find the demo's names whenever it is run, and every date
of the demo (up to 25 November) must be in the past when it loads, which a date in the
current year is not in January."""

RESIDENT = "demo-021"
"""王红梅 of 新南社区 1-1微网格: the 3 points of the haircut day, enough for the shop's 毛巾."""

STARS = ("demo-013", "demo-016")
"""Two micro-grid workers of 塔湾社区 past 优秀 (300 points earned in the year): 胡建国
(demo-013) is a party member and holds 优秀共产党员 and 先进工作者, 林建华 (demo-016) is
not and holds 先进工作者, so both flags have names."""

STAR_MONTHS = 11
STAR_MONTHLY_POINTS = 30
"""A month of patrols and assigned tasks, recorded as one award on the 25th of January to
November: 11 × 30 = 330 points, past the default scheme's 300 for 优秀."""

CLAIMANT = "demo-014"
"""A volunteer of 塔湾社区 whose event report waits for review (claim 1)."""

ACTIVITY_ROSTER = (("demo-013", 3), ("demo-014", 3), ("demo-042", 2))
"""Who helped at 塔湾社区's fire-safety day and for how many hours (activity 1, not settled)."""


def _name(i: int) -> str:
    return SURNAMES[i % len(SURNAMES)] + GIVEN[(i * 7) % len(GIVEN)]


def _member_id(i: int) -> str:
    return f"demo-{i + 1:03d}"


def _name_of(member_id: str) -> str:
    return _name(int(member_id.removeprefix("demo-")) - 1)


async def _tree(ledger: Ledger) -> list[str]:
    micro_grids = []
    for street, (street_name, communities) in STREETS.items():
        await ledger.register_unit(DEMO_ACTOR, street, street_name, Level.STREET, None)
        for community, community_name in communities.items():
            await ledger.register_unit(DEMO_ACTOR, community, community_name, Level.COMMUNITY, street)
            for g in range(1, GRIDS_PER_COMMUNITY + 1):
                grid = f"{community}-g{g}"
                await ledger.register_unit(DEMO_ACTOR, grid, f"{community_name}第{g}大网格", Level.GRID, community)
                for m in range(1, MICRO_GRIDS_PER_GRID + 1):
                    micro = f"{grid}-m{m}"
                    await ledger.register_unit(
                        DEMO_ACTOR, micro, f"{community_name}{g}-{m}微网格", Level.MICRO_GRID, grid
                    )
                    micro_grids.append(micro)
    return micro_grids


async def _award(ledger: Ledger, member_id: str, points: int, category: Category, when: datetime, memo: str) -> None:
    command = AwardCommand(member_id, points, category, when, memo)
    await ledger.award(DEMO_ACTOR, command, IdempotentRequest(DEMO_RECORDER, f"{member_id}:{memo}", memo))


async def load_demo(ledger: Ledger) -> bool:
    """Load the demo once; False when the database already holds an org tree."""
    async with ledger.db.read() as conn:
        if (await conn.execute(select(func.count()).select_from(OrgUnit))).scalar_one():
            return False
    micro_grids = await _tree(ledger)
    people = []
    for i in range(DEMO_MEMBERS):
        home = micro_grids[i % len(micro_grids)]
        roles = (Role.MICRO_GRID_WORKER,) if i % 3 == 0 else (Role.VOLUNTEER, Role.RESIDENT)
        member_id = _member_id(i)
        await ledger.register_member(DEMO_ACTOR, member_id, _name(i), home, i % 2 == 0, roles)
        people.append((member_id, home))
    haircut = datetime(DEMO_YEAR, 3, 6, 14, 0, tzinfo=SHANGHAI)
    for member_id, _home in [p for p in people if p[1].startswith("xinnan")]:
        await _award(
            ledger,
            member_id,
            3,
            Category.ACTIVITY,
            haircut + timedelta(hours=3),
            "爱心义剪志愿服务 3小时(法治公园,服务居民90人次)",
        )
    tea = datetime(DEMO_YEAR, 3, 8, 9, 30, tzinfo=SHANGHAI)
    for member_id, _home in [p for p in people if p[1].startswith("quetan")]:
        await _award(
            ledger, member_id, 2, Category.ACTIVITY, tea + timedelta(hours=2), "香茗伴巾帼 茶艺陶情操 主题活动 2小时"
        )
    for member_id, _home in people[::3]:
        await _award(ledger, member_id, 1, Category.PATROL, tea + timedelta(days=30), "日巡千步 网格巡查")
    for member_id in STARS:
        for month in range(1, STAR_MONTHS + 1):
            when = datetime(DEMO_YEAR, month, 25, 18, 0, tzinfo=SHANGHAI)
            await _award(ledger, member_id, STAR_MONTHLY_POINTS, Category.TASK, when, f"{month}月 网格巡查与交办任务")
    await _shops(ledger)
    await _desk_work(ledger)
    return True


async def _desk_work(ledger: Ledger) -> None:
    """An activity waiting to be settled and a report waiting for review, in 塔湾社区."""
    starts = datetime(DEMO_YEAR, 11, 28, 9, 0, tzinfo=SHANGHAI)
    activity = ActivityCommand(
        "冬季消防安全宣传", "tawan", "volunteer-hour", starts, starts + timedelta(hours=3), STARS[0]
    )
    created = await ledger.create_activity(DEMO_ACTOR, activity)
    await ledger.put_roster(DEMO_ACTOR, created.id, list(ACTIVITY_ROSTER))
    report = ClaimCommand(
        CLAIMANT,
        "event-report",
        WorkDone(1, handled_within_limit=True),
        datetime(DEMO_YEAR, 11, 25, 10, 0, tzinfo=SHANGHAI),
        memo="楼道堆放杂物，已清理",
        reference="郑好办-20261125-017",
    )
    await ledger.submit_claim(DEMO_ACTOR, report)


DEMO_EXPIRY = "policies: [{valid: forever}, {org_unit: xinnan, valid: end_of_year}]"
XINNAN_COUNTER, XINNAN_HOURS = "新南社区党群服务中心一楼", "周一至周五 9:00–17:00"
DEMO_REWARDS = (
    RewardCommand(
        "xinnan-毛巾",
        "xinnan",
        "毛巾",
        "goods",
        2,
        name_en="Towel",
        stock=30,
        pickup_place=XINNAN_COUNTER,
        pickup_hours=XINNAN_HOURS,
    ),
    RewardCommand(
        "xinnan-洗衣液",
        "xinnan",
        "洗衣液",
        "goods",
        5,
        name_en="Laundry liquid",
        stock=12,
        pickup_place=XINNAN_COUNTER,
        pickup_hours=XINNAN_HOURS,
    ),
    RewardCommand(
        "xinnan-义剪",
        "xinnan",
        "爱心义剪一次",
        SERVICE,
        1,
        name_en="Free haircut",
        limit_count=1,
        limit_period="month",
        pickup_place="新南社区活动室",
        pickup_hours="每月第一个周六上午",
    ),
    RewardCommand("quetan-茶叶", "quetan", "茶叶一盒", "goods", 3, name_en="Box of tea", stock=20),
    RewardCommand("dongguannanli-香皂", "dongguannanli", "香皂", "goods", 2, name_en="Soap", stock=40),
    RewardCommand("chengnanlu-抽纸", "chengnanlu", "抽纸一提", "goods", 2, name_en="Tissues", stock=40),
    RewardCommand("boaijie-食用油", "boaijie", "食用油", "goods", 8, name_en="Cooking oil", stock=10),
    RewardCommand("tawan-大米", "tawan", "大米5公斤", "goods", 6, name_en="Rice, 5 kg", stock=20),
    RewardCommand(
        "tawan-理发", "tawan", "理发一次", SERVICE, 2, name_en="Haircut", limit_count=1, limit_period="month"
    ),
    RewardCommand("longhai-1-手套", "longhai-1", "劳保手套", "goods", 1, name_en="Work gloves", stock=50),
)
"""A shop in every community, so every demo member can spend points close to home."""


async def _shops(ledger: Ledger) -> None:
    await ledger.load_expiry_policies(DEMO_ACTOR, DEMO_EXPIRY)
    for command in DEMO_REWARDS:
        await ledger.create_reward(DEMO_ACTOR, command)


def guide(base_url: str) -> str:
    """What the demo holds and how to look at it, printed by ``ledger serve --demo``."""
    streets = "\n".join(
        f"    {street} {name}: " + ", ".join(f"{code} {title}" for code, title in communities.items())
        for street, (name, communities) in STREETS.items()
    )
    return f"""\
The demo holds {len(STREETS)} street offices and their communities, each with \
{GRIDS_PER_COMMUNITY} grids (<community>-g1) of {MICRO_GRIDS_PER_GRID} micro-grids (<community>-g1-m1):
{streets}
  members {_member_id(0)} … {_member_id(DEMO_MEMBERS - 1)}; {RESIDENT} {_name_of(RESIDENT)} (xinnan-g1-m1) holds \
3 points, enough for the shop's 毛巾;
  {STARS[0]} {_name_of(STARS[0])} and {STARS[1]} {_name_of(STARS[1])} (tawan) passed 优秀 in {DEMO_YEAR};
  activity 1 (tawan) waits to be settled, claim 1 (tawan) waits for review; a shop in every community.
Sign in:
  /desk  open {base_url}/desk/signin, paste the admin token (LEDGER_ADMIN_TOKEN), then open {base_url}/desk?unit=tawan
  /me    make a resident's link: .venv/bin/ledger token create --role member --member {RESIDENT} \
--label {_name_of(RESIDENT)}
         and open {base_url}/me/signin?token=<the token it prints>"""
