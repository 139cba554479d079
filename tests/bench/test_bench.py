"""The benchmark end to end on one scenario: ours and pipecat's stock pipeline, in one run."""

from __future__ import annotations

import pytest

from tests.conftest import SCENARIOS
from voicebot.bench.run import run_config
from voicebot.config import Settings
from voicebot.simulator.scenario import load_scenario

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("pipeline", ["voicebot", "stock"])
async def test_a_configuration_measures_real_calls(settings: Settings, pipeline: str) -> None:
    scenario = load_scenario(SCENARIOS / "confirm-yes.yaml")
    result = await run_config(settings, [scenario], pipeline=pipeline, concurrency=1, stagger_s=0.0)
    summary = result.summary()
    if pipeline == "voicebot":
        assert summary["passed"] == 1, summary["failed"]
        assert summary["turns"] == 2  # both spoken answers were timed at the phone
    else:
        # The stock VAD (min_volume 0.6) misses short telephone answers now and
        # then (6/8 and 7/8 in full bench runs): the baseline is measured, not fixed.
        assert summary["turns"] >= 1
    assert 0 < summary["p50_ms"] < 5000
    assert summary["peak_rss_mb"] > 0 and summary["cpu_percent"] > 0
    if pipeline == "voicebot":  # our stages report where the time went
        assert len(result.parts_ms["recognition"]) == 2
        assert summary["speech_gaps"] == 0
