from __future__ import annotations

from datetime import UTC, datetime

from voicebot.dialog.phrasing import say_money, say_when


def test_money() -> None:
    assert say_money("912.40", "USD") == "912 dollars and 40 cents"
    assert say_money("1", "USD") == "1 dollar"
    assert say_money("2450.01", "EUR") == "2,450 euros and 1 cent"


def test_when_in_the_customers_zone_across_midnight() -> None:
    moment = datetime(2026, 11, 21, 3, 30, tzinfo=UTC)  # 22:30 the day before in New York
    now = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
    assert say_when(moment, "America/New_York", now) == "on Friday, November 20 at 10:30 PM"
    assert say_when(moment, "Europe/Berlin", now) == "yesterday at 4:30 AM"


def test_when_across_daylight_saving_change() -> None:
    # 2026-03-08 is the US spring-forward day: 07:30 UTC is 3:30 AM EDT, not 2:30.
    moment = datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    assert say_when(moment, "America/New_York", moment) == "today at 3:30 AM"
