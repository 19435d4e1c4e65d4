"""The ledger's pure rules, without a database: points before caps, cap windows, tier flags,
expiry dates, the checks of a data file. Each is a function of its arguments, so each is tested on its own here and
through the service in the database suites."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from ledger.earning.rules import Rule, WorkDone, base_points, cap_windows, held_to_caps, parse_rules_file
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


def test_cap_windows_are_local_calendar_windows() -> None:
    """16:30 UTC on 31 December 2026 is already 1 January 2027 in Shanghai, in ISO week 53 of 2026."""
    windows = cap_windows(datetime(2026, 12, 31, 16, 30, tzinfo=UTC), SHANGHAI)
    assert {"day": "d:2027-01-01", "week": "w:2026-W53", "year": "y:2027"} == windows


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
