"""The decision state machine: outcomes, the budget, one decision per walk-up."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.core.decide import DecisionMachine, DecisionParams, Observation, Outcome, Phase, frame_vote
from edge.core.fusion import Fusion
from edge.core.search import Candidate

# Per-frame votes: the machine's vote counting (fusion has its own tests, tests/core/test_fusion.py).
P = DecisionParams(threshold=0.45, margin=0.05, votes_required=2, max_frames=4, budget_s=2.0,
                   acquire_timeout_s=3.0, absent_frames_to_reset=3, fusion=Fusion.NONE)


def cands(best: float, second: float, entry: str = "P-a") -> tuple[Candidate, ...]:
    return (Candidate(entry, best), Candidate("P-b", second))


def usable(t: float, best: float, second: float = 0.1, entry: str = "P-a") -> Observation:
    return Observation(t=t, present=True, usable=True, candidates=cands(best, second, entry))


def test_vote_needs_threshold_and_margin() -> None:
    assert frame_vote(cands(0.6, 0.2), P) == "P-a"
    assert frame_vote(cands(0.44, 0.1), P) is None  # below threshold
    assert frame_vote(cands(0.6, 0.57), P) is None  # runner-up too close: ambiguous
    assert frame_vote((Candidate("P-a", 0.6),), P) == "P-a"  # gallery of one
    assert frame_vote((), P) is None


def test_match_after_required_votes_then_waits_for_leave() -> None:
    m = DecisionMachine(P)
    assert m.observe(usable(0.0, 0.7)) is None
    d = m.observe(usable(0.1, 0.72))
    assert d is not None and d.outcome is Outcome.MATCH and d.entry_id == "P-a"
    assert d.score == 0.72 and d.frames_used == 2 and d.first_usable_at == 0.0
    # Same traveller still there: no second decision.
    for i in range(10):
        assert m.observe(usable(0.2 + i * 0.1, 0.7)) is None
    assert m.phase is Phase.DECIDED
    for i in range(3):
        m.observe(Observation(t=2 + i * 0.1, present=False))
    assert m.phase is Phase.IDLE


def test_no_match_for_impostor() -> None:
    m = DecisionMachine(P)
    m.observe(usable(0.0, 0.3))
    d = m.observe(usable(0.1, 0.31))
    assert d is not None and d.outcome is Outcome.NO_MATCH and d.entry_id is None and d.score == 0.31


def test_inconsistent_votes_end_as_no_match_after_max_frames() -> None:
    m = DecisionMachine(P)
    # Each frame confidently names someone else: never two agreeing votes.
    outs = [m.observe(usable(i * 0.1, 0.7, entry=f"P-{i}")) for i in range(4)]
    assert outs[:3] == [None, None, None]
    assert outs[3] is not None and outs[3].outcome is Outcome.NO_MATCH and outs[3].frames_used == 4


def test_timeout_when_budget_runs_out() -> None:
    m = DecisionMachine(P)
    m.observe(usable(0.0, 0.7))
    # Face stays, but frames are unusable for longer than the budget.
    assert m.observe(Observation(t=1.0, present=True)) is None
    d = m.observe(Observation(t=2.0, present=True))
    assert d is not None and d.outcome is Outcome.TIMEOUT


def test_failure_to_acquire_when_never_usable() -> None:
    m = DecisionMachine(P)
    assert m.observe(Observation(t=0.0, present=True)) is None
    d = m.observe(Observation(t=3.0, present=True))
    assert d is not None and d.outcome is Outcome.FAILURE_TO_ACQUIRE and d.frames_used == 0


def test_traveller_leaving_before_usable_frame_is_failure_to_acquire_and_resets() -> None:
    m = DecisionMachine(P)
    m.observe(Observation(t=0.0, present=True))
    out = [m.observe(Observation(t=0.1 * i, present=False)) for i in range(1, 4)]
    assert out[-1] is not None and out[-1].outcome is Outcome.FAILURE_TO_ACQUIRE
    assert m.phase is Phase.IDLE


def test_nobody_means_no_transaction() -> None:
    m = DecisionMachine(P)
    assert all(m.observe(Observation(t=i, present=False)) is None for i in range(20))


observations = st.builds(
    Observation,
    t=st.floats(0, 0.5),
    present=st.booleans(),
    usable=st.booleans(),
    candidates=st.lists(st.builds(Candidate, st.sampled_from(["P-a", "P-b", "P-c"]), st.floats(-1, 1)),
                        max_size=2).map(lambda c: tuple(sorted(c, key=lambda x: -x.score))),
)


@pytest.mark.parametrize("fusion", list(Fusion))
@settings(max_examples=300, deadline=None)
@given(obs=st.lists(observations, max_size=60))
def test_invariants_on_any_sequence(fusion: Fusion, obs: list[Observation]) -> None:
    """Whatever arrives: one decision per walk-up, matches only for an entry that was voted for."""
    params = dataclasses.replace(P, fusion=fusion)
    m = DecisionMachine(params)
    t = 0.0
    decisions = []
    for o in obs:
        t += o.t  # time never goes backwards
        o2 = Observation(t=t, present=o.present, usable=o.usable and o.present,
                         candidates=o.candidates if o.usable and o.present else ())
        phase_before = m.phase
        d = m.observe(o2)
        if d is not None:
            assert phase_before is not Phase.DECIDED
            decisions.append(d)
            if d.outcome is Outcome.MATCH:
                assert d.entry_id is not None and d.score is not None and d.score >= P.threshold
                assert d.runner_up is not None and d.score - d.runner_up >= P.margin
                assert d.entry_id in {c.entry_id for c in m.evidence}
            else:
                assert d.entry_id is None
            assert d.decided_at >= d.started_at
            if d.outcome is not Outcome.FAILURE_TO_ACQUIRE:
                assert d.frames_used >= 1


def test_opt_out_skips_exactly_the_next_walkup() -> None:
    from edge.core.decide import OptOutPhase, OptOutWindow

    # The previous traveller is still in the zone when the officer presses opt-out.
    w = OptOutWindow(until=100.0, absent_frames_to_reset=2, zone_busy=True)
    seq = [True, True, False, False, False, True, True, True, False, False]
    phases = [w.observe(float(i), p) for i, p in enumerate(seq)]
    assert phases[:2] == [OptOutPhase.CLEARING] * 2
    assert phases[3] is OptOutPhase.WAITING  # zone clear: now waiting for the opted-out traveller
    assert phases[5] is OptOutPhase.PASSING
    assert phases[-1] is OptOutPhase.DONE and not w.present_at_end


def test_opt_out_window_runs_out() -> None:
    from edge.core.decide import OptOutPhase, OptOutWindow

    w = OptOutWindow(until=3.0, absent_frames_to_reset=2, zone_busy=False)
    assert w.observe(0.0, False) is OptOutPhase.WAITING
    assert w.observe(1.0, True) is OptOutPhase.PASSING
    assert w.observe(3.0, True) is OptOutPhase.DONE and w.present_at_end


def _at(t: float, x: float, best: float = 0.7, entry: str = "P-a", usable_: bool = True) -> Observation:
    box = (x, 100.0, 200.0, 200.0)
    if not usable_:
        return Observation(t=t, present=True, box=box)
    return Observation(t=t, present=True, usable=True, candidates=cands(best, 0.1, entry), box=box)


def test_next_traveller_stepping_up_without_a_gap_gets_their_own_decision() -> None:
    m = DecisionMachine(P)
    assert m.observe(_at(0.0, 500)) is None
    first = m.observe(_at(0.1, 505))
    assert first is not None and first.entry_id == "P-a"
    # The lane is never empty: A lingers for a while, then B (elsewhere in the zone) is the largest face.
    for i in range(5):
        assert m.observe(_at(0.2 + i * 0.1, 510)) is None
    outs = [m.observe(_at(0.8 + i * 0.1, 100, entry="P-b")) for i in range(6)]
    decided = [o for o in outs if o is not None]
    assert len(decided) == 1 and decided[0].entry_id == "P-b"


def test_bystander_does_not_keep_the_gate_waiting() -> None:
    m = DecisionMachine(P)
    m.observe(_at(0.0, 500))
    assert m.observe(_at(0.1, 500)) is not None
    # The traveller has gone; a bystander stays in a corner of the zone (not usable: too far).
    for i in range(3):
        m.observe(_at(0.2 + i * 0.1, 1000, usable_=False))
    assert m.phase is not Phase.DECIDED


def test_a_swaying_traveller_is_decided_once() -> None:
    m = DecisionMachine(P)
    decisions = [m.observe(_at(i * 0.1, 500 + (i % 3) * 40)) for i in range(30)]
    assert sum(d is not None for d in decisions) == 1


def test_frames_of_someone_else_do_not_vote_in_a_transaction() -> None:
    m = DecisionMachine(P)
    assert m.observe(_at(0.0, 500, best=0.3)) is None  # A: one non-match vote
    # B's frame, far from A, would have been a second vote (no_match) for A's transaction.
    assert m.observe(_at(0.1, 100, best=0.3)) is None
