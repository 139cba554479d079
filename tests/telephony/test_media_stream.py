"""The media stream is refused, before any model work, without a valid one-time token."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.telephony.helpers import new_call_sid, register_call, signed_post


def answer(client: TestClient, call_sid: str) -> str:
    """Play the voice webhook for a new call; return the stream token from the TwiML."""
    call_id = register_call(client)
    response = signed_post(
        client,
        f"/twilio/voice?call_id={call_id}",
        {"CallSid": call_sid, "CallStatus": "in-progress"},
    )
    assert response.status_code == 200  # type: ignore[attr-defined]
    body = response.text  # type: ignore[attr-defined]
    assert "<Connect><Stream" in body
    match = re.search(r'<Parameter name="token" value="([^"]+)"', body)
    assert match
    return match.group(1)


def start_message(call_sid: str, token: str | None) -> str:
    params = {"token": token} if token is not None else {}
    return json.dumps(
        {
            "event": "start",
            "sequenceNumber": "1",
            "streamSid": "MZ" + call_sid[2:],
            "start": {
                "streamSid": "MZ" + call_sid[2:],
                "callSid": call_sid,
                "accountSid": "AC1",
                "tracks": ["inbound"],
                "customParameters": params,
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        }
    )


def close_code(client: TestClient, call_sid: str, token: str | None) -> int:
    with client.websocket_connect("/twilio/media-stream") as ws:
        ws.send_text(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        ws.send_text(start_message(call_sid, token))
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    return closed.value.code


def test_no_token_is_refused(client: TestClient) -> None:
    call_sid = new_call_sid()
    answer(client, call_sid)
    assert close_code(client, call_sid, None) == 1008


def test_wrong_token_is_refused(client: TestClient) -> None:
    call_sid = new_call_sid()
    answer(client, call_sid)
    assert close_code(client, call_sid, "forged-token") == 1008


def test_token_of_another_call_is_refused(client: TestClient) -> None:
    token_a = answer(client, new_call_sid())
    call_b = new_call_sid()
    answer(client, call_b)
    assert close_code(client, call_b, token_a) == 1008


def test_replayed_token_is_refused(client: TestClient) -> None:
    call_sid = new_call_sid()
    token = answer(client, call_sid)
    with client.websocket_connect("/twilio/media-stream") as ws:  # first use: the call runs
        ws.send_text(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        ws.send_text(start_message(call_sid, token))
        first = json.loads(ws.receive_text())
        assert first["event"] == "media"  # the bot's greeting is coming
        ws.send_text(json.dumps({"event": "stop", "streamSid": "MZ" + call_sid[2:]}))
    assert close_code(client, call_sid, token) == 1008


def test_oversized_message_is_refused(client: TestClient) -> None:
    call_sid = new_call_sid()
    answer(client, call_sid)
    with client.websocket_connect("/twilio/media-stream") as ws:
        ws.send_text("x" * (64 * 1024 + 1))
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert closed.value.code == 1009
