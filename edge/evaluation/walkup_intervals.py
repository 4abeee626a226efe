"""95% intervals on the per-transaction figures of `gate-edge eval --walkup`, as the photo
evaluation has them (edge/evaluation/statistics.py), one walk-up being one trial:

- FPIR at the default threshold: exact Clopper-Pearson from the impostor walk-ups that matched.
- FNIR at the default threshold: percentile bootstrap over the genuine walk-ups.
- FNIR at the target FPIR: a bootstrap that redraws the impostor walk-ups *and* the genuine ones and
  calibrates the per-transaction threshold again on each draw of impostors
  (:func:`threshold_for_transaction_fpir`, as the point estimate), so the interval carries both
  uncertainties.
- A warning when the impostor walk-ups are too few to resolve the target FPIR at all.

A replicate needs each genuine walk-up's outcome at a new threshold without replaying the machine:
it is read off the walk-up's evidence (:func:`edge.evaluation.walkup_metrics.hit_intervals`), flattened
once into arrays so that a replicate costs one comparison per interval. Pure numpy, no models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge.evaluation.intervals import CONFIDENCE, bootstrap_interval, clopper_pearson, impostor_count_check
from edge.evaluation.statistics import BOOTSTRAP_SEED, REPLICATES
from edge.evaluation.walkup_metrics import Step, hit_intervals, threshold_for_transaction_fpir


@dataclass(frozen=True)
class HitTable:
    """Every genuine walk-up's hit intervals ``(lo, hi]`` in three flat arrays (``owner``: the walk-up)."""

    size: int
    owner: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    @classmethod
    def from_steps(cls, genuine_steps: Sequence[Sequence[Step]], margin: float) -> HitTable:
        rows = [(i, lo, hi) for i, steps in enumerate(genuine_steps) for lo, hi in hit_intervals(steps, margin)]
        owner = np.array([r[0] for r in rows], dtype=np.int64)
        lo = np.array([r[1] for r in rows], dtype=np.float64)
        hi = np.array([r[2] for r in rows], dtype=np.float64)
        return cls(len(genuine_steps), owner, lo, hi)

    def hits(self, threshold: float) -> np.ndarray:
        """Per genuine walk-up, whether it is matched to itself at ``threshold`` (its intervals are
        disjoint, so at most one of them holds the threshold)."""
        inside = (threshold <= self.hi) & ((threshold > self.lo) | np.isneginf(self.lo))
        out: np.ndarray = np.bincount(self.owner[inside], minlength=self.size) > 0
        return out


def _rounded(pair: tuple[float, float]) -> list[float]:
    return [round(pair[0], 4), round(pair[1], 4)]


def walkup_intervals(genuine_steps: Sequence[Sequence[Step]], impostor_scores: Sequence[float], threshold: float,
                     margin: float, target: float, replicates: int = REPLICATES) -> dict[str, Any]:
    """The intervals of one policy on one flight (see the module doc).

    ``genuine_steps``: each genuine walk-up's evidence, replayed with a threshold no evidence reaches;
    ``impostor_scores``: each impostor walk-up's transaction score
    (:func:`edge.evaluation.walkup_metrics.transaction_score`); ``threshold``: the default one.
    """
    table = HitTable.from_steps(genuine_steps, margin)
    scores = np.asarray(impostor_scores, dtype=np.float64)
    out: dict[str, Any] = {"confidence": CONFIDENCE, "bootstrap_replicates": replicates}
    if table.size:
        at_default = table.hits(threshold)

        def fnir_fixed(g: np.ndarray, _: np.ndarray) -> float:
            return 1.0 - float(at_default[g].mean())

        out["fnir"] = _rounded(bootstrap_interval(fnir_fixed, table.size, scores.size, BOOTSTRAP_SEED, replicates))

        def fnir_at_target(g: np.ndarray, m: np.ndarray) -> float:
            t = threshold_for_transaction_fpir(list(scores[m]), target)
            return 1.0 - float(table.hits(t)[g].mean())

        if scores.size:
            out[f"fnir_at_fpir_{target}"] = _rounded(
                bootstrap_interval(fnir_at_target, table.size, scores.size, BOOTSTRAP_SEED, replicates))
    if scores.size:
        out["fpir"] = _rounded(clopper_pearson(int((scores >= threshold).sum()), int(scores.size)))
    out.update(impostor_count_check(int(scores.size), target, "impostor walk-ups", "per-transaction FPIR"))
    return out
