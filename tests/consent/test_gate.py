"""The dialing gate, one rule at a time: each refusal names its reason and when it lifts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from voicebot.config import Settings
from voicebot.consent.gate import (
    ConsentFacts,
    DialHistory,
    DialRequest,
    GatePolicy,
    callee_zones,
    evaluate,
)
from voicebot.errors import ConfigError

NEW_YORK = ZoneInfo("America/New_York")
LA_PHONE = "+14155550100"  # America/Los_Angeles
BOISE_PHONE = "+12085550100"  # America/Boise and America/Los_Angeles
TOLL_FREE = "+18005550199"  # every zone of the North American plan, Guam to Hawaii
POLICY = GatePolicy(calling_hours={"transaction_confirmation": (8, 21), "feedback": (10, 18)})
FACTS = ConsentFacts(opted_out=False, on_dnc=False, dnc_list_age_days=2.0, has_consent=False)
NOON_NY = datetime(2025, 3, 12, 12, 0, tzinfo=NEW_YORK)


def request(**changes: object) -> DialRequest:
    base = DialRequest(
        phone="+12125550100",  # America/New_York
        purpose="transaction_confirmation",
        customer_timezone=None,
        event_id="tx_1",
        caller_id="+18005550199",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def decide(
    req: DialRequest | None = None,
    facts: ConsentFacts = FACTS,
    history: DialHistory | None = None,
    now: datetime = NOON_NY,
    policy: GatePolicy = POLICY,
) -> tuple[bool, list[str], datetime | None]:
    decision = evaluate(req or request(), facts, history or DialHistory(), policy, now)
    return decision.allowed, decision.reasons, decision.retry_at


def test_a_plain_confirmation_at_noon_is_allowed() -> None:
    assert decide() == (True, [], None)


def test_opted_out_is_refused_forever() -> None:
    assert decide(facts=replace(FACTS, opted_out=True)) == (False, ["opted_out"], None)


def test_a_number_on_a_dnc_list_is_refused_forever() -> None:
    assert decide(facts=replace(FACTS, on_dnc=True)) == (False, ["do_not_call"], None)


@pytest.mark.parametrize("age", [31.01, 90.0, None])
def test_a_stale_or_missing_dnc_list_waits_for_an_operator(age: float | None) -> None:
    assert decide(facts=replace(FACTS, dnc_list_age_days=age)) == (
        False,
        ["dnc_list_stale"],
        None,
    )


def test_a_dnc_list_31_days_old_is_still_fresh() -> None:
    assert decide(facts=replace(FACTS, dnc_list_age_days=31.0))[0]


def test_feedback_needs_recorded_consent() -> None:
    feedback = request(purpose="feedback")
    assert decide(feedback) == (False, ["no_consent"], None)
    assert decide(feedback, facts=replace(FACTS, has_consent=True)) == (True, [], None)


def test_a_confirmation_relies_on_the_account_relationship() -> None:
    assert decide(facts=replace(FACTS, has_consent=False))[0]


def test_an_unlisted_caller_id_is_refused() -> None:
    assert decide(request(caller_id="+14155550123")) == (False, ["caller_id_not_allowed"], None)


def test_three_attempts_per_event_at_most() -> None:
    two = DialHistory(event_attempts=(NOON_NY - timedelta(hours=30), NOON_NY - timedelta(hours=6)))
    assert decide(history=two)[0]
    three = DialHistory(event_attempts=(*two.event_attempts, NOON_NY - timedelta(hours=1)))
    assert decide(history=three) == (False, ["event_attempts_exhausted"], None)


def test_an_event_is_not_called_about_three_days_after_its_first_attempt() -> None:
    old = DialHistory(event_attempts=(NOON_NY - timedelta(days=3),))
    assert decide(history=old) == (False, ["event_attempts_exhausted"], None)


def test_no_retry_when_the_event_closes_before_the_window_opens() -> None:
    # 22:00 in New York; the event's 3 days end at 07:00 tomorrow, before 08:00.
    late = datetime(2025, 3, 12, 22, 0, tzinfo=NEW_YORK)
    history = DialHistory(event_attempts=(late + timedelta(hours=9) - timedelta(days=3),))
    assert decide(now=late, history=history) == (False, ["outside_calling_hours"], None)


def test_outside_hours_retries_when_the_window_opens_in_the_callees_zone() -> None:
    late = datetime(2025, 3, 12, 21, 0, tzinfo=NEW_YORK)
    assert decide(now=late) == (
        False,
        ["outside_calling_hours"],
        datetime(2025, 3, 13, 8, 0, tzinfo=NEW_YORK),
    )


def test_the_window_is_per_purpose() -> None:
    nine = datetime(2025, 3, 12, 9, 0, tzinfo=NEW_YORK)
    feedback = request(purpose="feedback")
    facts = replace(FACTS, has_consent=True)
    assert decide(now=nine)[0]
    assert decide(feedback, facts=facts, now=nine) == (
        False,
        ["outside_calling_hours"],
        datetime(2025, 3, 12, 10, 0, tzinfo=NEW_YORK),
    )


def test_the_customer_record_zone_wins_over_the_number() -> None:
    # Noon in New York is 01:00 in Kolkata.
    kolkata = request(customer_timezone="Asia/Kolkata")
    allowed, reasons, retry_at = decide(kolkata)
    assert (allowed, reasons) == (False, ["outside_calling_hours"])
    assert retry_at == datetime(2025, 3, 13, 8, 0, tzinfo=ZoneInfo("Asia/Kolkata"))


def test_a_wrong_zone_in_the_customer_record_falls_back_to_the_number() -> None:
    assert callee_zones("+12125550100", "Mars/Olympus") == (NEW_YORK,)


def test_a_number_spanning_zones_is_allowed_only_inside_all_of_them() -> None:
    # Boise is an hour ahead of Los Angeles: 08:00-21:00 in both is 08:00-20:00 Pacific.
    pacific = ZoneInfo("America/Los_Angeles")
    boise = request(phone=BOISE_PHONE)
    assert decide(boise, now=datetime(2025, 3, 12, 8, 0, tzinfo=pacific))[0]
    allowed, reasons, retry_at = decide(boise, now=datetime(2025, 3, 12, 20, 0, tzinfo=pacific))
    assert (allowed, reasons) == (False, ["outside_calling_hours"])
    assert retry_at == datetime(2025, 3, 13, 8, 0, tzinfo=pacific)
    # The single-zone number is still inside its window at 20:00 Pacific.
    assert decide(request(phone=LA_PHONE), now=datetime(2025, 3, 12, 20, 0, tzinfo=pacific))[0]


def test_a_toll_free_number_is_called_only_when_every_zone_is_inside() -> None:
    # Guam (08:00 from 22:00 UTC) to St John's (21:00 at 23:30 UTC, daylight time).
    assert decide(request(phone=TOLL_FREE)) == (
        False,
        ["outside_calling_hours"],
        datetime(2025, 3, 12, 22, 0, tzinfo=UTC),
    )
    assert decide(request(phone=TOLL_FREE), now=datetime(2025, 3, 12, 23, 29, tzinfo=UTC))[0]
    assert not decide(request(phone=TOLL_FREE), now=datetime(2025, 3, 12, 23, 30, tzinfo=UTC))[0]
    # ...unless the customer record says where the callee is.
    assert decide(request(phone=TOLL_FREE, customer_timezone="America/New_York"))[0]


def test_a_number_without_a_known_zone_is_refused() -> None:
    assert decide(request(phone="+99912345")) == (False, ["timezone_unknown"], None)


def test_frequency_cap_per_day_frees_when_the_oldest_call_is_24_hours_old() -> None:
    calls = tuple(NOON_NY - timedelta(minutes=m) for m in (60, 30, 15))
    assert decide(history=DialHistory(number_attempts=calls)) == (
        False,
        ["frequency_cap"],
        NOON_NY + timedelta(hours=23),
    )


def test_frequency_cap_per_week() -> None:
    calls = tuple(NOON_NY - timedelta(days=d) for d in range(1, 8))  # 7 calls in 7 days
    allowed, reasons, retry_at = decide(history=DialHistory(number_attempts=calls[:6]))
    assert allowed
    allowed, reasons, retry_at = decide(
        history=DialHistory(number_attempts=(*calls[:6], NOON_NY - timedelta(hours=30)))
    )
    assert (allowed, reasons) == (False, ["frequency_cap"])
    # The oldest (6 days ago, noon) leaves the week tomorrow at noon.
    assert retry_at == NOON_NY + timedelta(days=1)


def test_a_cap_that_frees_at_night_retries_when_the_window_opens() -> None:
    evening = datetime(2025, 3, 12, 20, 0, tzinfo=NEW_YORK)
    calls = (
        evening - timedelta(hours=1),
        evening - timedelta(hours=2),
        evening - timedelta(hours=23),
    )
    assert decide(now=evening, history=DialHistory(number_attempts=calls)) == (
        False,
        ["frequency_cap"],
        datetime(2025, 3, 13, 8, 0, tzinfo=NEW_YORK),
    )


def test_all_reasons_are_listed_and_a_lasting_one_means_no_retry() -> None:
    late = datetime(2025, 3, 12, 23, 0, tzinfo=NEW_YORK)
    facts = ConsentFacts(opted_out=True, on_dnc=True, dnc_list_age_days=40, has_consent=False)
    history = DialHistory(
        number_attempts=tuple(late - timedelta(minutes=m) for m in (1, 2, 3)),
        event_attempts=tuple(late - timedelta(minutes=m) for m in (1, 2, 3)),
    )
    allowed, reasons, retry_at = decide(
        request(purpose="feedback", caller_id="+15550000000"), facts, history, now=late
    )
    assert (allowed, retry_at) == (False, None)
    assert reasons == [
        "opted_out",
        "do_not_call",
        "dnc_list_stale",
        "no_consent",
        "caller_id_not_allowed",
        "event_attempts_exhausted",
        "frequency_cap",
        "outside_calling_hours",
    ]


def test_dst_spring_forward_in_new_york() -> None:
    # 2025-03-09: clocks jump 02:00 -> 03:00. At 01:00 EST the window opens at 08:00 EDT.
    early = datetime(2025, 3, 9, 6, 0, tzinfo=UTC)  # 01:00 EST
    _, _, retry_at = decide(now=early)
    assert retry_at == datetime(2025, 3, 9, 12, 0, tzinfo=UTC)  # 08:00 EDT, not 13:00 UTC


def test_policy_from_settings_and_its_checks() -> None:
    policy = GatePolicy.from_settings(Settings(caller_ids=["+15550001111"], max_calls_per_day=2))
    assert policy.caller_ids == frozenset({"+15550001111"})
    assert policy.max_calls_per_day == 2
    assert policy.hours_for("feedback") == (8, 21)
    assert policy.hours_for("other") == (8, 21)
    with pytest.raises(ConfigError):
        GatePolicy(calling_hours={"feedback": (21, 8)})
    with pytest.raises(ConfigError):
        Settings(calling_hours={"feedback": (9, 25)})


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError):
        decide(now=datetime(2025, 3, 12, 12, 0))


@pytest.mark.parametrize("purpose", ["transaction_confirmation", "feedback"])
def test_a_purpose_the_customer_opted_out_of_is_refused_forever(purpose: str) -> None:
    """Even a confirmation, which needs no recorded consent, once they said "not for this"."""
    facts = replace(FACTS, purpose_revoked=True, has_consent=True)
    assert decide(request(purpose=purpose), facts=facts) == (False, ["purpose_opted_out"], None)
