"""Faults inside a live call: the caller is never left in silence, and the outcome says why.

Speech recognition raises, or never answers, on a real call through the real
server: within 2 s of the end of the caller's words the bot apologises, the
call goes to a person (``escalated``), and the webhook the wallet backend gets
names the failure.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
import yaml

from tests.outcomes.helpers import Receiver
from voicebot.pipeline import stt
from voicebot.pipeline.stt import Recognition
from voicebot.simulator.runner import Simulator
from voicebot.simulator.scenario import load_scenarios

pytestmark = pytest.mark.e2e

SCENARIO = {
    "name": "recognition-fails",
    "purpose": "transaction_confirmation",
    "customer": {
        "first_name": "Alice",
        "last_name": "Chen",
        "phone": "+14155550199",
        "timezone": "America/Los_Angeles",
    },
    "transaction": {
        "id": "tx_recognition_fails",
        "amount": "912.40",
        "currency": "USD",
        "merchant": "Amazon",
        "time": "2026-11-21T14:03:00Z",
    },
    "caller": [{"say": "Yes, this is Alice."}, {"say": "Yes, that was me."}],
    "expect": {"outcome": "escalated", "escalated": True, "bot_must_say": ["sorry"]},
}


@pytest.mark.parametrize("failure", ["raises", "hangs"])
async def test_recognition_failing_mid_call_is_an_apology_and_an_escalation(
    simulator: Simulator,
    wallet_backend: Receiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    failure: str,
) -> None:
    async def broken(*args: object, **kwargs: object) -> Recognition:
        if failure == "raises":
            raise RuntimeError("CTranslate2 exploded")
        await asyncio.sleep(3600)
        raise AssertionError("not reached")

    monkeypatch.setattr(stt, "recognise", broken)
    scenario = dict(SCENARIO, name=f"recognition-{failure}")
    (tmp_path / "call.yaml").write_text(yaml.safe_dump(scenario))
    (result,) = await simulator.run(load_scenarios([tmp_path]))

    assert result.passed, result.failures
    first = result.caller_turns[0]
    assert first["latency_ms"] is not None and first["latency_ms"] <= 2000, first
    deadline = time.monotonic() + 15
    payload = None
    while payload is None and time.monotonic() < deadline:
        payloads = [json.loads(r.body) for r in wallet_backend.requests]
        payload = next((p for p in payloads if p["call_sid"] == result.call_sid), None)
        if payload is None:
            await asyncio.sleep(0.2)
    assert payload is not None, "no outcome webhook"
    assert payload["outcome"] == "escalated"
    assert payload["failure"].startswith("speech recognition:"), payload["failure"]
