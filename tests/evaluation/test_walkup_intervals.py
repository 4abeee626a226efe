"""95% intervals on the walk-up figures: a genuine walk-up's outcome at any threshold from its
evidence, and the intervals of `gate-edge eval --walkup` on the real photos through the real models."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.evaluation import walkup
from edge.evaluation.intervals import clopper_pearson
from edge.evaluation.setup import decision_params, make_analyser
from edge.evaluation.walkup_intervals import HitTable, walkup_intervals
from edge.evaluation.walkup_metrics import (
    Step,
    hit_intervals,
    threshold_for_transaction_fpir,
    transaction_hit,
)

MARGIN = 0.05
TARGET = 0.003


def test_a_wrong_entry_crossing_first_is_a_miss_below_its_score_and_a_hit_above() -> None:
    # Frame 1 puts someone else at 0.45, frame 2 (fused) the traveller at 0.60.
    steps: list[Step] = [(0.45, 0.10, False), (0.60, 0.20, True)]
    assert not transaction_hit(steps, 0.40, MARGIN)  # the wrong entry decides first: misidentified
    assert transaction_hit(steps, 0.45 + 1e-9, MARGIN)
    assert transaction_hit(steps, 0.60, MARGIN)
    assert not transaction_hit(steps, 0.61, MARGIN)  # nothing crosses: no match
    assert hit_intervals(steps, MARGIN) == [(0.45, 0.60)]


def test_a_step_that_does_not_hold_the_margin_decides_nothing() -> None:
    steps: list[Step] = [(0.80, 0.78, True), (0.55, 0.30, True)]
    assert not transaction_hit(steps, 0.60, MARGIN)  # 0.80 never clear of the runner-up
    assert transaction_hit(steps, 0.55, MARGIN)
    assert hit_intervals(steps, MARGIN) == [(-math.inf, 0.55)]
    assert hit_intervals([(0.80, 0.78, True)], MARGIN) == []


def test_no_evidence_is_a_miss_at_every_threshold() -> None:
    assert not transaction_hit([], -1.0, MARGIN)
    assert hit_intervals([], MARGIN) == []
    table = HitTable.from_steps([[], [(0.7, 0.1, True)]], MARGIN)
    assert table.hits(0.5).tolist() == [False, True]


def test_a_later_step_below_an_earlier_crossing_is_never_first() -> None:
    # A repeated or lower step cannot decide: any threshold it reaches was reached before.
    steps: list[Step] = [(0.50, 0.10, False), (0.50, 0.10, True), (0.48, 0.10, True), (0.70, 0.10, True)]
    assert hit_intervals(steps, MARGIN) == [(0.50, 0.70)]
    assert not transaction_hit(steps, 0.50, MARGIN)


# Scores on a coarse grid so that ties between steps and thresholds are common.
grid = st.integers(-4, 20).map(lambda i: i / 20)
steps_st = st.lists(st.tuples(grid, grid, st.booleans()), max_size=8)


@settings(max_examples=300, deadline=None)
@given(walkups=st.lists(steps_st, min_size=1, max_size=6),
       thresholds=st.lists(st.one_of(grid, st.floats(-1.5, 1.5), st.just(-math.inf)), min_size=1, max_size=6),
       margin=st.sampled_from([0.0, 0.05, 0.1]))
def test_the_interval_form_is_the_first_crossing(walkups: list[list[Step]], thresholds: list[float],
                                                 margin: float) -> None:
    table = HitTable.from_steps(walkups, margin)
    for t in thresholds:
        direct = [transaction_hit(s, t, margin) for s in walkups]
        by_interval = [any((lo < t or lo == -math.inf) and t <= hi for lo, hi in hit_intervals(s, margin))
                       for s in walkups]
        assert by_interval == direct
        assert table.hits(t).tolist() == direct


def test_intervals_on_known_counts() -> None:
    rng = np.random.default_rng(3)
    genuine: list[list[Step]] = [[(float(s), 0.1, True)] for s in rng.uniform(0.3, 0.9, 300)]
    impostors = [*rng.normal(0.2, 0.1, 396).tolist(), 0.6, 0.55, -math.inf, -math.inf]
    ci = walkup_intervals(genuine, impostors, 0.5, MARGIN, TARGET)
    # 2 of 400 impostor walk-ups reach 0.5: the exact interval, with 2 / 400 inside.
    assert ci["fpir"] == [round(x, 4) for x in clopper_pearson(2, 400)]
    assert ci["fpir"][0] < 2 / 400 < ci["fpir"][1]
    fnir = 1 - np.mean([transaction_hit(g, 0.5, MARGIN) for g in genuine])
    assert ci["fnir"][0] < fnir < ci["fnir"][1]
    t = threshold_for_transaction_fpir(impostors, TARGET)
    at = 1 - float(HitTable.from_steps(genuine, MARGIN).hits(t).mean())
    lo, hi = ci[f"fnir_at_fpir_{TARGET}"]
    assert lo < at < hi
    # The threshold moves with the impostors drawn: wider than redrawing the genuine walk-ups alone.
    fixed = walkup_intervals(genuine, impostors, t, MARGIN, TARGET)["fnir"]
    assert hi - lo > fixed[1] - fixed[0]
    assert ci["impostors_needed"] == 1228 and "only 400 impostor walk-ups" in ci["warning"]
    assert ci == walkup_intervals(genuine, impostors, 0.5, MARGIN, TARGET)  # seeded: reproducible
    assert "warning" not in walkup_intervals(genuine, [0.1] * 1228, 0.5, MARGIN, TARGET, replicates=50)


def test_no_walkups_no_intervals() -> None:
    ci = walkup_intervals([], [], 0.5, MARGIN, TARGET)
    assert not {"fnir", "fpir", f"fnir_at_fpir_{TARGET}"} & set(ci)
    ci = walkup_intervals([[(0.7, 0.1, True)]], [], 0.5, MARGIN, TARGET)
    assert ci["fnir"] == [0.0, 0.0] and "fpir" not in ci


def fnir_from_steps(steps: Sequence[Sequence[Step]], threshold: float, margin: float) -> float:
    return round(1 - sum(transaction_hit(s, threshold, margin) for s in steps) / len(steps), 4)


def test_intervals_of_a_real_flight_agree_with_its_replays(face_models, faces_dir: Path,  # type: ignore[no-untyped-def]
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """At a strict default threshold (0.7) some travellers are not matched on their first frame and
    some not at all: the outcome read off the recorded evidence must be the one the machine gave."""
    seen: list[tuple[Any, ...]] = []

    def spy(genuine_steps: Any, scores: Any, threshold: float, margin: float, target: float) -> dict[str, Any]:
        seen.append((genuine_steps, scores, threshold, margin))
        return walkup_intervals(genuine_steps, scores, threshold, margin, target)

    monkeypatch.setattr(walkup, "walkup_intervals", spy)
    params = dataclasses.replace(decision_params(), threshold=0.7)
    rep = walkup.run_walkups(make_analyser(face_models), faces_dir, [1], params, (None, None, None))
    (flight,) = rep["per_seed"]
    key = f"at_fpir_{TARGET}"
    assert len(seen) == len(flight["policies"]) == 3
    for (genuine_steps, scores, threshold, margin), (name, pol) in zip(seen, flight["policies"].items(), strict=True):
        assert len(genuine_steps) == flight["walkups"]["genuine"] and len(scores) == flight["walkups"]["impostor"]
        default, at, ci = pol["at_default_threshold"], pol[key], pol["intervals"]
        assert (threshold, margin) == (0.7, params.margin)
        assert fnir_from_steps(genuine_steps, threshold, margin) == default["fnir"], name
        assert fnir_from_steps(genuine_steps, at["threshold"], margin) == at["fnir"], name
        k = sum(s >= threshold for s in scores)
        assert round(k / len(scores), 4) == default["fpir"], name
        assert ci["fnir"][0] <= default["fnir"] <= ci["fnir"][1], name
        assert ci[f"fnir_{key}"][0] <= at["fnir"] <= ci[f"fnir_{key}"][1], name
        assert ci["fpir"][0] <= default["fpir"] <= ci["fpir"][1], name
        if k == 0:
            assert ci["fpir"] == [0.0, round(clopper_pearson(0, len(scores))[1], 4)], name
        assert "warning" in ci  # a handful of impostors cannot resolve 0.003
    # Not a vacuous check: one frame at 0.7 leaves some travellers unmatched, fusion fewer.
    single, fused = flight["policies"]["single"], flight["policies"]["template"]
    assert 0 < single["at_default_threshold"]["fnir"] < 1
    assert fused["at_default_threshold"]["fnir"] <= single["at_default_threshold"]["fnir"]
    fused_steps = seen[1][0]  # template fusion: some traveller crosses 0.7 only on a later, fused frame
    assert any(transaction_hit(s, 0.7, params.margin) and not transaction_hit(s[:1], 0.7, params.margin)
               for s in fused_steps)
    assert rep["mean"]["single"]["intervals_per_seed"]["fnir"] == [single["intervals"]["fnir"]]
    text = walkup.format_walkups(rep)
    lo, hi = single["intervals"]["fnir"]
    assert f"FNIR {single['at_default_threshold']['fnir']:.4f} [{lo:.4f}, {hi:.4f}]" in text
    assert text.count("warning: only") == 1
