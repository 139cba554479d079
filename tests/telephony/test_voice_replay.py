"""A signed voice webhook is good for one stream: a replay connects nothing and changes nothing.

Twilio signatures carry no timestamp, so a captured ``POST /twilio/voice`` stays
valid forever. The server issues a stream token once per call; a second webhook
for a call that has a stream, or has ended, is answered 200 with ``<Hangup/>``.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.testclient import TestClient

from tests.telephony.helpers import new_call_sid, register_call, services_of, signed_post
from tests.telephony.test_media_stream import answer, close_code, start_message
from voicebot.records import calls as call_records


def voice(client: TestClient, call_id: str, call_sid: str) -> Any:
    return signed_post(
        client,
        f"/twilio/voice?call_id={call_id}",
        {"CallSid": call_sid, "CallStatus": "in-progress"},
    )


def refused(response: Any) -> bool:
    """A 200 TwiML answer that hangs up and connects no stream."""
    body = response.text
    return response.status_code == 200 and "<Hangup" in body and "<Stream" not in body


def live(client: TestClient, call_id: str) -> dict[str, str]:
    services = services_of(client)
    state: dict[str, str] = client.portal.call(services.store.get, call_id)  # type: ignore[union-attr]
    return state


def wait_for_record(client: TestClient, call_id: str, timeout_s: float = 10.0) -> dict[str, Any]:
    """The call's SQL record once written. Wait inside ``websocket_connect``: leaving it
    cancels the server's handler (TestClient does), which may cut the write short."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        record = call_records.get_call(services_of(client).db, call_id)
        if record is not None and record["outcome"] is not None:
            return record
        time.sleep(0.05)
    raise AssertionError(f"{call_id}: no call record written")


def test_a_replayed_voice_webhook_gets_no_second_stream(client: TestClient) -> None:
    call_id, call_sid = register_call(client), new_call_sid()
    first = voice(client, call_id, call_sid)
    assert first.status_code == 200 and "<Connect><Stream" in first.text
    before = live(client, call_id)

    again = voice(client, call_id, call_sid)
    assert refused(again)
    assert live(client, call_id) == before  # the replay changed nothing


def test_a_replay_does_not_spoil_the_first_token(client: TestClient) -> None:
    call_sid = new_call_sid()
    token = answer(client, call_sid)
    call_id = client.portal.call(services_of(client).store.call_id_for, call_sid)  # type: ignore[union-attr]
    assert refused(voice(client, call_id, call_sid))
    with client.websocket_connect("/twilio/media-stream") as ws:
        ws.send_text(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        ws.send_text(start_message(call_sid, token))
        assert json.loads(ws.receive_text())["event"] == "media"  # the call runs
        ws.send_text(json.dumps({"event": "stop", "streamSid": "MZ" + call_sid[2:]}))
        wait_for_record(client, call_id)


def test_a_voice_webhook_after_the_call_ended_connects_nothing(client: TestClient) -> None:
    """The probe's sequence: a call runs and ends, then its signed webhook is replayed.

    (That a second ending can never overwrite the first is tested on the record
    itself, tests/records/test_calls.py, and on Redis, tests/calls/test_state.py.)
    """
    call_sid = new_call_sid()
    token = answer(client, call_sid)
    services = services_of(client)
    call_id = client.portal.call(services.store.call_id_for, call_sid)  # type: ignore[union-attr]
    with client.websocket_connect("/twilio/media-stream") as ws:
        ws.send_text(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        ws.send_text(start_message(call_sid, token))
        assert json.loads(ws.receive_text())["event"] == "media"
        ws.send_text(json.dumps({"event": "stop", "streamSid": "MZ" + call_sid[2:]}))
        ended = wait_for_record(client, call_id)
    outcome_before = live(client, call_id)["outcome_record"]

    again = voice(client, call_id, call_sid)
    assert refused(again)
    assert "<Parameter" not in again.text  # no token of any kind
    assert close_code(client, call_sid, "") == 1008  # and no stream can start without one
    assert call_records.get_call(services.db, call_id) == ended
    assert live(client, call_id)["outcome_record"] == outcome_before


def test_a_voice_webhook_for_a_call_the_carrier_ended_connects_nothing(
    client: TestClient,
) -> None:
    call_id, call_sid = register_call(client), new_call_sid()
    response = signed_post(
        client,
        f"/twilio/status?call_id={call_id}",
        {"CallSid": call_sid, "CallStatus": "completed", "SequenceNumber": "3"},
    )
    assert response.status_code == 204  # type: ignore[attr-defined]
    assert refused(voice(client, call_id, call_sid))


def test_racing_voice_webhooks_issue_one_stream(client: TestClient) -> None:
    call_id, call_sid = register_call(client), new_call_sid()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: voice(client, call_id, call_sid), range(8)))
    streams = [a for a in answers if "<Stream" in a.text]
    assert len(streams) == 1
    assert all(refused(a) for a in answers if a not in streams)


def test_a_call_whose_live_state_redis_lost_is_restored_from_its_sql_record(
    client: TestClient,
) -> None:
    """Redis restarted empty between dialing and answering: the call still connects, once."""
    call_id, call_sid = register_call(client), new_call_sid()
    services = services_of(client)
    client.portal.call(services.redis.delete, f"{services.settings.redis_prefix}:call:{call_id}")  # type: ignore[union-attr]
    first = voice(client, call_id, call_sid)
    assert first.status_code == 200 and "<Connect><Stream" in first.text
    assert refused(voice(client, call_id, call_sid))  # and still only once


def test_a_call_unknown_to_redis_and_sql_is_hung_up(client: TestClient) -> None:
    assert refused(voice(client, "call_does_not_exist", new_call_sid()))
