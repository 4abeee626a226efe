"""FNIR/FPIR arithmetic and the threshold-for-target-FPIR search, checked as properties."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.core.decide import DecisionParams, frame_vote
from edge.core.search import Candidate
from edge.evaluation.metrics import Search, fnir, fpir, summary, threshold_for_fpir

score = st.floats(min_value=-1.0, max_value=1.0, allow_nan=False).map(lambda x: round(x, 6))
searches = st.lists(
    st.one_of(st.none(), st.lists(score, min_size=1, max_size=3).map(
        lambda s: Search(tuple(sorted(s, reverse=True)), tuple(False for _ in s)))),
    min_size=0, max_size=60,
)
margins = st.sampled_from([0.0, 0.02, 0.05, 0.1])
targets = st.sampled_from([0.0, 0.003, 0.01, 0.05, 0.2])


@settings(max_examples=200, deadline=None)
@given(searches, targets, margins)
def test_threshold_meets_target_and_is_lowest_on_the_grid(imp: list[Search | None], target: float,
                                                          margin: float) -> None:
    t = threshold_for_fpir(imp, target, margin)
    assert fpir(imp, t, margin) <= target + 1e-12
    if t > -1.0:
        # One grid step lower lets too many impostors through: the threshold is not needlessly high.
        assert fpir(imp, round(t - 1e-4, 4), margin) > target
        assert math.isclose(t * 1e4, round(t * 1e4), abs_tol=1e-6)


@settings(max_examples=200, deadline=None)
@given(st.lists(score, min_size=1, max_size=3), score, margins)
def test_acceptance_is_exactly_frame_vote(scores: list[float], threshold: float, margin: float) -> None:
    ordered = sorted(scores, reverse=True)
    cands = tuple(Candidate(f"id{i}", s) for i, s in enumerate(ordered))
    params = DecisionParams(threshold=threshold, margin=margin)
    voted = frame_vote(cands, params) is not None
    impostor = Search(tuple(ordered), tuple(False for _ in ordered))
    assert fpir([impostor], threshold, margin) == (1.0 if voted else 0.0)
    genuine = Search(tuple(ordered), (True, *(False for _ in ordered[1:])))
    assert fnir([genuine], threshold, margin) == (0.0 if voted else 1.0)


def test_unmated_search_drops_the_mate() -> None:
    s = Search((0.8, 0.4, 0.3), (True, False, False))
    assert s.rank1_is_mate
    assert s.unmated() == Search((0.4, 0.3), (False, False))
    assert Search((0.5, 0.45), (False, True)).unmated().scores == (0.5,)


def test_failures_to_acquire_are_misses_not_false_matches() -> None:
    assert fnir([None, None], 0.0, 0.0) == 1.0
    assert fpir([None, None], -1.0, 0.0) == 0.0


@given(st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), max_size=50))
def test_summary_is_ordered(values: list[float]) -> None:
    s = summary(values)
    assert s["n"] == len(values)
    if values:
        keys = ["min", "p1", "p5", "p50", "p95", "p99", "max"]
        got = [s[k] for k in keys]
        assert got == sorted(got)
        assert np.isclose(s["max"], round(max(values), 4))
