"""Business-hours arithmetic and the SLA matrix (default hours: New York, 09:00-17:00, Mon-Fri)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agent.policy import BusinessHours, SlaRule, load_policy
from agent.sla import (
    add_business_days,
    add_business_minutes,
    end_of_business_day,
    is_business_time,
    sla_due_at,
)

POLICY = load_policy(Path(__file__).resolve().parents[2] / "config" / "defaults" / "policy.toml")
HOURS = POLICY.business_hours
NY = ZoneInfo("America/New_York")


def ny(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A New York wall-clock time, as the UTC instant the functions return."""
    return datetime(year, month, day, hour, minute, tzinfo=NY).astimezone(UTC)


WED_10 = ny(2026, 11, 18, 10)   # Wednesday 10:00 EST = 15:00 UTC
FRI_16 = ny(2026, 11, 20, 16)
FRI_18 = ny(2026, 11, 20, 18)
SAT_11 = ny(2026, 11, 21, 11)
MON_9 = ny(2026, 11, 23, 9)


def test_results_are_utc_aware() -> None:
    results = [
        add_business_minutes(WED_10, 30, HOURS), add_business_minutes(SAT_11, 30, HOURS),
        add_business_minutes(FRI_16, 600, HOURS, tz="Europe/Berlin"),
        end_of_business_day(WED_10, HOURS), end_of_business_day(SAT_11, HOURS, tz="Asia/Tokyo"),
        add_business_days(WED_10, 1, HOURS), add_business_days(SAT_11, 1, HOURS),
        add_business_days(SAT_11, 0, HOURS),
        *(sla_due_at(route, SAT_11, POLICY) for route in ("hand_raise", "strategic", "band_a")),
    ]
    assert all(due is not None and due.tzinfo is UTC for due in results)
    assert datetime(2026, 11, 18, 15, 0, tzinfo=UTC) == WED_10


# --- is_business_time --------------------------------------------------------------------


@pytest.mark.parametrize(("at", "expected"), [
    (WED_10, True),
    (ny(2026, 11, 18, 9), True),                    # opening is inside
    (ny(2026, 11, 18, 8, 59), False),
    (ny(2026, 11, 18, 16, 59), True),
    (ny(2026, 11, 18, 17), False),                  # closing is outside
    (SAT_11, False),
    (ny(2026, 11, 22, 12), False),                  # Sunday
])
def test_is_business_time(at: datetime, expected: bool) -> None:
    assert is_business_time(at, HOURS) is expected


def test_is_business_time_in_another_zone() -> None:
    # 15:00 UTC on a Wednesday: 10:00 in New York, 16:00 in Berlin, midnight in Tokyo.
    assert is_business_time(WED_10, HOURS, tz="Europe/Berlin") is True
    assert is_business_time(WED_10, HOURS, tz="Asia/Tokyo") is False
    assert is_business_time(WED_10 + timedelta(hours=1), HOURS, tz="Europe/Berlin") is False


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        add_business_minutes(datetime(2026, 11, 18, 15), 10, HOURS)
    with pytest.raises(ValueError, match="timezone-aware"):
        sla_due_at("band_a", datetime(2026, 11, 18, 15), POLICY)


# --- add_business_minutes ----------------------------------------------------------------


def test_minutes_inside_business_hours() -> None:
    assert add_business_minutes(WED_10, 30, HOURS) == ny(2026, 11, 18, 10, 30)
    assert add_business_minutes(WED_10, 0, HOURS) == WED_10


def test_minutes_up_to_closing_stay_on_the_same_day() -> None:
    assert add_business_minutes(ny(2026, 11, 18, 16, 45), 15, HOURS) == ny(2026, 11, 18, 17)


def test_minutes_across_a_weekend() -> None:
    # One hour left on Friday, the remaining 30 minutes on Monday morning.
    assert add_business_minutes(FRI_16, 90, HOURS) == ny(2026, 11, 23, 9, 30)


def test_minutes_starting_on_a_weekend_begin_at_the_next_opening() -> None:
    assert add_business_minutes(SAT_11, 15, HOURS) == ny(2026, 11, 23, 9, 15)
    assert add_business_minutes(FRI_18, 0, HOURS) == MON_9


def test_minutes_starting_before_opening() -> None:
    assert add_business_minutes(ny(2026, 11, 18, 6), 60, HOURS) == ny(2026, 11, 18, 10)


def test_minutes_spanning_several_days() -> None:
    # Three full business days (3 x 480 min) from Wednesday 10:00 -> Monday 10:00.
    assert add_business_minutes(WED_10, 3 * 480, HOURS) == ny(2026, 11, 23, 10)


def test_minutes_across_the_autumn_dst_change() -> None:
    # New York leaves daylight time on Sunday 2026-11-01: Friday is UTC-4, Monday UTC-5.
    friday = datetime(2026, 10, 30, 20, 30, tzinfo=UTC)          # 16:30 EDT
    due = add_business_minutes(friday, 60, HOURS)
    assert due == datetime(2026, 11, 2, 14, 30, tzinfo=UTC)       # 09:30 EST, not 13:30 UTC
    assert due.astimezone(NY).time() == time(9, 30)


def test_minutes_across_the_spring_dst_change() -> None:
    # Daylight time starts Sunday 2026-03-08: Friday is UTC-5, Monday UTC-4.
    friday = datetime(2026, 3, 6, 21, 30, tzinfo=UTC)             # 16:30 EST
    assert add_business_minutes(friday, 60, HOURS) == datetime(2026, 3, 9, 13, 30, tzinfo=UTC)


def test_minutes_count_real_time_through_the_repeated_hour() -> None:
    # Round-the-clock hours: the day clocks go back has 25 real hours, and 24 business hours
    # from midnight EDT end at 23:00 EST the same day, not the next morning.
    always = BusinessHours(timezone="America/New_York", start=time(0), end=time(23, 59),
                           days=["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"])
    midnight = datetime(2026, 11, 1, 4, tzinfo=UTC)                # 00:00 EDT
    due = add_business_minutes(midnight, 24 * 60, always)
    assert due == datetime(2026, 11, 2, 4, tzinfo=UTC)
    assert due.astimezone(NY).date() == midnight.astimezone(NY).date()


def test_minutes_in_another_zone() -> None:
    # 15:00 UTC is 16:00 in Berlin: one business hour left there, so 90 minutes ends Thursday.
    due = add_business_minutes(WED_10, 90, HOURS, tz="Europe/Berlin")
    assert due == datetime(2026, 11, 19, 9, 30, tzinfo=ZoneInfo("Europe/Berlin")).astimezone(UTC)


def test_unknown_zone_override_falls_back_to_the_policy_zone() -> None:
    assert add_business_minutes(SAT_11, 15, HOURS, tz="Mars/Olympus") == \
        add_business_minutes(SAT_11, 15, HOURS)


def test_working_days_come_from_the_policy() -> None:
    sun_thu = BusinessHours(timezone="Asia/Dubai", start=time(8), end=time(16),
                            days=["Sun", "Mon", "Tue", "Wed", "Thu"])
    dubai = ZoneInfo("Asia/Dubai")
    thursday_1530 = datetime(2026, 11, 19, 15, 30, tzinfo=dubai)
    assert add_business_minutes(thursday_1530, 60, sun_thu) == \
        datetime(2026, 11, 22, 8, 30, tzinfo=dubai).astimezone(UTC)  # Sunday
    assert is_business_time(datetime(2026, 11, 20, 10, tzinfo=dubai), sun_thu) is False  # Friday


def test_negative_minutes_are_refused() -> None:
    with pytest.raises(ValueError):
        add_business_minutes(WED_10, -1, HOURS)


# --- end_of_business_day ------------------------------------------------------------------


@pytest.mark.parametrize(("start", "due"), [
    (WED_10, ny(2026, 11, 18, 17)),
    (ny(2026, 11, 18, 7), ny(2026, 11, 18, 17)),     # before opening: that same day
    (ny(2026, 11, 18, 17), ny(2026, 11, 19, 17)),    # at closing: the next day
    (FRI_18, ny(2026, 11, 23, 17)),                  # after hours Friday: Monday
    (SAT_11, ny(2026, 11, 23, 17)),
])
def test_end_of_business_day(start: datetime, due: datetime) -> None:
    assert end_of_business_day(start, HOURS) == due


def test_end_of_business_day_in_other_zones() -> None:
    berlin, tokyo = ZoneInfo("Europe/Berlin"), ZoneInfo("Asia/Tokyo")
    assert end_of_business_day(WED_10, HOURS, tz="Europe/Berlin") == \
        datetime(2026, 11, 18, 17, tzinfo=berlin).astimezone(UTC)
    # Midnight Wednesday->Thursday in Tokyo: Thursday's close there.
    assert end_of_business_day(WED_10, HOURS, tz="Asia/Tokyo") == \
        datetime(2026, 11, 19, 17, tzinfo=tokyo).astimezone(UTC)


def test_end_of_business_day_after_a_dst_change() -> None:
    saturday = datetime(2026, 10, 31, 15, tzinfo=UTC)
    assert end_of_business_day(saturday, HOURS) == datetime(2026, 11, 2, 22, tzinfo=UTC)


# --- add_business_days -------------------------------------------------------------------


@pytest.mark.parametrize(("start", "days", "due"), [
    (WED_10, 1, ny(2026, 11, 19, 10)),               # same clock time next business day
    (WED_10, 0, WED_10),
    (ny(2026, 11, 20, 10), 1, ny(2026, 11, 23, 10)),  # Friday -> Monday
    (ny(2026, 11, 20, 10), 2, ny(2026, 11, 24, 10)),
    (FRI_18, 1, ny(2026, 11, 23, 17)),               # after hours: Monday's close
    (SAT_11, 1, ny(2026, 11, 23, 17)),
    (SAT_11, 2, ny(2026, 11, 24, 17)),
    (ny(2026, 11, 18, 7), 1, ny(2026, 11, 18, 17)),   # before opening: the same day's close
    (SAT_11, 0, MON_9),
])
def test_add_business_days(start: datetime, days: int, due: datetime) -> None:
    assert add_business_days(start, days, HOURS) == due


def test_business_days_across_a_dst_change_keep_the_wall_clock() -> None:
    friday = datetime(2026, 10, 30, 14, tzinfo=UTC)               # 10:00 EDT
    due = add_business_days(friday, 1, HOURS)
    assert due == datetime(2026, 11, 2, 15, tzinfo=UTC)           # 10:00 EST
    assert due.astimezone(NY).time() == time(10)


def test_business_days_in_another_zone() -> None:
    sydney = ZoneInfo("Australia/Sydney")
    friday = datetime(2026, 11, 20, 11, tzinfo=sydney)
    assert add_business_days(friday, 1, HOURS, tz="Australia/Sydney") == \
        datetime(2026, 11, 23, 11, tzinfo=sydney).astimezone(UTC)


# --- sla_due_at --------------------------------------------------------------------------


def test_sla_hand_raise_is_minutes_round_the_clock() -> None:
    assert sla_due_at("hand_raise", WED_10, POLICY) == WED_10 + timedelta(minutes=15)
    # business_hours = false: a Saturday hand-raise is still due in 15 minutes.
    assert sla_due_at("hand_raise", SAT_11, POLICY) == SAT_11 + timedelta(minutes=15)


def test_sla_minutes_in_business_hours_when_the_policy_says_so() -> None:
    policy = POLICY.model_copy(update={"sla": {
        **POLICY.sla, "hand_raise": SlaRule(human=True, minutes=15, business_hours=True)}})
    assert sla_due_at("hand_raise", SAT_11, policy) == ny(2026, 11, 23, 9, 15)


def test_sla_strategic_is_the_same_business_day() -> None:
    assert sla_due_at("strategic", WED_10, POLICY) == ny(2026, 11, 18, 17)
    assert sla_due_at("strategic", FRI_18, POLICY) == ny(2026, 11, 23, 17)


def test_sla_band_a_is_one_business_day() -> None:
    assert sla_due_at("band_a", WED_10, POLICY) == ny(2026, 11, 19, 10)
    assert sla_due_at("band_a", ny(2026, 11, 20, 15), POLICY) == ny(2026, 11, 23, 15)


@pytest.mark.parametrize("route", ["nurture", "disqualified"])
def test_sla_none_for_routes_no_human_works(route: str) -> None:
    assert sla_due_at(route, WED_10, POLICY) is None  # type: ignore[arg-type]


def test_sla_uses_the_zone_override() -> None:
    # A rep in Los Angeles: the same business day ends at 17:00 Pacific.
    la = ZoneInfo("America/Los_Angeles")
    assert sla_due_at("strategic", WED_10, POLICY, tz="America/Los_Angeles") == \
        datetime(2026, 11, 18, 17, tzinfo=la).astimezone(UTC)
    assert sla_due_at("hand_raise", WED_10, POLICY, tz="America/Los_Angeles") == \
        WED_10 + timedelta(minutes=15)


def test_sla_rule_without_a_deadline_fails_loudly() -> None:
    policy = POLICY.model_copy(update={"sla": {**POLICY.sla, "band_a": SlaRule(human=True)}})
    with pytest.raises(ValueError, match="sla.band_a"):
        sla_due_at("band_a", WED_10, policy)
