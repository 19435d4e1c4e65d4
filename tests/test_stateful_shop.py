"""A hypothesis state machine drives the points shop: awards whose points expire (a
micro-grid whose points are valid a month) or never do, holds, fulfils, cancels,
reversals, the clock moving past holds' and lots' dates, and sweeps. After every step it
checks, from the database itself and from ``verify``: no balance below zero, each member's
held account equal to their open holds, reserved + sold within stock and equal to the
redemptions, each member's lots holding exactly their available points (so an expiry can
never have taken points already spent), and points earned moved only by awards and
reversals — never by spending or expiry."""

from hypothesis import strategies as st
from hypothesis.stateful import (
    initialize,
    invariant,
    precondition,
    rule,
)
from sqlalchemy import text

from ledger import (
    AlreadyReversed,
    AwardCommand,
    Category,
    Database,
    IdempotentRequest,
    InsufficientPoints,
    Ledger,
    Principal,
)
from ledger.errors import HoldExpired, OutOfStock, OverLimit, RedemptionNotHeld
from ledger.shop.rewards import RewardCommand
from tests.builders import ADMIN, COMMUNITY, MICRO, OTHER_MICRO, Clock, tree
from tests.machines import DatabaseMachine, run_on

MEMBERS = ("m-甲", "m-乙", "m-丙")
REWARDS = {"r-油": 3, "r-义剪": None, "r-茶": 5}  # code → stock (None: unlimited)
COST = {"r-油": 7, "r-义剪": 3, "r-茶": 5}
LIMITED = "r-茶"  # at most two held or handed over per member per year
POLICIES = f"policies: [{{valid: forever}}, {{org_unit: {MICRO}, valid: months, months: 1}}]"
EXAMPLES = 20
STEPS = 30

BOOKS = {
    "negative balances": "SELECT id FROM account WHERE kind <> 'issuance' AND (available < 0 OR held < 0)",
    "held accounts that differ from the open holds": (
        "SELECT h.owner FROM account h LEFT JOIN (SELECT member_id, SUM(cost_points) AS c FROM redemption"
        " WHERE state = 'held' GROUP BY member_id) r ON r.member_id = h.owner"
        " JOIN account m ON m.kind = 'member' AND m.owner = h.owner"
        " WHERE h.kind = 'held' AND (h.available <> COALESCE(r.c, 0) OR m.held <> h.available)"
    ),
    "stock oversold or miscounted": (
        "SELECT w.code FROM reward w WHERE (w.stock IS NOT NULL AND w.reserved + w.sold > w.stock)"
        " OR w.reserved <> (SELECT COUNT(*) FROM redemption r WHERE r.reward_code = w.code AND r.state = 'held')"
        " OR w.sold <> (SELECT COUNT(*) FROM redemption r WHERE r.reward_code = w.code AND r.state = 'fulfilled')"
    ),
    "lots that do not hold exactly the available points": (
        "SELECT a.id FROM account a LEFT JOIN (SELECT account_id, SUM(remaining) AS s FROM lot GROUP BY account_id) l"
        " ON l.account_id = a.id WHERE a.kind = 'member' AND a.available <> COALESCE(l.s, 0)"
    ),
    "lots out of range": "SELECT id FROM lot WHERE remaining < 0 OR remaining > points",
}


class ShopMachine(DatabaseMachine):
    def __init__(self):
        super().__init__()
        self.clock = Clock()
        self.ledger = Ledger(Database(self.url), clock=self.clock)
        self.earned = dict.fromkeys(MEMBERS, 0)
        self.awards: dict[int, tuple[str, int]] = {}
        self.reversed: set[int] = set()
        self.holds: dict[int, dict] = {}  # redemption id → its hold result
        self.settled: set[int] = set()
        self.keys = 0

    def _key(self) -> IdempotentRequest:
        self.keys += 1
        return IdempotentRequest("admin", f"k{self.keys}", f"k{self.keys}")

    @initialize()
    def community_and_shop(self):
        async def setup():
            await tree(self.ledger)
            await self.ledger.load_expiry_policies(Principal.admin("test"), POLICIES)
            for i, member_id in enumerate(MEMBERS):
                await self.ledger.register_member(ADMIN, member_id, member_id, (MICRO, OTHER_MICRO)[i % 2], False, ())
            for code, stock in REWARDS.items():
                limit = (2, "year") if code == LIMITED else (None, None)
                command = RewardCommand(
                    code, COMMUNITY, code, "goods", COST[code], stock=stock, limit_count=limit[0], limit_period=limit[1]
                )
                await self.ledger.create_reward(ADMIN, command)

        self.run(setup())

    @rule(member_id=st.sampled_from(MEMBERS), points=st.integers(1, 50), expiring=st.booleans())
    def award(self, member_id, points, expiring):
        # The member's own micro-grid issues expiring points (MICRO's one-month policy applies
        # to what MICRO issues); the community issues points that never expire.
        unit = MICRO if expiring else COMMUNITY
        command = AwardCommand(member_id, points, Category.PATROL, self.clock(), "巡查", org_unit=unit)
        result, _ = self.run(self.ledger.award(ADMIN, command, self._key()))
        self.earned[member_id] += points
        self.awards[result.transaction_id] = (member_id, points)

    @rule(member_id=st.sampled_from(MEMBERS), code=st.sampled_from(sorted(REWARDS)))
    def hold(self, member_id, code):
        try:
            result, _ = self.run(self.ledger.redeem(ADMIN, code, member_id, self._key()))
        except (InsufficientPoints, OutOfStock, OverLimit) as refused:
            self._check_refusal(refused, member_id, code)
            return
        assert (result.state, result.cost_points) == ("held", COST[code])
        self.holds[result.id] = result

    def _check_refusal(self, refused, member_id, code):
        live = [h for i, h in self.holds.items() if h.reward_code == code and self._state(i) in ("held", "fulfilled")]
        if isinstance(refused, OutOfStock):
            assert REWARDS[code] is not None and len(live) >= REWARDS[code]
        elif isinstance(refused, OverLimit):
            assert code == LIMITED and sum(h.member_id == member_id for h in live) >= 2
        else:
            assert refused.fields()["available_points"] < COST[code]

    def _state(self, redemption_id):
        return self.run(self.ledger.redemption(ADMIN, redemption_id)).state

    @precondition(lambda self: self.holds)
    @rule(data=st.data(), fulfil=st.booleans())
    def settle(self, data, fulfil):
        redemption_id = data.draw(st.sampled_from(sorted(self.holds)))
        before = self.run(self.ledger.redemption(ADMIN, redemption_id))
        action = self.ledger.fulfil if fulfil else self.ledger.cancel
        try:
            result, _ = self.run(action(Principal.admin("shop"), redemption_id, self._key()))
        except RedemptionNotHeld:
            assert before.state != "held"
            return
        except HoldExpired:
            assert fulfil and before.state == "held" and self.clock() >= before.expires_at
            return
        assert before.state == "held"
        assert result.state == ("fulfilled" if fulfil else "cancelled")

    @precondition(lambda self: self.awards)
    @rule(data=st.data())
    def reverse(self, data):
        target = data.draw(st.sampled_from(sorted(self.awards)))
        try:
            self.run(self.ledger.reverse(ADMIN, target, "更正", self._key()))
        except AlreadyReversed:
            assert target in self.reversed
            return
        except InsufficientPoints:
            return  # spent, held or expired: the points are no longer there to take back
        member_id, points = self.awards[target]
        assert target not in self.reversed
        self.reversed.add(target)
        self.earned[member_id] -= points

    @rule(hours=st.integers(1, 24 * 40))
    def time_passes(self, hours):
        self.clock.advance(hours=hours)

    @rule()
    def sweep(self):
        self.run(self.ledger.sweep())
        again = self.run(self.ledger.sweep())
        assert (0, 0, 0) == (again.holds_expired, again.lots_expired, again.points_expired)

    @invariant()
    def books_balance(self):
        async def check():
            async with self.ledger.db.read() as conn:
                for what, sql in BOOKS.items():
                    assert [] == (await conn.execute(text(sql))).all(), what
            for member_id in MEMBERS:
                balance = await self.ledger.balance(ADMIN, member_id)
                # Spending and expiry never lower points earned; only reversals do.
                assert self.earned[member_id] == balance.lifetime_earned_points
            report = await self.ledger.verify()
            assert report.ok, report.problems

        self.run(check())


def test_the_shop_never_oversells_overdraws_or_expires_spent_points(backend):
    run_on(ShopMachine, backend, EXAMPLES, STEPS)
