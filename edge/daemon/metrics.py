"""Counters and latency percentiles for telemetry and the demo summary (no biometric data)."""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

import numpy as np

from edge.core.decide import Outcome


def percentiles(values: list[float] | collections.deque[float], qs: tuple[float, ...] = (50, 95)) -> list[float | None]:
    if not values:
        return [None for _ in qs]
    arr = np.fromiter(values, float)
    return [round(float(np.percentile(arr, q)), 2) for q in qs]


@dataclass
class GateMetrics:
    """Since start. Names follow ISO/IEC 19795 where a term exists (non-match, failure to acquire)."""

    transactions: int = 0
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    frames: int = 0
    latency_ms: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=1000))

    def record(self, outcome: Outcome, latency_ms: float | None) -> None:
        if outcome is not Outcome.OPT_OUT:
            self.transactions += 1
        self.outcomes[outcome.value] += 1
        if latency_ms is not None:
            self.latency_ms.append(latency_ms)
