"""The benchmark's figures and printout, from made-up configurations (no calls)."""

from __future__ import annotations

from pathlib import Path

from voicebot.bench import report
from voicebot.bench.run import ConfigResult
from voicebot.bench.stats import percentile


def config(pipeline: str, latencies: list[int]) -> ConfigResult:
    result = ConfigResult(pipeline=pipeline, concurrency=1, scenarios=2)
    result.latencies_ms = latencies
    result.parts_ms["end_of_turn"] = [500, 500]
    result.parts_ms["synthesis"] = [60, 80]
    result.cut_offs = ["confirm-no"]
    result.failed = ["confirm-no: outcome"]
    return result


def test_percentiles_are_measured_values_by_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 99) == 99.0
    assert percentile([700.0], 95) == 700.0


def test_a_summary_carries_percentiles_parts_and_verdicts() -> None:
    summary = config("voicebot", [600, 700, 800, 900]).summary()
    assert (summary["p50_ms"], summary["p95_ms"]) == (700.0, 900.0)
    assert summary["parts_p50_ms"]["end_of_turn"] == 500.0
    assert summary["passed"] == 1 and summary["cut_offs"] == ["confirm-no"]


def test_the_table_and_the_plot(tmp_path: Path) -> None:
    summaries = [config("voicebot", [600, 700]).summary(), config("stock", [1400]).summary()]
    text = report.table(summaries)
    assert "voicebot" in text and "stock" in text and "1400" in text
    png = tmp_path / "bench.png"
    assert report.plot(summaries, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
