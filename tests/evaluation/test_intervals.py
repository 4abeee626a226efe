"""Interval arithmetic against published values and its defining properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.evaluation.intervals import (
    beta_cdf,
    beta_quantile,
    bootstrap_interval,
    clopper_pearson,
    impostors_needed,
)
from edge.evaluation.metrics import Search
from edge.evaluation.statistics import intervals

# Exact 95% Clopper-Pearson intervals as tabulated (e.g. R's binom.test, scipy.stats.beta.ppf).
KNOWN = [
    (0, 1000, 0.0, 0.003682084),  # the "rule of 3.69": 0 of 1000 leaves FPIR up to 0.368%
    (5, 100, 0.016431879, 0.112834911),
    (1, 10, 0.002528579, 0.445016117),
    (3, 420, 0.001475458, 0.020731568),
    (10, 10, 0.691502892, 1.0),
    (1, 1, 0.025, 1.0),
]


@pytest.mark.parametrize(("k", "n", "lo", "hi"), KNOWN)
def test_clopper_pearson_matches_published_values(k: int, n: int, lo: float, hi: float) -> None:
    got = clopper_pearson(k, n)
    assert got[0] == pytest.approx(lo, abs=1e-8)
    assert got[1] == pytest.approx(hi, abs=1e-8)


def test_zero_accepted_has_the_closed_form_upper_bound() -> None:
    for n in (16, 420, 1228, 5000):
        assert clopper_pearson(0, n)[1] == pytest.approx(1 - 0.025 ** (1 / n), abs=1e-10)


def test_the_impostor_rule_is_where_zero_accepted_reaches_the_target() -> None:
    n = impostors_needed(0.003)
    assert n == 1228
    assert clopper_pearson(0, n)[1] <= 0.003 < clopper_pearson(0, n - 1)[1]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3000), st.data())
def test_the_interval_holds_the_estimate(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, n))
    lo, hi = clopper_pearson(k, n)
    assert 0.0 <= lo <= k / n <= hi <= 1.0


@settings(max_examples=60, deadline=None)
@given(st.floats(0.01, 0.99), st.floats(0.5, 500), st.floats(0.5, 500))
def test_quantile_inverts_the_cdf(q: float, a: float, b: float) -> None:
    assert beta_cdf(beta_quantile(q, a, b), a, b) == pytest.approx(q, abs=1e-7)


def test_bad_counts_are_clear_errors() -> None:
    for k, n in ((1, 0), (-1, 10), (11, 10)):
        with pytest.raises(ValueError):
            clopper_pearson(k, n)


def _searches(hits: int, misses: int) -> list[Search | None]:
    return [Search((0.8, 0.3), (True, False))] * hits + [Search((0.3, 0.2), (True, False))] * misses


def test_bootstrap_is_seeded_holds_the_estimate_and_narrows_with_more_probes() -> None:
    def width(n: int) -> float:
        hit = np.array([1.0] * (n * 9 // 10) + [0.0] * (n - n * 9 // 10))
        lo, hi = bootstrap_interval(lambda g, _: 1.0 - float(hit[g].mean()), n, 0, seed=3)
        assert lo <= 0.1 <= hi
        assert (lo, hi) == bootstrap_interval(lambda g, _: 1.0 - float(hit[g].mean()), n, 0, seed=3)
        return hi - lo

    assert width(1000) < width(100) / 2  # ~1/sqrt(n): ten times the probes, a third of the width


def test_statistics_report_intervals_and_warn_on_few_impostors() -> None:
    gen = _searches(90, 10)
    imp: list[Search | None] = [Search((0.3, 0.2), (False, False))] * 420
    out = intervals(gen, imp, threshold=0.5, margin=0.0, target=0.003, replicates=300)
    assert out["fnir"][0] <= 0.1 <= out["fnir"][1]
    assert out["fpir"] == [0.0, round(1 - 0.025 ** (1 / 420), 4)]
    assert "1228" in out["warning"] and "420" in out["warning"]
    many = intervals(gen, imp * 3, threshold=0.5, margin=0.0, target=0.003, replicates=300)
    assert "warning" not in many
    perfect = intervals(_searches(100, 0), imp, threshold=0.5, margin=0.0, target=0.003, replicates=100)
    assert perfect["fnir"] == [0.0, 0.0] and perfect["fnir_at_fpir_0.003"] == [0.0, 0.0]
    assert math.isclose(out["confidence"], 0.95)
