"""Summary statistics the benchmark and the simulator print."""

from __future__ import annotations

import math


def percentile(values: list[float], p: float) -> float:
    """Nearest rank (every figure is one that was measured); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]
