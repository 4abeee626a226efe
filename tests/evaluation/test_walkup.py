"""Walk-ups: the per-transaction threshold for several attempts, and `gate-edge eval --walkup` on the
real photos through the real models and decision machine."""

from __future__ import annotations

import math
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest

from edge.commands import eval as evaluate_cmd
from edge.config.schema import DecisionConfig
from edge.core.decide import DecisionMachine, DecisionParams, Observation
from edge.core.fusion import Fusion
from edge.core.search import Candidate
from edge.evaluation.data import list_identities
from edge.evaluation.walkup_metrics import (
    per_attempt_fpir,
    threshold_for_transaction_fpir,
    transaction_fpir,
    transaction_score,
)

TARGET = 0.003


def test_transaction_score_is_the_best_step_that_held_the_margin() -> None:
    assert transaction_score([(0.30, 0.10), (0.50, 0.49), (0.40, 0.20)], margin=0.02) == 0.40
    assert transaction_score([(0.50, 0.49)], margin=0.02) == -math.inf  # never clear of the runner-up
    assert transaction_score([], margin=0.02) == -math.inf


def test_transaction_threshold_on_a_known_list() -> None:
    scores = [i / 1000 for i in range(1000)]  # 0.000 .. 0.999
    # 1000 impostors at FPIR 0.003: three may match (0.997, 0.998, 0.999); the fourth (0.996) may not.
    t = threshold_for_transaction_fpir(scores, TARGET)
    assert t == 0.9961
    assert transaction_fpir(scores, t) == TARGET
    assert transaction_fpir(scores, 0.996) > TARGET
    # Fewer impostors than 1/0.003: none may match, the threshold lands just above the highest.
    assert threshold_for_transaction_fpir([0.2, 0.35, -math.inf], TARGET) == 0.3501
    assert threshold_for_transaction_fpir([-math.inf] * 5, TARGET) == -1.0
    with pytest.raises(ValueError):
        threshold_for_transaction_fpir([0.1], 1.0)


def test_several_attempts_raise_the_threshold_as_the_known_distribution_says() -> None:
    """Impostors whose frames each look like a different traveller, every frame an independent draw
    from N(0.2, 0.1) (the shape of SFace's non-mated scores): through the real machine, a transaction
    of n attempts matches when the best of n draws reaches T, so the threshold for a per-transaction
    FPIR a is the normal quantile of (1 - a) ** (1 / n): 0.4748 for one attempt, 0.5091 for three,
    0.5239 for five."""
    rng = np.random.default_rng(7)
    walkups, frames = 20_000, 5
    scores = rng.normal(0.2, 0.1, (walkups, frames))
    who = rng.integers(0, 400, (walkups, frames))
    dist = NormalDist(0.2, 0.1)
    thresholds = []
    for n in (1, 3, 5):
        params = DecisionParams(threshold=math.inf, margin=0.0, max_frames=n, fusion=Fusion.SCORE_MAX)
        per_transaction = []
        for row, ids in zip(scores, who, strict=True):
            machine = DecisionMachine(params)
            steps = []
            for i in range(n):
                obs = Observation(t=i * 0.1, present=True, usable=True,
                                  candidates=(Candidate(f"P-{ids[i]}", float(row[i])),))
                decided = machine.observe(obs)
                steps.append((machine.evidence[0].score, -1.0))
            assert decided is not None  # n usable frames: the no-match is final
            per_transaction.append(transaction_score(steps, params.margin))
        t = threshold_for_transaction_fpir(per_transaction, TARGET)
        expected = dist.inv_cdf((1 - TARGET) ** (1 / n))
        # The same as asking each single frame for FPIR 1 - (1 - a) ** (1 / n).
        assert expected == pytest.approx(dist.inv_cdf(1 - per_attempt_fpir(TARGET, n)))
        # Sampling error of the 99.7th percentile of 20,000 draws: about 0.004.
        assert t == pytest.approx(expected, abs=0.012), n
        assert transaction_fpir(per_transaction, t) <= TARGET
        thresholds.append(t)
    assert thresholds[0] < thresholds[1] < thresholds[2]
    assert thresholds[2] - thresholds[0] > 0.03


def test_walkup_eval_on_shared_faces(run_json, faces_dir: Path) -> None:  # type: ignore[no-untyped-def]
    rep = run_json(evaluate_cmd, ["--faces", str(faces_dir), "--walkup", "--seed", "1"])
    ids = list_identities(faces_dir)
    (flight,) = rep["per_seed"]
    assert flight["walkups"] == {"genuine": sum(1 for p in ids.values() if len(p) >= 2),
                                 "impostor": sum(1 for p in ids.values() if len(p) == 1)}
    assert flight["failures_to_enrol"] == 0
    pols = flight["policies"]
    assert set(pols) == {"single", "template", "score_max"}
    max_frames = DecisionConfig().max_frames
    for name, pol in pols.items():
        default, at = pol["at_default_threshold"], pol["at_fpir_0.003"]
        # Every traveller on the flight boards, nobody else does: at the default and the calibrated threshold.
        assert (default["fnir"], default["fpir"]) == (0.0, 0.0), name
        assert (at["fnir"], at["fpir"]) == (0.0, 0.0), name
        assert default["genuine_misidentified"] == 0 and at["transaction_fpir"] == 0.0, name
        assert default["outcomes"]["impostor"] == {"no_match": flight["walkups"]["impostor"]}, name
        # A clear traveller is matched on the first usable frame (a few frames at 10 fps at most).
        assert default["time_to_decision_s"]["genuine"]["p50"] <= 0.2, name
        imp_time = default["time_to_decision_s"]["impostor"]["p50"]
        if name == "single":
            assert imp_time <= 0.2  # the first usable frame sends an impostor to the officer
        else:  # fused: a no-match waits for max_frames usable frames
            assert imp_time >= (max_frames - 1) / rep["fps"], name
    # Each extra frame is another chance: the best of several frames needs a higher threshold
    # than the first frame alone, on the very same frames.
    assert pols["score_max"]["at_fpir_0.003"]["threshold"] >= pols["single"]["at_fpir_0.003"]["threshold"]
    assert set(rep["mean"]) == set(pols)
