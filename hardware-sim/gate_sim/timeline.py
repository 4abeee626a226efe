"""When each walk-up was in front of the simulated camera: the simulator's ground truth, in time.

The gate knows nothing of walk-ups: its camera delivers images, and it publishes each decision with
the wall-clock time the traveller first appeared (the event's ``started_at``). The simulated camera
notes, for every walk-up it plays, the wall-clock time (``time.time()``) of its first and its last
delivered frame; the demo and the tests hold each event against that record to learn which walk-up
it decided. Nothing here travels to the gate or back.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

# Spans kept: the demo's flight has 15 walk-ups and a soak loops a 20-walk-up flight; a few hundred
# cover any event still in flight while bounding a camera that plays for days.
KEEP_SPANS = 500

# The gate turns a frame's monotonic capture time into wall-clock time for its event; the two
# clocks are read a few microseconds apart, so ``started_at`` can land just before the first frame
# noted here. This much slack absorbs that and stays far below a frame period (8 ms at 120 fps,
# the scenario maximum), so it never reaches into a neighbouring walk-up.
SLACK_S = 0.002


@dataclass(frozen=True)
class WalkupSpan:
    """One play of one walk-up. A looping scenario plays a walk id again: that is another span."""

    walk_id: str
    first: float  # time.time() when its first frame was delivered
    last: float  # ... and its last one (so far, while the walk-up is still playing)


def attribute(t: float, spans: Sequence[WalkupSpan], slack: float = SLACK_S) -> WalkupSpan | None:
    """The walk-up an event that started at wall-clock ``t`` belongs to, or None (before them all).

    The span whose [first, last] contains ``t``; else the nearest one within ``slack`` of ``t``; else
    the latest that started before ``t`` (the gate may decide someone during the empty frames after
    they passed).
    """
    containing = [s for s in spans if s.first <= t <= s.last]
    if containing:
        return max(containing, key=lambda s: s.first)
    near = [s for s in spans if s.first - slack <= t <= s.last + slack]
    if near:
        return min(near, key=lambda s: s.first - t if t < s.first else t - s.last)
    before = [s for s in spans if s.first <= t]
    return max(before, key=lambda s: s.first) if before else None


def event_started_at(event: Mapping[str, Any]) -> float:
    """An event's ``started_at`` (ISO 8601 with a zone, as the gate publishes it) as a Unix time."""
    return datetime.fromisoformat(str(event["started_at"]).replace("Z", "+00:00")).timestamp()


class WalkupTimeline:
    """A bounded record of walk-up spans: the camera's thread writes it, any thread reads it."""

    def __init__(self, keep: int = KEEP_SPANS) -> None:
        self._spans: deque[WalkupSpan] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def note(self, walk_id: str, t: float, first: bool) -> None:
        """A frame of ``walk_id`` delivered at ``t``; ``first`` starts a new span (a new walk-up)."""
        with self._lock:
            if first or not self._spans or self._spans[-1].walk_id != walk_id:
                self._spans.append(WalkupSpan(walk_id, t, t))
            else:
                self._spans[-1] = replace(self._spans[-1], last=t)

    def spans(self) -> list[WalkupSpan]:
        """A snapshot, oldest first."""
        with self._lock:
            return list(self._spans)

    def walkup_at(self, t: float) -> WalkupSpan | None:
        return attribute(t, self.spans())

    def walkup_of(self, event: Mapping[str, Any]) -> str | None:
        """The walk id an event (decoded JSON) decided, by its ``started_at``; None if none fits."""
        span = self.walkup_at(event_started_at(event))
        return span.walk_id if span is not None else None

