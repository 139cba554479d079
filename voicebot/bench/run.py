"""Runs the benchmark: scenario calls through the simulator, one at a time, then N at once.

Response latency is the simulator's: from the exact end of the caller's
speech to the first bot audio frame arriving (``ScenarioResult.caller_turns``;
spoken turns only, not keypad). Its parts come from the server's own
``turn_timing`` events (end-of-turn detection, recognition, policy, synthesis
to first audio, and gaps inside a bot turn). CPU and memory are sampled from
this process while calls are live; the server and the simulated callers share
it, as they share the machine (the simulator's own heavy work, synthesising
callers and checking what the bot said, is done while no call is live).

The baseline runs in the same process and run: pipecat's stock services
(``voicebot/bench/stock.py``) on the same scenarios.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from voicebot.bench.stats import percentile
from voicebot.config import Settings
from voicebot.simulator.runner import Simulator
from voicebot.simulator.scenario import Scenario

PARTS = ("end_of_turn", "recognition", "policy", "synthesis")
SPOKEN = ("say", "audio")
SAMPLE_EVERY_S = 0.25


@dataclass
class ConfigResult:
    """One configuration: a pipeline, so many calls at once."""

    pipeline: str
    concurrency: int
    latencies_ms: list[int] = field(default_factory=list)
    parts_ms: dict[str, list[int]] = field(default_factory=lambda: {p: [] for p in PARTS})
    server_response_ms: list[int] = field(default_factory=list)
    gaps: int = 0
    gap_ms: int = 0
    cut_offs: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    scenarios: int = 0
    cpu_percent: float = 0.0  # of one core, averaged while calls were live
    peak_rss_mb: float = 0.0
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        lat = [float(v) for v in self.latencies_ms]
        return {
            "pipeline": self.pipeline,
            "concurrency": self.concurrency,
            "scenarios": self.scenarios,
            "passed": self.scenarios - len(self.failed),
            "failed": self.failed,
            "turns": len(lat),
            "p50_ms": percentile(lat, 50),
            "p95_ms": percentile(lat, 95),
            "p99_ms": percentile(lat, 99),
            "max_ms": max(lat, default=float("nan")),
            "parts_p50_ms": {
                k: percentile([float(v) for v in vs], 50) for k, vs in self.parts_ms.items()
            },
            "server_response_p50_ms": percentile([float(v) for v in self.server_response_ms], 50),
            "speech_gaps": self.gaps,
            "speech_gap_ms": self.gap_ms,
            "cut_offs": self.cut_offs,
            "cpu_percent": round(self.cpu_percent, 1),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "seconds": round(self.seconds, 1),
            "latencies_ms": self.latencies_ms,
        }


def rss_mb() -> float:
    """Resident memory of this process now (Linux), in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Sampler:
    """CPU and memory of this process, counted only while a call is live."""

    def __init__(self, live: Callable[[], int]) -> None:
        self.live = live
        self.busy_cpu = 0.0
        self.busy_wall = 0.0
        self.peak_rss = 0.0

    async def run(self) -> None:
        last_cpu, last_wall = cpu_seconds(), time.monotonic()
        while True:
            await asyncio.sleep(SAMPLE_EVERY_S)
            cpu, wall = cpu_seconds(), time.monotonic()
            if self.live():
                self.busy_cpu += cpu - last_cpu
                self.busy_wall += wall - last_wall
                self.peak_rss = max(self.peak_rss, rss_mb())
            last_cpu, last_wall = cpu, wall


async def run_config(
    settings: Settings,
    scenarios: list[Scenario],
    *,
    pipeline: str,
    concurrency: int,
    stagger_s: float,
) -> ConfigResult:
    """All ``scenarios``, ``concurrency`` calls at a time (the first ones staggered)."""
    result = ConfigResult(pipeline=pipeline, concurrency=concurrency, scenarios=len(scenarios))
    timings: list[dict[str, Any]] = []

    def on_event(event: dict[str, Any]) -> None:
        if event.get("type") == "turn_timing":
            timings.append(event)

    variant = settings.model_copy(update={"pipeline": pipeline})
    started = time.monotonic()
    async with Simulator(variant, on_event=on_event, warm=True) as sim:
        sampler = _Sampler(lambda: sim._live_calls)
        sampling = asyncio.create_task(sampler.run())
        try:
            results = await sim.run(scenarios, concurrency=concurrency, stagger_s=stagger_s)
        finally:
            sampling.cancel()
    result.seconds = time.monotonic() - started
    for r in results:
        if not r.passed:
            result.failed.append(f"{r.name}: {'; '.join(r.failures)}")
        for turn in r.caller_turns:
            if turn["kind"] in SPOKEN and turn["latency_ms"] is not None:
                result.latencies_ms.append(turn["latency_ms"])
            if turn["cut_off"]:
                result.cut_offs.append(r.name)
    for t in timings:
        for part in PARTS:
            result.parts_ms[part].append(int(t[part]))
        result.server_response_ms.append(int(t["response"]))
        result.gaps += int(t.get("gaps", 0))
        result.gap_ms += int(t.get("gap_ms", 0))
    if sampler.busy_wall:
        result.cpu_percent = 100 * sampler.busy_cpu / sampler.busy_wall
    result.peak_rss_mb = sampler.peak_rss
    return result


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_json(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
