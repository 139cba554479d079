"""One real call: a machine scenario that lists a caller turn (ignored) leaves a voicemail."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicebot.simulator.runner import Simulator
from voicebot.simulator.scenario import Scenario, load_each

pytestmark = pytest.mark.e2e
SCENARIO = Path(__file__).parent / "scenarios" / "voicemail-with-turns.yaml"


async def test_a_machine_with_a_silence_turn_gets_a_voicemail(simulator: Simulator) -> None:
    [scenario] = load_each([SCENARIO])
    assert isinstance(scenario, Scenario)
    [result] = await simulator.run([scenario])
    assert result.passed, result.failures
    assert result.outcome == "voicemail_left"
    assert [t["kind"] for t in result.caller_turns] == ["greeting", "beep"]
    assert result.warnings and "1 caller turn ignored" in result.warnings[0]
    assert result.file == str(SCENARIO)
