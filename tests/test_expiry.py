"""Expiry: policies as data per unit subtree, lots dated when points arrive, spending
that draws on the soonest-expiring points, and a sweep that expires only what is unspent,
safely twice. Expiry never lowers points earned."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from api import routes
from ledger import Principal
from ledger.errors import DataFileInvalid
from ledger.journal.periods import zone
from tests.builders import (
    BAD_POLICIES,
    BAD_POLICIES_ERRORS,
    COMMUNITY,
    GRID,
    MICRO,
    NOTHING_SWEPT,
    Clock,
    award,
    file_errors,
    member,
    post,
    redeem,
    reward,
    tree,
)

pytestmark = pytest.mark.clocked

SHANGHAI = zone("Asia/Shanghai")
POLICIES = f"""
policies:
  - valid: forever
  - {{org_unit: {MICRO}, valid: months, months: 1}}
  - {{org_unit: {GRID}, valid: end_of_year}}
"""


@pytest.fixture
def clock():
    return Clock(datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI))


async def _setup(ledger):
    await tree(ledger)
    await ledger.load_expiry_policies(Principal.admin("test"), POLICIES)
    return await member(ledger)


def _when(clock):
    return (clock() - timedelta(minutes=5)).isoformat()


async def _balance(client, member_id):
    return (await client.get(routes.api(routes.MEMBER_BALANCE, member_id=member_id))).json()


async def _sweep(client):
    return (await client.post(routes.api(routes.ADMIN_SWEEP))).json()


async def test_points_are_dated_by_the_policy_of_the_unit_that_issued_them(client, ledger, clock):
    mid = await _setup(ledger)
    await award(client, mid, 10, occurred_at=_when(clock))  # MICRO: one month
    await award(client, mid, 20, occurred_at=_when(clock), org_unit=GRID)  # GRID: end of the year
    await award(client, mid, 40, occurred_at=_when(clock), org_unit=COMMUNITY)  # default: forever
    async with ledger.db.read() as conn:
        rows = (await conn.execute(text("SELECT points, expires_at FROM lot ORDER BY id"))).all()
    dates = [
        (points, at if at is None or isinstance(at, datetime) else datetime.fromisoformat(at)) for points, at in rows
    ]
    # Stored in UTC: 25 Dec 10:00 and 1 Jan 00:00 in Shanghai.
    assert [(10, datetime(2026, 12, 25, 2)), (20, datetime(2026, 12, 31, 16)), (40, None)] == dates
    balance = await _balance(client, mid)
    assert 10 == balance["expiring_points"]  # within 30 days: only the one-month lot
    assert datetime(2026, 12, 25, 10, tzinfo=SHANGHAI) == datetime.fromisoformat(balance["next_expiry_at"])
    clock.advance(days=10)
    assert 30 == (await _balance(client, mid))["expiring_points"]  # the year-end lot is now within 30 days


async def test_the_sweep_expires_unspent_points_once_and_never_lowers_points_earned(client, ledger, clock):
    mid = await _setup(ledger)
    first = await award(client, mid, 10, occurred_at=_when(clock))
    await award(client, mid, 5, occurred_at=_when(clock), org_unit=COMMUNITY)
    clock.advance(days=31)
    assert {
        "holds_expired": 0,
        "lots_expired": 1,
        "points_expired": 10,
        "audit_rows_purged": 0,
        "tokens_purged": 0,
    } == await _sweep(client)
    assert NOTHING_SWEPT == await _sweep(client)
    balance = await _balance(client, mid)
    assert (5, 15, 15, 0) == (
        balance["available_points"],
        balance["lifetime_earned_points"],
        balance["period_earned_points"],
        balance["expiring_points"],
    )
    [expiry] = [
        line
        for line in (await client.get(routes.api(routes.MEMBER_STATEMENT, member_id=mid))).json()["lines"]
        if line["kind"] == "expiry"
    ]
    assert (-10, 5) == (expiry["points"], expiry["balance_after"])
    body = (
        await post(
            client, routes.api(routes.TRANSACTION_REVERSAL, transaction_id=expiry["transaction_id"]), {"reason": "误"}
        )
    ).json()
    assert "not_reversible" == body["code"]
    # A reversal of the expired award finds nothing left of it: the member has spent nothing,
    # the points are gone by policy, so it is refused rather than taking the other lot.
    assert (
        409
        == (
            await post(
                client,
                routes.api(routes.TRANSACTION_REVERSAL, transaction_id=first["transaction_id"]),
                {"reason": "误"},
            )
        ).status_code
    )
    report = await ledger.verify()
    assert report.ok, report.problems


async def test_spending_draws_on_the_soonest_expiring_points_so_expiry_takes_nothing_spent(client, ledger, clock):
    mid = await _setup(ledger)
    await award(client, mid, 10, occurred_at=_when(clock), org_unit=COMMUNITY)  # forever, arrived first
    await award(client, mid, 10, occurred_at=_when(clock))  # one month
    await reward(client, cost=10)
    hold = (await redeem(client, mid)).json()
    await post(client, routes.api(routes.REDEMPTION_FULFIL, redemption_id=hold["id"]))
    assert 0 == (await _balance(client, mid))["expiring_points"]
    clock.advance(days=40)
    assert 0 == (await _sweep(client))["points_expired"]
    assert 10 == (await _balance(client, mid))["available_points"]


async def test_a_cancelled_hold_refills_its_lots_and_an_overdue_lot_then_expires(client, ledger, clock):
    mid = await _setup(ledger)
    await award(client, mid, 10, occurred_at=_when(clock))  # one month
    await reward(client, cost=8)
    clock.advance(days=29)
    hold = (await redeem(client, mid)).json()
    clock.advance(days=2)  # the lot's date passes while the hold is open
    assert 2 == (await _sweep(client))["points_expired"]  # the 2 not held expire; held points are safe
    cancelled = (await post(client, routes.api(routes.REDEMPTION_CANCEL, redemption_id=hold["id"]))).json()
    assert 8 == cancelled["available_points"]
    assert 8 == (await _balance(client, mid))["expiring_points"]  # back in their lot, which is overdue
    assert 8 == (await _sweep(client))["points_expired"]
    balance = await _balance(client, mid)
    assert (0, 0, 10) == (balance["available_points"], balance["held_points"], balance["lifetime_earned_points"])
    report = await ledger.verify()
    assert report.ok, report.problems


async def test_a_reversal_takes_back_its_own_points_first(client, ledger, clock):
    mid = await _setup(ledger)
    await award(client, mid, 10, occurred_at=_when(clock))  # one month
    forever = await award(client, mid, 10, occurred_at=_when(clock), org_unit=COMMUNITY)
    await post(
        client, routes.api(routes.TRANSACTION_REVERSAL, transaction_id=forever["transaction_id"]), {"reason": "录错"}
    )
    balance = await _balance(client, mid)
    assert (10, 10) == (balance["available_points"], balance["expiring_points"])


async def test_a_new_policy_dates_later_points_and_keeps_the_dates_already_given(client, ledger, clock):
    mid = await _setup(ledger)
    await award(client, mid, 10, occurred_at=_when(clock))
    created = await ledger.load_expiry_policies(
        Principal.admin("t"), f"policies: [{{valid: forever}}, {{org_unit: {MICRO}, valid: forever}}]"
    )
    assert [(MICRO, 2)] == created  # the default did not change: no new version of it
    await award(client, mid, 10, occurred_at=_when(clock))
    assert 10 == (await _balance(client, mid))["expiring_points"]
    policies = {p.org_unit: (p.version, p.valid) for p in await ledger.expiry_policies()}
    assert {"": (1, "forever"), MICRO: (2, "forever"), GRID: (1, "end_of_year")} == policies


async def test_a_bad_policy_file_is_refused_whole_naming_each_error(ledger):
    """A schema error, a second default, a repeated unit and a unit that does not exist
    are all named with their paths in one refusal; nothing is stored."""
    await tree(ledger)
    with pytest.raises(DataFileInvalid) as refused:
        await ledger.load_expiry_policies(Principal.admin("test"), BAD_POLICIES)
    assert BAD_POLICIES_ERRORS == file_errors(refused.value)
    assert [] == await ledger.expiry_policies()


@pytest.mark.parametrize(
    ("text_", "path"),
    [
        ("policies: [{valid: forever, months: 3}]", "/policies/0"),
        ("policies: [{valid: months, months: 0}]", "/policies/0/months"),
    ],
)
async def test_months_go_only_with_a_months_policy_and_count_from_one(ledger, text_, path):
    with pytest.raises(DataFileInvalid) as refused:
        await ledger.load_expiry_policies(Principal.admin("test"), text_)
    assert [path] == [error.path for error in refused.value.errors]


def test_months_and_year_end_are_counted_in_the_communitys_calendar():
    from ledger.shop.expiry_policies import Policy

    arrived = datetime(2026, 1, 31, 16, 30, tzinfo=UTC)  # 1 Feb 00:30 in Shanghai
    assert datetime(2027, 1, 1, tzinfo=SHANGHAI) == Policy("", 1, "end_of_year").expires_at(arrived, SHANGHAI)
    assert datetime(2029, 1, 1, tzinfo=SHANGHAI) == Policy("", 1, "end_of_year", extra_years=2).expires_at(
        arrived, SHANGHAI
    )
    assert datetime(2026, 3, 1, 0, 30, tzinfo=SHANGHAI) == Policy("", 1, "months", months=1).expires_at(
        arrived, SHANGHAI
    )
    late_january = datetime(2026, 1, 31, 3, tzinfo=SHANGHAI)
    assert datetime(2026, 2, 28, 3, tzinfo=SHANGHAI) == Policy("", 1, "months", months=1).expires_at(
        late_january, SHANGHAI
    )
    assert Policy("", 1, "forever").expires_at(arrived, SHANGHAI) is None
