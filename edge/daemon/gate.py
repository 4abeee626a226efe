"""The gate daemon: a thin loop that feeds two state machines and carries out what they decide.

Threads: the capture worker (camera -> newest-frame slot), paho's network thread (enqueue only),
the gallery loader (embeds gallery photos off the frame loop) and the loop here, which owns all
state. Each turn it drains the MQTT link and the loader, lets the :class:`FlightSession` (which
flight, which gallery: edge/daemon/flight_session.py) and the :class:`LiveConfig` act between
transactions, then takes the newest frame through the core and the :class:`DecisionMachine`
(who is in front of the camera, and whether they match: edge/core/decide.py). The machines decide;
this module only carries out their actions: publish, wipe, swap, request. Built by
:func:`edge.daemon.wiring.build_gate`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone

from edge.camera.base import Frame, FrameSource, Health
from edge.config.schema import GateConfig
from edge.config.store import StoredDesired
from edge.core.analyse import FrameAnalyser
from edge.core.decide import Decision, DecisionMachine, OptOutPhase, OptOutWindow, Outcome, Phase
from edge.core.gallery import Gallery
from edge.core.wipe import wiped
from edge.daemon import officer_commands, reports
from edge.daemon.flight_session import (
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
from edge.daemon.gallery_loader import GalleryLoader, LiveGallery
from edge.daemon.live_config import LiveConfig
from edge.daemon.metrics import GateMetrics
from edge.daemon.tuning import apply_live
from edge.inference.onnx_runtime import FaceModels
from edge.messaging.errors import ClientConfigError, MessagingError
from edge.messaging.link import (
    AssignmentUpdate,
    CommandItem,
    ConfigUpdate,
    GalleryFailed,
    GalleryReady,
    GateLink,
    InboundItem,
)
from edge.messaging.schemas import ConfigReported, Event, GalleryState, WipeAttestation
from edge.system.systemd import Notifier, Watchdog

log = logging.getLogger("edge.daemon")


class GateDaemon:
    """One gate. ``run()`` blocks until ``stop()`` (or SIGTERM), then wipes and disconnects."""

    def __init__(
        self,
        cfg: GateConfig,
        *,
        models: FaceModels,
        analyser: FrameAnalyser,
        machine: DecisionMachine,
        source: FrameSource,
        link: GateLink,
        notifier: Notifier,
        base_raw: dict[str, object] | None = None,
        stored: StoredDesired | None = None,
        on_event: Callable[[Event], None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self.models, self.analyser, self.machine, self.source, self.link = models, analyser, machine, source, link
        self._notifier = notifier
        self._on_event = on_event
        self.metrics = GateMetrics()
        self.on_shutdown: list[Callable[[], None]] = []  # run last, e.g. closing the metrics endpoint
        self.config = LiveConfig(cfg, base_raw, stored, apply=self._apply_config, report=self._report_config,
                                 remember_versions=self._config_versions)
        self.session = FlightSession(clock, time.monotonic, floor=link.floors.assignment_issued_at)
        self.loader = GalleryLoader(analyser, lambda: self.cfg.gallery.exact_max_entries)
        self.watchdog = Watchdog(stale_after=max(cfg.capture.stall_timeout_s, 5.0), notifier=notifier)
        self.live: LiveGallery | None = None
        self._held: dict[int, Gallery | LiveGallery] = {}  # the buffers behind the session's handles
        self._next_handle = 0
        self._stop = threading.Event()
        self._paused = False
        self._exit_code = 0  # officer_commands.EXIT_RESTART once a restart command was accepted
        self._opt_out: OptOutWindow | None = None
        self._stages: dict[str, float] = {}
        self._frame_errors = 0
        self._last_health: Health | None = None
        self._last_broker: tuple[str, str] = ("", "")
        self._online_since: datetime | None = None  # the status's online_since: this connection's start
        self._last_event: tuple[datetime, str] | None = None  # for the status: when, and what outcome
        self._next_telemetry = time.monotonic() + cfg.telemetry.interval_s
        self._systemd_line = ""
        self._progress_shown = -1

    @property
    def cfg(self) -> GateConfig:
        """The config in force."""
        return self.config.cfg

    # ------------------------------------------------------------------ lifecycle
    def stop(self) -> None:
        self._stop.set()

    def restart(self) -> None:
        """Stop once no traveller is being decided; ``run()`` then returns the restart status."""
        self._exit_code = officer_commands.EXIT_RESTART

    def set_paused(self, paused: bool) -> None:
        """Pause capture (the traveller being decided is dropped, undecided) or resume it."""
        self._paused = paused
        if paused:
            self.machine.reset()

    def opt_out_next(self, duration: float) -> None:
        """The next traveller is not captured (for at most ``duration`` s); the opt-out is an event."""
        # The traveller being decided (or still leaving) is not the one opting out: wait for them.
        busy = self.machine.phase is not Phase.IDLE
        self._opt_out = OptOutWindow(time.monotonic() + duration, self.cfg.decision.absent_frames_to_reset, busy)
        event = reports.opt_out_event(self.cfg.gate_id, self.cfg.version, self.live, self.session.flight)
        self._emit(event, Outcome.OPT_OUT, None)

    def run(self) -> int:
        try:
            self.source.start()
            self.link.start()
        except ClientConfigError as exc:  # a credential or TLS file vanished since the preflight
            log.error("%s", exc)
            self._notifier.notify(f"STATUS=cannot start: {exc}")
            self._shutdown()
            return 2
        self.publish_status()
        # Ready once the models are warm and the loop runs, camera or not: a gate booted with its
        # camera unplugged stays up (degraded, reconnecting, watchdog fed) instead of being killed
        # by the start time-out and restarted.
        self._notifier.notify("READY=1", "STATUS=" + reports.systemd_line(self._view()))
        log.info("ready: models warm; camera %s", self.source.health.value)
        try:
            while not self._stop.is_set():
                self.watchdog.beat()
                self.watchdog.tick()
                try:
                    self._between_frames()
                except Exception:  # a bug in housekeeping must not stop the frame loop
                    log.exception("housekeeping between frames failed")
                frame = self.source.latest(timeout=0.1)
                self._watch_camera()
                if frame is None:
                    if getattr(self.source, "finished", False):
                        log.info("the camera source ended")
                        break
                    continue
                self._frame(frame)
        finally:
            self._shutdown()
        return self._exit_code

    def _shutdown(self) -> None:
        self._notifier.notify("STOPPING=1", "STATUS=stopping: wiping the gallery and flushing events")
        with contextlib.suppress(Exception):
            self.source.stop()
        self._take_built(self.loader.stop())
        self._carry_out(self.session.shutdown())
        self.machine.reset()  # a traveller being decided: their fused template is zeroed too
        for handle in list(self._held):  # nothing should be left; never leave a buffer unzeroed
            self._held.pop(handle).wipe()
        self.link.stop(flush_timeout=3.0)
        log.info("stopped; %d transactions", self.metrics.transactions)
        for close in self.on_shutdown:
            close()

    # ------------------------------------------------------------------ frames
    def _frame(self, frame: Frame) -> None:
        try:
            decision = self._analyse(frame)
        except Exception:
            # One frame that breaks the pipeline (the frame is already wiped) must not stop the gate:
            # the traveller's transaction starts over; repeated failures show in the log.
            self._frame_errors += 1
            self.machine.reset()
            log.exception("frame %d could not be processed (%d so far)", frame.seq, self._frame_errors)
            return
        if decision is not None:
            self._publish_decision(decision)

    def _analyse(self, frame: Frame) -> Decision | None:
        self.metrics.frame_in()
        with wiped() as scratch:
            scratch.track(frame.image)
            now, live = frame.timestamp, self.live
            if self._paused or live is None:
                return None  # nothing to match against, or an officer paused the gate: frames are dropped
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
                return None
            analysis = self.analyser.analyse(frame.image, live.index, scratch, embed=self.machine.wants_embedding)
            if analysis.usable or not self._stages:
                self._stages = analysis.timings_ms
            started = time.perf_counter()
            decision = self.machine.observe(analysis.observation(now))
            self.metrics.analysed(analysis, (time.perf_counter() - started) * 1e3)
            return decision

    def _publish_decision(self, d: Decision) -> None:
        event, total = reports.decision_event(self.cfg.gate_id, self.cfg.version, self.live, d, self._stages)
        self._emit(event, d.outcome, total)
        self._stages = {}

    def _emit(self, event: Event, outcome: Outcome, total_ms: float | None) -> None:
        stored = self.link.publish_event(event)
        self._last_event = (stored.decided_at, outcome.value)
        self.metrics.record(outcome, total_ms)
        log.info("transaction %s: %s (score %s, %d frames%s)", stored.transaction_id, outcome.value, stored.score,
                 stored.frames_used, "" if total_ms is None else f", {total_ms:.0f} ms")
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
            self.publish_status()

    # ------------------------------------------------------------------ between frames
    def _between_frames(self) -> None:
        for item in self.link.poll(0.0):
            try:
                self._inbound(item)
            except Exception:  # one message must never stop the gate
                log.exception("handling %s failed", type(item).__name__)
        self._take_built(self.loader.take())
        # One transaction is decided with one config against one gallery: changes wait for its end.
        idle = self.machine.phase is not Phase.ACQUIRING
        if idle:
            self.config.apply_pending()
            if self._exit_code == officer_commands.EXIT_RESTART:
                self._stop.set()
        self._carry_out(self.session.tick(idle))
        if time.monotonic() >= self._next_telemetry:
            self._next_telemetry = time.monotonic() + self.cfg.telemetry.interval_s
            view = self._view()
            self.link.publish_telemetry(reports.telemetry(view, self.cfg.telemetry.interval_s, self.link.counters()))
            self.publish_status()  # the retained status's outbox depth and last decision, as of now
        if self.session.state is GalleryState.LOADING and self.loader.progress.done != self._progress_shown:
            self._progress_shown = self.loader.progress.done
            self.publish_status()  # operators watch a large gallery load entry by entry
        broker = self._broker_state()
        where = self.link.client.broker
        if (broker, where) != self._last_broker:  # the retained status says what the gate saw of the broker
            self._last_broker = (broker, where)  # a fail-over is a new connection: a new online_since
            self._online_since = datetime.now(timezone.utc) if broker == "connected" else None
            self.publish_status()
        if self.metrics.refresh_due():  # the gauges the metrics endpoint reads (outbox, camera, gallery)
            self.metrics.refresh(self._view(), self.link.counters())
        line = reports.systemd_line(self._view())
        if line != self._systemd_line:
            self._systemd_line = line
            self._notifier.notify("STATUS=" + line)

    def _take_built(self, results: Sequence[tuple[int, LiveGallery | Exception]]) -> None:
        for handle, result in results:
            if isinstance(result, LiveGallery):
                self._held[handle] = result
                log.info("gallery of flight %s v%d built: %d travellers (%d failed to enrol)", result.flight_id,
                         result.version, result.entries, len(result.failed_ids))
                self.link.publish_enrolment(result.report())  # the gallery service re-takes weak photos
                self._carry_out(self.session.gallery_built(handle, result.entries))
            else:
                self._carry_out(self.session.gallery_build_failed(handle))

    def _inbound(self, item: InboundItem) -> None:
        if isinstance(item, AssignmentUpdate):
            a = item.assignment
            self._carry_out(self.session.assignment(a.flight_id, a.close_time, a.issued_at), item)
            if self.session.floor is not None:
                self.link.floors.raise_assignment_floor(self.session.floor)  # no replay after a restart either
        elif isinstance(item, GalleryReady):
            g = item.gallery
            self._next_handle += 1
            self._held[self._next_handle] = g
            info = GalleryInfo(self._next_handle, g.flight_id, g.version, len(g), g.sha256, g.expires_at)
            log.info("gallery of flight %s received: %d entries", g.flight_id, len(g))
            self._carry_out(self.session.gallery_received(item.request_id, info))
        elif isinstance(item, GalleryFailed):
            log.warning("gallery request for flight %s failed: %s", item.flight_id, item.reason)
            if item.received_sha256 is not None:  # part of it was held (and is already zeroed): attest that
                self.link.publish_wipe(WipeAttestation(
                    gate=self.cfg.gate_id, flight_id=item.flight_id, gallery_version=item.gallery_version,
                    entries_wiped=item.entries_received, reason="refused", received_sha256=item.received_sha256))
            self._carry_out(self.session.gallery_failed(item.request_id))
        elif isinstance(item, CommandItem):
            officer_commands.handle(self, item)
        elif isinstance(item, ConfigUpdate):
            self.config.consider(item)

    # ------------------------------------------------------------------ carrying out the session's actions
    def _carry_out(self, actions: list[Action], cause: InboundItem | None = None) -> None:
        for a in actions:
            if isinstance(a, RequestGallery):
                self._request_gallery(a.flight_id)
            elif isinstance(a, CancelRequests):
                self.link.cancel_gallery_requests()
            elif isinstance(a, BuildGallery):
                received = self._held.pop(a.gallery.handle)
                assert isinstance(received, Gallery)
                self.loader.submit(a.gallery.handle, received)
            elif isinstance(a, SwapIn):
                self.live = self._held[a.gallery.handle]  # type: ignore[assignment]
                self.machine.reset()
                log.info("gallery live: flight %s v%d, %d travellers", a.gallery.flight_id, a.gallery.version,
                         a.gallery.entries)
            elif isinstance(a, Wipe):
                self._wipe(a)
            elif isinstance(a, Refuse):
                log.warning("refused: %s: %s", a.code, a.reason)
                if cause is not None:
                    self.link.reject(cause, a.code, a.reason)
        if actions:
            self.publish_status()

    def _request_gallery(self, flight_id: str) -> None:
        try:
            request_id = self.link.request_gallery(flight_id)
        except MessagingError as exc:  # offline right now: the session retries after its back-off
            log.warning("cannot request the gallery of flight %s yet: %s", flight_id, exc)
            self.session.request_unsent()
            return
        log.info("requested the gallery of flight %s", flight_id)
        self.session.request_sent(request_id)

    def _wipe(self, a: Wipe) -> None:
        held = self._held.pop(a.gallery.handle, None)
        entries = held.wipe() if held is not None else 0  # None: the loader already zeroed it
        if held is not None and held is self.live:
            self.live = None
            self.machine.reset()  # the traveller's transaction cannot go on against a wiped gallery
        g = a.gallery
        self.link.publish_wipe(WipeAttestation(gate=self.cfg.gate_id, flight_id=g.flight_id,
                                               gallery_version=g.version, entries_wiped=entries,
                                               reason=a.reason, received_sha256=g.sha256))
        log.info("gallery of flight %s wiped (%s): %d entries", g.flight_id, a.reason, entries)

    # ------------------------------------------------------------------ config, status
    def _apply_config(self, old: GateConfig, new: GateConfig) -> None:
        apply_live(old, new, self.models, self.analyser, self.machine, self.link)
        if new.telemetry.interval_s != old.telemetry.interval_s:
            self._next_telemetry = time.monotonic() + new.telemetry.interval_s

    def _report_config(self, report: ConfigReported) -> None:
        self.link.report_config(report)
        self.publish_status()

    def _config_versions(self, source: str, version: int) -> None:
        if source == "fleet":
            self.link.set_expectations(fleet_config_version=version)
        else:
            self.link.set_expectations(gate_config_version=version)

    def _view(self) -> reports.GateView:
        return reports.GateView(self.cfg.gate_id, self.session, self.live, self.loader.progress, self.source,
                                self.metrics, self._paused, self.cfg.version, self._broker_state(),
                                self._online_since, self._last_event, self.link.client.broker)

    def _broker_state(self) -> str:
        if self.link.connected:
            return "connected"
        reason = self.link.client.stats.last_connect_error
        return f"unreachable ({reason})" if reason else "connecting"

    def publish_status(self) -> None:
        self.link.publish_status(reports.status(self._view(), self.models, self.link.outbox.depth))
