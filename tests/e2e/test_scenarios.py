"""The scenario suite, as whole phone calls: real server, models, Redis and SQL.

Every file in tests/scenarios/ is dialed through the phone simulator (Twilio's
wire protocol over loopback); independent calls run concurrently.
"""

from __future__ import annotations

import pytest

from tests.conftest import SCENARIOS, scenario_files
from voicebot.simulator.runner import ScenarioResult, Simulator
from voicebot.simulator.scenario import load_scenarios

pytestmark = pytest.mark.e2e
CONCURRENCY = 4
LATENCIES: list[int] = []  # read by conftest's terminal summary


@pytest.fixture(scope="module")
async def results(simulator: Simulator) -> dict[str, ScenarioResult]:
    scenarios = load_scenarios([SCENARIOS])
    done = await simulator.run(scenarios, concurrency=CONCURRENCY)
    for r in done:
        LATENCIES.extend(r.latency_ms)
    return {r.name: r for r in done}


@pytest.mark.parametrize("name", [p.stem for p in scenario_files()])
async def test_scenario(results: dict[str, ScenarioResult], name: str) -> None:
    result = results[name]
    transcript = "\n".join(
        f"  {t['start']:6.2f} {t['speaker']}: {t['text']}" for t in result.transcript
    )
    assert result.passed, f"{result.failures}\n{transcript}"
    # The durable record holds the conversation, and what the bot said was really heard.
    assert result.stored_transcript, "no turns were stored"
    assert any(t["speaker"] == "bot" and t["text"] for t in result.transcript)
