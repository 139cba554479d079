"""Scenario files follow the contract; a broken one gets a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SCENARIOS
from voicebot.errors import ScenarioError
from voicebot.simulator.carrier import parse_stream_twiml
from voicebot.simulator.scenario import load_scenario, load_scenarios
from voicebot.telephony.twiml import connect_stream


def test_every_committed_scenario_loads() -> None:
    scenarios = load_scenarios([SCENARIOS])
    assert len(scenarios) >= 3
    assert {s.expect.outcome for s in scenarios} >= {"confirmed", "denied", "wrong_person"}


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(body)
    return path


BASE = """
name: x
purpose: transaction_confirmation
customer: {first_name: A, phone: "+14155550100"}
transaction: {id: t, amount: "1.00", merchant: M, time: "2026-11-21T14:03:00Z"}
expect: {outcome: confirmed}
"""


def test_a_turn_with_two_actions_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="exactly one"):
        load_scenario(write(tmp_path, BASE + 'caller:\n  - {say: "yes", dtmf: "1"}\n'))


def test_missing_audio_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="not found"):
        load_scenario(write(tmp_path, BASE + "caller:\n  - audio: nowhere.wav\n"))


def test_confirmation_needs_a_transaction(tmp_path: Path) -> None:
    body = BASE.replace(
        'transaction: {id: t, amount: "1.00", merchant: M, time: "2026-11-21T14:03:00Z"}\n', ""
    )
    with pytest.raises(ScenarioError, match="needs a transaction"):
        load_scenario(write(tmp_path, body))


def test_twiml_round_trip() -> None:
    body = connect_stream("wss://v.example/twilio/media-stream", {"token": "t0k", "call_id": "c1"})
    assert parse_stream_twiml(body) == (
        "wss://v.example/twilio/media-stream",
        {"token": "t0k", "call_id": "c1"},
    )
