"""A hypothesis state machine drives the ledger with random awards (manual and by rule),
activity settles, reversals, retries (by the key's principal or another) and
deactivations, on SQLite and PostgreSQL, and checks the books after every step against
the database itself (raw SQL), against a model of what each member should hold, against
the rules' caps, and against ``verify``."""

from datetime import UTC, datetime, timedelta

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
    IdempotencyKeyReused,
    IdempotencyKeyTaken,
    IdempotentRequest,
    InsufficientPoints,
    Ledger,
    MemberChanges,
    MemberInactive,
    NotReversible,
    Principal,
    Role,
)
from ledger.earning.activities import ActivityCommand
from ledger.earning.rules import WorkDone
from ledger.errors import CapExceeded, InvalidInput
from ledger.values import AWARD_POINTS_MAX
from tests.builders import ADMIN, MICRO, OTHER_MICRO, rules, tree
from tests.machines import DatabaseMachine, run_on

MEMBERS = ("m-甲", "m-乙", "m-丙")
RULE_WORK = ("patrol", "report", "diary", "hour")
TOP_TIER_POINTS = 15_000
MACHINE_TIERS = f"""
schemes:
  - tiers: [{{name: 合格, points: 5000}}, {{name: 优秀, points: {TOP_TIER_POINTS}}}]
    advanced_worker_roles: [micro_grid_worker]
"""
WINDOW_KINDS = {"d": "day", "w": "week", "y": "year"}
EXAMPLES = 25
STEPS = 25

BOOKS_CHECKS = {
    "unbalanced or single-posting transactions": (
        "SELECT txn_id FROM posting GROUP BY txn_id HAVING SUM(amount) <> 0 OR COUNT(*) < 2"
    ),
    "materialized balances that differ from their postings": (
        "SELECT a.id FROM account a LEFT JOIN (SELECT account_id, SUM(amount) AS s FROM posting GROUP BY account_id) p"
        " ON p.account_id = a.id WHERE a.available <> COALESCE(p.s, 0)"
    ),
    "negative member balances": "SELECT id FROM account WHERE kind <> 'issuance' AND available < 0",
}


class LedgerMachine(DatabaseMachine):
    def __init__(self):
        super().__init__()
        self.ledger = Ledger(Database(self.url))
        self.available = dict.fromkeys(MEMBERS, 0)
        self.earned = dict.fromkeys(MEMBERS, 0)
        self.active = dict.fromkeys(MEMBERS, True)
        self.awards: dict[int, tuple[str, int]] = {}  # award id → (member, points)
        self.reversals: set[int] = set()
        self.reversed: set[int] = set()
        self.requests: list[tuple[IdempotentRequest, AwardCommand, dict]] = []
        self.keys = 0

    @initialize()
    def org_tree_members_and_rules(self):
        async def setup():
            await tree(self.ledger)
            await rules(self.ledger)
            await self.ledger.load_tiers(Principal.admin("test"), MACHINE_TIERS)
            for i, member_id in enumerate(MEMBERS):
                home = MICRO if i % 2 == 0 else OTHER_MICRO
                await self.ledger.register_member(ADMIN, member_id, member_id, home, i == 0, (Role.MICRO_GRID_WORKER,))
            self.caps = {rule.code: dict(rule.caps) for rule in await self.ledger.rules()}

        self.run(setup())

    def _credit(self, member_id: str, points: int, transaction_id: int) -> None:
        self.available[member_id] += points
        self.earned[member_id] += points
        self.awards[transaction_id] = (member_id, points)

    @rule(
        member_id=st.sampled_from(MEMBERS),
        rule_code=st.sampled_from(RULE_WORK),
        quantity=st.integers(1, 1500),
        clip=st.booleans(),
        days_ago=st.integers(0, 10),
    )
    def award_by_rule(self, member_id, rule_code, quantity, clip, days_ago):
        when = datetime.now(UTC) - timedelta(days=days_ago, minutes=1)
        work = WorkDone(quantity, steps=1500, handled_within_limit=quantity % 2 == 0)
        command = AwardCommand(member_id, None, None, when, "stateful", rule=rule_code, work=work, clip=clip)
        try:
            result, _ = self.run(self.ledger.award(ADMIN, command, self._request(f"rule {self.keys}")))
        except (CapExceeded, InvalidInput, MemberInactive) as refused:
            assert not isinstance(refused, MemberInactive) or not self.active[member_id]
            return
        assert self.active[member_id]
        self._credit(member_id, result.points, result.transaction_id)
        assert self.available[member_id] == result.available_points

    @rule(hours=st.lists(st.integers(1, 12), min_size=1, max_size=len(MEMBERS)))
    def settle_an_activity(self, hours):
        async def settle():
            ends = datetime.now(UTC) - timedelta(minutes=1)
            command = ActivityCommand("义剪", MICRO, "hour", ends - timedelta(hours=3), ends, MEMBERS[0])
            activity = await self.ledger.create_activity(ADMIN, command)
            await self.ledger.put_roster(ADMIN, activity.id, list(zip(MEMBERS, hours, strict=False)))
            return await self.ledger.settle(ADMIN, activity.id, self._request(f"settle {activity.id}"))

        result, _ = self.run(settle())
        for line in result.lines:
            if line.status == "awarded":
                self._credit(line.member_id, line.points, line.transaction_id)
            else:
                assert (
                    "member_inactive" == line.reason
                    and not self.active[line.member_id]
                    or ("cap_exceeded" == line.reason)
                )

    def _request(self, body: str) -> IdempotentRequest:
        self.keys += 1
        return IdempotentRequest("admin", f"key-{self.keys}", body)

    @rule(
        member_id=st.sampled_from(MEMBERS),
        points=st.integers(1, AWARD_POINTS_MAX),
        category=st.sampled_from(list(Category)),
        days_ago=st.integers(0, 400),
    )
    def award(self, member_id, points, category, days_ago):
        when = datetime.now(UTC) - timedelta(days=days_ago, minutes=1)
        command = AwardCommand(member_id, points, category, when, "stateful")
        request = self._request(f"{member_id}/{points}/{category}/{days_ago}")
        try:
            result, replayed = self.run(self.ledger.award(ADMIN, command, request))
        except MemberInactive:
            assert not self.active[member_id]
            return
        assert self.active[member_id] and not replayed
        self.available[member_id] += points
        self.earned[member_id] += points
        assert self.available[member_id] == result.available_points
        self.awards[result.transaction_id] = (member_id, points)
        self.requests.append((request, command, result))

    @precondition(lambda self: self.awards or self.reversals)
    @rule(data=st.data())
    def reverse(self, data):
        target = data.draw(st.sampled_from(sorted(self.awards) + sorted(self.reversals)))
        try:
            result, _ = self.run(self.ledger.reverse(ADMIN, target, "更正", self._request(f"undo {target}")))
        except NotReversible:
            assert target in self.reversals
            return
        except AlreadyReversed:
            assert target in self.reversed
            return
        except InsufficientPoints:
            member_id, points = self.awards[target]
            assert target not in self.reversed and self.available[member_id] < points
            return
        member_id, points = self.awards[target]
        assert target not in self.reversed and target not in self.reversals
        self.reversed.add(target)
        self.reversals.add(result.transaction_id)
        self.available[member_id] -= points
        self.earned[member_id] -= points
        assert self.available[member_id] == result.available_points

    @precondition(lambda self: self.requests)
    @rule(data=st.data(), same_body=st.booleans(), same_principal=st.booleans())
    def retry(self, data, same_body, same_principal):
        """A retry by the key's first principal replays; by any other it is refused, whatever its body."""
        request, command, first = data.draw(st.sampled_from(self.requests))
        principal = request.principal if same_principal else "organizer-b"
        body = request.fingerprint if same_body else request.fingerprint + "-changed"
        try:
            result, replayed = self.run(
                self.ledger.award(Principal.admin(principal), command, IdempotentRequest(principal, request.key, body))
            )
        except IdempotencyKeyTaken:
            assert not same_principal
            return
        except IdempotencyKeyReused:
            assert same_principal and not same_body
            return
        assert same_principal and same_body and replayed and first == result

    @rule(member_id=st.sampled_from(MEMBERS))
    def toggle_active(self, member_id):
        self.active[member_id] = not self.active[member_id]
        self.run(
            self.ledger.change_member(Principal.admin("test"), member_id, MemberChanges(active=self.active[member_id]))
        )

    @invariant()
    def no_cap_is_exceeded(self):
        async def usage():
            async with self.ledger.db.read() as conn:
                return (await conn.execute(text('SELECT rule_code, "window", points FROM rule_usage'))).all()

        for rule_code, window, points in self.run(usage()):
            cap = self.caps.get(rule_code, {}).get(WINDOW_KINDS[window[0]])
            assert cap is None or 0 <= points <= cap, (rule_code, window, points, cap)

    @invariant()
    def flags_follow_points_earned(self):
        """A member holds a flag for a period exactly when their points earned in it reach
        the top tier and they are eligible (all are micro-grid workers; the first is a party member)."""

        async def held():
            async with self.ledger.db.read() as conn:
                earned = (
                    await conn.execute(
                        text(
                            "SELECT m.id, p.period, p.earned FROM account_period p"
                            " JOIN member m ON m.account_id = p.account_id"
                        )
                    )
                ).all()
                live = (
                    await conn.execute(
                        text("SELECT member_id, period, flag FROM nomination_current WHERE state <> 'revoked'")
                    )
                ).all()
            return earned, {tuple(row) for row in live}

        earned, live = self.run(held())
        expected = set()
        for member_id, period, points in earned:
            if points >= TOP_TIER_POINTS:
                expected.add((member_id, period, "先进工作者"))
                if member_id == MEMBERS[0]:
                    expected.add((member_id, period, "优秀共产党员"))
        assert expected == live

    @invariant()
    def books_balance(self):
        async def check():
            async with self.ledger.db.read() as conn:
                for what, sql in BOOKS_CHECKS.items():
                    assert [] == (await conn.execute(text(sql))).all(), what
            for member_id in MEMBERS:
                balance = await self.ledger.balance(ADMIN, member_id)
                assert (self.available[member_id], self.earned[member_id]) == (
                    balance.available_points,
                    balance.lifetime_earned_points,
                )
            report = await self.ledger.verify()
            assert report.ok, report.problems

        self.run(check())


def test_the_books_always_balance(backend):
    """Whatever sequence of writes happens, every invariant of the ledger holds after each."""
    run_on(LedgerMachine, backend, EXAMPLES, STEPS)
