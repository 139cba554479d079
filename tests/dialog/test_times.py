"""Callback times: what the customer said, as a moment in their own zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voicebot.dialog.times import parse_time

NEW_YORK = ZoneInfo("America/New_York")
# A Wednesday, late morning, with seconds that must not survive.
NOW = datetime(2026, 6, 10, 11, 20, 33, tzinfo=NEW_YORK)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 6, day, hour, minute, tzinfo=NEW_YORK)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tomorrow at 5", at(11, 17)),
        ("Tomorrow at five PM.", at(11, 17)),
        ("tomorrow at 5 p.m.", at(11, 17)),
        ("tomorrow at 10 am", at(11, 10)),
        ("At 5:30.", at(10, 17, 30)),
        ("at five thirty", at(10, 17, 30)),
        ("5.30", at(10, 17, 30)),
        ("half past four", at(10, 16, 30)),
        ("quarter to six", at(10, 17, 45)),
        ("quarter past three", at(10, 15, 15)),
        ("ten to six", at(10, 17, 50)),
        ("five o'clock", at(10, 17)),
        ("noon", at(10, 12)),
        ("at noon tomorrow", at(11, 12)),
        ("the day after tomorrow at 3", at(12, 15)),
        ("tomorrow at 12", at(11, 12)),
        ("five oh five", at(10, 17, 5)),
        ("around 4ish", at(10, 16)),
        ("at half five", at(10, 17, 30)),
    ],
)
def test_clock_times(text: str, expected: datetime) -> None:
    assert parse_time(text, NOW) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("in two hours", at(10, 13, 20)),
        ("in 30 minutes", at(10, 11, 50)),
        ("in an hour", at(10, 12, 20)),
        ("in half an hour", at(10, 11, 50)),
        ("in an hour and a half", at(10, 12, 50)),
        ("in a couple of hours", at(10, 13, 20)),
        ("an hour from now", at(10, 12, 20)),
    ],
)
def test_relative_times_count_from_now_without_seconds(text: str, expected: datetime) -> None:
    assert parse_time(text, NOW) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("this evening", at(10, 18)),
        ("tonight", at(10, 18)),
        ("tomorrow morning", at(11, 10)),
        ("tomorrow afternoon", at(11, 14)),
        ("tomorrow night", at(11, 18)),
        ("Monday morning", at(15, 10)),
        ("next Friday afternoon", at(12, 14)),
        ("tomorrow", at(11, 10)),
        ("in 2 days", at(12, 10)),
    ],
)
def test_parts_of_the_day_and_days(text: str, expected: datetime) -> None:
    assert parse_time(text, NOW) == expected


def test_later_today_is_two_hours_on_the_quarter() -> None:
    assert parse_time("later today", NOW) == at(10, 13, 30)


def test_later_today_after_calling_hours_is_tomorrow_morning() -> None:
    assert parse_time("later today", at(10, 21, 30)) == at(11, 10)


def test_later_today_near_the_end_of_calling_hours_is_the_last_hour() -> None:
    assert parse_time("later today", at(10, 20, 0)) == at(10, 21)


def test_bare_small_hour_is_afternoon_inside_calling_hours() -> None:
    assert parse_time("at 5", NOW) == at(10, 17)
    assert parse_time("at 7", NOW) == at(10, 19)


def test_bare_nine_is_morning_but_evening_tonight() -> None:
    assert parse_time("at 9", NOW) == at(11, 9)  # 09:00 has passed today: tomorrow
    assert parse_time("tonight at 9", NOW) == at(10, 21)
    assert parse_time("this evening at nine", NOW) == at(10, 21)


def test_morning_keeps_a_small_hour_in_the_morning() -> None:
    assert parse_time("tomorrow morning at 7", NOW) == at(11, 7)


def test_past_time_with_no_day_is_tomorrow() -> None:
    assert parse_time("at 10", NOW) == at(11, 10)
    assert parse_time("at 11 am", NOW) == at(11, 11)


def test_weekday_said_on_that_weekday_means_next_week() -> None:
    assert parse_time("Wednesday", NOW) == at(17, 10)


def test_part_of_day_already_under_way_means_soon() -> None:
    evening = at(10, 19, 5)
    assert parse_time("this evening", evening) == at(10, 19, 45)


def test_part_of_day_already_over_means_tomorrow() -> None:
    assert parse_time("tonight", at(10, 22, 0)) == at(11, 18)
    assert parse_time("this morning", at(10, 15, 0)) == at(11, 10)


@pytest.mark.parametrize(
    "text",
    [
        "whenever",
        "I have 2 kids",
        "later",
        "no",
        "",
        "I'm not sure",
        "give me 5 minutes",
        "next week",
    ],
)
def test_no_time_said(text: str) -> None:
    assert parse_time(text, NOW) is None


def test_result_is_in_the_customers_zone() -> None:
    now_utc = datetime(2026, 6, 10, 15, 20, tzinfo=UTC)  # 11:20 in New York
    local_now = now_utc.astimezone(NEW_YORK)
    moment = parse_time("tomorrow at 5", local_now)
    assert moment is not None and moment.tzinfo == NEW_YORK
    assert moment == at(11, 17)


def test_relative_time_across_spring_forward_is_real_elapsed_time() -> None:
    # 2026-03-08: New York clocks jump from 02:00 to 03:00.
    before = datetime(2026, 3, 8, 1, 30, tzinfo=NEW_YORK)
    moment = parse_time("in two hours", before)
    assert moment is not None
    assert moment.astimezone(UTC) - before.astimezone(UTC) == timedelta(hours=2)
    assert (moment.hour, moment.minute) == (4, 30)


def test_day_later_across_spring_forward_keeps_the_wall_clock() -> None:
    before = datetime(2026, 3, 7, 12, 0, tzinfo=NEW_YORK)
    assert parse_time("tomorrow at 5", before) == datetime(2026, 3, 8, 17, 0, tzinfo=NEW_YORK)


PHRASES = [
    "tomorrow at 5",
    "at 5:30",
    "in two hours",
    "in 30 minutes",
    "this evening",
    "tonight",
    "Monday morning",
    "tomorrow morning",
    "later today",
    "noon",
    "half past four",
    "at 9",
    "at 8",
    "five thirty",
    "this morning",
    "Sunday at 3",
]
ZONES = ["America/New_York", "Europe/London", "Asia/Kolkata", "Pacific/Auckland", "UTC"]


@given(
    st.sampled_from(PHRASES),
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31)),
    st.sampled_from(ZONES),
)
def test_a_parsed_callback_is_in_the_future_in_the_zone_without_seconds(
    text: str, naive: datetime, zone: str
) -> None:
    now = naive.replace(tzinfo=ZoneInfo(zone))
    moment = parse_time(text, now)
    assert moment is not None
    assert moment.tzinfo == now.tzinfo
    assert moment.second == 0 and moment.microsecond == 0
    assert moment.astimezone(UTC) > now.astimezone(UTC) - timedelta(minutes=1)


@given(st.integers(min_value=1, max_value=12), st.datetimes(min_value=datetime(2026, 1, 1)))
def test_a_bare_hour_lands_inside_calling_hours(hour: int, naive: datetime) -> None:
    now = naive.replace(tzinfo=NEW_YORK)
    moment = parse_time(f"at {hour}", now)
    assert moment is not None and 8 <= moment.hour <= 21
