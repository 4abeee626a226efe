"""GateLink: everything the daemon needs from MQTT, behind one object.

It owns the :class:`MqttClient`, the durable :class:`Outbox`, the :class:`Topics` and the gallery
request (:class:`GalleryRequests`). The app calls :meth:`GateLink.poll` from its loop: that drains
what paho's thread queued, validates it (:mod:`edge.messaging.intake`), answers every rejection
(:mod:`edge.messaging.answers`), processes acknowledgements, hands due outbox rows to MQTT, and
returns typed, validated items. Nothing here changes the app's state: the app applies the items,
and can still refuse one with :meth:`GateLink.reject`.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edge import __version__
from edge.messaging.answers import Answerer
from edge.messaging.authenticate import authenticate
from edge.messaging.client import MqttClient
from edge.messaging.envelope import Signer, TrustAnchors
from edge.messaging.errors import MessagingError, NotConnected
from edge.messaging.floors import Floors
from edge.messaging.gallery_requests import GalleryRequests
from edge.messaging.intake import IntakeContext, parse
from edge.messaging.items import (
    AssignmentUpdate,
    CommandItem,
    ConfigUpdate,
    GalleryChunkItem,
    GalleryFailed,
    GalleryReady,
    InboundItem,
    Rejection,
)
from edge.messaging.outbox import Outbox
from edge.messaging.schemas import (
    CommandReply,
    ConfigReported,
    EnrolmentReport,
    Event,
    GalleryRequest,
    RejectionCode,
    Status,
    Telemetry,
    WipeAttestation,
)
from edge.messaging.settings import IntakeLimits, MqttConfig
from edge.messaging.topics import Topics
from edge.messaging.wire import Ack, OutMessage

# The daemon's whole interface to MQTT: the link, the items it hands out, and its limits.
__all__ = [
    "AssignmentUpdate", "CommandItem", "ConfigUpdate", "GalleryFailed", "GalleryReady", "GateLink", "InboundItem",
    "IntakeLimits", "LinkStats",
]

log = logging.getLogger(__name__)



@dataclass
class LinkStats:
    rejected: collections.Counter[str] = field(default_factory=collections.Counter)
    events_published: int = 0  # acknowledged by the broker
    wipes_published: int = 0


class GateLink:
    """The daemon's MQTT link. Call ``poll`` regularly (it also sends the outbox)."""

    def __init__(
        self,
        gate_id: str,
        mqtt: MqttConfig,
        state_dir: Path,
        *,
        embedder_id: str,
        embedder_dim: int,
        outbox_max: int = 10_000,
        limits: IntakeLimits = IntakeLimits(),  # noqa: B008 (frozen: one shared default is fine)
        telemetry_expiry_s: int = 60,
        software_version: str = __version__,
        signer: Signer | None = None,
        trust: TrustAnchors,
    ) -> None:
        self.topics = Topics.from_config(gate_id, mqtt)
        self.stats = LinkStats()
        self.software_version = software_version
        self.telemetry_expiry_s = telemetry_expiry_s
        self._ctx = IntakeContext(
            topics=self.topics,
            embedder_id=embedder_id,
            embedder_dim=embedder_dim,
            max_payload_bytes=mqtt.max_payload_bytes,
        )
        self.gallery_requests = GalleryRequests(limits, trust)
        self.outbox = Outbox(Path(state_dir) / "outbox.sqlite3", outbox_max)
        self.floors = Floors(state_dir)
        self._acks: collections.deque[Ack] = collections.deque()
        self._acks_ready = threading.Event()
        # Events, wipe attestations and enrolment reports are signed with the gate's own key (its public half
        # is in the status), so that nobody with publish rights can forge what the gate decided or deleted.
        self._sign = signer
        self._trust = trust
        self._birth = self.with_identity(Status(gate=gate_id, online=True, software_version=software_version))
        self._birth_bytes = self._birth.to_bytes()
        self.client = MqttClient(
            mqtt,
            f"gate-edge-{gate_id}",
            subscriptions=self.topics.subscriptions(),
            qos0=[self.topics.gallery_response],
            status_topic=self.topics.status,
            birth=lambda: self._birth_bytes,
            will=Status(gate=gate_id, online=False, software_version=software_version, sent_at=None).to_bytes(),
            on_ack=self._queue_ack,
            on_connection=self._connection,
        )
        self._answers = Answerer(self.topics, self._send, self.report_config)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.client.start()

    def stop(self, flush_timeout: float = 2.0) -> None:
        """Send what the outbox holds (briefly), mark the gate offline, disconnect, close the store."""
        self.flush(flush_timeout)
        offline = Status(gate=self.topics.gate_id, online=False, software_version=self.software_version)
        self.client.stop(offline.to_bytes())
        self.gallery_requests.cancel()
        self.outbox.close()

    def flush(self, timeout: float) -> bool:
        """Poll until the outbox is empty or ``timeout`` passes; True if empty. Inbound is left queued."""
        deadline = time.monotonic() + timeout
        while True:
            self._process_acks()
            self._pump()
            if self.outbox.depth == 0:
                return True
            if time.monotonic() >= deadline:
                return False
            self._acks_ready.wait(0.05)
            self._acks_ready.clear()

    @property
    def connected(self) -> bool:
        return self.client.connected

    @property
    def applied_config_version(self) -> int:
        """The config version running (what rejected config reports name as applied)."""
        return self._answers.applied_config_version

    @property
    def limits(self) -> IntakeLimits:
        return self.gallery_requests.limits

    def set_limits(self, limits: IntakeLimits, telemetry_expiry_s: int) -> None:
        """Put new limits in force: every later check (the next chunk, the request's deadline) and the
        next telemetry message use them."""
        self.gallery_requests.limits = limits
        self.telemetry_expiry_s = telemetry_expiry_s

    def set_expectations(
        self,
        *,
        embedder_id: str | None = None,
        embedder_dim: int | None = None,
        fleet_config_version: int | None = None,
        gate_config_version: int | None = None,
        applied_config_version: int | None = None,
    ) -> None:
        """Tell the link what the device has loaded/applied (used to validate what comes in)."""
        upd: dict[str, Any] = {}
        if embedder_id is not None:
            upd["embedder_id"] = embedder_id
        if embedder_dim is not None:
            upd["embedder_dim"] = embedder_dim
        if fleet_config_version is not None:
            upd["fleet_config_version"] = fleet_config_version
        if gate_config_version is not None:
            upd["gate_config_version"] = gate_config_version
        if upd:
            self._ctx = dataclasses.replace(self._ctx, **upd)
        if applied_config_version is not None:
            self._answers.applied_config_version = applied_config_version

    # ------------------------------------------------------------------ inbound
    def poll(self, timeout: float = 0.0, max_items: int = 100) -> list[InboundItem]:
        """Wait up to ``timeout`` for inbound messages; return the valid ones as typed items."""
        out: list[InboundItem] = []
        first = self.client.get(timeout)
        raw = [] if first is None else [first]
        while len(raw) < max_items and (m := self.client.get()) is not None:
            raw.append(m)
        for m in raw:
            try:
                signed = authenticate(m, self.topics, self._trust, self._ctx.max_payload_bytes)
                result = signed if isinstance(signed, Rejection) else parse(signed, self._ctx)
            except Exception:  # parse is meant never to raise; this keeps one bad message from stopping us
                log.exception("unexpected error validating a message on %s", m.topic)
                result = Rejection("invalid", "internal validation error", m.topic, None, m.response_topic,
                                   m.correlation_data)
            if isinstance(result, Rejection):
                self._refuse(result)
                failed = self.gallery_requests.refused(result)
                if failed is not None:
                    out.append(failed)
            elif isinstance(result, GalleryChunkItem):
                for r in self.gallery_requests.add(result):
                    if isinstance(r, Rejection):
                        self._refuse(r)
                    else:
                        out.append(r)
            elif isinstance(result, CommandItem) and (stale := self._replayed(result)) is not None:
                self.reject(result, *stale)
            else:
                out.append(result)
        out.extend(self.gallery_requests.expire())
        self._process_acks()
        self._pump()
        return out

    def _replayed(self, item: CommandItem) -> tuple[RejectionCode, str] | None:
        """A command is executed once, and only within minutes of its issue time (floors on disk)."""
        return self.floors.command(item.request.request_id, item.request.issued_at, datetime.now(timezone.utc))

    def reject(
        self,
        item_or_topic: InboundItem | str,
        code: RejectionCode,
        reason: str,
        *,
        reply_topic: str | None = None,
        correlation_data: bytes | None = None,
        request_id: str | None = None,
    ) -> None:
        """Refuse a message the app already took from :meth:`poll` (e.g. an assignment issued in the
        future: ``clock_skew``), exactly as the link refuses invalid ones: a RejectionNotice on
        ``rejected`` (plus a CommandReply or RejectionNotice on the item's response topic, or a
        ``config/reported`` for config), counted in ``stats.rejected``. A topic may be given instead
        of an item; the keyword arguments override what the item carried."""
        r = self._answers.rejection_for(item_or_topic, code, reason)
        r = dataclasses.replace(
            r,
            reply_topic=reply_topic if reply_topic is not None else r.reply_topic,
            correlation_data=correlation_data if correlation_data is not None else r.correlation_data,
            request_id=request_id if request_id is not None else r.request_id,
        )
        self._refuse(r)

    def _refuse(self, r: Rejection) -> None:
        self.stats.rejected[r.code] += 1
        self._answers.answer(r)

    # ------------------------------------------------------------------ outbound
    def _send(self, msg: OutMessage) -> bool:
        """Best-effort publish of a non-durable message (replies, reports, status, telemetry)."""
        try:
            self.client.publish(msg)
            return True
        except NotConnected:
            log.info("offline: not sent on %s", msg.topic)
        except MessagingError as e:
            log.warning("%s", e)
        return False

    def publish_event(self, event: Event) -> Event:
        """Store the event durably (the outbox assigns ``seq``), then send it. Returns it as stored."""
        stored: list[Event] = []

        def body(seq: int) -> bytes:
            e = event.model_copy(update={"seq": seq})
            stored.append(e)
            return self._signed(e.to_bytes())

        self.outbox.add(self.topics.events, body, kind="event")
        self._pump()
        return stored[0]

    def publish_wipe(self, attestation: WipeAttestation) -> None:
        self.outbox.add(self.topics.wipe, self._signed(attestation.to_bytes()), kind="wipe")
        self._pump()

    def publish_enrolment(self, report: EnrolmentReport) -> int:
        """How a gallery's photos enrolled, signed like events, through the durable outbox: a report made
        while the link is down goes out when it is back, so the gallery service still learns which photos
        to re-take. It holds ids and verdict words only, nothing biometric. Returns its sequence number."""
        seq = self.outbox.add(self.topics.gallery_enrolment, self._signed(report.to_bytes()), kind="enrolment")
        self._pump()
        return seq

    def _signed(self, body: bytes) -> bytes:
        return self._sign(body) if self._sign is not None else body

    def with_identity(self, status: Status) -> Status:
        """``status`` with the gate's key id and public key filled in (when it signs)."""
        if self._sign is None:
            return status
        return status.model_copy(update={"key_id": self._sign.key_id, "public_key": self._sign.public_pem})

    def request_gallery(self, flight_id: str) -> str:
        """Ask for a flight's gallery; returns the request id (also the correlation data). The answer
        comes through ``poll`` as GalleryReady or GalleryFailed with that id. A request replaces the
        one outstanding, if any. Raises NotConnected when offline (retry later)."""
        request_id = uuid.uuid4().hex
        req = GalleryRequest(
            gate=self.topics.gate_id,
            flight_id=flight_id,
            request_id=request_id,
            embedding_model=self._ctx.embedder_id,
            dim=self._ctx.embedder_dim,
        )
        self.client.publish(
            OutMessage(
                self.topics.gallery_request,
                req.to_bytes(),
                response_topic=self.topics.gallery_response,
                correlation_data=request_id.encode(),
            )
        )
        self.gallery_requests.opened(request_id, flight_id)
        return request_id

    def cancel_gallery_requests(self) -> None:
        """Forget the outstanding request and wipe its partial gallery (e.g. the flight changed)."""
        self.gallery_requests.cancel()

    def reply(self, item: CommandItem, reply: CommandReply) -> bool:
        topic = item.reply_topic or self.topics.replies
        return self._send(OutMessage(topic, reply.to_bytes(), correlation_data=item.correlation_data))

    def report_config(self, report: ConfigReported) -> bool:
        if report.status == "applied":
            self._answers.applied_config_version = report.applied_version
        return self._send(OutMessage(self.topics.config_reported, report.to_bytes(), retain=True))

    def publish_status(self, status: Status) -> bool:
        """Publish retained now (if connected) and use it as the birth message after reconnects."""
        self._birth = self.with_identity(status)
        self._birth_bytes = self._birth.to_bytes()
        return self._send(OutMessage(self.topics.status, self._birth_bytes, retain=True))

    def publish_telemetry(self, telemetry: Telemetry) -> bool:
        return self._send(
            OutMessage(self.topics.telemetry, telemetry.to_bytes(), message_expiry_s=self.telemetry_expiry_s)
        )

    def counters(self) -> dict[str, int]:
        """The link's part of the telemetry counters (TelemetryCounters field names)."""
        return {
            "outbox_depth": self.outbox.depth,
            "outbox_dropped": self.outbox.dropped,
            "outbox_refused": self.outbox.refused,
            "messages_rejected": sum(self.stats.rejected.values()),
            "inbound_dropped": self.client.stats.inbound_dropped,
        }

    # ------------------------------------------------------------------ acks and the outbox pump
    def _connection(self, up: bool) -> None:  # paho's thread: flags only
        self.gallery_requests.connection(up)
        self._acks_ready.set()

    def _queue_ack(self, ack: Ack) -> None:  # paho's thread: enqueue only
        self._acks.append(ack)
        self._acks_ready.set()

    def _process_acks(self) -> None:
        while self._acks:
            ack = self._acks.popleft()
            row = self.outbox.acked(ack.mid, ack.ok)
            if row is None:
                continue
            if not ack.ok:
                log.error("broker refused %s on %s: %s (%d); dropped", row.kind, row.topic, ack.reason,
                          ack.reason_code)
            elif row.kind == "event":
                self.stats.events_published += 1
            elif row.kind == "wipe":
                self.stats.wipes_published += 1

    def _pump(self) -> None:
        if not self.client.connected:
            return
        for row in self.outbox.due():
            try:
                h = self.client.publish(OutMessage(row.topic, row.payload, qos=1))
            except MessagingError as e:
                log.info("outbox paused: %s", e)
                return
            self.outbox.sent(row.id, h.mid)
