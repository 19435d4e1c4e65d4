"""Demo data from the source text: the street offices and communities it names, grids
and micro-grids under them, a few dozen members, and the awards for the 3月6日 爱心义剪
haircut day (新南社区) and the 3月8日 茶艺 tea-art event (确滩社区).

Points follow the most common public scheme: 1 hour of volunteer service = 1 point.
The points shops (积分超市) of the two communities list a few goods and services, and
新南社区's points are valid to the end of the calendar year (确滩社区 keeps the default:
they never expire).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from ledger.earning.awards import AwardCommand
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
SHANGHAI = zone("Asia/Shanghai")


def _name(i: int) -> str:
    return SURNAMES[i % len(SURNAMES)] + GIVEN[(i * 7) % len(GIVEN)]


async def _tree(ledger: Ledger) -> list[str]:
    micro_grids = []
    for street, (street_name, communities) in STREETS.items():
        await ledger.register_unit(street, street_name, Level.STREET, None)
        for community, community_name in communities.items():
            await ledger.register_unit(community, community_name, Level.COMMUNITY, street)
            for g in range(1, GRIDS_PER_COMMUNITY + 1):
                grid = f"{community}-g{g}"
                await ledger.register_unit(grid, f"{community_name}第{g}大网格", Level.GRID, community)
                for m in range(1, MICRO_GRIDS_PER_GRID + 1):
                    micro = f"{grid}-m{m}"
                    await ledger.register_unit(micro, f"{community_name}{g}-{m}微网格", Level.MICRO_GRID, grid)
                    micro_grids.append(micro)
    return micro_grids


async def _award(ledger: Ledger, member_id: str, points: int, category: Category, when: datetime, memo: str) -> None:
    command = AwardCommand(member_id, points, category, when, memo)
    await ledger.award(command, DEMO_RECORDER, IdempotentRequest(DEMO_RECORDER, f"{member_id}:{memo}", memo))


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
        member_id = f"demo-{i + 1:03d}"
        await ledger.register_member(member_id, _name(i), home, i % 2 == 0, roles)
        people.append((member_id, home))
    year = ledger.clock().astimezone(SHANGHAI).year
    haircut = datetime(year, 3, 6, 14, 0, tzinfo=SHANGHAI)
    for member_id, _home in [p for p in people if p[1].startswith("xinnan")]:
        await _award(
            ledger,
            member_id,
            3,
            Category.ACTIVITY,
            haircut + timedelta(hours=3),
            "爱心义剪志愿服务 3小时(法治公园,服务居民90人次)",
        )
    tea = datetime(year, 3, 8, 9, 30, tzinfo=SHANGHAI)
    for member_id, _home in [p for p in people if p[1].startswith("quetan")]:
        await _award(
            ledger, member_id, 2, Category.ACTIVITY, tea + timedelta(hours=2), "香茗伴巾帼 茶艺陶情操 主题活动 2小时"
        )
    for member_id, _home in people[::3]:
        await _award(ledger, member_id, 1, Category.PATROL, tea + timedelta(days=30), "日巡千步 网格巡查")
    await _shops(ledger)
    return True


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
)


async def _shops(ledger: Ledger) -> None:
    await ledger.load_expiry_policies(DEMO_EXPIRY, DEMO_RECORDER)
    for command in DEMO_REWARDS:
        await ledger.create_reward(command, DEMO_RECORDER)
