"""What a running gate counts about itself: frames, stage latencies, decisions, quality rejections, and
the state of its camera, broker link, outbox and gallery. No biometric data: numbers and states only.

One :class:`GateMetrics` per gate. The daemon's loop writes it (each frame, each decision, and once a
second the gauges it alone may read: the outbox lives in SQLite on the loop's thread); anyone else
(the Prometheus adapter's HTTP thread, edge/system/prometheus.py) reads a consistent copy with
:meth:`GateMetrics.snapshot`. Telemetry is filled from the same object, so the endpoint and the
telemetry message always agree. Plain Python: the metrics library lives only in the adapter.
"""

from __future__ import annotations

import bisect
import collections
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from edge.camera.base import Health
from edge.core.analyse import FrameAnalysis
from edge.core.decide import Outcome
from edge.core.quality import QualityIssue
from edge.messaging.schemas import GalleryState
from edge.system.prometheus import Family, Series

if TYPE_CHECKING:  # reports imports this module; the view is only read here
    from edge.daemon.reports import GateView

# Per-stage latency: what the core times per frame, the decision machine's step, and end to end
# (first usable frame to the event, the figure the decision budget bounds).
FRAME_STAGES = ("detect", "align", "quality", "embed", "search")
STAGES = (*FRAME_STAGES, "decide", "e2e")
# Histogram bucket upper bounds, in milliseconds: a detector run on a Pi is tens of ms, a decision
# budget up to 10 s.
LATENCY_BUCKETS_MS = (1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0)
RATE_WINDOW_S = 10.0  # the frame rate is frames taken over the last this many seconds
REFRESH_EVERY_S = 1.0  # how often the loop copies its gauges for the readers
THERMAL_ROOT = Path("/sys/class/thermal")


def percentiles(values: list[float] | collections.deque[float], qs: tuple[float, ...] = (50, 95)) -> list[float | None]:
    if not values:
        return [None for _ in qs]
    arr = np.fromiter(values, float)
    return [round(float(np.percentile(arr, q)), 2) for q in qs]


@dataclass
class Histogram:
    """Counts per bucket (not cumulative), their sum and count, in the unit observed (ms)."""

    bounds: tuple[float, ...] = LATENCY_BUCKETS_MS
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0
    recent: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=1000))

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1
        self.recent.append(value)

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations at or below it) per bucket, +Inf last: Prometheus's ``le`` form."""
        out, running = [], 0
        for bound, n in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out


@dataclass(frozen=True)
class HostReadings:
    rss_bytes: int | None
    temperatures_c: dict[str, float]  # thermal zone type -> degrees Celsius, those readable
    uptime_s: float


@dataclass(frozen=True)
class MetricsSnapshot:
    """Everything a scrape shows, copied under the lock (safe to read from any thread)."""

    frames_in: int
    frames_dropped: int
    frames_analysed: int
    frames_faces_ignored: int
    frame_rate_fps: float
    stages: dict[str, Histogram]
    transactions: int
    outcomes: dict[str, int]
    quality_rejections: dict[str, int]
    outbox_depth: int
    broker_connected: bool
    camera_health: str
    camera_reconnects: int
    gallery_state: str
    gallery_entries: int
    host: HostReadings


def _copy(h: Histogram) -> Histogram:
    c = Histogram(h.bounds)
    c.counts, c.total, c.count = list(h.counts), h.total, h.count
    c.recent = collections.deque(h.recent, maxlen=h.recent.maxlen)
    return c


@dataclass
class GateMetrics:
    """Since start. Names follow ISO/IEC 19795 where a term exists (non-match, failure to acquire)."""

    transactions: int = 0
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    frames: int = 0  # taken from the camera by the loop
    frames_analysed: int = 0  # analysed for a transaction (a gallery live, not paused, no opt-out window)
    # Faces seen but no traveller: every face outside the capture zone or narrower than quality.min_face_px.
    frames_faces_ignored: int = 0
    quality_rejections: collections.Counter[str] = field(default_factory=collections.Counter)
    stages: dict[str, Histogram] = field(default_factory=lambda: {s: Histogram() for s in STAGES})
    clock: Callable[[], float] = time.monotonic
    # Gauges the loop copies in (refresh): read by other threads only through snapshot().
    outbox_depth: int = 0
    broker_connected: bool = False
    camera_health: str = Health.STARTING.value
    camera_reconnects: int = 0
    frames_dropped: int = 0
    gallery_state: str = GalleryState.NONE.value
    gallery_entries: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._started = self.clock()
        self._recent_frames: collections.deque[float] = collections.deque()
        self._next_refresh = self._started

    # ------------------------------------------------------------------ written by the loop
    def frame_in(self) -> None:
        now = self.clock()
        with self._lock:
            self.frames += 1
            self._recent_frames.append(now)
            self._trim(now)

    def analysed(self, analysis: FrameAnalysis, decide_ms: float) -> None:
        """One frame through the core and the decision machine: its stage timings and its verdict."""
        with self._lock:
            self.frames_analysed += 1
            for stage in FRAME_STAGES:
                if stage in analysis.timings_ms:
                    self.stages[stage].observe(analysis.timings_ms[stage])
            self.stages["decide"].observe(decide_ms)
            if analysis.traveller is None and analysis.faces:
                self.frames_faces_ignored += 1
            if analysis.quality is not None:
                self.quality_rejections.update(issue.value for issue in analysis.quality.issues)

    def record(self, outcome: Outcome, latency_ms: float | None) -> None:
        with self._lock:
            if outcome is not Outcome.OPT_OUT:
                self.transactions += 1
            self.outcomes[outcome.value] += 1
            if latency_ms is not None:
                self.stages["e2e"].observe(latency_ms)

    def refresh_due(self) -> bool:
        """True at most once every REFRESH_EVERY_S: time for the loop to call :meth:`refresh`."""
        now = self.clock()
        if now < self._next_refresh:
            return False
        self._next_refresh = now + REFRESH_EVERY_S
        return True

    def refresh(self, view: GateView, link_counters: Mapping[str, int]) -> None:
        """Copy the gauges only the loop may read (the outbox, the session, the camera's stats)."""
        state = view.session.state
        if state is GalleryState.LIVE and view.live is not None:
            entries = view.live.entries
        elif state is GalleryState.LOADING:
            entries = view.progress.total
        else:
            entries = 0
        with self._lock:
            self.outbox_depth = int(link_counters.get("outbox_depth", 0))
            self.broker_connected = view.broker == "connected"
            self.camera_health = view.source.health.value
            self.camera_reconnects = view.source.stats.reconnects
            self.frames_dropped = view.source.stats.dropped
            self.gallery_state = state.value
            self.gallery_entries = entries

    @property
    def latency_ms(self) -> collections.deque[float]:
        """The last end-to-end latencies (the e2e histogram's recent window); the loop's thread only."""
        return self.stages["e2e"].recent

    # ------------------------------------------------------------------ read by anyone
    def frame_rate(self) -> float:
        """Frames taken per second over the last RATE_WINDOW_S (fewer since start: over that time)."""
        now = self.clock()
        with self._lock:
            self._trim(now)
            window = min(RATE_WINDOW_S, now - self._started)
            return round(len(self._recent_frames) / window, 2) if window > 0 else 0.0

    def uptime_s(self) -> float:
        return round(self.clock() - self._started, 3)

    def snapshot(self) -> MetricsSnapshot:
        rate = self.frame_rate()
        host = HostReadings(resident_memory_bytes(), cpu_temperatures(), self.uptime_s())
        with self._lock:
            return MetricsSnapshot(
                frames_in=self.frames, frames_dropped=self.frames_dropped, frames_analysed=self.frames_analysed,
                frames_faces_ignored=self.frames_faces_ignored, frame_rate_fps=rate,
                stages={k: _copy(h) for k, h in self.stages.items()}, transactions=self.transactions,
                outcomes={o.value: self.outcomes[o.value] for o in Outcome},
                quality_rejections={q.value: self.quality_rejections[q.value] for q in QualityIssue},
                outbox_depth=self.outbox_depth, broker_connected=self.broker_connected,
                camera_health=self.camera_health, camera_reconnects=self.camera_reconnects,
                gallery_state=self.gallery_state, gallery_entries=self.gallery_entries, host=host)

    def telemetry_fields(self) -> dict[str, Any]:
        """The telemetry message's share of these figures (fields of edge.messaging.schemas.Telemetry)."""
        s = self.snapshot()
        stages = {}
        for name, h in s.stages.items():
            p50, p95 = percentiles(h.recent)
            stages[name] = {"p50": p50, "p95": p95, "count": h.count}
        return {"frame_rate_fps": s.frame_rate_fps, "quality_rejections": s.quality_rejections,
                "stage_latency_ms": stages, "rss_bytes": s.host.rss_bytes,
                "cpu_temperature_c": max(s.host.temperatures_c.values(), default=None),
                "uptime_s": s.host.uptime_s}

    def _trim(self, now: float) -> None:
        while self._recent_frames and self._recent_frames[0] < now - RATE_WINDOW_S:
            self._recent_frames.popleft()


# --------------------------------------------------------------------------- the endpoint's view
def families(m: GateMetrics, gate_id: str, version: str) -> list[Family]:
    """Every metric of docs/metrics-and-aiming.md, from one snapshot (so a scrape is consistent)."""
    s = m.snapshot()

    def one(name: str, kind: Literal["counter", "gauge"], text: str, value: float) -> Family:
        return Family(name, kind, text, (Series(value=value),))

    def by(name: str, kind: Literal["counter", "gauge"], text: str, label: str,
           values: Mapping[str, float]) -> Family:
        return Family(name, kind, text, tuple(Series(((label, k),), float(v)) for k, v in values.items()))

    def flags(current: str, states: list[str]) -> dict[str, float]:
        return {state: float(state == current) for state in states}

    latency = tuple(
        Series((("stage", stage),), buckets=tuple((b / 1e3, n) for b, n in h.cumulative()), total=h.total / 1e3)
        for stage, h in s.stages.items())
    out = [
        Family("gate_edge_info", "gauge", "the gate and its software version (always 1)",
               (Series((("gate", gate_id), ("version", version)), 1.0),)),
        one("gate_edge_frames_in", "counter", "frames the gate took from the camera", s.frames_in),
        one("gate_edge_frames_dropped", "counter", "frames the camera delivered that the gate never took "
            "(overwritten while it was busy)", s.frames_dropped),
        one("gate_edge_frames_analysed", "counter", "frames analysed for a transaction (detection onwards; "
            "a gallery live, not paused, no opt-out window running)", s.frames_analysed),
        one("gate_edge_frames_faces_ignored", "counter", "analysed frames with faces but no traveller (every face "
            "outside the capture zone or narrower than quality.min_face_px)", s.frames_faces_ignored),
        one("gate_edge_frame_rate_fps", "gauge", "frames taken per second over the last 10 s", s.frame_rate_fps),
        Family("gate_edge_stage_latency_seconds", "histogram", "time per stage: detect, align, quality, embed, "
               "search and decide per frame; e2e from a traveller's first usable frame to the event", latency),
        by("gate_edge_decisions", "counter", "decision events by outcome", "outcome", s.outcomes),
        one("gate_edge_transactions", "counter", "decided walk-ups (every outcome but opt_out)", s.transactions),
        one("gate_edge_failures_to_acquire", "counter", "walk-ups that ended with no usable capture",
            s.outcomes[Outcome.FAILURE_TO_ACQUIRE.value]),
        by("gate_edge_quality_rejections", "counter", "traveller frames refused by the quality gate, by reason "
           "(a frame may have several)", "reason", s.quality_rejections),
        one("gate_edge_outbox_depth", "gauge", "events and reports waiting to reach the broker", s.outbox_depth),
        one("gate_edge_broker_connected", "gauge", "1 while connected to the broker", float(s.broker_connected)),
        by("gate_edge_camera_health", "gauge", "1 for the camera's current health", "state",
           flags(s.camera_health, [h.value for h in Health])),
        one("gate_edge_camera_reconnects", "counter", "times the camera was reopened after a failure",
            s.camera_reconnects),
        by("gate_edge_gallery_state", "gauge", "1 for the gallery's current state", "state",
           flags(s.gallery_state, [g.value for g in GalleryState])),
        one("gate_edge_gallery_entries", "gauge", "travellers in the live gallery (while loading: to load)",
            s.gallery_entries),
        one("gate_edge_uptime_seconds", "gauge", "seconds since the gate started", s.host.uptime_s),
        by("gate_edge_cpu_temperature_celsius", "gauge", "each readable thermal zone, by its type", "sensor",
           s.host.temperatures_c),
    ]
    if s.host.rss_bytes is not None:
        out.append(one("gate_edge_resident_memory_bytes", "gauge", "resident memory of the gate process",
                       s.host.rss_bytes))
    return out


# --------------------------------------------------------------------------- the host
def resident_memory_bytes(statm: Path = Path("/proc/self/statm")) -> int | None:
    """This process's resident set size, or None where /proc is not there."""
    try:
        pages = int(statm.read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def cpu_temperatures(root: Path = THERMAL_ROOT) -> dict[str, float]:
    """Each readable thermal zone's temperature in °C, by its type (``cpu-thermal`` on a Pi,
    ``x86_pkg_temp`` on a PC, ``CPU-therm`` on a Jetson); zones of the same type get a suffix."""
    out: dict[str, float] = {}
    try:
        zones = sorted(root.glob("thermal_zone*"))
    except OSError:
        return out
    for zone in zones:
        try:
            kind = zone.joinpath("type").read_text().strip() or zone.name
            millidegrees = int(zone.joinpath("temp").read_text().strip())
        except (OSError, ValueError):
            continue  # some zones refuse reads (EINVAL, EPERM) or are absent in containers
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", kind)[:64]
        if name in out:
            name = f"{name}_{zone.name.removeprefix('thermal_zone')}"
        out[name] = millidegrees / 1000.0
    return out
