"""When to call back, read from what Whisper heard ("tomorrow at five", "in two hours").

Everything is resolved in the customer's zone (the zone of ``now``) because that
is the clock they speak in. A bare hour is read as the hour inside calling hours
(08:00-21:00), since nobody asks to be called at 5 in the morning; a time that
has already passed today, with no day given, means that time tomorrow.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from voicebot.dialog.numbers import TEENS, TENS, UNITS

CALLING_HOURS = (8, 21)  # local hours in which a bare hour is read
DAY_ONLY_HOUR = 10  # "tomorrow", "Monday": a day with no time of day
LATER_TODAY = timedelta(hours=2)  # "later today": soon, but not at once

# A part of the day: the hour it stands for, and the hour it is over.
_PERIODS: dict[str, tuple[int, int]] = {
    "morning": (10, 12),
    "afternoon": (14, 17),
    "evening": (18, 21),
    "night": (18, 21),
}
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


_RELATIVE = re.compile(
    r"(?P<in>\bin (?:about |around |like |maybe |just )?)?"
    r"\b(?P<n>an?|\d+|a couple(?: of)?|half an?)(?P<half> and a half)? "
    r"(?P<unit>hours?|hrs?|minutes?|mins?)\b(?P<half_after> and a half)?(?P<from_now> from now)?"
)
_IN_DAYS = re.compile(r"\bin (?P<n>a|\d+|a couple(?: of)?) days?\b")
_LATER_TODAY = re.compile(r"\blater (?:on )?today\b|\btoday\b")
_DAY = re.compile(
    r"\b(?:the )?(?P<after>day after tomorrow)\b|\b(?P<tomorrow>tomorrow)\b"
    r"|\b(?P<tonight>tonight)\b|\b(?P<today>today)\b"
    r"|\b(?:next |this |on )?(?P<weekday>" + "|".join(_WEEKDAYS) + r")\b"
)
_PERIOD = re.compile(r"\b(?P<period>morning|afternoon|evening|night)\b")
_NOON = re.compile(r"\b(?:noon|midday|lunchtime|lunch time)\b")
_CLOCK = re.compile(
    r"(?:(?<!from )(?P<rel>half|quarter|\d{1,2}) (?:minutes )?(?P<dir>past|after|to|till|before) )?"
    r"\b(?P<h>\d{1,2})(?:(?::| )(?P<m>\d\d))?\b(?: (?P<oclock>oclock))?"
    r"(?: ?(?P<mer>am|pm|a m|p m)\b)?"
)
# A bare number is an hour only where people put hours.
_ANCHOR_BEFORE = re.compile(
    r"(?:\b(?:at|around|about|after|by|say|maybe|before|till|until|from|like)"
    r"|\b(?:tomorrow|today|tonight|morning|afternoon|evening|night|" + "|".join(_WEEKDAYS) + r"))"
    r" (?:at |around |about )?$"
)
_ANCHOR_AFTER = re.compile(
    r"^ (?:ish\b|tomorrow\b|today\b|tonight\b|this\b|in the\b|on\b|" + "|".join(_WEEKDAYS) + r")"
)
_NOT_AN_HOUR = re.compile(
    r"^ (?:minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?|dollars?|bucks|cents?|"
    r"percent|times|people|kids|stars?|of)\b"
)
_FILLER = re.compile(
    r"\b(?:um+|uh+|er+|erm|hmm+|well|ok|okay|so|yeah|yes|maybe|say|let's|how about|"
    r"please|call me|call back|at|around|about|ish)\b"
)


def _words(text: str) -> str:
    """Lower-case, number words as digits, "5:30" and "5.30" kept as one clock token."""
    text = text.lower().replace("\u2019", "'")
    text = re.sub(r"\b([ap])\.\s?m\b\.?", r"\1m", text)
    text = re.sub(r"\bo'?\s?clock\b", " oclock", text)
    text = re.sub(r"(\d)\s?([ap]m|ish)\b", r"\1 \2", text)
    text = re.sub(r"\b(\d{1,2})[.:](\d\d)\b", r"\1:\2", text)
    text = re.sub(r"[^a-z0-9:' ]+", " ", text)
    tokens = text.split()
    out: list[str] = []
    i = 0
    while i < len(tokens):
        word = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if word in TENS:
            value = TENS[word] + UNITS.get(nxt, 0)
            out.append(str(value))
            i += 2 if value != TENS[word] else 1
            continue
        if word in ("oh", "o") and out and out[-1].isdigit() and nxt in UNITS:
            out.append(f"0{UNITS[nxt]}")  # "five oh five" -> 5 05
            i += 2
            continue
        out.append(str(UNITS.get(word, TEENS.get(word, word))))
        i += 1
    return re.sub(r"\bhalf (\d{1,2})\b", r"half past \1", " ".join(out))  # British "half five"


def _amount(n: str) -> float:
    if n.startswith("a couple"):
        return 2
    if n.startswith("half"):
        return 0.5
    return 1 if n in ("a", "an") else float(n)


def _round_up(moment: datetime, minutes: int = 15) -> datetime:
    """The next whole quarter hour (or other step) at or after ``moment``."""
    moment = moment.replace(second=0, microsecond=0)
    return moment + timedelta(minutes=-moment.minute % minutes)


def _at(day: date, hour: int, minute: int, now: datetime) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=now.tzinfo)


def _hour_24(hour: int, meridiem: str | None, period: str | None) -> int:
    """Choose am or pm: said, implied by the part of the day, or inside calling hours."""
    if meridiem:
        return hour % 12 + (12 if meridiem.startswith("p") else 0)
    if hour == 0 or hour >= 12:
        return hour
    if period in ("afternoon", "evening", "night"):
        return hour + 12
    if period == "morning":
        return hour
    return hour + 12 if hour < CALLING_HOURS[0] else hour  # 1-7 -> 13-19, 8-11 stay


def _clock(words: str, skip: tuple[int, int] | None) -> tuple[int, int, str | None] | None:
    """The first hour (and minute) that reads as a time of day: (hour, minute, am/pm)."""
    bare = _FILLER.sub(" ", words).split()
    for match in _CLOCK.finditer(words):
        if skip and skip[0] <= match.start() < skip[1]:
            continue
        hour, minute = int(match["h"]), int(match["m"] or 0)
        rel, direction = match["rel"], match["dir"]
        if rel:
            offset = 30 if rel == "half" else 15 if rel == "quarter" else int(rel)
            if direction in ("to", "till", "before"):
                hour, minute = hour - 1, 60 - offset
            else:
                minute = offset
        before, after = words[: match.start()], words[match.end() :]
        anchored = (
            rel
            or match["m"]
            or match["mer"]
            or match["oclock"]
            or _ANCHOR_BEFORE.search(before)
            or _ANCHOR_AFTER.match(after)
            or bare == [match["h"]]
        )
        if not anchored or (not match["m"] and _NOT_AN_HOUR.match(after)):
            continue
        if 0 <= hour <= 23 and 0 <= minute <= 59 and not (match["mer"] and hour > 12):
            return hour, minute, match["mer"]
    return None


def parse_time(text: str, now: datetime) -> datetime | None:
    """A callback moment in ``now``'s zone, seconds zeroed; ``None`` if no time was said.

    "In two hours" counts from now. Otherwise a day ("tomorrow", "Monday") and a
    time ("at 5", "half past four", "noon") or a part of the day ("morning" 10:00,
    "afternoon" 14:00, "evening"/"tonight" 18:00) make the moment; a day alone is
    10:00 that day. A moment already past moves on a day (a week for a weekday),
    so a parsed callback is never in the past.
    """
    words = _words(text)
    for relative in _RELATIVE.finditer(words):
        if not (relative["in"] or relative["from_now"]):
            continue
        amount = _amount(relative["n"]) + (0.5 if relative["half"] or relative["half_after"] else 0)
        unit = relative["unit"]
        delta = timedelta(hours=amount) if unit.startswith("h") else timedelta(minutes=amount)
        # Add in UTC so that "in two hours" stays two hours across a clock change.
        moment = (now.astimezone(UTC) + delta).astimezone(now.tzinfo)
        return moment.replace(second=0, microsecond=0)

    today = now.date()
    day: date | None = None
    weekday = False
    period: str | None = None
    if in_days := _IN_DAYS.search(words):
        day = today + timedelta(days=int(_amount(in_days["n"])))
    elif found := _DAY.search(words):
        if found["after"]:
            day = today + timedelta(days=2)
        elif found["tomorrow"]:
            day = today + timedelta(days=1)
        elif found["tonight"] or found["today"]:
            day = today
            period = "evening" if found["tonight"] else None
        else:
            ahead = (_WEEKDAYS.index(found["weekday"]) - today.weekday()) % 7
            day, weekday = today + timedelta(days=ahead or 7), True  # "Monday" said on a Monday
    if found_period := _PERIOD.search(words):
        period = found_period["period"]

    skip = in_days.span() if in_days else None
    clock = (12, 0, None) if _NOON.search(words) else _clock(words, skip)
    if clock is not None:
        hour, minute, meridiem = clock
        moment = _at(day or today, _hour_24(hour, meridiem, period), minute, now)
        if moment <= now:
            moment += timedelta(days=7 if weekday else 1)
        return moment
    if period is not None:
        start, end = _PERIODS[period]
        moment = _at(day or today, start, 0, now)
        if moment > now:
            return moment
        if (day is None or day == today) and now.hour < end:
            return _round_up(now + timedelta(minutes=30))  # "this evening", already evening
        return moment + timedelta(days=7 if weekday else 1)
    if day is not None and day != today:
        return _at(day, DAY_ONLY_HOUR, 0, now)
    if _LATER_TODAY.search(words):
        moment = _round_up(now + LATER_TODAY)
        last = _at(today, CALLING_HOURS[1], 0, now)
        if moment <= last:
            return moment
        return last if now < last else _at(today + timedelta(days=1), DAY_ONLY_HOUR, 0, now)
    return None
