"""Deciding a transaction: a pure state machine fed one observation per frame (no I/O, no clock).

One walk-up of one traveller is one transaction. It starts when a face appears in the capture zone
and ends with exactly one outcome:

- ``match``: with fusion (the default, edge/core/fusion.py), the traveller's usable frames so far,
  fused into one piece of evidence, put a gallery entry at least ``threshold`` high and ``margin``
  above the runner-up: a clear first frame matches at once, weaker frames add up. Without fusion,
  an entry did so on ``votes_required`` usable frames;
- ``no_match``: the fused evidence never did, after ``max_frames`` usable frames, or when the budget
  ran out or the traveller left before (without fusion: ``votes_required`` frames found nobody above
  threshold-with-margin, or ``max_frames`` frames never agreed); the traveller goes to an officer;
- ``failure_to_acquire``: a face was there but no frame passed the quality gate within
  ``acquire_timeout_s``, or the traveller left before one did;
- ``timeout`` (without fusion): usable frames came but no decision within ``budget_s`` of the first
  one. Never a guess.

After an outcome the machine waits until the decided traveller has been gone for
``absent_frames_to_reset`` frames before a new transaction may start, so one traveller is decided
once. "Gone" is judged by the traveller's box: a face that does not overlap the one being followed is
someone else (the next traveller stepping up before the previous one has cleared the lane, or a
bystander), so neither keeps the gate waiting nor lends its frames to another person's transaction.

Every attempt is a chance for an impostor: the threshold of a fused decision is a per-transaction
threshold, calibrated on whole walk-ups (``gate-edge eval --walkup``), not on single photos. The fused
template is zeroed when the transaction ends, whatever the outcome.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from edge.core.fusion import Fusion, ScoreMaxFusion, SearchFn, TemplateFusion, make_fusion
from edge.core.search import Candidate


@dataclass(frozen=True)
class DecisionParams:
    # The threshold is per transaction (a fused walk-up), so it is set from whole walk-ups, not photos:
    #   gate-edge eval --walkup --faces ../shared/lfw --gallery-size 420 --impostors 420
    #                  --probes-per-identity 3 --seed N          (N = 1, 2, 3; template fusion, margin 0.05)
    # calibrates 0.4748, 0.4545 and 0.4847 for a per-transaction FPIR <= 0.003; 0.49 holds it on all three
    # (0, 0 and 1 of 420 impostor walk-ups matched) at FNIR 4.05%, 4.52% and 4.76%. Seed 3's figure is
    # set by LFW "impostors" who are enrolled people under another name (John/Jon Gruden).
    # A single photo needs less: `gate-edge calibrate --faces ../shared/faces --faces ../shared/lfw
    # --gallery-size 420 --impostors 1000 --probes-per-identity 3 --seed 1` gives 0.4643 for FPIR <= 0.003
    # over 1,855 unmated searches, with the margin 0.05 used here (and QualityParams' gates).
    threshold: float = 0.49
    margin: float = 0.05
    votes_required: int = 1
    # Fusion and max_frames: `gate-edge eval --walkup --faces ../shared/lfw --gallery-size 420 --impostors
    # 420 --probes-per-identity 3 --seed N` (N = 1, 2, 3; 10 fps). Per-transaction FNIR at a per-transaction
    # FPIR of 0.003, mean of the three: one frame 9.7%; template fusion 3.9% (max_frames 3), 3.3% (5);
    # score-max 3.8% (3), 2.8% (5). Template fusion: as good within the noise of 420 walk-ups, and
    # fewer impostors over a fixed threshold (a lucky frame is averaged, not kept). Three frames keep a
    # no-match within 0.2-0.3 s, before a traveller who turns away is lost.
    max_frames: int = 3
    budget_s: float = 2.0
    acquire_timeout_s: float = 3.0
    absent_frames_to_reset: int = 3
    fusion: Fusion = Fusion.TEMPLATE


class Outcome(str, enum.Enum):
    MATCH = "match"
    NO_MATCH = "no_match"
    FAILURE_TO_ACQUIRE = "failure_to_acquire"
    TIMEOUT = "timeout"
    OPT_OUT = "opt_out"


class Phase(str, enum.Enum):
    IDLE = "idle"  # nobody in the zone
    ACQUIRING = "acquiring"  # a traveller is there; collecting usable frames
    DECIDED = "decided"  # outcome given; waiting for the traveller to leave


@dataclass(frozen=True)
class Observation:
    """What one frame showed. ``candidates`` is set only for usable (quality-passed) frames."""

    t: float  # capture time, seconds (monotonic)
    present: bool  # a face in the capture zone
    usable: bool = False
    candidates: tuple[Candidate, ...] = ()
    box: tuple[float, float, float, float] | None = None  # the traveller's x, y, w, h, when present
    # For template fusion, with ``candidates``: the frame's template (zeroed with the frame: the
    # machine adds it into its own buffer at once) and the gallery's search. Never printed or compared.
    template: np.ndarray | None = field(default=None, repr=False, compare=False)
    search: SearchFn | None = field(default=None, repr=False, compare=False)


# Consecutive boxes of one person overlap heavily even at a few frames per second while they walk
# up; a box that barely overlaps the one being followed is another person.
SAME_PERSON_IOU = 0.1


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two x, y, w, h boxes."""
    iw = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    ih = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    entry_id: str | None
    score: float | None  # best score: of the matched entry, else the highest seen
    runner_up: float | None
    frames_used: int  # usable frames that went into the decision
    started_at: float  # first frame with the traveller present
    first_usable_at: float | None
    decided_at: float


def frame_vote(candidates: tuple[Candidate, ...], params: DecisionParams) -> str | None:
    """The entry this frame votes for, or None for 'nobody in the gallery'."""
    if not candidates:
        return None
    best = candidates[0]
    runner_up = candidates[1].score if len(candidates) > 1 else -1.0
    if best.score >= params.threshold and best.score - runner_up >= params.margin:
        return best.entry_id
    return None


@dataclass
class _Walkup:
    started_at: float
    first_usable_at: float | None = None
    votes: Counter[str | None] = field(default_factory=Counter)
    best: dict[str | None, tuple[float, float]] = field(default_factory=dict)  # vote -> (score, runner-up)
    usable: int = 0


class DecisionMachine:
    """Feeds on :class:`Observation` and emits at most one :class:`Decision` per walk-up."""

    def __init__(self, params: DecisionParams) -> None:
        self.params = params
        self.phase = Phase.IDLE
        self._walkup: _Walkup | None = None
        self._absent = 0
        self._box: tuple[float, float, float, float] | None = None  # where the followed traveller was
        self._fusion: TemplateFusion | ScoreMaxFusion | None = None  # this walk-up's; wiped at its end
        # The evidence the last usable frame left (fused, or the frame's own): read by the walk-up
        # evaluation to score whole transactions. Ids and scores only; cleared when a walk-up starts.
        self.evidence: tuple[Candidate, ...] = ()

    @property
    def fused_buffers(self) -> tuple[np.ndarray, ...]:
        """The buffers holding the walk-up's fused template (empty between walk-ups): for the wipe's checks."""
        return self._fusion.buffers if self._fusion is not None else ()

    @property
    def wants_embedding(self) -> bool:
        """Whether the next frame should be aligned, embedded and searched (not while DECIDED)."""
        return self.phase is not Phase.DECIDED

    def reset(self) -> None:
        self._drop_fusion()
        self.phase, self._walkup, self._absent, self._box = Phase.IDLE, None, 0, None

    def hold(self) -> None:
        """Start no transaction until the zone has been empty (e.g. after an opt-out window)."""
        self._drop_fusion()
        self.phase, self._walkup, self._absent, self._box = Phase.DECIDED, None, 0, None

    def _drop_fusion(self) -> None:
        """Zero what the walk-up fused: its transaction is over (decided, abandoned or reset)."""
        if self._fusion is not None:
            self._fusion.wipe()
            self._fusion = None

    def _follows(self, obs: Observation) -> bool:
        """Whether ``obs`` shows the traveller being followed (without boxes: anyone present)."""
        if not obs.present:
            return False
        if obs.box is None or self._box is None:
            return True
        return iou(obs.box, self._box) >= SAME_PERSON_IOU

    def observe(self, obs: Observation) -> Decision | None:
        p = self.params
        if self.phase is Phase.DECIDED:
            if self._follows(obs):
                self._absent = 0
                self._box = obs.box or self._box
            else:
                self._absent += 1
            if self._absent < p.absent_frames_to_reset:
                return None
            self.reset()
            if not obs.present:
                return None
            # Someone else is already in the lane: their walk-up starts with this frame.

        if self.phase is Phase.IDLE:
            if not obs.present:
                return None
            self.phase, self._walkup, self._absent = Phase.ACQUIRING, _Walkup(obs.t), 0
            self._box = obs.box
            self._drop_fusion()
            self._fusion, self.evidence = make_fusion(Fusion(p.fusion)), ()

        w = self._walkup
        assert w is not None
        if not self._follows(obs):  # nobody, or someone other than this traveller
            self._absent += 1
            if self._absent >= p.absent_frames_to_reset:
                # The traveller left undecided: no usable frame means we never acquired them;
                # usable but undecided frames mean the budget ran out.
                outcome = Outcome.FAILURE_TO_ACQUIRE if w.usable == 0 else self._undecided()
                decision = self._finish(outcome, None, obs.t)
                self.reset()  # they are gone already: the next face starts a new walk-up
                return decision
            return self._check_clock(obs.t)
        self._absent = 0
        self._box = obs.box or self._box

        if obs.usable:
            if w.first_usable_at is None:
                w.first_usable_at = obs.t
            fusion = self._fusion
            evidence = obs.candidates if fusion is None else fusion.add(obs.candidates, obs.template, obs.search)
            self.evidence = evidence
            vote = frame_vote(evidence, p)
            best = evidence[0].score if evidence else -1.0
            second = evidence[1].score if len(evidence) > 1 else -1.0
            w.usable += 1
            w.votes[vote] += 1
            if vote not in w.best or best > w.best[vote][0]:
                w.best[vote] = (best, second)
            # Fused evidence already holds every frame: it decides a match on its own, and a no-match
            # only once max_frames frames have been heard (the budget's clock bounds the wait).
            needed = p.votes_required if fusion is None else 1
            if vote is not None and w.votes[vote] >= needed:
                return self._finish(Outcome.MATCH, vote, obs.t)
            if (fusion is None and w.votes[None] >= p.votes_required) or w.usable >= p.max_frames:
                return self._finish(Outcome.NO_MATCH, None, obs.t)
        return self._check_clock(obs.t)

    def _undecided(self) -> Outcome:
        """The outcome when usable frames came but the walk-up ends before a decision. Fused evidence
        of every frame heard stayed below threshold-with-margin: that is a no-match, not a guess.
        Per-frame votes that never agreed are a time-out."""
        return Outcome.TIMEOUT if self._fusion is None else Outcome.NO_MATCH

    def _check_clock(self, now: float) -> Decision | None:
        w = self._walkup
        assert w is not None
        if w.first_usable_at is not None:
            if now - w.first_usable_at >= self.params.budget_s:
                return self._finish(self._undecided(), None, now)
        elif now - w.started_at >= self.params.acquire_timeout_s:
            return self._finish(Outcome.FAILURE_TO_ACQUIRE, None, now)
        return None

    def _finish(self, outcome: Outcome, entry_id: str | None, now: float) -> Decision:
        w = self._walkup
        assert w is not None
        score: float | None
        second: float | None
        if outcome is Outcome.MATCH:
            score, second = w.best[entry_id]
        elif w.best:
            score, second = max(w.best.values())
        else:
            score = second = None
        self.phase, self._absent = Phase.DECIDED, 0
        self._walkup = None
        self._drop_fusion()
        return Decision(
            outcome=outcome,
            entry_id=entry_id,
            score=score,
            runner_up=second,
            frames_used=w.usable,
            started_at=w.started_at,
            first_usable_at=w.first_usable_at,
            decided_at=now,
        )


class OptOutPhase(str, enum.Enum):
    CLEARING = "clearing"  # someone (the previous traveller) is still in the zone
    WAITING = "waiting"  # zone empty; the opted-out traveller has not arrived yet
    PASSING = "passing"  # the opted-out traveller is in the zone
    DONE = "done"


class OptOutWindow:
    """Skips exactly one walk-up, fed with presence only (no crop, no template, no decision).

    An officer opts the *next* traveller out: the zone must first be clear of whoever is there, then
    someone arrives and leaves again; that walk-up is skipped. ``until`` bounds the whole window so a
    traveller who never shows up does not switch the gate off for long.
    """

    def __init__(self, until: float, absent_frames_to_reset: int, zone_busy: bool) -> None:
        self.until = until
        self._absent_needed = absent_frames_to_reset
        self._absent = 0
        self.phase = OptOutPhase.CLEARING if zone_busy else OptOutPhase.WAITING
        self.present_at_end = False

    def observe(self, t: float, present: bool) -> OptOutPhase:
        if self.phase is OptOutPhase.DONE:
            return self.phase
        if t >= self.until:
            self.phase, self.present_at_end = OptOutPhase.DONE, present
            return self.phase
        self._absent = 0 if present else self._absent + 1
        if self.phase is OptOutPhase.CLEARING and self._absent >= self._absent_needed:
            self.phase = OptOutPhase.WAITING
        elif self.phase is OptOutPhase.WAITING and present:
            self.phase = OptOutPhase.PASSING
        elif self.phase is OptOutPhase.PASSING and self._absent >= self._absent_needed:
            self.phase = OptOutPhase.DONE
        return self.phase
