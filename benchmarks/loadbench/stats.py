"""Measurement primitives shared by every process of a run: histograms and quantiles.

A histogram is filled in the hot path of the bot and the callers (O(1), no allocation
per value), shipped to the orchestrator as JSON, and merged there across processes.
"""

from __future__ import annotations

import array
import asyncio
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Dist", "Histogram", "quantile", "watch_loop_lag"]


class Histogram:
    """Fixed-width buckets (the last one also counts everything above): O(1) per value."""

    __slots__ = ("counts", "max", "n", "total", "unit")

    def __init__(self, unit_ns: int, limit_ns: int) -> None:
        self.unit = unit_ns
        self.counts = array.array("Q", bytes(8 * (limit_ns // unit_ns + 1)))
        self.n = 0
        self.total = 0
        self.max = 0

    def add(self, ns: int) -> None:
        if ns < 0:
            ns = 0
        index = ns // self.unit
        counts = self.counts
        counts[index if index < len(counts) else -1] += 1
        self.n += 1
        self.total += ns
        if ns > self.max:
            self.max = ns

    def to_json(self) -> dict[str, Any]:
        buckets = {str(i): c for i, c in enumerate(self.counts) if c}
        return {
            "unit": self.unit,
            "n": self.n,
            "total": self.total,
            "max": self.max,
            "buckets": buckets,
        }


@dataclass
class Dist:
    """A histogram read back from JSON, possibly merged from several processes."""

    unit: int = 1
    n: int = 0
    total: int = 0
    max: int = 0
    buckets: Counter[int] = field(default_factory=Counter)

    @classmethod
    def of(cls, *data: dict[str, Any] | None) -> Dist:
        dist = cls()
        for d in data:
            if not d:
                continue
            dist.unit = d["unit"]
            dist.n += d["n"]
            dist.total += d["total"]
            dist.max = max(dist.max, d["max"])
            dist.buckets.update({int(k): v for k, v in d["buckets"].items()})
        return dist

    def quantile(self, q: float) -> float | None:
        """Value in ns (bucket middle, never above the maximum seen); None if empty."""
        if not self.n:
            return None
        target, seen = q * self.n, 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= target:
                return min((index + 0.5) * self.unit, float(self.max))
        return float(self.max)

    def summary(self, scale: float) -> dict[str, float | None]:
        """p50 / p99 / max / mean scaled from ns (1e-3: us, 1e-6: ms)."""

        def scaled(value: float | None) -> float | None:
            return None if value is None else value * scale

        return {
            "p50": scaled(self.quantile(0.5)),
            "p99": scaled(self.quantile(0.99)),
            "max": self.max * scale if self.n else None,
            "mean": self.total / self.n * scale if self.n else None,
            "n": self.n,
        }


def quantile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank quantile of a plain list; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


async def watch_loop_lag(histogram: Callable[[], Histogram], interval: float = 0.05) -> None:
    """How late a 50 ms sleep wakes up: the event loop's backlog, in ns."""
    interval_ns = int(interval * 1e9)
    while True:
        before = time.perf_counter_ns()
        await asyncio.sleep(interval)
        histogram().add(time.perf_counter_ns() - before - interval_ns)
