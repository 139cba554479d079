"""/v1/live: a supervisor follows calls' live events; nobody else gets a byte."""

from __future__ import annotations

import json

import pytest
import redis
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.api.conftest import WALLET_KEY
from tests.conftest import PRODUCT_KEY, SUPERVISOR_KEY, TEST_REDIS_URL
from voicebot.config import Settings


def _publish(settings: Settings, call_id: str, event: dict[str, object]) -> None:
    with redis.Redis.from_url(TEST_REDIS_URL) as r:
        r.publish(f"{settings.redis_prefix}:events:{call_id}", json.dumps(event))


def test_a_supervisor_gets_every_calls_events_as_they_happen(
    api: TestClient, api_settings: Settings
) -> None:
    headers = {"Authorization": f"Bearer {SUPERVISOR_KEY}"}
    with (
        api.websocket_connect("/v1/live", headers=headers) as every,
        api.websocket_connect("/v1/live?call_id=call_b", headers=headers) as one,
    ):
        _publish(api_settings, "call_a", {"type": "heard", "text": "Yes.", "confidence": 0.9})
        _publish(api_settings, "call_b", {"type": "bot", "key": "goodbye", "text": "Bye."})
        assert every.receive_json() == {
            "call_id": "call_a",
            "type": "heard",
            "text": "Yes.",
            "confidence": 0.9,
        }
        assert every.receive_json()["call_id"] == "call_b"
        assert one.receive_json() == {
            "call_id": "call_b",
            "type": "bot",
            "key": "goodbye",
            "text": "Bye.",
        }


@pytest.mark.parametrize("key", [None, "vbk_wrong", WALLET_KEY, PRODUCT_KEY])
def test_anyone_but_a_supervisor_is_refused_at_the_handshake(
    api: TestClient, key: str | None
) -> None:
    headers = {"Authorization": f"Bearer {key}" if key else ""}
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        api.websocket_connect("/v1/live", headers=headers) as ws,
    ):
        ws.receive_json()
    assert refused.value.code == 1008
