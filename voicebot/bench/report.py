"""The benchmark's printout and plot."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.0f}"


def table(configs: list[dict[str, Any]]) -> str:
    """One line per configuration: latency percentiles, its parts, gaps, cut-offs, CPU, memory."""
    head = (
        f"{'pipeline':<9} {'calls':>5} {'turns':>5} {'p50':>6} {'p95':>6} {'p99':>6}  "
        f"{'eot':>4} {'stt':>4} {'pol':>4} {'tts':>4}  {'gaps':>4} {'cut':>3} "
        f"{'cpu%':>5} {'rss MB':>7} {'passed':>7}"
    )
    lines = [head, "-" * len(head)]
    for c in configs:
        parts = c["parts_p50_ms"]
        lines.append(
            f"{c['pipeline']:<9} {c['concurrency']:>5} {c['turns']:>5} {_ms(c['p50_ms']):>6} "
            f"{_ms(c['p95_ms']):>6} {_ms(c['p99_ms']):>6}  "
            + " ".join(
                f"{_ms(parts[k]):>4}" for k in ("end_of_turn", "recognition", "policy", "synthesis")
            )
            + f"  {c['speech_gaps']:>4} {len(c['cut_offs']):>3} {c['cpu_percent']:>5.0f} "
            f"{c['peak_rss_mb']:>7.0f} {c['passed']:>3}/{c['scenarios']:<3}"
        )
    lines.append(
        "latency: end of caller speech -> first bot audio at the phone (ms); parts (p50, ms, "
        "server-side): eot end-of-turn detection, stt recognition, pol policy, tts synthesis "
        "to first audio; gaps: pieces of a bot turn that came late; cut: callers cut off; "
        "cpu% of one core while calls were live"
    )
    return "\n".join(lines)


def plot(configs: list[dict[str, Any]], path: Path) -> bool:
    """Latency distribution per configuration, and where the time goes; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    labels = [f"{c['pipeline']}\nx{c['concurrency']}" for c in configs]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    left.boxplot([c["latencies_ms"] or [0] for c in configs], whis=(5, 95), showfliers=True)
    left.set_xticks(range(1, len(labels) + 1), labels)
    left.axhline(800, color="tab:red", linestyle="--", linewidth=1, label="800 ms (cloud median)")
    left.axhline(500, color="tab:green", linestyle="--", linewidth=1, label="500 ms (target p50)")
    left.set_ylabel("response latency (ms)")
    left.set_title("End of caller speech to first bot audio")
    left.legend(loc="upper left", fontsize=8)
    bottom = [0.0] * len(configs)
    for part in ("end_of_turn", "recognition", "policy", "synthesis"):
        heights = [0.0 if math.isnan(v := c["parts_p50_ms"][part]) else v for c in configs]
        right.bar(labels, heights, bottom=bottom, label=part.replace("_", " "))
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    right.set_ylabel("ms (p50 of each part, server-side)")
    right.set_title("Where the time goes")
    right.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
