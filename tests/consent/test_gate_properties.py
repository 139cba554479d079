"""Properties of the calling window and the caps, across zones and DST changes (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from voicebot.consent.gate import (
    ConsentFacts,
    DialHistory,
    DialRequest,
    GatePolicy,
    callee_zones,
    evaluate,
)

ZONES = [
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",  # DST moves the clock by 30 minutes
    "Asia/Kolkata",  # +05:30, no DST
    "America/St_Johns",  # -03:30 / -02:30
    "Pacific/Chatham",  # +12:45 / +13:45
    "America/Sao_Paulo",
]
# Numbers whose zones come from the number itself: one, two, and dozens of zones.
MULTI_ZONE_PHONES = ["+12125550100", "+12085550100", "+18005550199"]
FACTS = ConsentFacts(opted_out=False, on_dnc=False, dnc_list_age_days=1.0, has_consent=True)
CALLER_ID = "+18005550199"


@cache
def transitions(zone_name: str) -> list[datetime]:
    """The instants of 2024-2026 at which the zone's UTC offset changes."""
    zone = ZoneInfo(zone_name)
    found = []
    moment = datetime(2024, 1, 1, tzinfo=UTC)
    previous = moment.astimezone(zone).utcoffset()
    while moment < datetime(2027, 1, 1, tzinfo=UTC):
        moment += timedelta(minutes=30)
        offset = moment.astimezone(zone).utcoffset()
        if offset != previous:
            found.append(moment)
            previous = offset
    return found


def instants_near_transitions() -> st.SearchStrategy[datetime]:
    return st.builds(
        lambda moment, minutes: moment + timedelta(minutes=minutes),
        st.sampled_from([t for name in ZONES for t in transitions(name)]),
        st.integers(min_value=-36 * 60, max_value=36 * 60),
    )


instants = st.one_of(
    st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
    ),
    instants_near_transitions(),
)
windows = st.tuples(st.integers(min_value=4, max_value=12), st.integers(min_value=13, max_value=23))
callees = st.one_of(
    st.tuples(st.just("+12125550100"), st.sampled_from(ZONES)),
    st.tuples(st.sampled_from(MULTI_ZONE_PHONES), st.none()),
)


def policy_for(window: tuple[int, int], per_day: int = 3, per_week: int = 7) -> GatePolicy:
    return GatePolicy(
        calling_hours={"transaction_confirmation": window},
        max_calls_per_day=per_day,
        max_calls_per_week=per_week,
        event_max_attempts=1000,
        event_window=timedelta(days=10000),
    )


def request_for(phone: str, zone: str | None) -> DialRequest:
    return DialRequest(
        phone=phone,
        purpose="transaction_confirmation",
        customer_timezone=zone,
        event_id="ev",
        caller_id=CALLER_ID,
    )


def inside(moment: datetime, zones: tuple[ZoneInfo, ...], window: tuple[int, int]) -> bool:
    return all(window[0] <= moment.astimezone(zone).hour < window[1] for zone in zones)


def ever_inside(after: datetime, zones: tuple[ZoneInfo, ...], window: tuple[int, int]) -> bool:
    """Brute force over a week: offsets and their changes fall on quarter hours of UTC."""
    moment = after.replace(minute=after.minute - after.minute % 15, second=0, microsecond=0)
    for _ in range(7 * 24 * 4):
        moment += timedelta(minutes=15)
        if inside(moment, zones, window):
            return True
    return False


@settings(max_examples=400, deadline=None)
@given(now=instants, zone=st.sampled_from(ZONES), window=windows)
def test_allowed_iff_the_local_hour_is_in_the_window(
    now: datetime, zone: str, window: tuple[int, int]
) -> None:
    decision = evaluate(
        request_for("+12125550100", zone), FACTS, DialHistory(), policy_for(window), now
    )
    local_hour = now.astimezone(ZoneInfo(zone)).hour
    assert decision.allowed == (window[0] <= local_hour < window[1])
    assert decision.reasons == ([] if decision.allowed else ["outside_calling_hours"])


@settings(max_examples=400, deadline=None)
@given(now=instants, callee=callees, window=windows)
def test_retry_at_is_the_next_opening_of_the_window(
    now: datetime, callee: tuple[str, str | None], window: tuple[int, int]
) -> None:
    request = request_for(*callee)
    policy = policy_for(window)
    decision = evaluate(request, FACTS, DialHistory(), policy, now)
    if decision.allowed:
        return
    zones = callee_zones(*callee)
    retry_at = decision.retry_at
    if retry_at is None:  # the number's zones share no hour of this window
        assert not ever_inside(now, zones, window)
        return
    assert retry_at > now
    assert inside(retry_at, zones, window)
    assert evaluate(request, FACTS, DialHistory(), policy, retry_at).allowed
    # ...and it is the first such instant: a second earlier was still outside.
    assert not inside(retry_at - timedelta(seconds=1), zones, window)
    if len(zones) == 1:
        assert retry_at - now <= timedelta(days=1, hours=1)


gaps = st.lists(st.integers(min_value=0, max_value=36 * 60), min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(
    start=instants,
    callee=callees,
    window=windows,
    gaps=gaps,
    per_day=st.integers(min_value=1, max_value=4),
    per_week=st.integers(min_value=1, max_value=10),
    follow_retry=st.booleans(),
)
def test_caps_never_allow_more_than_n_in_any_period(
    start: datetime,
    callee: tuple[str, str | None],
    window: tuple[int, int],
    gaps: list[int],
    per_day: int,
    per_week: int,
    follow_retry: bool,
) -> None:
    """A dialer that tries at arbitrary times (or at every retry_at) is held to the caps."""
    request = request_for(*callee)
    policy = policy_for(window, per_day, per_week)
    placed: list[datetime] = []
    now = start
    for gap in gaps:
        decision = evaluate(request, FACTS, DialHistory(number_attempts=tuple(placed)), policy, now)
        if decision.allowed:
            placed.append(now)
        else:
            assert decision.retry_at is None or decision.retry_at > now
            if decision.retry_at is None:
                assert not ever_inside(now, callee_zones(*callee), window)
        if follow_retry and decision.retry_at is not None:
            now = decision.retry_at
        else:
            now += timedelta(minutes=gap)
    for period, limit in ((timedelta(days=1), per_day), (timedelta(days=7), per_week)):
        for first in placed:
            assert sum(first <= t < first + period for t in placed) <= limit


@settings(max_examples=300, deadline=None)
@given(
    now=instants,
    callee=callees,
    window=windows,
    number_ago=st.lists(st.integers(min_value=0, max_value=8 * 24 * 60), max_size=12),
    event_ago=st.lists(st.integers(min_value=0, max_value=4 * 24 * 60), max_size=4),
    facts=st.builds(
        ConsentFacts,
        opted_out=st.booleans(),
        on_dnc=st.booleans(),
        dnc_list_age_days=st.one_of(st.none(), st.floats(min_value=0, max_value=60)),
        has_consent=st.booleans(),
    ),
    purpose=st.sampled_from(["transaction_confirmation", "feedback"]),
)
def test_a_retry_at_is_always_a_time_the_same_request_is_allowed(
    now: datetime,
    callee: tuple[str, str | None],
    window: tuple[int, int],
    number_ago: list[int],
    event_ago: list[int],
    facts: ConsentFacts,
    purpose: str,
) -> None:
    request = DialRequest(
        phone=callee[0],
        purpose=purpose,
        customer_timezone=callee[1],
        event_id="ev",
        caller_id=CALLER_ID,
    )
    policy = GatePolicy(calling_hours={purpose: window})
    history = DialHistory(
        number_attempts=tuple(now - timedelta(minutes=m) for m in number_ago),
        event_attempts=tuple(now - timedelta(minutes=m) for m in event_ago),
    )
    decision = evaluate(request, facts, history, policy, now)
    assert decision.allowed == (not decision.reasons)
    if decision.retry_at is not None:
        assert not decision.allowed
        assert decision.retry_at > now
        assert evaluate(request, facts, history, policy, decision.retry_at).allowed
    if facts.opted_out or facts.on_dnc:
        assert not decision.allowed and decision.retry_at is None
