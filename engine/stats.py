"""Timing figures for status reports."""

from __future__ import annotations

from collections.abc import Iterable


def p50_p95(values: Iterable[float]) -> tuple[float, float]:
    """Median and 95th percentile (nearest rank), rounded to 0.01; zeros when there is nothing yet."""
    ordered = sorted(values)
    if not ordered:
        return 0.0, 0.0
    return round(ordered[len(ordered) // 2], 2), round(ordered[int(0.95 * (len(ordered) - 1))], 2)
