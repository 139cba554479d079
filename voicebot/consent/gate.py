"""The dialing gate: may this number be called now, for this purpose, from this caller ID?

Pure: the facts (registry.py), the history of attempts and the clock come in, a
decision goes out; no I/O (time zone data is read like any other constant).
Every rule that refuses adds its reason, so one decision names everything in
the way. ``retry_at`` is the first instant at which all of them lift, or None
when one of them never lifts by itself (an opt-out, a DNC entry, a stale DNC
list waiting for an operator, missing consent, a used-up event, ...).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as number_zones

from voicebot.config import Settings
from voicebot.errors import ConfigError

# Reasons, in the order a decision lists them.
OPTED_OUT = "opted_out"
PURPOSE_OPTED_OUT = "purpose_opted_out"  # "no more surveys": this purpose only
DO_NOT_CALL = "do_not_call"
DNC_LIST_STALE = "dnc_list_stale"
NO_CONSENT = "no_consent"
CALLER_ID_NOT_ALLOWED = "caller_id_not_allowed"
EVENT_ATTEMPTS_EXHAUSTED = "event_attempts_exhausted"
TIMEZONE_UNKNOWN = "timezone_unknown"
FREQUENCY_CAP = "frequency_cap"
OUTSIDE_CALLING_HOURS = "outside_calling_hours"

DAY = timedelta(days=1)
WEEK = timedelta(days=7)
# How far ahead retry_at looks for a window that is open in every zone of the
# number; beyond it (e.g. a toll-free number spanning Guam to Hawaii) it is None.
RETRY_HORIZON_DAYS = 8


@dataclass(frozen=True)
class DialRequest:
    """One call someone wants placed."""

    phone: str  # E.164
    purpose: str  # transaction_confirmation | feedback | ...
    customer_timezone: str | None  # from the customer record; None: read it from the number
    event_id: str  # what the call is about (a payment, a case): attempts are counted per event
    caller_id: str  # the number the callee will see


@dataclass(frozen=True)
class ConsentFacts:
    """What the registry knows about a number, read at one instant."""

    opted_out: bool
    on_dnc: bool
    dnc_list_age_days: float | None  # the newest imported list; None: none ever imported
    has_consent: bool  # recorded consent for this purpose, in force now
    purpose_revoked: bool = False  # the customer withdrew this purpose (on a call or the API)


@dataclass(frozen=True)
class DialHistory:
    """Earlier attempts (aware datetimes), computed by the caller from SQL."""

    number_attempts: tuple[datetime, ...] = ()  # every call to this number, any purpose
    event_attempts: tuple[datetime, ...] = ()  # calls about this event


@dataclass(frozen=True)
class GatePolicy:
    """The rules' numbers; ``from_settings`` reads them from the configuration."""

    calling_hours: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    default_hours: tuple[int, int] = (8, 21)
    max_calls_per_day: int = 3
    max_calls_per_week: int = 7
    event_max_attempts: int = 3
    event_window: timedelta = timedelta(days=3)
    caller_ids: frozenset[str] = frozenset({"+18005550199"})
    dnc_max_age_days: float = 31
    # Purposes the account relationship covers; all others need recorded consent.
    relationship_purposes: frozenset[str] = frozenset({"transaction_confirmation"})

    def __post_init__(self) -> None:
        """A zero cap or an empty window would refuse every call without saying why."""
        for start, end in [self.default_hours, *self.calling_hours.values()]:
            if not 0 <= start < end <= 24:
                raise ConfigError(f"calling hours {start}-{end}: need 0 <= start < end <= 24")
        if min(self.max_calls_per_day, self.max_calls_per_week, self.event_max_attempts) < 1:
            raise ConfigError("call caps must be at least 1")

    @classmethod
    def from_settings(cls, settings: Settings) -> GatePolicy:
        return cls(
            calling_hours=dict(settings.calling_hours),
            default_hours=settings.default_calling_hours,
            max_calls_per_day=settings.max_calls_per_day,
            max_calls_per_week=settings.max_calls_per_week,
            event_max_attempts=settings.event_max_attempts,
            event_window=timedelta(days=settings.event_window_days),
            caller_ids=frozenset(settings.caller_ids),
            dnc_max_age_days=settings.dnc_max_age_days,
        )

    def hours_for(self, purpose: str) -> tuple[int, int]:
        return self.calling_hours.get(purpose, self.default_hours)


@dataclass(frozen=True)
class GateDecision:
    """Allowed, or why not and from when it may be (``retry_at``: None means never by itself)."""

    allowed: bool
    reasons: list[str]
    retry_at: datetime | None


def evaluate(
    request: DialRequest,
    facts: ConsentFacts,
    history: DialHistory,
    policy: GatePolicy,
    now: datetime,
) -> GateDecision:
    """Apply every rule to one request at ``now`` (an aware datetime)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    reasons: list[str] = []
    lasting = False  # a reason that time alone never lifts

    def refuse(reason: str, *, forever: bool) -> None:
        nonlocal lasting
        reasons.append(reason)
        lasting = lasting or forever

    if facts.opted_out:
        refuse(OPTED_OUT, forever=True)
    if facts.purpose_revoked:
        refuse(PURPOSE_OPTED_OUT, forever=True)
    if facts.on_dnc:
        refuse(DO_NOT_CALL, forever=True)
    if facts.dnc_list_age_days is None or facts.dnc_list_age_days > policy.dnc_max_age_days:
        refuse(DNC_LIST_STALE, forever=True)  # an operator must import a fresh list
    if request.purpose not in policy.relationship_purposes and not facts.has_consent:
        refuse(NO_CONSENT, forever=True)
    if request.caller_id not in policy.caller_ids:
        refuse(CALLER_ID_NOT_ALLOWED, forever=True)
    event_closes = _event_closes(history, policy)
    if len(history.event_attempts) >= policy.event_max_attempts or (
        event_closes is not None and now >= event_closes
    ):
        refuse(EVENT_ATTEMPTS_EXHAUSTED, forever=True)
    zones = callee_zones(request.phone, request.customer_timezone)
    if not zones:
        refuse(TIMEZONE_UNKNOWN, forever=True)

    caps_free_at = _caps_free_at(history.number_attempts, policy, now)
    if caps_free_at is not None:
        refuse(FREQUENCY_CAP, forever=False)
    hours = policy.hours_for(request.purpose)
    if zones and not in_window(now, zones, hours):
        refuse(OUTSIDE_CALLING_HOURS, forever=False)

    if not reasons:
        return GateDecision(allowed=True, reasons=[], retry_at=None)
    retry_at = None
    if not lasting:
        retry_at = next_opening(max(now, caps_free_at or now), zones, hours)
        if retry_at is not None and event_closes is not None and retry_at >= event_closes:
            retry_at = None  # the event's time is up before the callee's window opens
    return GateDecision(allowed=False, reasons=reasons, retry_at=retry_at)


def _event_closes(history: DialHistory, policy: GatePolicy) -> datetime | None:
    """An event may be called about until this long after its first attempt."""
    if not history.event_attempts:
        return None
    return min(history.event_attempts) + policy.event_window


def _caps_free_at(
    attempts: tuple[datetime, ...], policy: GatePolicy, now: datetime
) -> datetime | None:
    """When the per-number caps let one more call through, or None if they do now.

    A cap of N per period means at most N attempts in any half-open period; an
    attempt at t stops counting at t + period.
    """
    free_at: datetime | None = None
    for period, limit in ((DAY, policy.max_calls_per_day), (WEEK, policy.max_calls_per_week)):
        recent = sorted(t for t in attempts if t > now - period)
        if len(recent) >= limit:
            # Only limit - 1 may remain: wait for the oldest ones to leave the period.
            leaves_at = recent[len(recent) - limit] + period
            free_at = leaves_at if free_at is None else max(free_at, leaves_at)
    return free_at


@lru_cache(maxsize=4096)
def callee_zones(phone: str, customer_timezone: str | None) -> tuple[ZoneInfo, ...]:
    """The customer's recorded zone, else every zone the number may ring in.

    A zone name the customer record gets wrong falls back to the number. An
    empty answer means the number tells nothing (unknown region or not a number).
    """
    if customer_timezone:
        try:
            return (ZoneInfo(customer_timezone),)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        names = number_zones.time_zones_for_number(phonenumbers.parse(phone, None))
    except phonenumbers.NumberParseException:
        return ()
    zones = []
    for name in sorted(set(names)):
        try:
            zones.append(ZoneInfo(name))
        except (ZoneInfoNotFoundError, ValueError):
            continue  # "Etc/Unknown", or a name this system's tz database lacks
    return tuple(zones)


def in_window(moment: datetime, zones: tuple[ZoneInfo, ...], hours: tuple[int, int]) -> bool:
    """Inside [start, end) local hours in every zone: the most restrictive reading."""
    start, end = hours
    return all(start <= moment.astimezone(zone).hour < end for zone in zones)


def next_opening(
    after: datetime, zones: tuple[ZoneInfo, ...], hours: tuple[int, int]
) -> datetime | None:
    """The first instant at or after ``after`` inside the window in every zone.

    Such an instant is ``after`` itself or the start of some zone's window (where
    intervals intersect, the intersection starts at one of their starts), so only
    those are tried. None if there is none within the horizon.
    """
    if not zones:
        return None
    if in_window(after, zones, hours):
        return after
    candidates = sorted({opening for zone in zones for opening in _openings(zone, hours[0], after)})
    for candidate in candidates:
        if candidate > after and in_window(candidate, zones, hours):
            return candidate
    return None


def _openings(zone: ZoneInfo, start_hour: int, around: datetime) -> Iterator[datetime]:
    """The start of the window in ``zone`` on the days around ``around``, in UTC.

    Both readings of an ambiguous or skipped local time are tried; a skipped one
    (DST gap) that is not really in the window is dropped by the caller's check.
    """
    first_day = around.astimezone(zone).date() - DAY
    for offset in range(RETRY_HORIZON_DAYS + 2):
        local = datetime.combine(first_day + offset * DAY, time(start_hour), tzinfo=zone)
        for fold in (0, 1):
            yield local.replace(fold=fold).astimezone(UTC)
