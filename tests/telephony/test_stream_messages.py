"""Through the real app's media stream: bad frames are never fatal; ``stop`` hangs up at once."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from tests.telephony.helpers import new_call_sid, services_of
from tests.telephony.test_media_stream import answer, start_message
from voicebot.records import calls as call_records

# The bot's greeting is seconds long and paced in real time (50 messages a second).
AFTER_STOP_MAX = 10  # 200 ms: what was already on its way when stop arrived


def connect(ws: WebSocketTestSession, call_sid: str, token: str) -> None:
    ws.send_text(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
    ws.send_text(start_message(call_sid, token))
    assert json.loads(ws.receive_text())["event"] == "media"  # the greeting has started


def ended_record(client: TestClient, call_sid: str, timeout_s: float = 10.0) -> dict[str, Any]:
    """The call's SQL record once written. Wait inside ``websocket_connect``: leaving it
    cancels the server's handler (TestClient does), which may cut the write short."""
    services = services_of(client)
    call_id = client.portal.call(services.store.call_id_for, call_sid)  # type: ignore[union-attr]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        record = call_records.get_call(services.db, call_id)
        if record is not None and record["outcome"] is not None:
            return record
        time.sleep(0.05)
    raise AssertionError(f"{call_id}: no record written")


def stop_message(call_sid: str) -> str:
    return json.dumps(
        {
            "event": "stop",
            "sequenceNumber": "9",
            "streamSid": "MZ" + call_sid[2:],
            "stop": {"accountSid": "AC1", "callSid": call_sid},
        }
    )


def messages_until_closed(ws: WebSocketTestSession, limit: int) -> int:
    """How many messages the server sends before it closes the socket (fails past ``limit``)."""
    for count in range(limit + 1):
        try:
            ws.receive_text()
        except WebSocketDisconnect:
            return count
    pytest.fail(f"the server was still sending after {limit} messages")


def test_undecodable_media_does_not_end_the_call(client: TestClient) -> None:
    call_sid = new_call_sid()
    token = answer(client, call_sid)
    with client.websocket_connect("/twilio/media-stream") as ws:
        connect(ws, call_sid, token)
        for bad in (
            {"event": "media", "media": {"payload": "A"}},
            {"event": "media", "media": {"payload": 7}},
            {"event": "media"},
        ):
            ws.send_text(json.dumps({**bad, "streamSid": "MZ" + call_sid[2:]}))
        ws.send_text("not json")
        for _ in range(50):  # a second of the greeting: the call goes on
            assert json.loads(ws.receive_text())["event"] == "media"
        ws.send_text(stop_message(call_sid))
        messages_until_closed(ws, AFTER_STOP_MAX)
        record = ended_record(client, call_sid)  # before leaving: that cancels the server side
    assert record["outcome"] == "hung_up"


def test_stop_ends_the_call_at_once(client: TestClient) -> None:
    call_sid = new_call_sid()
    token = answer(client, call_sid)
    with client.websocket_connect("/twilio/media-stream") as ws:
        connect(ws, call_sid, token)
        ws.send_text(stop_message(call_sid))
        # The socket is left open by the caller's side: the server must close it itself.
        messages_until_closed(ws, AFTER_STOP_MAX)
        record = ended_record(client, call_sid)  # written as when the socket closes
    assert record["outcome"] == "hung_up"
    services = services_of(client)
    call_id = client.portal.call(services.store.call_id_for, call_sid)  # type: ignore[union-attr]
    live = client.portal.call(services.store.get, call_id)  # type: ignore[union-attr]
    assert live["outcome"] == "hung_up"
