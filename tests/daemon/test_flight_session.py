"""The flight-session machine on its own: every lock-out found in review as an explicit transition, and
hypothesis-driven invariants over random event sequences (every received gallery wiped exactly once,
with a reason; a swap only between transactions; a refusal changes nothing)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.daemon.flight_session import (
    MAX_CLOCK_SKEW,
    RETRY_MIN_S,
    Action,
    BuildGallery,
    CancelRequests,
    FlightSession,
    GalleryInfo,
    Refuse,
    RequestGallery,
    SwapIn,
    Wipe,
)
from edge.messaging.schemas import GalleryState

T0 = datetime(2026, 12, 2, 8, 0, tzinfo=timezone.utc)


@dataclass
class Clocks:
    wall: datetime = T0
    mono: float = 1000.0

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds


def session() -> tuple[FlightSession, Clocks]:
    c = Clocks()
    return FlightSession(lambda: c.wall, lambda: c.mono), c


def info(handle: int, flight: str = "F1", expires: timedelta = timedelta(hours=2)) -> GalleryInfo:
    return GalleryInfo(handle, flight, 1, 3, "ab" * 32, T0 + expires)


def of(actions: list[Action], kind: type) -> list:  # type: ignore[type-arg]
    return [a for a in actions if isinstance(a, kind)]


def go_live(s: FlightSession, flight: str = "F1", handle: int = 1, issued: datetime = T0) -> GalleryInfo:
    assert of(s.assignment(flight, None, issued), RequestGallery) == [RequestGallery(flight)]
    s.request_sent(f"req-{handle}")
    g = info(handle, flight)
    assert s.gallery_received(f"req-{handle}", g) == [BuildGallery(g)]
    assert s.gallery_built(handle, 3) == []
    assert s.tick(idle=True) == [SwapIn(g)]
    assert s.state is GalleryState.LIVE
    return g


# ------------------------------------------------------------------------------ the lock-outs
def test_an_assignment_from_the_far_future_is_refused_and_later_ones_still_apply() -> None:
    s, _ = session()
    out = s.assignment("F1", None, datetime(2999, 1, 1, tzinfo=timezone.utc))
    assert len(out) == 1 and isinstance(out[0], Refuse) and out[0].code == "clock_skew"
    assert s.flight is None
    assert of(s.assignment("F2", None, T0), RequestGallery) == [RequestGallery("F2")]


def test_clock_skew_within_the_allowance_is_accepted() -> None:
    s, _ = session()
    assert of(s.assignment("F1", None, T0 + MAX_CLOCK_SKEW - timedelta(seconds=1)), RequestGallery)


def test_a_close_time_in_the_past_is_refused_and_the_corrected_assignment_applies() -> None:
    s, _ = session()
    g = go_live(s)
    out = s.assignment("F1", T0 - timedelta(minutes=1), T0 + timedelta(seconds=1))
    assert [type(a) for a in out] == [Refuse] and out[0].code == "expired"  # type: ignore[union-attr]
    assert s.live == g and s.flight == "F1"  # nothing closed, nothing wiped
    corrected = s.assignment("F1", T0 + timedelta(hours=1), T0 + timedelta(seconds=2))
    assert corrected == [] and s.close_at == T0 + timedelta(hours=1) and s.live == g


def test_a_corrected_assignment_reopens_a_flight_closed_by_its_close_time() -> None:
    s, c = session()
    g = go_live(s)
    s.assignment("F1", T0 + timedelta(minutes=10), T0 + timedelta(seconds=1))
    c.advance(601)
    assert s.tick(idle=True) == [Wipe(g, "flight_close")] and s.flight is None
    assert s.assignment("F1", T0 + timedelta(minutes=10), T0 + timedelta(seconds=1)) == []  # replay: no effect
    assert of(s.assignment("F1", T0 + timedelta(hours=2), c.wall), RequestGallery) == [RequestGallery("F1")]


def test_older_or_conflicting_assignments_are_refused_a_retained_repeat_is_silent() -> None:
    s, _ = session()
    go_live(s, issued=T0)
    assert s.assignment("F1", None, T0) == []
    older = s.assignment("F9", None, T0 - timedelta(seconds=1))
    same_time = s.assignment("F9", None, T0)
    assert [a.code for a in older + same_time] == ["stale_version", "stale_version"]  # type: ignore[union-attr]
    assert s.flight == "F1" and s.state is GalleryState.LIVE


def test_a_wrong_or_failed_gallery_is_retried_with_back_off() -> None:
    s, c = session()
    s.assignment("F1", None, T0)
    s.request_sent("r1")
    assert s.gallery_failed("r1") == [] and s.state is GalleryState.REQUESTED
    c.advance(RETRY_MIN_S - 0.1)
    assert s.tick(idle=True) == []
    c.advance(0.2)
    assert s.tick(idle=True) == [RequestGallery("F1")]
    s.request_sent("r2")
    s.gallery_failed("r2")
    c.advance(RETRY_MIN_S + 0.1)
    assert s.tick(idle=True) == []  # the back-off doubled
    c.advance(RETRY_MIN_S)
    assert s.tick(idle=True) == [RequestGallery("F1")]


def test_a_gallery_for_another_flight_or_request_is_wiped_not_loaded() -> None:
    s, _ = session()
    s.assignment("F1", None, T0)
    s.request_sent("r1")
    stray = info(7, "F2")
    assert s.gallery_received("r1", stray) == [Wipe(stray, "flight_close")]
    assert s.gallery_received("other", info(8)) == [Wipe(info(8), "flight_close")]
    assert s.request_id == "r1"


def test_a_swap_waits_for_the_transaction_to_end() -> None:
    s, _ = session()
    old = go_live(s)
    s.assignment("F2", None, T0 + timedelta(seconds=1))  # closes F1 (wiped), requests F2
    assert s.live is None
    s.request_sent("r2")
    new = info(2, "F2")
    s.gallery_received("r2", new)
    s.gallery_built(2, 3)
    assert s.tick(idle=False) == [] and s.state is GalleryState.LOADING
    assert s.tick(idle=True) == [SwapIn(new)]
    assert old != new


def test_a_gallery_still_building_when_its_flight_closes_is_wiped_when_it_comes_back() -> None:
    s, _ = session()
    s.assignment("F1", None, T0)
    s.request_sent("r1")
    g = info(1)
    s.gallery_received("r1", g)
    assert s.close_command(None) == ([], None)
    assert s.state is GalleryState.NONE
    assert s.gallery_built(1, 2) == [Wipe(GalleryInfo(1, "F1", 1, 2, g.sha256, g.expires_at), "flight_close")]


def test_close_command_names_the_flight_and_wipe_command_ends_it() -> None:
    s, _ = session()
    g = go_live(s)
    actions, refusal = s.close_command("OTHER")
    assert actions == [] and refusal is not None and "OTHER" in refusal
    assert s.wipe_command() == [Wipe(g, "command")]
    assert s.assignment("F1", None, T0) == []  # the retained assignment does not fetch it straight back


def test_expiry_and_shutdown_wipe() -> None:
    s, c = session()
    g = go_live(s)
    c.advance(2 * 3600)
    assert s.tick(idle=True) == [Wipe(g, "expiry")]
    s2, _ = session()
    g2 = go_live(s2)
    assert s2.shutdown() == [Wipe(g2, "shutdown")]


def test_a_new_flight_cancels_the_outstanding_request() -> None:
    s, _ = session()
    s.assignment("F1", None, T0)
    s.request_sent("r1")
    out = s.assignment("F2", None, T0 + timedelta(seconds=1))
    assert out == [CancelRequests(), RequestGallery("F2")]


# ------------------------------------------------------------------------------ invariants
@dataclass
class Harness:
    """Plays the daemon's part: sends requests, delivers galleries, builds them, counts wipes."""

    s: FlightSession
    c: Clocks
    received: set[int] = field(default_factory=set)
    wiped: dict[int, int] = field(default_factory=dict)
    building: list[int] = field(default_factory=list)
    next_handle: int = 0
    next_request: int = 0
    live: int | None = None

    def apply(self, actions: list[Action], idle: bool) -> None:
        for a in actions:
            if isinstance(a, RequestGallery):
                self.next_request += 1
                self.s.request_sent(f"r{self.next_request}")
            elif isinstance(a, BuildGallery):
                assert a.gallery.handle in self.received
                self.building.append(a.gallery.handle)
            elif isinstance(a, SwapIn):
                assert idle, "a gallery was swapped in during a transaction"
                self.live = a.gallery.handle
            elif isinstance(a, Wipe):
                assert a.gallery.handle in self.received, "wiped a gallery never received"
                self.wiped[a.gallery.handle] = self.wiped.get(a.gallery.handle, 0) + 1
                if self.live == a.gallery.handle:
                    self.live = None


EVENTS = st.one_of(
    st.tuples(st.just("assign"), st.sampled_from(["F1", "F2", None]), st.integers(-3, 30), st.booleans()),
    st.tuples(st.just("assign_future"), st.sampled_from(["F1", "F2"])),
    st.tuples(st.just("deliver"), st.booleans()),
    st.tuples(st.just("deliver_and_build")),
    st.tuples(st.just("fail")),
    st.tuples(st.just("build"), st.booleans()),
    st.tuples(st.just("tick"), st.booleans(), st.integers(0, 4000)),
    st.tuples(st.just("wipe_cmd")),
    st.tuples(st.just("close_cmd"), st.sampled_from(["F1", "F2", None])),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(EVENTS, max_size=40))
def test_every_received_gallery_is_wiped_exactly_once_and_refusals_change_nothing(events: list) -> None:  # type: ignore[type-arg]
    s, c = session()
    h = Harness(s, c)
    for ev in events:
        before = copy.deepcopy(s.__dict__)
        idle = True
        kind = ev[0]
        if kind == "assign":
            _, flight, offset, closes = ev
            close = c.wall + timedelta(seconds=60 * offset) if closes else None
            out = s.assignment(flight, close, T0 + timedelta(seconds=offset))
        elif kind == "assign_future":
            out = s.assignment(ev[1], None, c.wall + MAX_CLOCK_SKEW + timedelta(days=365))
        elif kind == "deliver":
            h.next_handle += 1
            h.received.add(h.next_handle)
            flight = s.flight if ev[1] and s.flight else "STRAY"
            out = s.gallery_received(s.request_id or "none", info(h.next_handle, flight))
        elif kind == "deliver_and_build":  # the common path in one step, so that examples reach it often
            h.next_handle += 1
            h.received.add(h.next_handle)
            out = s.gallery_received(s.request_id or "none", info(h.next_handle, s.flight or "STRAY"))
            h.apply(out, idle)
            out = s.gallery_built(h.building.pop(), 3) if h.building and h.building[-1] == h.next_handle else []
        elif kind == "fail":
            out = s.gallery_failed(s.request_id or "none")
        elif kind == "build":
            if not h.building:
                continue
            handle = h.building.pop(0)
            out = s.gallery_built(handle, 2) if ev[1] else s.gallery_build_failed(handle)
        elif kind == "tick":
            idle = ev[1]
            c.advance(ev[2])
            out = s.tick(idle)
        elif kind == "wipe_cmd":
            out = s.wipe_command()
        else:
            out, _ = s.close_command(ev[1])
        if any(isinstance(a, Refuse) for a in out):
            assert len(out) == 1 and s.__dict__ == before, "a refused message changed the session"
        h.apply(out, idle)
        assert sum(g is not None for g in (s.live, s.ready, s.loading)) <= 3
        assert s.state in GalleryState
    # The builder hands back whatever it still holds, then the gate shuts down.
    for handle in h.building:
        h.apply(s.gallery_built(handle, 1), idle=True)
    h.apply(s.shutdown(), idle=True)
    assert h.wiped == {handle: 1 for handle in h.received}


def test_after_a_restart_the_retained_assignment_applies_and_older_ones_do_not() -> None:
    c = Clocks()
    s = FlightSession(lambda: c.wall, lambda: c.mono, floor=T0)  # the floor kept on disk
    older = s.assignment("F0", None, T0 - timedelta(seconds=1))
    assert [a.code for a in older] == ["stale_version"]  # type: ignore[union-attr]
    assert of(s.assignment("F1", None, T0), RequestGallery) == [RequestGallery("F1")]  # the one in force
    assert s.floor == T0


def test_a_flight_assignment_a_day_old_is_a_replay() -> None:
    s, _ = session()
    out = s.assignment("F1", None, T0 - timedelta(hours=25))
    assert [a.code for a in out] == ["expired"] and s.flight is None  # type: ignore[union-attr]
    assert s.assignment(None, None, T0 - timedelta(hours=25)) == []  # "no flight here" may be old
