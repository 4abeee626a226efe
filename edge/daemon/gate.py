"""The composition root: the one place that wires camera, models, core, MQTT link and systemd.

Threads: the capture worker (camera -> newest-frame slot), paho's network thread (enqueue only),
the gallery loader (embeds gallery photos off the frame loop) and the main loop here, which owns
all state: it takes frames, runs the core, publishes decisions, and applies inbound messages,
gallery swaps and config changes *between* transactions. Nothing imports this module.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from edge import __version__
from edge.camera.base import FrameSource, Health
from edge.config.errors import ConfigError
from edge.config.load import classify_change, merge_desired, validate
from edge.config.schema import GateConfig
from edge.config.store import LastKnownGood, StoredDesired
from edge.core.analyse import FrameAnalyser
from edge.core.decide import Decision, DecisionMachine, DecisionParams, OptOutPhase, OptOutWindow, Outcome, Phase
from edge.core.detect import DetectorParams
from edge.core.quality import QualityParams
from edge.core.wipe import wiped
from edge.daemon.gallery_loader import GalleryLoader, LiveGallery
from edge.daemon.metrics import GateMetrics, percentiles
from edge.inference.onnx_runtime import FaceModels, load_face_models
from edge.messaging.client import MessagingError
from edge.messaging.intake import AssignmentUpdate, CommandItem, ConfigUpdate
from edge.messaging.link import GalleryFailed, GalleryReady, GateLink
from edge.messaging.schemas import (
    CommandReply,
    ConfigIssue,
    ConfigReported,
    Event,
    GallerySummary,
    LatencySummary,
    Status,
    Telemetry,
    TelemetryCounters,
    WipeAttestation,
)
from edge.system.logsetup import setup_logging
from edge.system.systemd import Notifier, Watchdog, default_notifier

log = logging.getLogger("edge.daemon.gate")

GALLERY_RETRY_S = 5.0


def detector_params(cfg: GateConfig) -> DetectorParams:
    d = cfg.detection
    return DetectorParams(d.input_width, d.score_threshold, d.nms_threshold, d.top_k)


def quality_params(cfg: GateConfig) -> QualityParams:
    return QualityParams(**cfg.quality.model_dump())


def decision_params(cfg: GateConfig) -> DecisionParams:
    return DecisionParams(**cfg.decision.model_dump())


def _utc(mono: float) -> datetime:
    """A monotonic timestamp as wall-clock UTC (events carry wall time, the core works in monotonic)."""
    return datetime.now(timezone.utc) - timedelta(seconds=time.monotonic() - mono)


def _score(value: float | None) -> float | None:
    return None if value is None else round(max(-1.0, min(1.0, value)), 4)


class GateDaemon:
    """One gate. ``run()`` blocks until ``stop()`` (or SIGTERM), then wipes and disconnects."""

    def __init__(
        self,
        cfg: GateConfig,
        base_raw: dict[str, Any] | None = None,
        *,
        stored: StoredDesired | None = None,
        source: FrameSource | None = None,
        models: FaceModels | None = None,
        link: GateLink | None = None,
        notifier: Notifier | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self._base_raw = base_raw if base_raw is not None else cfg.model_dump(exclude={"version"})
        self._fleet_doc = stored.fleet if stored else None
        self._gate_doc = stored.gate if stored else None
        self._lkg = LastKnownGood(cfg.state_dir)
        self._stop = threading.Event()
        self._notifier = notifier or default_notifier()
        self._on_event = on_event
        self.metrics = GateMetrics()

        self._status("loading and warming up the face models")
        width, height = getattr(cfg.camera, "width", 1280), getattr(cfg.camera, "height", 720)
        self.models = models or load_face_models(cfg.models, detector_params(cfg), frame_size=(width, height))
        self.analyser = FrameAnalyser(self.models.detector, self.models.embedder, quality_params(cfg),
                                      cfg.detection.capture_zone)
        self.machine = DecisionMachine(decision_params(cfg))
        if source is None:
            from edge.camera.factory import create_source

            source = create_source(cfg.camera, cfg.capture)
        self.source = source
        self.link = link or GateLink(
            cfg.gate_id, cfg.mqtt, cfg.state_dir,
            embedder_id=self.models.embedder_id, embedder_dim=self.models.embedding_dim,
            outbox_max=cfg.outbox.max_events, max_photo_bytes=cfg.gallery.max_photo_bytes,
            max_gallery_entries=cfg.gallery.max_entries, gallery_timeout_s=cfg.gallery.request_timeout_s,
            telemetry_expiry_s=int(cfg.telemetry.interval_s * 2) + 1,
        )
        self.link.set_expectations(applied_config_version=cfg.version)
        self.loader = GalleryLoader(self.analyser, lambda: self.cfg.gallery.exact_max_entries)
        stale = max(cfg.capture.stall_timeout_s, 5.0)
        self.watchdog = Watchdog(stale_after=stale, notifier=self._notifier)

        self.gallery: LiveGallery | None = None
        self._flight: str | None = None  # the flight assigned to this gate
        self._close_at: datetime | None = None
        self._assignment_at: datetime | None = None  # issued_at of the assignment in force
        self._closed_flights: set[str] = set()
        self._gallery_state = "none"
        self._retry_at: float | None = None
        self._paused = False
        self._opt_out: OptOutWindow | None = None
        self._pending_cfg: GateConfig | None = None
        self._stages: dict[str, float] = {}
        self._ready_sent = False
        self._frame_errors = 0
        self._last_health: Health | None = None
        self._next_telemetry = time.monotonic() + cfg.telemetry.interval_s
        self._systemd_status = ""  # the last STATUS= text sent
        self._progress_shown = -1  # gallery entries loaded, as last published in the status

    # ------------------------------------------------------------------ lifecycle
    def stop(self) -> None:
        self._stop.set()

    def run(self) -> int:
        self.source.start()
        self.link.start()
        self._publish_status()
        self._status("waiting for the camera's first frame")
        try:
            while not self._stop.is_set():
                self.watchdog.beat()
                self.watchdog.tick()
                try:
                    self._between_transactions()
                except Exception:  # a bug in housekeeping must not stop the frame loop
                    log.exception("housekeeping between transactions failed")
                frame = self.source.latest(timeout=0.1)
                self._watch_camera()
                if frame is None:
                    if getattr(self.source, "finished", False):
                        log.info("the camera source ended")
                        break
                    continue
                if not self._ready_sent:
                    self._notifier.notify("READY=1", "STATUS=" + self._summary())
                    self._ready_sent = True
                    log.info("ready: models warm, camera delivering frames")
                try:
                    self._handle_frame(frame)
                except Exception:
                    # One frame that breaks the pipeline (the frame is already wiped) must not stop the
                    # gate: the traveller's transaction starts over; repeated failures show in the log.
                    self._frame_errors += 1
                    self.machine.reset()
                    log.exception("frame %d could not be processed (%d so far)", frame.seq, self._frame_errors)
        finally:
            self._shutdown()
        return 0

    def _shutdown(self) -> None:
        self._notifier.notify("STOPPING=1", "STATUS=stopping: wiping the gallery and flushing events")
        self._wipe_gallery("shutdown")
        with contextlib.suppress(Exception):
            self.source.stop()
        self.loader.stop()
        self.link.stop(flush_timeout=3.0)
        log.info("stopped; %d transactions", self.metrics.transactions)

    def _status(self, text: str) -> None:
        self._notifier.notify("STATUS=" + text)

    def _summary(self) -> str:
        g = self.gallery
        if g is not None:
            gallery = f"flight {g.flight_id} ({g.entries} travellers)"
        elif self._gallery_state == "loading":
            p = self.loader.progress
            gallery = f"loading the gallery of flight {p.flight_id}: {p.done}/{p.total}"
        else:
            gallery = f"no gallery ({self._gallery_state})"
        camera = self.source.health.value
        state = "paused" if self._paused else "boarding" if g else "idle"
        return f"{state}: {gallery}; camera {camera}; {self.metrics.transactions} transactions"

    # ------------------------------------------------------------------ frames
    def _handle_frame(self, frame: Any) -> None:
        self.metrics.frames += 1
        with wiped() as scratch:
            scratch.track(frame.image)
            now = frame.timestamp
            if self._paused or self.gallery is None:
                return  # nothing to match against, or an officer paused the gate: frames are dropped
            window = self._opt_out
            if window is not None and self.machine.phase is not Phase.ACQUIRING:
                # Presence only: the opted-out traveller is detected (to know when they have passed)
                # but never aligned, embedded, searched or decided.
                seen = self.analyser.analyse(frame.image, None, scratch, embed=False).traveller is not None
                if window.observe(now, seen) is OptOutPhase.DONE:
                    self._opt_out = None
                    if window.present_at_end:
                        self.machine.hold()  # the window ran out with someone there: let them leave first
                    else:
                        self.machine.reset()
                return
            embed = self.machine.wants_embedding
            analysis = self.analyser.analyse(frame.image, self.gallery.index, scratch, embed=embed)
            if analysis.usable or not self._stages:
                self._stages = analysis.timings_ms
            decision = self.machine.observe(analysis.observation(now, frame.tag))
        if decision is not None:
            self._publish_decision(decision)

    def _publish_decision(self, d: Decision) -> None:
        gallery = self.gallery
        latency = {k: round(v, 2) for k, v in self._stages.items()}
        started = d.first_usable_at if d.first_usable_at is not None else d.started_at
        event = Event(
            gate=self.cfg.gate_id,
            flight_id=gallery.flight_id if gallery else None,
            transaction_id=uuid.uuid4().hex[:20],
            outcome=d.outcome.value,
            matched_id=d.entry_id,
            score=_score(d.score),
            runner_up_score=_score(d.runner_up),
            frames_used=d.frames_used,
            latency_ms=latency,
            started_at=_utc(d.started_at),
            decided_at=_utc(d.decided_at),
            config_version=self.cfg.version,
            gallery_version=gallery.version if gallery else None,
            source_tag=d.tag,
        )
        total = (time.monotonic() - started) * 1e3
        event.latency_ms["total"] = round(total, 2)
        stored = self.link.publish_event(event)
        self._stages = {}
        self.metrics.record(d.outcome, total)
        log.info("transaction %s: %s (score %s, %d frames, %.0f ms)", event.transaction_id, d.outcome.value,
                 event.score, d.frames_used, total)
        if self._on_event:
            self._on_event(stored)

    def _watch_camera(self) -> None:
        health = self.source.health
        if health != self._last_health:
            if health is Health.DEGRADED:
                log.warning("camera degraded: %s", self.source.stats.last_error or "no frames")
            elif health is Health.OK and self._last_health is not None:
                log.info("camera delivering frames again")
            self._last_health = health
            self._publish_status()

    # ------------------------------------------------------------------ between transactions
    def _between_transactions(self) -> None:
        for item in self.link.poll(0.0):
            try:
                self._apply(item)
            except Exception:  # one message must never stop the gate
                log.exception("handling %s failed", type(item).__name__)
        # Config changes and gallery swaps wait while a traveller's transaction is under way: one
        # transaction is decided with one config against one gallery.
        if self.machine.phase is not Phase.ACQUIRING:
            if self._pending_cfg is not None:
                pending, self._pending_cfg = self._pending_cfg, None
                self._apply_live(pending)
            built = self.loader.take()
            if isinstance(built, Exception):
                self._gallery_state = "none"
                self._retry_at = time.monotonic() + GALLERY_RETRY_S
            elif built is not None:
                self._swap_gallery(built)  # the swap itself resets the decision machine
        self._check_clock()
        if time.monotonic() >= self._next_telemetry:
            self._publish_telemetry()
        if self._gallery_state == "loading" and self.loader.progress.done != self._progress_shown:
            self._progress_shown = self.loader.progress.done
            self._publish_status()  # operators watch a large gallery load entry by entry
        summary = self._summary()
        if summary != self._systemd_status:
            self._systemd_status = summary
            self._status(summary)

    def _check_clock(self) -> None:
        now = datetime.now(timezone.utc)
        g = self.gallery
        if g is not None and g.expires_at <= now:
            log.info("gallery of flight %s expired", g.flight_id)
            self._wipe_gallery("expiry")
        if self._close_at is not None and now >= self._close_at and self._flight:
            log.info("flight %s reached its close time", self._flight)
            self._close_flight()
        if self._retry_at is not None and time.monotonic() >= self._retry_at:
            self._retry_at = None
            self._request_gallery()

    def _swap_gallery(self, live: LiveGallery) -> None:
        if live.flight_id != self._flight or live.flight_id in self._closed_flights:
            log.info("discarding gallery of flight %s: no longer assigned", live.flight_id)
            live.wipe()
            return
        self._wipe_gallery("replaced")
        self.gallery = live
        self._gallery_state = "live"
        self.machine.reset()
        log.info("gallery live: flight %s v%d, %d travellers (%d failed to enrol)", live.flight_id, live.version,
                 live.entries, len(live.failed_ids))
        self._publish_status()

    def _wipe_gallery(self, reason: str) -> None:
        g = self.gallery
        if g is None:
            return
        self.gallery = None
        self._gallery_state = "none"
        entries = g.wipe()
        self.machine.reset()
        self.link.publish_wipe(WipeAttestation(gate=self.cfg.gate_id, flight_id=g.flight_id,
                                               gallery_version=g.version, entries_wiped=entries,
                                               reason=reason, received_sha256=g.sha256))
        log.info("gallery of flight %s wiped (%s): %d entries", g.flight_id, reason, entries)
        self._publish_status()

    def _close_flight(self) -> None:
        if self._flight:
            self._closed_flights.add(self._flight)
        self._flight, self._close_at, self._retry_at = None, None, None
        self.link.cancel_gallery_requests()
        self._wipe_gallery("flight_close")

    def _request_gallery(self) -> None:
        if self._flight is None:
            return
        try:
            self.link.request_gallery(self._flight)
        except MessagingError as exc:  # offline right now: the retry comes after the back-off
            log.warning("cannot request the gallery of flight %s yet: %s", self._flight, exc)
            self._retry_at = time.monotonic() + GALLERY_RETRY_S
            return
        self._gallery_state = "requested"
        log.info("requested the gallery of flight %s", self._flight)
        self._publish_status()

    # ------------------------------------------------------------------ inbound
    def _apply(self, item: object) -> None:
        if isinstance(item, AssignmentUpdate):
            self._on_assignment(item)
        elif isinstance(item, GalleryReady):
            if item.flight_id != self._flight:
                item.gallery.wipe()
                return
            log.info("gallery of flight %s received: %d entries; embedding", item.flight_id, len(item.gallery))
            self._gallery_state = "loading"
            self.loader.submit(item.gallery)
            self._publish_status()
        elif isinstance(item, GalleryFailed):
            log.warning("gallery of flight %s failed: %s; retrying in %.0f s", item.flight_id, item.reason,
                        GALLERY_RETRY_S)
            self._gallery_state = "none"
            self._retry_at = time.monotonic() + GALLERY_RETRY_S
        elif isinstance(item, CommandItem):
            self._on_command(item)
        elif isinstance(item, ConfigUpdate):
            self._on_config(item)

    def _on_assignment(self, item: AssignmentUpdate) -> None:
        a = item.assignment
        if self._assignment_at is not None and a.issued_at < self._assignment_at:
            # A replayed or delayed older assignment must not switch the gate back to a past flight.
            log.warning("ignoring an assignment issued at %s: older than the one in force (%s)", a.issued_at,
                        self._assignment_at)
            return
        self._assignment_at = a.issued_at
        if a.flight_id == self._flight:
            self._close_at = a.close_time
            return
        if self._flight is not None or self.gallery is not None:
            self._close_flight()  # another flight (or none) now boards at this gate
        if a.flight_id is None or a.flight_id in self._closed_flights:
            return
        self._flight, self._close_at = a.flight_id, a.close_time
        log.info("assigned flight %s (closes %s)", a.flight_id, a.close_time)
        self._request_gallery()

    def _on_command(self, item: CommandItem) -> None:
        req = item.request
        result, reason = "accepted", None
        if item.name == "wipe":
            entries = self.gallery.entries if self.gallery else 0
            self._wipe_gallery("command")
            if self._flight:
                self._closed_flights.add(self._flight)  # don't fetch it straight back
            reason = f"{entries} entries wiped"
        elif item.name == "close_flight":
            flight = getattr(req, "flight_id", None)
            if flight is not None and flight != self._flight:
                result, reason = "rejected", f"flight {flight} is not the live flight ({self._flight})"
            else:
                self._close_flight()
        elif item.name == "pause":
            self._paused = True
            self.machine.reset()
        elif item.name == "resume":
            self._paused = False
        elif item.name == "opt_out":
            duration = getattr(req, "duration_s", None) or self.cfg.opt_out.duration_s
            # The traveller being decided (or still leaving) is not the one opting out: wait for them.
            busy = self.machine.phase is not Phase.IDLE
            self._opt_out = OptOutWindow(time.monotonic() + duration, self.cfg.decision.absent_frames_to_reset, busy)
            now = datetime.now(timezone.utc)
            event = Event(gate=self.cfg.gate_id, flight_id=self.gallery.flight_id if self.gallery else self._flight,
                          transaction_id=uuid.uuid4().hex[:20], outcome="opt_out", started_at=now, decided_at=now,
                          config_version=self.cfg.version,
                          gallery_version=self.gallery.version if self.gallery else None)
            stored = self.link.publish_event(event)
            self.metrics.record(Outcome.OPT_OUT, None)
            reason = f"the next traveller is not captured (at most {duration:.0f} s)"
            if self._on_event:
                self._on_event(stored)
        log.info("command %s: %s%s", item.name, result, f" ({reason})" if reason else "")
        self.link.reply(item, CommandReply(gate=self.cfg.gate_id, command=item.name, request_id=req.request_id,
                                           result=result, reason=reason))
        self._publish_status()

    def _on_config(self, item: ConfigUpdate) -> None:
        desired = item.desired
        fleet = desired.config if item.source == "fleet" else self._fleet_doc
        gate = desired.config if item.source == "gate" else self._gate_doc
        try:
            new = validate(merge_desired(self._base_raw, fleet, gate, desired.version), "desired config")
        except ConfigError as exc:
            self._report("rejected", desired.version, exc)
            return
        change = classify_change(self.cfg, new)
        if change.kind == "restart_required":
            # Stored so that the next start (systemd restart, reboot) comes up with it.
            self._remember(item, fleet, gate, desired.version)
            self._report("restart_required", desired.version, None, change.paths)
            return
        if self.machine.phase is Phase.ACQUIRING:
            self._pending_cfg = new  # applied as soon as this traveller's transaction ends
        else:
            try:
                self._apply_live(new)
            except Exception as exc:
                self._report("rejected", desired.version, ConfigError([]), note=f"apply failed, rolled back: {exc}")
                return
        self._remember(item, fleet, gate, desired.version)
        self._report("applied", desired.version, None)

    def _remember(self, item: ConfigUpdate, fleet: Any, gate: Any, version: int) -> None:
        self._fleet_doc, self._gate_doc = fleet, gate
        if item.source == "fleet":
            self.link.set_expectations(fleet_config_version=version)
        else:
            self.link.set_expectations(gate_config_version=version)
        try:
            self._lkg.save(fleet, gate, version)
        except Exception:
            log.exception("could not store the last known good config")

    def _apply_live(self, new: GateConfig) -> None:
        """Apply a live-changeable config; on any failure restore the previous one and re-raise."""
        old = self.cfg
        try:
            self.models.detector.params = detector_params(new)
            self.analyser.quality = quality_params(new)
            self.analyser.zone = new.detection.capture_zone
            self.machine.params = decision_params(new)
            if new.logging != old.logging:
                setup_logging(new.logging)
            if new.telemetry.interval_s != old.telemetry.interval_s:
                self._next_telemetry = time.monotonic() + new.telemetry.interval_s
            self.cfg = new
            self.link.set_expectations(applied_config_version=new.version)
            log.info("config version %d applied", new.version)
        except Exception:
            self.models.detector.params = detector_params(old)
            self.analyser.quality = quality_params(old)
            self.analyser.zone = old.detection.capture_zone
            self.machine.params = decision_params(old)
            self.cfg = old
            raise

    def _report(self, status: str, version: int, error: ConfigError | None, paths: tuple[str, ...] = (),
                note: str | None = None) -> None:
        issues = [ConfigIssue(path=i.path, value=_jsonable(i.value), expected=i.expected)
                  for i in (error.issues if error else [])]
        if note:
            issues.append(ConfigIssue(path="<apply>", value=None, expected=note))
        issues += [ConfigIssue(path=p, value=None, expected="a restart to take effect") for p in paths]
        self.link.report_config(ConfigReported(gate=self.cfg.gate_id, status=status, version=version,
                                               applied_version=self.cfg.version, errors=issues))
        log.log(logging.WARNING if status == "rejected" else logging.INFO, "config version %d: %s%s", version,
                status, "".join(f"\n  {i.path}: {i.expected} (got {i.value!r})" for i in issues))
        self._publish_status()

    # ------------------------------------------------------------------ status and telemetry
    def gallery_summary(self) -> GallerySummary:
        g = self.gallery
        if g is not None:
            return GallerySummary(flight_id=g.flight_id, gallery_version=g.version, state="live", entries=g.entries,
                                  loaded=g.entries, expires_at=g.expires_at)
        p = self.loader.progress
        if self._gallery_state == "loading":
            return GallerySummary(flight_id=p.flight_id, gallery_version=p.version, state="loading", entries=p.total,
                                  loaded=p.done)
        return GallerySummary(flight_id=self._flight, state=self._gallery_state)

    def _publish_status(self) -> None:
        models = {m.spec.name: m.spec.sha256[:16] for m in (self.models.detector_model, self.models.embedder_model)}
        self.link.publish_status(Status(gate=self.cfg.gate_id, online=True, software_version=__version__,
                                        models=models, config_version=self.cfg.version,
                                        gallery=self.gallery_summary(), camera=self.source.health.value,
                                        paused=self._paused))

    def _publish_telemetry(self) -> None:
        interval = self.cfg.telemetry.interval_s
        self._next_telemetry = time.monotonic() + interval
        o = self.metrics.outcomes
        link = self.link.counters()
        p50, p95 = percentiles(self.metrics.latency_ms)
        counters = TelemetryCounters(
            transactions=self.metrics.transactions, matches=o["match"], non_matches=o["no_match"],
            failures_to_acquire=o["failure_to_acquire"], timeouts=o["timeout"], opt_outs=o["opt_out"],
            frames_dropped=self.source.stats.dropped, **{k: v for k, v in link.items()
                                                         if k in TelemetryCounters.model_fields},
        )
        self.link.publish_telemetry(Telemetry(gate=self.cfg.gate_id, interval_s=interval, counters=counters,
                                              latency_ms=LatencySummary(p50=p50, p95=p95,
                                                                        count=len(self.metrics.latency_ms)),
                                              camera=self.source.health.value))


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)[:200]
