"""Attributing the gate's events to walk-ups by time: the pure rule, and the camera's timeline record."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from gate_sim.timeline import SLACK_S, WalkupSpan, WalkupTimeline, attribute, event_started_at

# At 10 fps: w001, three empty frames, then w002, w003 and w004 back to back (one frame period
# apart, no gap), then a looping scenario playing w001 again.
W1 = WalkupSpan("w001", 10.0, 11.0)
W2 = WalkupSpan("w002", 11.4, 12.0)
W3 = WalkupSpan("w003", 12.1, 12.7)
W4 = WalkupSpan("w004", 12.8, 12.8)  # only its first frame delivered so far
W1_AGAIN = WalkupSpan("w001", 20.0, 21.0)
SPANS = [W1, W2, W3, W4, W1_AGAIN]


@pytest.mark.parametrize(
    "t, expected, why",
    [
        (9.99, None, "before the first walk-up: nobody to attribute to"),
        (10.0, W1, "the first frame of a walk-up is in it"),
        (10.5, W1, "inside"),
        (11.0, W1, "the last frame too"),
        (11.2, W1, "a gap frame: the latest walk-up that started before (decided after they left)"),
        (11.39, W1, "still in the gap, a frame period before the next walk-up"),
        (11.4 - SLACK_S / 2, W2, "a hair before the next walk-up's first frame: clock conversion, not the gap"),
        (11.4, W2, "the next walk-up's first frame"),
        (12.0, W2, "back to back: the last frame of one ..."),
        (12.05, W2, "... between the two frames: the one that started before"),
        (12.1, W3, "... the first frame of the next"),
        (12.1 - SLACK_S / 2, W3, "back to back, a hair early: the nearer span"),
        (12.0 + SLACK_S / 2, W2, "back to back, a hair late: the nearer span"),
        (12.8, W4, "a walk-up still playing"),
        (15.0, W4, "long after the last frame: the latest walk-up that started before"),
        (20.5, W1_AGAIN, "a replayed walk id is another span: the later play"),
    ],
)
def test_attribute(t: float, expected: WalkupSpan | None, why: str) -> None:
    assert attribute(t, SPANS) == expected, why


def test_attribute_with_no_spans_and_in_any_order() -> None:
    assert attribute(10.0, []) is None
    assert attribute(11.2, list(reversed(SPANS))) == W1
    assert attribute(12.05, [W3, W1, W2]) == W2


def test_timeline_notes_spans_and_forgets_the_oldest() -> None:
    tl = WalkupTimeline(keep=3)
    tl.note("w001", 1.0, first=True)
    tl.note("w001", 1.1, first=False)
    tl.note("w001", 1.2, first=False)
    tl.note("w002", 1.3, first=True)
    tl.note("w001", 2.0, first=True)  # a looping scenario plays w001 again: a new span
    assert tl.spans() == [WalkupSpan("w001", 1.0, 1.2), WalkupSpan("w002", 1.3, 1.3), WalkupSpan("w001", 2.0, 2.0)]
    tl.note("w003", 3.0, first=True)
    assert [s.first for s in tl.spans()] == [1.3, 2.0, 3.0]  # bounded: the oldest went
    assert tl.walkup_at(1.25) is None  # its walk-up is forgotten, and none started before it remains
    assert tl.walkup_at(2.5) == WalkupSpan("w001", 2.0, 2.0)


def test_timeline_attributes_published_events_by_their_started_at() -> None:
    tl = WalkupTimeline()
    base = datetime(2025, 3, 1, 9, 30, tzinfo=timezone.utc).timestamp()
    tl.note("w001", base, first=True)
    tl.note("w001", base + 1.0, first=False)
    tl.note("w002", base + 1.5, first=True)
    # The gate's events carry ISO 8601 UTC times, with microseconds, as "+00:00" or "Z".
    assert tl.walkup_of({"started_at": "2025-03-01T09:30:00.400000+00:00"}) == "w001"
    assert tl.walkup_of({"started_at": "2025-03-01T09:30:01.200000Z"}) == "w001"
    assert tl.walkup_of({"started_at": "2025-03-01T09:30:01.500000+00:00"}) == "w002"
    assert tl.walkup_of({"started_at": "2025-03-01T09:29:59+00:00"}) is None
    assert event_started_at({"started_at": "2025-03-01T10:30:00.250000+01:00"}) == pytest.approx(base + 0.25)
