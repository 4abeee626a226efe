"""Confidence intervals for the accuracy figures: exact Clopper-Pearson for proportions (FPIR) and a
seeded percentile bootstrap for FNIR at an operating point. Pure Python and numpy, no scipy.

Clopper-Pearson inverts the binomial test exactly: with k of n accepted, the two-sided 1-alpha
interval is ``[B(alpha/2; k, n-k+1), B(1-alpha/2; k+1, n-k)]`` where ``B(q; a, b)`` is the q-quantile
of the Beta(a, b) distribution (lower bound 0 when k = 0, upper bound 1 when k = n). The Beta
quantile is found by bisection on the regularised incomplete beta function, evaluated with the
Lentz continued fraction (accurate to ~1e-14; bisection runs to 1e-12).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

CONFIDENCE = 0.95


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def beta_cdf(x: float, a: float, b: float) -> float:
    """The regularised incomplete beta function I_x(a, b), the CDF of Beta(a, b) at x."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    ln_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    front = math.exp(ln_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def beta_quantile(q: float, a: float, b: float) -> float:
    """The x with I_x(a, b) = q, by bisection (the CDF is monotone)."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile must be in [0, 1], got {q}")
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if beta_cdf(mid, a, b) < q:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12:
            break
    return (lo + hi) / 2


def clopper_pearson(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Exact two-sided interval for a proportion of ``k`` successes in ``n`` trials."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    alpha = 1.0 - confidence
    lower = 0.0 if k == 0 else beta_quantile(alpha / 2, k, n - k + 1)
    upper = 1.0 if k == n else beta_quantile(1 - alpha / 2, k + 1, n - k)
    return lower, upper


def impostors_needed(target: float, confidence: float = CONFIDENCE) -> int:
    """The fewest impostor searches that can show FPIR <= ``target`` at all.

    The rule: with n impostors and none accepted, the upper Clopper-Pearson bound is
    ``1 - (alpha/2) ** (1/n)``; a sample smaller than the n that brings this bound down to the
    target cannot tell a system at the target from one several times worse (at 0.003 and 95%: 1,228).
    """
    if not 0.0 < target < 1.0:
        raise ValueError(f"target must be in (0, 1), got {target}")
    alpha = 1.0 - confidence
    return math.ceil(math.log(alpha / 2) / math.log1p(-target))


def impostor_count_check(n: int, target: float, searches: str, rate: str = "FPIR") -> dict[str, Any]:
    """``impostors_needed`` for ``target``, and a warning when ``n`` impostor ``searches`` (a plural noun:
    "impostor searches", "impostor walk-ups") are fewer: the FPIR and the threshold set for it are then
    rough figures."""
    needed = impostors_needed(target)
    out: dict[str, Any] = {"impostors_needed": needed}
    if n < needed:
        out["warning"] = (
            f"only {n} {searches}: {rate} {target} cannot be resolved (with none accepted, the 95% Clopper-Pearson "
            f"upper bound reaches {target} only from {needed} {searches}); the threshold for FPIR {target} and "
            f"the FNIR there are rough figures")
    return out


def bootstrap_interval(statistic: Callable[[np.ndarray, np.ndarray], float], genuine_n: int, impostor_n: int,
                       seed: int = 0, replicates: int = 2000, confidence: float = CONFIDENCE
                       ) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(genuine_idx, impostor_idx)``.

    Each replicate draws the genuine and the impostor probes independently with replacement (two
    samples of the same sizes) and calls ``statistic`` with the drawn index arrays, so a statistic
    whose threshold depends on the impostors (FNIR at a target FPIR) carries both uncertainties.
    """
    if genuine_n <= 0:
        raise ValueError("no genuine probes to resample")
    rng = np.random.default_rng(seed)
    values = np.empty(replicates)
    for i in range(replicates):
        g = rng.integers(0, genuine_n, genuine_n)
        m = rng.integers(0, impostor_n, impostor_n) if impostor_n > 0 else np.zeros(0, np.int64)
        values[i] = statistic(g, m)
    alpha = 1.0 - confidence
    lo, hi = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def mean_and_spread(values: Sequence[float]) -> dict[str, float | list[float]]:
    """Mean, min and max of per-seed figures (the per-seed list kept for the report)."""
    arr = np.asarray(values, dtype=np.float64)
    return {"mean": round(float(arr.mean()), 4), "min": round(float(arr.min()), 4),
            "max": round(float(arr.max()), 4), "per_seed": [round(float(v), 4) for v in arr]}
