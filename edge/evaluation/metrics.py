"""1:N accuracy arithmetic on probe results: FNIR/FPIR at a threshold, the threshold for a target
FPIR, and summaries of score and latency distributions. Pure numpy, no models.

A probe is *accepted* at (threshold T, margin m) when its best score s1 >= T and s1 - s2 >= m (s2 is
the runner-up, -1 when the gallery has one entry): exactly :func:`edge.core.decide.frame_vote`.
Acceptance is monotone in T for a fixed m, which is what makes a threshold sweep well defined.

Besides the impostor probes, every genuine probe also yields an *unmated search* (NIST's term) by
removing its own entry from the result list: its best non-mate scores are what that photo would get
against the gallery if the traveller were not on the flight. Calibration pools both kinds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

NO_SCORE = -1.0  # runner-up score when there is none (as frame_vote treats it)


@dataclass(frozen=True)
class Search:
    """The top scores of one acquired probe, best first, and which of them are the probe's mate."""

    scores: tuple[float, ...]
    mate: tuple[bool, ...]  # parallel to scores; all False for impostor probes

    def top(self) -> tuple[float, float]:
        s1 = self.scores[0] if self.scores else NO_SCORE
        s2 = self.scores[1] if len(self.scores) > 1 else NO_SCORE
        return s1, s2

    @property
    def rank1_is_mate(self) -> bool:
        return bool(self.mate) and self.mate[0]

    def unmated(self) -> Search:
        """The same search with the mate's entry removed from the gallery."""
        kept = [s for s, m in zip(self.scores, self.mate, strict=True) if not m]
        return Search(tuple(kept), tuple(False for _ in kept))


def accepted(s1: np.ndarray, s2: np.ndarray, threshold: float, margin: float) -> np.ndarray:
    out: np.ndarray = (s1 >= threshold) & (s1 - s2 >= margin)
    return out


def _accepts(search: Search, threshold: float, margin: float) -> bool:
    s1, s2 = search.top()
    return s1 >= threshold and s1 - s2 >= margin


def top_arrays(searches: Sequence[Search]) -> tuple[np.ndarray, np.ndarray]:
    if not searches:
        return np.zeros(0), np.zeros(0)
    tops = np.array([s.top() for s in searches], dtype=np.float64)
    return tops[:, 0], tops[:, 1]


def fnir(genuine: Sequence[Search | None], threshold: float, margin: float) -> float:
    """Share of genuine probes not accepted as their own identity (None = not acquired = a miss)."""
    if not genuine:
        return 0.0
    hits = sum(1 for g in genuine if g is not None and g.rank1_is_mate and _accepts(g, threshold, margin))
    return 1.0 - hits / len(genuine)


def fpir(impostor: Sequence[Search | None], threshold: float, margin: float) -> float:
    """Share of impostor probes accepted as anyone (None = not acquired = not accepted)."""
    if not impostor:
        return 0.0
    searched = [s for s in impostor if s is not None]
    s1, s2 = top_arrays(searched)
    return float(accepted(s1, s2, threshold, margin).sum()) / len(impostor)


def threshold_for_fpir(impostor: Sequence[Search | None], target: float, margin: float) -> float:
    """The lowest threshold (rounded up to 1e-4) at which at most ``target`` of the impostors pass.

    With n impostor probes at most floor(target * n) may be accepted; with fewer than 1/target
    probes that is none, so the threshold lands just above the highest impostor score.
    """
    if not 0.0 <= target < 1.0:
        raise ValueError(f"target FPIR must be in [0, 1), got {target}")
    n = len(impostor)
    allowed = math.floor(target * n + 1e-9)
    s1, s2 = top_arrays([s for s in impostor if s is not None])
    return threshold_above(np.sort(s1[s1 - s2 >= margin])[::-1], allowed)


def threshold_above(eligible: np.ndarray, allowed: int) -> float:
    """The lowest threshold on the 1e-4 grid that accepts at most ``allowed`` of the ``eligible`` scores
    (those that could be accepted at all, best first); -1.0 when there are no more than ``allowed``."""
    if eligible.size <= allowed:
        return -1.0
    # Strictly above the first score that would exceed the allowance; rounding up only rejects more.
    worst = float(eligible[allowed])
    t = math.ceil(float(np.nextafter(worst, np.inf)) * 1e4) / 1e4
    while t <= worst:  # ceil of a value already on the 1e-4 grid
        t = round(t + 1e-4, 4)
    return t


def summary(values: Iterable[float], digits: int = 4) -> dict[str, float | int | None]:
    """n, min, p1, p5, p50, p95, p99, max of a distribution (None when empty)."""
    arr = np.asarray(list(values), dtype=np.float64)
    keys = ("min", "p1", "p5", "p50", "p95", "p99", "max")
    if arr.size == 0:
        return {"n": 0, **dict.fromkeys(keys)}
    qs = np.percentile(arr, [0, 1, 5, 50, 95, 99, 100])
    return {"n": int(arr.size), **{k: round(float(q), digits) for k, q in zip(keys, qs, strict=True)}}


def latency_summary(values_ms: Sequence[float]) -> dict[str, float | None]:
    if not values_ms:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    arr = np.asarray(values_ms, dtype=np.float64)
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return {"p50": round(float(p50), 2), "p95": round(float(p95), 2), "p99": round(float(p99), 2),
            "max": round(float(arr.max()), 2)}
