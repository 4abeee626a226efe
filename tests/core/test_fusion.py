"""Fusing a walk-up's frames: weak frames of one person add up, frames of different people do not,
and the fused template is zeroed when the transaction ends."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.core.decide import DecisionMachine, DecisionParams, Observation, Outcome, Phase
from edge.core.fusion import Fusion, ScoreMaxFusion, TemplateFusion
from edge.core.search import Candidate, ExactIndex

DIM = 128
T = 0.45
P = DecisionParams(threshold=T, margin=0.05, votes_required=1, max_frames=4, budget_s=2.0,
                   acquire_timeout_s=3.0, absent_frames_to_reset=3, fusion=Fusion.TEMPLATE)
BASIS = np.eye(DIM, dtype=np.float32)
# Ten travellers on the flight, enrolled with orthogonal templates e0..e9.
GALLERY_IDS = [f"P-{i}" for i in range(10)]
INDEX = ExactIndex(GALLERY_IDS, BASIS[:10])


def frame(toward: int, cos: float, noise_axis: int) -> np.ndarray:
    """A unit template at cosine ``cos`` to entry ``toward``; the rest lies along an axis no one
    enrolled has, different for every frame (frame-to-frame noise)."""
    t = cos * BASIS[toward] + np.sqrt(1 - cos**2) * BASIS[noise_axis]
    return t.astype(np.float32)


def look(t: float, template: np.ndarray) -> Observation:
    """A usable frame as the analyser hands it over: its own search's candidates and its template."""
    return Observation(t=t, present=True, usable=True, candidates=tuple(INDEX.search(template, 2)),
                       template=template, search=INDEX.search)


def test_weak_frames_of_one_traveller_fuse_into_a_match() -> None:
    frames = [frame(3, 0.42, 50 + i) for i in range(4)]
    assert all(INDEX.search(f, 1)[0].score < T for f in frames)  # no frame alone reaches the threshold
    # Decided on one frame, the traveller goes to an officer.
    single = DecisionMachine(dataclasses.replace(P, fusion=Fusion.NONE))
    d = single.observe(look(0.0, frames[0]))
    assert d is not None and d.outcome is Outcome.NO_MATCH
    m = DecisionMachine(P)
    assert m.observe(look(0.0, frames[0])) is None  # one weak frame is not yet enough for a no-match
    d = m.observe(look(0.1, frames[1]))
    # Two frames: the noise halves, cos = 0.42 / sqrt(0.42^2 + (1 - 0.42^2) / 2) = 0.548.
    assert d is not None and d.outcome is Outcome.MATCH and d.entry_id == "P-3"
    assert d.score == pytest.approx(0.42 / np.sqrt(0.42**2 + (1 - 0.42**2) / 2), abs=1e-5)
    assert d.frames_used == 2


def test_an_impostor_scattered_over_travellers_does_not_fuse_into_a_match() -> None:
    # The same per-frame best scores as the traveller above, but each frame resembles someone else.
    frames = [frame(i, 0.42, 50 + i) for i in range(4)]
    for kind in (Fusion.TEMPLATE, Fusion.SCORE_MAX):
        m = DecisionMachine(dataclasses.replace(P, fusion=kind))
        out = [m.observe(look(i * 0.1, f)) for i, f in enumerate(frames)]
        assert out[:3] == [None, None, None], kind
        assert out[3] is not None and out[3].outcome is Outcome.NO_MATCH and out[3].frames_used == 4, kind
        assert out[3].score is not None and out[3].score < T, kind


def test_frames_between_two_look_alikes_do_not_fuse_into_a_match() -> None:
    # Two enrolled travellers who look alike (cosine 0.7). The impostor's two frames resemble one,
    # then the other, weakly: their mean lies between both, above the threshold for each, and for
    # neither by the margin. A fusion that skipped the margin would let them board.
    rho, c = 0.7, 0.42
    g2 = rho * BASIS[0] + np.sqrt(1 - rho**2) * BASIS[1]
    index = ExactIndex(["P-0", "P-1"], np.stack([BASIS[0], g2]))
    a = c * BASIS[0] + np.sqrt(1 - c**2) * BASIS[50]
    b = c * g2 + np.sqrt(1 - c**2) * BASIS[51]
    m = DecisionMachine(dataclasses.replace(P, max_frames=2))
    out = [m.observe(Observation(t=i * 0.1, present=True, usable=True, candidates=tuple(index.search(f, 2)),
                                 template=f.astype(np.float32), search=index.search))
           for i, f in enumerate([a, b])]
    assert out[0] is None and out[1] is not None and out[1].outcome is Outcome.NO_MATCH
    best, second = m.evidence
    assert best.score >= T and best.score - second.score < P.margin


def test_a_clear_first_frame_matches_at_once_and_no_match_waits_for_max_frames() -> None:
    m = DecisionMachine(P)
    d = m.observe(look(0.0, frame(2, 0.8, 60)))
    assert d is not None and d.outcome is Outcome.MATCH and d.entry_id == "P-2" and d.frames_used == 1
    m = DecisionMachine(P)
    stranger = [np.float32(1.0) * BASIS[70 + i] for i in range(4)]  # like nobody enrolled
    out = [m.observe(look(i * 0.1, s)) for i, s in enumerate(stranger)]
    assert out[:3] == [None] * 3 and out[3] is not None and out[3].outcome is Outcome.NO_MATCH


def test_fused_evidence_below_threshold_is_a_no_match_when_the_budget_runs_out_or_the_traveller_leaves() -> None:
    weak = frame(3, 0.2, 50)
    m = DecisionMachine(P)
    assert m.observe(look(0.0, weak)) is None
    d = m.observe(Observation(t=2.0, present=True))  # the face stays, but no other usable frame in 2 s
    assert d is not None and d.outcome is Outcome.NO_MATCH and d.frames_used == 1
    m = DecisionMachine(P)
    assert m.observe(look(0.0, weak)) is None
    out = [m.observe(Observation(t=0.1 * i, present=False)) for i in range(1, 4)]
    assert out[-1] is not None and out[-1].outcome is Outcome.NO_MATCH
    # Without fusion, votes that never agreed in time stay a time-out.
    m = DecisionMachine(dataclasses.replace(P, fusion=Fusion.NONE, votes_required=2))
    assert m.observe(look(0.0, frame(3, 0.9, 50))) is None
    d = m.observe(Observation(t=2.0, present=True))
    assert d is not None and d.outcome is Outcome.TIMEOUT


def test_score_max_takes_each_travellers_best_frame() -> None:
    f = ScoreMaxFusion()
    f.add((Candidate("A", 0.40), Candidate("B", 0.30)), None, None)
    got = f.add((Candidate("B", 0.50), Candidate("C", 0.45)), None, None)
    assert got == (Candidate("B", 0.50), Candidate("C", 0.45))
    got = f.add((Candidate("A", 0.20), Candidate("C", 0.10)), None, None)
    assert got == (Candidate("B", 0.50), Candidate("C", 0.45))


def test_fused_template_is_zeroed_whenever_the_transaction_ends() -> None:
    def held_after_one_frame(m: DecisionMachine) -> tuple[np.ndarray, ...]:
        template = frame(3, 0.42, 50)
        assert m.observe(look(0.0, template)) is None
        held = m.fused_buffers
        assert held and any(b.any() for b in held)
        assert not any(np.shares_memory(b, template) for b in held)  # a copy: the frame's own is wiped
        return held

    ends = {
        "no_match": lambda m, t: [m.observe(look(t + i * 0.1, frame(4 + i, 0.1, 80 + i))) for i in range(3)],
        "match": lambda m, t: m.observe(look(t, frame(3, 0.9, 90))),
        "timeout": lambda m, t: m.observe(Observation(t=t + 5.0, present=True)),
        "left": lambda m, t: [m.observe(Observation(t=t + i, present=False)) for i in range(3)],
        "reset": lambda m, t: m.reset(),
        "hold": lambda m, t: m.hold(),
    }
    for name, end in ends.items():
        m = DecisionMachine(P)
        held = held_after_one_frame(m)
        end(m, 0.1)
        assert m.phase is not Phase.ACQUIRING, name
        assert all(not b.any() for b in held), name
        assert m.fused_buffers == (), name


def test_template_fusion_without_a_template_judges_the_frame_alone() -> None:
    f = TemplateFusion()
    cands = (Candidate("A", 0.9),)
    assert f.add(cands, None, None) == cands and f.buffers == ()


unit = st.integers(0, 2**32 - 1).map(lambda s: np.random.default_rng(s).standard_normal(DIM).astype(np.float32))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans(), st.integers(0, 9), st.floats(-0.2, 1.0), unit),
                max_size=25),
       st.sampled_from([Fusion.TEMPLATE, Fusion.SCORE_MAX]))
def test_fused_invariants_on_any_walkup(seq: list[tuple[bool, bool, int, float, np.ndarray]], kind: Fusion) -> None:
    """Any frames: one decision per walk-up; a match is backed by fused evidence over threshold and
    margin; nothing fused survives a decision."""
    m = DecisionMachine(dataclasses.replace(P, fusion=kind))
    held: list[np.ndarray] = []
    for i, (present, usable, who, cos, noise) in enumerate(seq):
        t = i * 0.1
        if present and usable:
            n = float(np.linalg.norm(noise))
            v = cos * BASIS[who] + (noise / n if n > 0 else 0) * np.sqrt(max(0.0, 1 - cos**2))
            obs = look(t, (v / (np.linalg.norm(v) or 1)).astype(np.float32))
        else:
            obs = Observation(t=t, present=present)
        before = m.phase
        d = m.observe(obs)
        held.extend(m.fused_buffers)
        if d is None:
            continue
        assert before is not Phase.DECIDED
        assert all(not b.any() for b in held)
        held.clear()
        if d.outcome is Outcome.MATCH:
            assert d.score is not None and d.runner_up is not None
            assert d.score >= T and d.score - d.runner_up >= P.margin
            assert d.entry_id == m.evidence[0].entry_id
