"""The simulator's Twilio REST API, driven by the official ``twilio`` client.

The real server runs in-process (real Redis and SQL); calls are placed as the
dialer places them, through ``voicebot.telephony.rest.twilio_client`` pointed at
the simulator, and must play exactly as ``voicebot simulate`` plays them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import yaml
from redis.asyncio import Redis
from twilio.base.exceptions import TwilioRestException

from tests.conftest import SCENARIOS
from voicebot.calls.outbound import prepare_call
from voicebot.calls.state import CallStore
from voicebot.config import Settings
from voicebot.records.calls import get_call
from voicebot.records.db import Database
from voicebot.simulator.rest import TwilioRestSimulator, _Dial
from voicebot.simulator.runner import InProcessServer
from voicebot.simulator.scenario import Scenario
from voicebot.telephony.rest import twilio_client

FROM = "+18005550199"
ALL_EVENTS = ["initiated", "ringing", "answered", "completed"]


def confirm_yes(name: str, phone: str, **extra: Any) -> Scenario:
    """tests/scenarios/confirm-yes.yaml, as another person with another number."""
    raw = yaml.safe_load((SCENARIOS / "confirm-yes.yaml").read_text())
    raw["name"] = name
    raw["customer"]["phone"] = phone
    return Scenario.model_validate(raw | extra)


@pytest.fixture(scope="module")
def server(settings: Settings) -> Iterator[InProcessServer]:
    server = InProcessServer(settings)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def rest(server: InProcessServer) -> Iterator[TwilioRestSimulator]:
    with TwilioRestSimulator(server.settings) as rest:
        yield rest


@pytest.fixture(scope="module")
def voice_settings(server: InProcessServer, rest: TwilioRestSimulator) -> Settings:
    """What the dialer runs with: the server's settings, Twilio's API at the simulator."""
    return server.settings.model_copy(update={"twilio_api_base_url": rest.url})


@pytest.fixture(scope="module")
async def store(voice_settings: Settings) -> AsyncIterator[tuple[CallStore, Database]]:
    redis = Redis.from_url(voice_settings.redis_url.get_secret_value(), decode_responses=True)
    db = Database(voice_settings.database_url)
    yield CallStore(redis, voice_settings.redis_prefix), db
    await redis.aclose()
    db.engine.dispose()


async def dial(
    settings: Settings, store: tuple[CallStore, Database], scenario: Scenario, **options: Any
) -> tuple[str, str]:
    """Register the call as the dialer does, then create it with the official client."""
    call_id = await prepare_call(*store, scenario.call_context())
    base = settings.public_base_url
    call = await asyncio.to_thread(
        twilio_client(settings).calls.create,
        to=scenario.customer.phone,
        from_=FROM,
        url=f"{base}/twilio/voice?call_id={call_id}",
        status_callback=f"{base}/twilio/status?call_id={call_id}",
        **options,
    )
    assert call.status == "queued"
    assert call.sid.startswith("CA")
    assert call.to == scenario.customer.phone
    return call_id, str(call.sid)


@pytest.mark.e2e
async def test_busy_then_answered_plays_the_scenario(
    voice_settings: Settings, store: tuple[CallStore, Database], rest: TwilioRestSimulator
) -> None:
    scenario = confirm_yes("rest-busy-then-yes", "+14155550161", answer=["busy", "answered"])
    rest.expect_call(scenario)
    db = store[1]

    busy_id, busy_sid = await dial(
        voice_settings, store, scenario, status_callback_event=ALL_EVENTS
    )
    busy = await rest.wait_async(busy_sid, 30)
    assert busy.status == "busy"
    assert [(p.kind, p.state, p.http_status) for p in busy.posted] == [
        ("status", "initiated", 204),
        ("status", "ringing", 204),
        ("status", "busy", 204),
    ]
    assert busy.result is None
    record = await asyncio.to_thread(get_call, db, busy_id)
    assert record is not None
    assert record["carrier_status"] == "busy"
    assert record["call_sid"] is None  # no voice webhook

    call_id, sid = await dial(
        voice_settings,
        store,
        scenario,
        status_callback_event=ALL_EVENTS,
        machine_detection="Enable",
    )
    done = await rest.wait_async(sid)
    result = rest.result(sid)
    assert result is not None
    transcript = "\n".join(f"{t['speaker']}: {t['text']}" for t in result.transcript)
    assert result.passed, f"{result.failures}\n{transcript}"
    assert result.call_sid == sid
    assert result.call_id == call_id
    assert rest.results[scenario.name] is result
    assert done.status == "completed"
    assert done.answered_by == "human"
    assert [(p.kind, p.state) for p in done.posted] == [
        ("status", "initiated"),
        ("status", "ringing"),
        ("voice", "in-progress"),
        ("status", "in-progress"),
        ("status", "completed"),
    ]
    assert all(p.http_status < 300 for p in done.posted)
    fetched = await asyncio.to_thread(twilio_client(voice_settings).calls(sid).fetch)
    assert fetched.status == "completed"
    assert int(fetched.duration) > 0
    record = await asyncio.to_thread(get_call, db, call_id)
    assert record is not None
    assert record["carrier_status"] == "completed"
    assert record["call_sid"] == sid


async def test_unknown_number_fails_without_ringing(
    voice_settings: Settings, store: tuple[CallStore, Database], rest: TwilioRestSimulator
) -> None:
    nobody = confirm_yes("rest-nobody", "+14155550999")  # never given to expect_call
    call_id, sid = await dial(voice_settings, store, nobody)
    call = await rest.wait_async(sid, 30)
    assert call.status == "failed"
    # Without StatusCallbackEvent Twilio reports only the end.
    assert [(p.kind, p.state, p.http_status) for p in call.posted] == [("status", "failed", 204)]
    record = await asyncio.to_thread(get_call, store[1], call_id)
    assert record is not None
    assert record["carrier_status"] == "failed"
    fetched = await asyncio.to_thread(twilio_client(voice_settings).calls(sid).fetch)
    assert fetched.status == "failed"


async def test_no_answer_is_reported_as_twilio_does(
    voice_settings: Settings, store: tuple[CallStore, Database], rest: TwilioRestSimulator
) -> None:
    away = confirm_yes("rest-no-answer", "+14155550162", answer=["no-answer"])
    rest.expect_call(away)
    _, sid = await dial(voice_settings, store, away, status_callback_event=["completed"])
    call = await rest.wait_async(sid, 30)
    assert call.status == "no-answer"
    assert [p.state for p in call.posted] == ["no-answer"]


async def test_wrong_credentials_are_refused(
    voice_settings: Settings, rest: TwilioRestSimulator
) -> None:
    forged = voice_settings.model_copy(update={"twilio_auth_token": "not-the-token"})
    with pytest.raises(TwilioRestException) as refused:
        await asyncio.to_thread(
            twilio_client(forged).calls.create,
            to="+14155550161",
            from_=FROM,
            url=f"{voice_settings.public_base_url}/twilio/voice",
        )
    assert refused.value.status == 401
    assert refused.value.code == 20003
    other = voice_settings.model_copy(update={"twilio_account_sid": "AC" + "1" * 32})
    with pytest.raises(TwilioRestException) as refused:
        await asyncio.to_thread(twilio_client(other).messages.create, to="+1", body="x")
    assert refused.value.status == 401


async def test_bad_requests_are_refused_as_twilio_does(
    voice_settings: Settings, rest: TwilioRestSimulator
) -> None:
    client = twilio_client(voice_settings)
    with pytest.raises(TwilioRestException) as refused:
        await asyncio.to_thread(
            client.calls.create, to="+14155550161", from_=FROM, url="/twilio/voice"
        )
    assert (refused.value.status, refused.value.code) == (400, 21205)
    with pytest.raises(TwilioRestException) as refused:
        await asyncio.to_thread(client.calls("CA" + "0" * 32).fetch)
    assert refused.value.status == 404


async def test_messages_are_recorded(voice_settings: Settings, rest: TwilioRestSimulator) -> None:
    client = twilio_client(voice_settings)
    message = await asyncio.to_thread(
        client.messages.create, to="+14155550161", from_=FROM, body="We tried to call you."
    )
    assert message.sid.startswith("SM")
    assert message.status == "queued"
    sent = rest.sent_messages[-1]
    assert (sent.sid, sent.to, sent.from_, sent.body) == (
        message.sid,
        "+14155550161",
        FROM,
        "We tried to call you.",
    )
    fetched = await asyncio.to_thread(client.messages(message.sid).fetch)
    assert fetched.body == "We tried to call you."


def test_machine_detection_reports_as_twilio() -> None:
    human = confirm_yes("h", "+14155550100")
    machine = Scenario.model_validate(
        {**human.model_dump(exclude={"caller"}), "answered_by": "machine", "caller": []}
    )

    def detected(mode: str, scenario: Scenario) -> str | None:
        dial = _Dial("", "POST", "", "POST", frozenset(), mode, False, "", "POST")
        return TwilioRestSimulator._detected(dial, scenario)

    assert detected("", human) is None
    assert detected("", machine) is None
    assert detected("Enable", human) == "human"
    assert detected("Enable", machine) == "machine_start"
    assert detected("DetectMessageEnd", machine) == "machine_end_beep"


def test_answer_list_repeats_its_last_entry() -> None:
    scenario = confirm_yes("a", "+14155550100", answer=["busy", "no-answer", "answered"])
    assert [scenario.answer_for(i) for i in range(5)] == [
        "busy",
        "no-answer",
        "answered",
        "answered",
        "answered",
    ]
    assert confirm_yes("b", "+14155550100").answer_for(3) == "answered"
