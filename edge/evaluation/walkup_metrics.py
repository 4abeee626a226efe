"""Per-transaction arithmetic for walk-ups: a transaction's score, and the threshold that keeps the
per-transaction FPIR at a target. Pure numpy, no models.

A walk-up gives the decision machine several looks at the traveller. With fusion, or with every
frame allowed to match, the machine matches as soon as the evidence after some frame ``n`` has its
best score ``s1(n) >= T`` and ``s1(n) - s2(n) >= margin``. A whole transaction therefore matches at
threshold ``T`` exactly when its *transaction score* ``max_n s1(n)`` (over the frames whose evidence
held the margin) is ``>= T``: the frames before the first crossing are the same whatever ``T`` is.
So the per-transaction FPIR at ``T`` is the share of impostor walk-ups whose transaction score is at
least ``T``, and calibrating the threshold is a quantile of those scores, not of single frames.

More looks, more chances: if an impostor's frames were independent draws from the single-frame
score distribution ``F``, the transaction score of ``n`` looks would follow ``F**n`` and the
threshold for a per-transaction FPIR ``a`` would be ``F^-1((1 - a) ** (1 / n))``, higher than the
single-frame ``F^-1(1 - a)``. Real frames of one person are correlated, fused frames even more: the
empirical calibration below measures what the machine really does instead of assuming either.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from edge.evaluation.metrics import threshold_above

NO_MATCH_SCORE = -math.inf  # a transaction whose evidence never held the margin matches at no threshold


def transaction_score(steps: Sequence[tuple[float, float]], margin: float) -> float:
    """The lowest threshold at which a walk-up with this evidence, (best, runner-up) after each
    usable frame, would have matched: its highest best score among the steps that held the margin."""
    best = NO_MATCH_SCORE
    for s1, s2 in steps:
        if s1 - s2 >= margin and s1 > best:
            best = float(s1)
    return best


def per_attempt_fpir(target: float, attempts: int) -> float:
    """The FPIR one attempt may have so that ``attempts`` independent attempts stay at ``target``
    (1 - (1 - target) ** (1 / attempts)): the bound for uncorrelated frames."""
    if not 0.0 <= target < 1.0 or attempts < 1:
        raise ValueError(f"need 0 <= target < 1 and attempts >= 1, got {target}, {attempts}")
    return 1.0 - float((1.0 - target) ** (1.0 / attempts))


def transaction_fpir(impostor_scores: Sequence[float], threshold: float) -> float:
    """Share of impostor transactions that match at ``threshold``."""
    if not impostor_scores:
        return 0.0
    arr = np.asarray(impostor_scores, dtype=np.float64)
    return float((arr >= threshold).sum()) / arr.size


def threshold_for_transaction_fpir(impostor_scores: Sequence[float], target: float) -> float:
    """The lowest threshold (on the 1e-4 grid) at which at most ``target`` of the impostor
    transactions match.

    With ``n`` impostor walk-ups at most ``floor(target * n)`` may match; with fewer than
    ``1 / target`` walk-ups that is none, so the threshold lands just above the highest score.
    Returns -1.0 when no threshold is needed (too few impostors ever held the margin).
    """
    if not 0.0 <= target < 1.0:
        raise ValueError(f"target FPIR must be in [0, 1), got {target}")
    arr = np.asarray(impostor_scores, dtype=np.float64)
    if np.isnan(arr).any():
        raise ValueError("impostor scores must not be NaN")
    allowed = math.floor(target * arr.size + 1e-9)
    return threshold_above(np.sort(arr[np.isfinite(arr)])[::-1], allowed)


def percentiles(values: Sequence[float], qs: Sequence[float] = (50, 95), digits: int = 3
                ) -> dict[str, float | None]:
    """``{"p50": ..., "p95": ...}`` of ``values`` (None when empty)."""
    if not values:
        return {f"p{q:g}": None for q in qs}
    got = np.percentile(np.asarray(values, dtype=np.float64), list(qs))
    return {f"p{q:g}": round(float(v), digits) for q, v in zip(qs, got, strict=True)}


# A genuine walk-up's evidence after each usable frame, read with a threshold no evidence reaches:
# (best score, runner-up, whether the best entry is the walk-up's own identity).
Step = tuple[float, float, bool]


def transaction_hit(steps: Sequence[Step], threshold: float, margin: float) -> bool:
    """Whether a genuine walk-up with this evidence is matched to itself at ``threshold``.

    The frames before the first crossing are the same whatever the threshold (see the module doc),
    so the first step whose best score reaches ``threshold`` and holds the margin decides: a hit
    when its best entry is the walk-up's own, a misidentification otherwise. No such step: a miss.
    """
    for s1, s2, mate in steps:
        if s1 >= threshold and s1 - s2 >= margin:  # exactly edge.core.decide.frame_vote
            return mate
    return False


def hit_intervals(steps: Sequence[Step], margin: float) -> list[tuple[float, float]]:
    """The thresholds at which :func:`transaction_hit` is true, as disjoint intervals ``(lo, hi]``
    (``lo`` = -inf: unbounded below, -inf itself included).

    Step ``k``, holding the margin, is the first crossing exactly for ``T`` in
    ``(max s1 of the earlier steps that held the margin, s1_k]``; the walk-up is a hit there when
    its best entry is the mate. Steps that never held the margin decide at no threshold.
    """
    out: list[tuple[float, float]] = []
    below = NO_MATCH_SCORE
    for s1, s2, mate in steps:
        if s1 - s2 < margin or s1 <= below:  # no threshold makes this step the first crossing
            continue
        if mate:
            out.append((below, float(s1)))
        below = float(s1)
    return out
