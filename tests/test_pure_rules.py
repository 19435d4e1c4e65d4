"""The ledger's pure rules, without a database: points before caps, cap windows, tier flags,
expiry dates, the checks of a data file. Each is a function of its arguments, so each is tested on its own here and
through the service in the database suites."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.earning.rules import (
    CAP_WINDOWS,
    Rule,
    WorkDone,
    base_points,
    cap_windows,
    held_to_caps,
    parse_rules_file,
)
from ledger.errors import CapExceeded, DataFileInvalid, InvalidInput
from ledger.honours.nominations import deciding_transaction
from ledger.honours.tiers import ADVANCED_WORKER, PARTY_MEMBER, Scheme, parse_tiers_file, schemes_from
from ledger.shop.expiry_policies import END_OF_YEAR, FOREVER, MONTHS, Policy, parse_policies_file
from ledger.storage import datafiles
from tests.builders import (
    BAD_POLICIES,
    BAD_POLICIES_ERRORS,
    BAD_RULES,
    BAD_RULES_ERRORS,
    BAD_TIERS,
    BAD_TIERS_ERRORS,
    NOWHERE,
    file_errors,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")

PATROL = Rule(
    "patrol",
    1,
    {"category": "patrol", "unit": "patrol", "points_per_unit": 2, "min_steps": 1000, "caps": {"day": 6}},
)
DIARY = Rule("diary", 1, {"category": "diary", "unit": "character", "unit_size": 500, "points_per_unit": 1})
REPORT = Rule(
    "report",
    1,
    {"category": "report", "unit": "report", "points_per_unit": 3, "bonus_handled_within_limit": 2, "quantity_max": 5},
)
SCHEME = Scheme("", 1, (("合格", 100), ("良好", 200), ("优秀", 300)), frozenset({"grid_worker"}), 5)


def test_base_points_multiply_whole_units_by_the_rule_points() -> None:
    """A diary of 1,499 characters is two whole 500-character units: 2 points."""
    assert 2 == base_points(DIARY, WorkDone(quantity=1_499))


def test_a_part_unit_alone_is_refused_naming_quantity() -> None:
    """Less than one unit earns nothing and says so, rather than award 0 points."""
    with pytest.raises(InvalidInput) as refused:
        base_points(DIARY, WorkDone(quantity=499))
    assert "quantity" == refused.value.field


def test_a_patrol_below_the_step_minimum_is_refused_naming_steps() -> None:
    """The 百千万 norm counts a patrol from its minimum step count."""
    with pytest.raises(InvalidInput) as refused:
        base_points(PATROL, WorkDone(quantity=1, steps=999))
    assert "steps" == refused.value.field
    assert 2 == base_points(PATROL, WorkDone(quantity=1, steps=1_000))


def test_a_patrol_without_steps_is_refused() -> None:
    """A rule that needs a step count refuses work that gives none."""
    with pytest.raises(InvalidInput) as refused:
        base_points(PATROL, WorkDone(quantity=1))
    assert "steps" == refused.value.field


def test_the_bonus_is_added_once_when_handled_within_the_limit() -> None:
    """限时办理: the bonus is per award, not per unit."""
    assert 3 * 2 + 2 == base_points(REPORT, WorkDone(quantity=2, handled_within_limit=True))
    assert 3 * 2 == base_points(REPORT, WorkDone(quantity=2))


def test_a_quantity_over_the_rule_maximum_is_refused() -> None:
    """quantity_max bounds one award's quantity."""
    with pytest.raises(InvalidInput) as refused:
        base_points(REPORT, WorkDone(quantity=6))
    assert "quantity" == refused.value.field
    assert 3 * 5 == base_points(REPORT, WorkDone(quantity=5))


UNITS = ("patrol", "hour", "character", "report", "task", "activity")
"""Every unit a rule may count in (schemas/rules.schema.json)."""


@pytest.mark.parametrize("unit", UNITS)
def test_every_unit_kind_pays_its_points_per_unit(unit) -> None:
    """Whatever the unit, three of them at 4 points each are 12 points."""
    rule = Rule("r", 1, {"category": "other", "unit": unit, "points_per_unit": 4})
    assert 12 == base_points(rule, WorkDone(quantity=3))


@pytest.mark.parametrize("quantity", [0, -1])
def test_no_work_is_refused_naming_quantity(quantity) -> None:
    """Zero or a negative quantity is refused, never an award of 0 points or a deduction."""
    with pytest.raises(InvalidInput) as refused:
        base_points(DIARY, WorkDone(quantity=quantity))
    assert "quantity" == refused.value.field


def test_the_bonus_is_only_for_a_rule_that_offers_one() -> None:
    """Work handled within the limit under a rule without a bonus earns its units alone."""
    assert 2 == base_points(DIARY, WorkDone(quantity=1_000, handled_within_limit=True))


@given(quantity=st.integers(1, 100_000), unit_size=st.integers(1, 1_000), points=st.integers(1, 100))
def test_a_part_unit_is_never_paid(quantity, unit_size, points) -> None:
    """Points are whole units times the rule's points: rounding is always down, so the
    points paid never exceed what the quantity is worth, and a part unit alone is refused."""
    rule = Rule("r", 1, {"category": "diary", "unit": "character", "unit_size": unit_size, "points_per_unit": points})
    if quantity < unit_size:
        with pytest.raises(InvalidInput):
            base_points(rule, WorkDone(quantity=quantity))
        return
    paid = base_points(rule, WorkDone(quantity=quantity))
    assert paid == quantity // unit_size * points
    assert paid * unit_size <= quantity * points < (paid + points) * unit_size


def test_cap_windows_are_local_calendar_windows() -> None:
    """16:30 UTC on 31 December 2026 is already 1 January 2027 in Shanghai, in ISO week 53 of 2026."""
    windows = cap_windows(datetime(2026, 12, 31, 16, 30, tzinfo=UTC), SHANGHAI)
    assert {"day": "d:2027-01-01", "week": "w:2026-W53", "year": "y:2027"} == windows


@pytest.mark.parametrize(
    ("instant", "windows"),
    [
        # The last second of Sunday 3 January 2027 in Shanghai, and the first of Monday.
        (datetime(2027, 1, 3, 15, 59, 59, tzinfo=UTC), ("d:2027-01-03", "w:2026-W53", "y:2027")),
        (datetime(2027, 1, 3, 16, 0, tzinfo=UTC), ("d:2027-01-04", "w:2027-W01", "y:2027")),
        # Monday 30 December 2024 is in the first ISO week of 2025, and still in the year 2024.
        (datetime(2024, 12, 29, 16, 0, tzinfo=UTC), ("d:2024-12-30", "w:2025-W01", "y:2024")),
        # Midsummer and midwinter are both eight hours ahead of UTC: Shanghai keeps no summer time.
        (datetime(2026, 7, 1, 15, 59, tzinfo=UTC), ("d:2026-07-01", "w:2026-W27", "y:2026")),
        (datetime(2026, 1, 14, 16, 0, tzinfo=UTC), ("d:2026-01-15", "w:2026-W03", "y:2026")),
    ],
)
def test_cap_windows_turn_at_local_midnight_and_on_iso_mondays(instant, windows) -> None:
    """A day turns at midnight in Shanghai, a week on Monday (the ISO week, which may belong to
    the year next door), a year on 1 January; caps have no month window."""
    assert ("day", "week", "year") == CAP_WINDOWS
    assert dict(zip(CAP_WINDOWS, windows, strict=True)) == cap_windows(instant, SHANGHAI)


ZONES = st.sampled_from([SHANGHAI, ZoneInfo("Asia/Urumqi"), ZoneInfo("UTC"), ZoneInfo("America/New_York")])
"""The ledger's default zone, two other zones without summer time, and one with it."""

INSTANTS = st.datetimes(datetime(2000, 1, 2), datetime(2099, 12, 30), timezones=st.just(UTC))


def _window_span(window: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The local instants a cap window's key names: from its first midnight to the next window's."""
    kind, name = window.split(":")
    if "d" == kind:
        first = date.fromisoformat(name)
        last = first + timedelta(days=1)
    elif "w" == kind:
        year, week = name.split("-W")
        first = date.fromisocalendar(int(year), int(week), 1)
        last = first + timedelta(weeks=1)
    else:
        first, last = date(int(name), 1, 1), date(int(name) + 1, 1, 1)
    return datetime.combine(first, datetime.min.time(), tz), datetime.combine(last, datetime.min.time(), tz)


@given(instant=INSTANTS, tz=ZONES)
def test_every_cap_window_contains_its_instant(instant, tz) -> None:
    """Each window an instant is counted in starts at or before it and ends after it."""
    for window in cap_windows(instant, tz).values():
        start, end = _window_span(window, tz)
        assert start <= instant < end, window


@given(instant=INSTANTS, tz=ZONES)
def test_an_instant_an_hour_later_on_the_same_local_day_shares_every_window(instant, tz) -> None:
    """Windows follow the local calendar only: within one local day every window is the same."""
    later = instant + timedelta(hours=1)
    if later.astimezone(tz).date() == instant.astimezone(tz).date():
        assert cap_windows(instant, tz) == cap_windows(later, tz)


def test_held_to_caps_passes_points_with_room() -> None:
    """Points within every cap pass unchanged."""
    assert 4 == held_to_caps(PATROL, 4, {"day": 2}, clip=False)


def test_held_to_caps_clips_to_the_room_left_when_asked() -> None:
    """A roster settle clips to the room left instead of refusing the line."""
    assert 2 == held_to_caps(PATROL, 4, {"day": 4}, clip=True)


def test_held_to_caps_refuses_naming_the_window_when_not_clipping() -> None:
    """A single award over the cap is refused with the cap, what was used and what was asked."""
    with pytest.raises(CapExceeded) as refused:
        held_to_caps(PATROL, 4, {"day": 4}, clip=False)
    expected = {"rule": "patrol", "cap": "day", "cap_points": 6, "used_points": 4, "room_points": 2}
    assert expected == {k: refused.value.fields()[k] for k in expected}


def test_a_full_cap_refuses_even_when_clipping() -> None:
    """No room left is a refusal, never an award of 0 points."""
    with pytest.raises(CapExceeded):
        held_to_caps(PATROL, 2, {"day": 6}, clip=True)


def test_tiers_follow_points_earned_and_the_next_tier_is_named() -> None:
    """299 points is 良好 with 优秀 next at 300; 300 is 优秀 with nothing after it."""
    assert ("良好", ("优秀", 300)) == (SCHEME.tier_of(299), SCHEME.next_after(299))
    assert ("优秀", None) == (SCHEME.tier_of(300), SCHEME.next_after(300))
    assert None is SCHEME.tier_of(99)


def test_flags_need_the_top_tier_and_follow_party_and_role() -> None:
    """优秀共产党员 is for party members, 先进工作者 for the scheme's eligible roles, both only at 优秀."""
    assert set() == SCHEME.flags_for(299, ["grid_worker"], party_member=True)
    assert {PARTY_MEMBER, ADVANCED_WORKER} == SCHEME.flags_for(300, ["grid_worker"], party_member=True)
    assert {PARTY_MEMBER} == SCHEME.flags_for(300, ["resident"], party_member=True)
    assert {ADVANCED_WORKER} == SCHEME.flags_for(300, ["grid_worker"], party_member=False)
    assert set() == SCHEME.flags_for(300, ["resident"], party_member=False)


def test_every_threshold_counts_from_exactly_its_points() -> None:
    """One point short of a threshold is the tier below; the threshold itself is the tier."""
    for (below, _), (name, threshold) in zip(SCHEME.tiers, SCHEME.tiers[1:], strict=False):
        assert (below, name) == (SCHEME.tier_of(threshold - 1), SCHEME.tier_of(threshold))
    assert ("合格", None) == (SCHEME.tier_of(100), SCHEME.tier_of(99))


def test_one_eligible_role_among_others_is_enough_and_no_role_is_none() -> None:
    """A party member who is also a grid worker gets both flags; one with no roles only the party's."""
    assert {PARTY_MEMBER, ADVANCED_WORKER} == SCHEME.flags_for(300, ["resident", "grid_worker"], party_member=True)
    assert {PARTY_MEMBER} == SCHEME.flags_for(300, [], party_member=True)


ROLES = st.lists(st.sampled_from(["grid_worker", "volunteer", "resident", "grid_leader"]), max_size=3)


@given(points=st.integers(-1_000, 1_000), more=st.integers(0, 1_000), roles=ROLES, party=st.booleans())
def test_earning_more_never_takes_a_flag_away(points, more, roles, party) -> None:
    """Flags only grow with points earned, and none is raised below the top tier."""
    flags = SCHEME.flags_for(points, roles, party_member=party)
    assert flags <= SCHEME.flags_for(points + more, roles, party_member=party)
    if points < SCHEME.top[1]:
        assert set() == flags
    if not party:
        assert PARTY_MEMBER not in flags


TOP_ONLY = [{"name": "优秀", "points": 300}]


def test_a_unit_scheme_without_roles_takes_the_default_s_and_an_empty_list_means_none() -> None:
    """Leaving out advanced_worker_roles inherits the default's; [] is no 先进工作者 in that subtree."""
    schemes = schemes_from(
        {
            "": (1, {"tiers": TOP_ONLY, "advanced_worker_roles": ["grid_worker", "volunteer"]}),
            "c-1": (2, {"tiers": TOP_ONLY}),
            "c-2": (1, {"tiers": TOP_ONLY, "advanced_worker_roles": []}),
        }
    )
    assert frozenset({"grid_worker", "volunteer"}) == schemes["c-1"].advanced_worker_roles
    assert {ADVANCED_WORKER} == schemes["c-1"].flags_for(300, ["volunteer"], party_member=False)
    assert set() == schemes["c-2"].flags_for(300, ["volunteer"], party_member=False)


def test_a_default_scheme_without_roles_has_none_to_give() -> None:
    """The default has no scheme above it: without the field no role is eligible, nor in units that inherit."""
    schemes = schemes_from({"": (1, {"tiers": TOP_ONLY}), "c-1": (1, {"tiers": TOP_ONLY})})
    assert (frozenset(), frozenset()) == (schemes[""].advanced_worker_roles, schemes["c-1"].advanced_worker_roles)


def test_a_batch_flag_names_the_award_that_crossed_not_the_last() -> None:
    """From 280, twenty 2-point awards in one batch: the tenth (298 → 300) decides the flag."""
    awards = [(101 + i, 2) for i in range(20)]
    assert 110 == deciding_transaction(280, awards, 300)


def test_up_and_down_in_a_batch_names_the_last_crossing_to_where_it_ends() -> None:
    """Over, under, over again: the raise names the second crossing up; under, over, under:
    the revocation names the last fall below, the one after which the member stayed there."""
    assert 3 == deciding_transaction(295, [(1, 10), (2, -10), (3, 10), (4, 2)], 300)
    assert 3 == deciding_transaction(305, [(1, -10), (2, 10), (3, -10), (4, -2)], 300)


def test_a_member_already_over_the_threshold_is_decided_by_the_batch_first() -> None:
    """At 300 before and after (a flag only now allowed), the batch's first transaction decides."""
    assert 7 == deciding_transaction(300, [(7, 5), (8, 5)], 300)


def test_end_of_year_expiry_is_new_year_in_the_community_time_zone() -> None:
    """Points earned on 31 December (local) run out at the next local midnight, extra years later if set."""
    arrived = datetime(2026, 12, 31, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
    assert datetime(2027, 1, 1, tzinfo=SHANGHAI) == Policy("", 1, END_OF_YEAR).expires_at(arrived, SHANGHAI)
    assert datetime(2029, 1, 1, tzinfo=SHANGHAI) == Policy("", 1, END_OF_YEAR, extra_years=2).expires_at(
        arrived, SHANGHAI
    )


def test_months_expiry_keeps_the_day_or_the_last_day_of_a_short_month() -> None:
    """31 August plus six months is 28 February: the last day the shorter month has."""
    arrived = datetime(2026, 8, 31, 4, 0, tzinfo=SHANGHAI)
    expires = Policy("", 1, MONTHS, months=6).expires_at(arrived, SHANGHAI)
    assert datetime(2027, 2, 28, 4, 0, tzinfo=SHANGHAI) == expires


def test_forever_points_never_expire() -> None:
    """A forever policy gives no date."""
    assert None is Policy("", 1, FOREVER).expires_at(datetime(2026, 1, 1, tzinfo=UTC), SHANGHAI)


@pytest.mark.parametrize(
    ("arrived", "months", "expires"),
    [
        (datetime(2027, 1, 31, 9, 0), 1, datetime(2027, 2, 28, 9, 0)),
        (datetime(2028, 1, 31, 9, 0), 1, datetime(2028, 2, 29, 9, 0)),  # a leap year keeps the 29th
        (datetime(2026, 12, 15, 9, 0), 1, datetime(2027, 1, 15, 9, 0)),
        (datetime(2026, 3, 31, 9, 0), 12, datetime(2027, 3, 31, 9, 0)),
        (datetime(2026, 5, 31, 9, 0), 120, datetime(2036, 5, 31, 9, 0)),
    ],
)
def test_months_expiry_clamps_to_month_end_and_crosses_years(arrived, months, expires) -> None:
    """31 January plus a month is the last day of February; December plus one is January next year."""
    policy = Policy("", 1, MONTHS, months=months)
    assert expires.replace(tzinfo=SHANGHAI) == policy.expires_at(arrived.replace(tzinfo=SHANGHAI), SHANGHAI)


def test_points_arriving_at_the_first_instant_of_a_year_last_the_whole_year() -> None:
    """Midnight on 1 January (local) is in the new year: its points run out a year later, not at once."""
    arrived = datetime(2027, 1, 1, tzinfo=SHANGHAI)
    assert datetime(2028, 1, 1, tzinfo=SHANGHAI) == Policy("", 1, END_OF_YEAR).expires_at(arrived, SHANGHAI)


POLICIES = st.one_of(
    st.builds(Policy, st.just(""), st.just(1), st.just(END_OF_YEAR), extra_years=st.integers(0, 10)),
    st.builds(Policy, st.just(""), st.just(1), st.just(MONTHS), months=st.integers(1, 120)),
)


@given(policy=POLICIES, arrived=INSTANTS)
def test_points_never_expire_before_they_arrive(policy, arrived) -> None:
    """Every dated policy gives an expiry after the points' arrival, at a later local date."""
    expires = policy.expires_at(arrived, SHANGHAI)
    assert expires is not None and expires > arrived
    assert expires.astimezone(SHANGHAI).date() > arrived.astimezone(SHANGHAI).date()


@pytest.mark.parametrize(
    ("parse", "text", "errors"),
    [
        (parse_rules_file, BAD_RULES, BAD_RULES_ERRORS),
        (parse_tiers_file, BAD_TIERS, BAD_TIERS_ERRORS),
        (parse_policies_file, BAD_POLICIES, BAD_POLICIES_ERRORS),
    ],
    ids=["rules", "tiers", "expiry"],
)
def test_a_data_file_lists_its_schema_and_consistency_errors_at_once(parse, text, errors) -> None:
    """Schema errors, repeats and dates or thresholds out of order are found in one pass,
    each with its path; only whether a named unit exists waits for the database."""
    with pytest.raises(DataFileInvalid) as refused:
        datafiles.accept(parse(text))
    assert [e for e in errors if NOWHERE not in e[1]] == file_errors(refused.value)


def test_a_data_file_that_is_not_yaml_is_one_error_for_the_whole_file() -> None:
    """Nothing can be checked in a file that cannot be read: one error, at the root ("")."""
    with pytest.raises(DataFileInvalid) as refused:
        datafiles.accept(parse_tiers_file("schemes: [{tiers: "))
    assert [""] == [e.path for e in refused.value.errors]
    assert refused.value.errors[0].reason.startswith("not YAML or JSON")


def test_a_list_longer_than_the_schema_allows_is_checked_no_further_and_its_errors_are_cut() -> None:
    """1,200 default policies where 1,000 are allowed: the list is refused for its length
    (the reason quoting it loses its middle), only the first 1,000 are checked for repeats,
    and of the 1,000 errors the first hundred are listed, the rest counted."""
    allowed = 1000  # schemas/expiry.schema.json: policies.maxItems
    text = "policies: [" + ", ".join(["{valid: forever}"] * (allowed + 200)) + "]"
    with pytest.raises(DataFileInvalid) as refused:
        datafiles.accept(parse_policies_file(text))
    errors, listed_max = refused.value.errors, datafiles.DATA_FILE_ERRORS_LISTED_MAX
    too_long = errors[0]
    assert ("/policies", True, True) == (
        too_long.path,
        len(too_long.reason) <= datafiles.DATA_FILE_REASON_CHARS_MAX,
        too_long.reason.endswith("}] is too long"),
    )
    assert [f"/policies/{i}/org_unit" for i in range(1, listed_max)] == [e.path for e in errors[1:]]
    found = 1 + (allowed - 1)  # the length, and each checked policy after the first repeating the default
    assert found - listed_max == refused.value.omitted


def test_a_policy_without_valid_is_told_only_that() -> None:
    """A policy that does not say how long points stay valid is not also asked for months."""
    with pytest.raises(DataFileInvalid) as refused:
        datafiles.accept(parse_policies_file("policies: [{extra_years: 1}]"))
    assert [("/policies/0", "'valid' is a required property")] == file_errors(refused.value)
