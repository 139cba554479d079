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


MACHINE = BASE + "answered_by: machine\n"


def test_a_machine_with_caller_turns_loads_and_ignores_them(tmp_path: Path) -> None:
    body = MACHINE + 'caller:\n  - silence: 2.0\n  - say: "hello"\n'
    scenario = load_scenario(write(tmp_path, body))
    assert [t.kind for t in scenario.caller] == ["silence", "say"]  # kept as written
    assert scenario.played_turns == []
    [warning] = scenario.warnings()
    assert "2 caller turns ignored" in warning
    assert load_scenario(write(tmp_path, MACHINE)).warnings() == []
    assert load_scenario(write(tmp_path, BASE + "caller:\n  - silence: 2.0\n")).warnings() == []


def test_a_machine_s_ignored_turns_must_still_be_valid(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="unknown caller voice"):
        load_scenario(write(tmp_path, MACHINE + 'caller:\n  - {say: "hi", voice: nobody}\n'))


def test_greeting_and_beep_are_for_machines_only(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="machine only"):
        load_scenario(write(tmp_path, BASE + "beep_hz: 440\n"))


def test_an_unknown_voice_is_refused_at_load(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="unknown caller voice"):
        load_scenario(write(tmp_path, BASE + 'caller:\n  - {say: "yes", voice: nobody}\n'))


def test_machine_and_line_extensions_load(tmp_path: Path) -> None:
    body = MACHINE + (
        'greeting: "{first_name} here, leave one."\nbeep_hz: 440\nvoice: caller-espeak\n'
        "line: {snr_db: 15, band_limit: true}\n"
    )
    scenario = load_scenario(write(tmp_path, body))
    assert scenario.greeting_text() == "A here, leave one."
    assert scenario.beep_hz == 440
    assert scenario.line.snr_db == 15 and scenario.line.band_limit
    assert scenario.line.noise == "pink"
    plain = load_scenario(write(tmp_path, MACHINE))
    assert plain.greeting_text().startswith("Hi, you've reached A. I can't take your call")
    assert plain.line.snr_db is None and not plain.line.band_limit
