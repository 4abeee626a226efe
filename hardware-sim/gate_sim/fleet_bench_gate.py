"""One worker process of the fleet benchmark: many simulated gates, each with the real messaging stack.

Each :class:`SimGate` is a gate without camera and models: the product's :class:`GateLink` (its own
MQTT connection, intake and signature checks, durable outbox, gallery requests), the product's
:class:`FlightSession` (which flight, which gallery, when to wipe), and what ``edge/daemon/gate.py``
does with their items and actions, minus embedding: a received gallery counts as built at once.
In place of the camera and models, a scenario's decisions (who walks up, match or not, which gallery
id) are replayed, one every ``interval_s``, while the gate's gallery is live. Events and wipe
attestations are signed with the gate's own key, as in production.

    python -m gate_sim.fleet_bench_gate SPEC.json

The coordinator (:mod:`gate_sim.fleet_bench`) writes SPEC.json, waits for the ``READY`` line (every
gate connected and subscribed), and writes ``STOP`` on stdin at the end of the run. The worker then
flushes each gate's outbox, shuts each gate down (its gallery wiped, with an attestation) and writes
the result JSON to ``spec["result"]``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from edge.core.decide import Outcome
from edge.core.gallery import Gallery
from edge.daemon.flight_session import (
    Action,
    BuildGallery,
    CancelRequests,
    FlightSession,
    GalleryInfo,
    RequestGallery,
    SwapIn,
    Wipe,
)
from edge.messaging.envelope import Signer, TrustAnchors, load_or_create_private_key
from edge.messaging.errors import MessagingError
from edge.messaging.link import AssignmentUpdate, GalleryFailed, GalleryReady, GateLink, InboundItem
from edge.messaging.schemas import Event, GallerySummary, Status, WipeAttestation
from edge.messaging.settings import IntakeLimits, MqttConfig
from gate_sim.fleet_bench_infra import DIM, EMBEDDER_ID

Decision = tuple[str, str | None]  # (outcome, matched gallery id)


def utc() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class GateRecord:
    """What one gate did, for the coordinator to compare with what the consumer received."""

    events: list[str] = field(default_factory=list)  # event ids in the order decided
    wipes: list[str] = field(default_factory=list)  # attestation ids published
    wiped_galleries: int = 0  # galleries (or partial galleries) zeroed; each must have an attestation
    requests: int = 0  # gallery requests sent
    failed: int = 0  # requests that failed (refused chunk, time-out)
    first_request: float | None = None  # monotonic
    first_gallery: float | None = None  # seconds from the first request to the first complete gallery
    delivered: list[float] = field(default_factory=list)  # seconds from a request to its complete gallery
    lag: list[float] = field(default_factory=list)  # seconds each decision came after its slot


class SimGate:
    """A gate's messaging, flight session and wipes, fed with recorded decisions; see the module doc."""

    def __init__(self, gate_id: str, mqtt: MqttConfig, state_dir: Path, trust: TrustAnchors,
                 decisions: list[Decision], interval_s: float, phase_s: float, limits: IntakeLimits) -> None:
        self.gate_id = gate_id
        signer = Signer("gate", load_or_create_private_key(state_dir / "gate-key.pem"))
        self.link = GateLink(gate_id, mqtt, state_dir, embedder_id=EMBEDDER_ID, embedder_dim=DIM, limits=limits,
                             signer=signer, trust=trust)
        self.session = FlightSession(utc, time.monotonic, floor=self.link.floors.assignment_issued_at)
        self.rec = GateRecord()
        self.held: dict[int, Gallery] = {}
        self.live: Gallery | None = None
        self._built: list[tuple[int, int]] = []
        self._handle = 0
        self._sent_at: dict[str, float] = {}
        self._decisions, self._next = decisions, 0
        self.interval_s = interval_s
        self._due = time.monotonic() + phase_s
        self.deciding = True

    def start(self) -> None:
        self.link.start()

    def turn(self) -> None:
        """One turn of the daemon's loop: inbound items, the session's clock, a decision if one is due."""
        for item in self.link.poll(0.0):
            self._inbound(item)
        while self._built:
            handle, entries = self._built.pop(0)
            self._carry_out(self.session.gallery_built(handle, entries))
        self._carry_out(self.session.tick(True))
        now = time.monotonic()
        if self.live is None or not self.deciding:
            self._due = max(self._due, now)
        elif now >= self._due:
            # A turn that comes late (the worker was busy with other gates' galleries) decides once,
            # not in a burst: the lag is the harness's, and it is reported.
            self.rec.lag.append(now - self._due)
            self._due = max(self._due + self.interval_s, now)
            self._decide()

    def _decide(self) -> None:
        assert self.live is not None
        outcome, matched = self._decisions[self._next % len(self._decisions)]
        self._next += 1
        now = utc()
        match = outcome == Outcome.MATCH.value
        event = Event(gate=self.gate_id, flight_id=self.live.flight_id, transaction_id=uuid.uuid4().hex[:20],
                      outcome=Outcome(outcome), matched_id=matched if match else None, score=0.71 if match else 0.2,
                      frames_used=3, started_at=now - timedelta(seconds=0.8), decided_at=now, config_version=0,
                      gallery_version=self.live.version)
        stored = self.link.publish_event(event)
        self.rec.events.append(str(stored.event_id))


    # ------------------------------------------------------------------ as edge/daemon/gate.py
    def _inbound(self, item: InboundItem) -> None:
        if isinstance(item, AssignmentUpdate):
            a = item.assignment
            self._carry_out(self.session.assignment(a.flight_id, a.close_time, a.issued_at))
            if self.session.floor is not None:
                self.link.floors.raise_assignment_floor(self.session.floor)
        elif isinstance(item, GalleryReady):
            g = item.gallery
            sent = self._sent_at.pop(item.request_id, None)
            if sent is not None:
                self.rec.delivered.append(time.monotonic() - sent)
            if self.rec.first_gallery is None and self.rec.first_request is not None:
                self.rec.first_gallery = time.monotonic() - self.rec.first_request
            self._handle += 1
            self.held[self._handle] = g
            info = GalleryInfo(self._handle, g.flight_id, g.version, len(g), g.sha256, g.expires_at)
            self._carry_out(self.session.gallery_received(item.request_id, info))
        elif isinstance(item, GalleryFailed):
            self.rec.failed += 1
            if item.received_sha256 is not None:  # part of it was held (already zeroed): attest it
                self.rec.wiped_galleries += 1
                self._attest(WipeAttestation(gate=self.gate_id, flight_id=item.flight_id,
                                             gallery_version=item.gallery_version, entries_wiped=item.entries_received,
                                             reason="refused", received_sha256=item.received_sha256))
            self._carry_out(self.session.gallery_failed(item.request_id))

    def _carry_out(self, actions: list[Action]) -> None:
        # Refuse (a stale or skewed assignment) is not carried out: the daemon only answers it with a
        # rejection, which nothing in the benchmark reads.
        for a in actions:
            if isinstance(a, RequestGallery):
                self._request(a.flight_id)
            elif isinstance(a, CancelRequests):
                self.link.cancel_gallery_requests()
            elif isinstance(a, BuildGallery):  # no models here: built as received
                self._built.append((a.gallery.handle, a.gallery.entries))
            elif isinstance(a, SwapIn):
                self.live = self.held[a.gallery.handle]
            elif isinstance(a, Wipe):
                held = self.held.pop(a.gallery.handle, None)
                entries = held.wipe() if held is not None else 0
                if held is not None and held is self.live:
                    self.live = None
                self.rec.wiped_galleries += 1
                g = a.gallery
                self._attest(WipeAttestation(gate=self.gate_id, flight_id=g.flight_id, gallery_version=g.version,
                                             entries_wiped=entries, reason=a.reason, received_sha256=g.sha256))
        if actions:
            self._status()

    def _request(self, flight_id: str) -> None:
        try:
            request_id = self.link.request_gallery(flight_id)
        except MessagingError:
            self.session.request_unsent()
            return
        now = time.monotonic()
        self.rec.requests += 1
        self.rec.first_request = self.rec.first_request or now
        self._sent_at = {request_id: now}  # a new request replaces the one outstanding
        self.session.request_sent(request_id)

    def _attest(self, attestation: WipeAttestation) -> None:
        self.link.publish_wipe(attestation)
        self.rec.wipes.append(str(attestation.attestation_id))

    def _status(self) -> None:
        live = self.live
        summary = GallerySummary(flight_id=self.session.flight, state=self.session.state,
                                 gallery_version=live.version if live else None, entries=len(live) if live else 0)
        self.link.publish_status(Status(gate=self.gate_id, online=True, gallery=summary, camera="ok",
                                        broker="connected" if self.link.connected else "connecting"))

    def shutdown(self, flush_s: float) -> None:
        """As the daemon's stop: wipe with attestations, send what the outbox holds, disconnect."""
        self._carry_out(self.session.shutdown())
        for handle in list(self.held):
            self.held.pop(handle).wipe()
        self.link.stop(flush_timeout=flush_s)


# --------------------------------------------------------------------------- the worker process
def _stdin_stop(stop: threading.Event) -> None:
    for line in sys.stdin:
        if line.strip() == "STOP":
            break
    stop.set()  # STOP, or the coordinator went away


def run_worker(spec: dict[str, Any]) -> dict[str, Any]:
    trust = TrustAnchors.load(Path(spec["trust_dir"]))
    limits = IntakeLimits(gallery_timeout_s=float(spec["gallery_timeout_s"]))
    decisions = [tuple(d) for d in spec["decisions"]]
    gates = []
    for i, g in enumerate(spec["gates"]):
        state = Path(spec["state_dir"]) / g["id"]
        gates.append(SimGate(g["id"], MqttConfig(**g["mqtt"]), state, trust, decisions[i:] + decisions[:i],
                             float(spec["interval_s"]), float(g["phase_s"]), limits))
    for gate in gates:
        gate.start()
    deadline = time.monotonic() + 60
    for gate in gates:
        if not gate.link.client.wait_subscribed(max(0.1, deadline - time.monotonic())):
            raise SystemExit(f"{gate.gate_id}: not subscribed at the broker within 60 s")
    stop = threading.Event()
    threading.Thread(target=_stdin_stop, args=(stop,), daemon=True).start()
    print("READY", flush=True)
    pace = float(spec.get("poll_s", 0.05))
    while not stop.is_set():
        began = time.monotonic()
        for gate in gates:
            gate.turn()
        stop.wait(max(0.0, pace - (time.monotonic() - began)))
    stopped_at = time.time()
    for gate in gates:  # no new decisions; what was decided is delivered
        gate.deciding = False
    for gate in gates:
        gate.shutdown(float(spec.get("flush_s", 10.0)))
    times = os.times()
    return {
        "cpu_s": round(times.user + times.system, 2),
        "stopped_at": stopped_at,
        "gates": {g.gate_id: {
            "events": g.rec.events, "wipes": g.rec.wipes, "wiped_galleries": g.rec.wiped_galleries,
            "requests": g.rec.requests, "failed": g.rec.failed, "delivered_s": g.rec.delivered,
            "first_gallery_s": g.rec.first_gallery, "lag_s": g.rec.lag,
            "connects": g.link.client.stats.connects, "disconnects": g.link.client.stats.disconnects,
            "events_acked": g.link.stats.events_published,
        } for g in gates},
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    spec = json.loads(Path(args[0]).read_text())
    result = run_worker(spec)
    Path(spec["result"]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
