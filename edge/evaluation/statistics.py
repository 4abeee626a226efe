"""Intervals and curves for an evaluation's searches: what the figures are worth.

- FPIR (impostors accepted / impostor searches) gets the exact Clopper-Pearson interval.
- FNIR at a fixed threshold gets a percentile bootstrap over the genuine probes.
- FNIR at a target FPIR gets a bootstrap that redraws genuine *and* impostor probes and finds the
  threshold again in each replicate: the operating point moves with the impostors drawn, and the
  interval says how much that matters.
- A warning when there are too few impostors to resolve the target FPIR at all (the rule:
  :func:`edge.evaluation.intervals.impostors_needed`).
- The DET curve (FNIR against FPIR over every threshold) for plotting.

Acceptance is exactly :func:`edge.evaluation.metrics.fnir`/``fpir``'s: top score >= threshold and
beats the runner-up by the margin; a probe not acquired (None) is a miss when genuine and a reject
when impostor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from edge.evaluation.intervals import bootstrap_interval, clopper_pearson, impostor_count_check
from edge.evaluation.metrics import Search, accepted

REPLICATES = 1000
BOOTSTRAP_SEED = 0  # the intervals are reproducible: same searches, same interval


def _arrays(searches: Sequence[Search | None], genuine: bool) -> tuple[np.ndarray, np.ndarray]:
    """(s1, s2) per probe; a probe that cannot be accepted (not acquired, or a genuine probe whose
    rank-1 is not its mate) gets s1 = -inf."""
    s1 = np.full(len(searches), -np.inf)
    s2 = np.full(len(searches), -1.0)
    for i, s in enumerate(searches):
        if s is None or (genuine and not s.rank1_is_mate):
            continue
        s1[i], s2[i] = s.top()
    return s1, s2


def _threshold(s1: np.ndarray, s2: np.ndarray, target: float, margin: float) -> float:
    """Just above the score that would exceed the allowance (metrics.threshold_for_fpir unrounded)."""
    allowed = math.floor(target * s1.size + 1e-9)
    eligible = np.sort(s1[np.isfinite(s1) & (s1 - s2 >= margin)])[::-1]
    if eligible.size <= allowed:
        return -1.0
    return float(np.nextafter(eligible[allowed], np.inf))


def _rounded(pair: tuple[float, float]) -> list[float]:
    return [round(pair[0], 4), round(pair[1], 4)]


def intervals(genuine: Sequence[Search | None], impostor: Sequence[Search | None], threshold: float,
              margin: float, target: float, replicates: int = REPLICATES) -> dict[str, Any]:
    """95% intervals at the decision threshold and at the target FPIR, and the impostor-count warning."""
    g1, g2 = _arrays(genuine, True)
    i1, i2 = _arrays(impostor, False)
    out: dict[str, Any] = {"confidence": 0.95, "bootstrap_replicates": replicates}
    if g1.size:
        def fnir_fixed(g: np.ndarray, _: np.ndarray) -> float:
            return 1.0 - float(accepted(g1[g], g2[g], threshold, margin).mean())

        out["fnir"] = _rounded(bootstrap_interval(fnir_fixed, g1.size, i1.size, BOOTSTRAP_SEED, replicates))

        def fnir_at_target(g: np.ndarray, m: np.ndarray) -> float:
            t = _threshold(i1[m], i2[m], target, margin)
            return 1.0 - float(accepted(g1[g], g2[g], t, margin).mean())

        if i1.size:
            out[f"fnir_at_fpir_{target}"] = _rounded(
                bootstrap_interval(fnir_at_target, g1.size, i1.size, BOOTSTRAP_SEED, replicates))
    if i1.size:
        k = int(accepted(i1, i2, threshold, margin).sum())
        out["fpir"] = _rounded(clopper_pearson(k, int(i1.size)))
    out.update(impostor_count_check(int(i1.size), target, "impostor searches"))
    return out


def det_curve(genuine: Sequence[Search | None], impostor: Sequence[Search | None], margin: float
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, FPIR, FNIR) at every impostor and genuine top score, thresholds ascending."""
    g1, g2 = _arrays(genuine, True)
    i1, i2 = _arrays(impostor, False)
    scores = np.concatenate([g1[np.isfinite(g1)], i1[np.isfinite(i1)]])
    thresholds = np.unique(scores)
    fp = np.array([accepted(i1, i2, t, margin).mean() if i1.size else 0.0 for t in thresholds])
    fn = np.array([1.0 - accepted(g1, g2, t, margin).mean() if g1.size else 0.0 for t in thresholds])
    return thresholds, fp, fn
