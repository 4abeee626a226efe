"""GateLink: everything the daemon needs from MQTT, behind one object.

It owns the :class:`MqttClient`, the durable :class:`Outbox` and the :class:`Topics`. The app calls
:meth:`GateLink.poll` from its loop: that drains what paho's thread queued, validates it
(:mod:`edge.messaging.intake`), answers every rejection on the response topic (commands: a
``CommandReply``; others: a ``RejectionNotice``), on ``config/reported`` (config) and always on
``gate/v1/{gate}/rejected``, processes acknowledgements, hands due outbox rows to MQTT, and
returns typed, validated items. Nothing here changes the app's state: the app applies the items.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge import __version__
from edge.config.schema import MqttConfig
from edge.core.gallery import Gallery
from edge.messaging.client import Ack, MessagingError, MqttClient, NotConnected, OutMessage
from edge.messaging.intake import (
    AssignmentUpdate,
    CommandItem,
    ConfigUpdate,
    GalleryAssembler,
    GalleryChunkItem,
    IntakeContext,
    Rejection,
    parse,
)
from edge.messaging.outbox import Outbox
from edge.messaging.schemas import (
    CommandReply,
    ConfigIssue,
    ConfigReported,
    Event,
    GalleryRequest,
    RejectionNotice,
    Status,
    Telemetry,
    WipeAttestation,
)
from edge.messaging.topics import InboundKind, Topics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GalleryReady:
    """A complete gallery for a request this link made (the app embeds photos, builds the index,
    swaps it in between transactions, and wipes it later)."""

    flight_id: str
    gallery: Gallery


@dataclass(frozen=True)
class GalleryFailed:
    """A gallery request that will not complete (rejected chunk or timeout): the app may retry."""

    flight_id: str
    correlation_id: str
    reason: str


InboundItem = AssignmentUpdate | ConfigUpdate | CommandItem | GalleryReady | GalleryFailed


@dataclass
class LinkStats:
    rejected: collections.Counter[str] = field(default_factory=collections.Counter)
    events_published: int = 0  # acknowledged by the broker
    wipes_published: int = 0


@dataclass
class _Pending:
    flight_id: str
    since: float


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
        max_photo_bytes: int = 2 * 1024 * 1024,
        max_gallery_entries: int = 100_000,
        gallery_timeout_s: float = 30.0,
        telemetry_expiry_s: int = 60,
        software_version: str = __version__,
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
            max_photo_bytes=max_photo_bytes,
            max_gallery_entries=max_gallery_entries,
        )
        self.applied_config_version = 0
        self._pending: dict[str, _Pending] = {}
        self.assembler = GalleryAssembler(max_gallery_entries, gallery_timeout_s)
        self.outbox = Outbox(Path(state_dir) / "outbox.sqlite3", outbox_max)
        self._acks: collections.deque[Ack] = collections.deque()
        self._acks_ready = threading.Event()
        self._birth = Status(gate=gate_id, online=True, software_version=software_version).to_bytes()
        self.client = MqttClient(
            mqtt,
            f"gate-edge-{gate_id}",
            subscriptions=self.topics.subscriptions(),
            status_topic=self.topics.status,
            birth=lambda: self._birth,
            will=Status(gate=gate_id, online=False, software_version=software_version).to_bytes(),
            on_ack=self._queue_ack,
            on_connection=lambda up: self._acks_ready.set(),
        )

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.client.start()

    def stop(self, flush_timeout: float = 2.0) -> None:
        """Send what the outbox holds (briefly), mark the gate offline, disconnect, close the store."""
        self.flush(flush_timeout)
        offline = Status(gate=self.topics.gate_id, online=False, software_version=self.software_version)
        self.client.stop(offline.to_bytes())
        self.assembler.wipe_all()
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
            self.applied_config_version = applied_config_version

    # ------------------------------------------------------------------ inbound
    def poll(self, timeout: float = 0.0, max_items: int = 100) -> list[InboundItem]:
        """Wait up to ``timeout`` for inbound messages; return the valid ones as typed items."""
        out: list[InboundItem] = []
        first = self.client.get(timeout)
        raw = [] if first is None else [first]
        while len(raw) < max_items and (m := self.client.get()) is not None:
            raw.append(m)
        for m in raw:
            self._ctx = dataclasses.replace(self._ctx, pending_gallery_requests=frozenset(self._pending))
            try:
                result = parse(m, self._ctx)
            except Exception:  # parse is meant never to raise; this keeps one bad message from stopping us
                log.exception("unexpected error validating a message on %s", m.topic)
                result = Rejection(
                    "invalid",
                    "internal validation error",
                    m.topic,
                    None,
                    m.response_topic,
                    m.correlation_data,
                )
            if isinstance(result, Rejection):
                self._reject(result)
                failed = self._fail_pending(result)
                if failed is not None:
                    out.append(failed)
            elif isinstance(result, GalleryChunkItem):
                item = self._gallery_chunk(result)
                if item is not None:
                    out.append(item)
            else:
                out.append(result)
        for corr in self.assembler.expire():
            p = self._pending.pop(corr, None)
            if p is not None:
                out.append(GalleryFailed(p.flight_id, corr, "gallery did not arrive in time"))
        now = time.monotonic()
        for corr, p in list(self._pending.items()):
            if corr not in self.assembler.pending and now - p.since > self.assembler.timeout_s:
                del self._pending[corr]
                out.append(GalleryFailed(p.flight_id, corr, "no gallery response in time"))
        self._process_acks()
        self._pump()
        return out

    def _gallery_chunk(self, chunk: GalleryChunkItem) -> InboundItem | None:
        got = self.assembler.add(chunk)
        if got is None:
            done, total = self.assembler.pending.get(chunk.correlation_id, (0, chunk.chunk_count))
            log.info("gallery %s: chunk %d/%d received", chunk.flight_id, done, total)
            return None
        p = self._pending.pop(chunk.correlation_id, None)
        flight = p.flight_id if p else chunk.flight_id
        if isinstance(got, Rejection):
            self._reject(dataclasses.replace(got, topic=self.topics.gallery_response))
            return GalleryFailed(flight, chunk.correlation_id, got.reason)
        log.info("gallery %s v%d complete: %d entries", got.flight_id, got.version, len(got))
        return GalleryReady(flight, got)

    def _fail_pending(self, r: Rejection) -> GalleryFailed | None:
        """A refused chunk of a gallery we asked for: that request can no longer complete."""
        if r.kind is not InboundKind.GALLERY_RESPONSE or r.request_id is None:
            return None
        p = self._pending.pop(r.request_id, None)
        if p is None:
            return None
        self.assembler.discard(r.request_id)
        return GalleryFailed(p.flight_id, r.request_id, f"{r.code}: {r.reason}")

    def _reject(self, r: Rejection) -> None:
        self.stats.rejected[r.code] += 1
        if not r.report:
            log.debug("ignored %s on %s: %s", r.code, r.topic, r.reason)
            return
        log.warning("rejected message on %s: %s: %s", r.topic, r.code, r.reason)
        gate = self.topics.gate_id
        notice = RejectionNotice(gate=gate, topic=r.topic, code=r.code, reason=r.reason, request_id=r.request_id)
        self._send(OutMessage(self.topics.rejected, notice.to_bytes()))
        if r.kind in (InboundKind.FLEET_CONFIG, InboundKind.GATE_CONFIG):
            self.report_config(
                ConfigReported(
                    gate=gate,
                    status="rejected",
                    version=self.applied_config_version,
                    applied_version=self.applied_config_version,
                    errors=[ConfigIssue(path="(message)", value=r.code, expected=r.reason)],
                )
            )
        elif r.reply_topic:
            if r.kind is InboundKind.COMMAND:
                cmd = r.topic.rsplit("/", 1)[-1]
                body = CommandReply(
                    gate=gate,
                    command=cmd,
                    request_id=r.request_id,
                    result="rejected",
                    reason=f"{r.code}: {r.reason}",
                ).to_bytes()
            else:
                body = notice.to_bytes()
            self._send(OutMessage(r.reply_topic, body, correlation_data=r.correlation_data))

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
            return e.to_bytes()

        self.outbox.add(self.topics.events, body, kind="event")
        self._pump()
        return stored[0]

    def publish_wipe(self, attestation: WipeAttestation) -> None:
        self.outbox.add(self.topics.wipe, attestation.to_bytes(), kind="wipe")
        self._pump()

    def request_gallery(self, flight_id: str) -> str:
        """Ask for a flight's gallery; returns the correlation id. The answer comes through ``poll``
        as GalleryReady or GalleryFailed. Raises NotConnected when offline (retry later)."""
        corr = uuid.uuid4().hex
        req = GalleryRequest(
            gate=self.topics.gate_id,
            flight_id=flight_id,
            request_id=corr,
            embedding_model=self._ctx.embedder_id,
            dim=self._ctx.embedder_dim,
        )
        self.client.publish(
            OutMessage(
                self.topics.gallery_request,
                req.to_bytes(),
                response_topic=self.topics.gallery_response,
                correlation_data=corr.encode(),
            )
        )
        self._pending[corr] = _Pending(flight_id, time.monotonic())
        return corr

    def cancel_gallery_requests(self) -> None:
        """Forget outstanding requests and wipe partial galleries (e.g. the flight changed)."""
        for corr in list(self._pending):
            self.assembler.discard(corr)
        self._pending.clear()

    def reply(self, item: CommandItem, reply: CommandReply) -> bool:
        topic = item.reply_topic or self.topics.replies
        return self._send(OutMessage(topic, reply.to_bytes(), correlation_data=item.correlation_data))

    def report_config(self, report: ConfigReported) -> bool:
        if report.status == "applied":
            self.applied_config_version = report.applied_version
        return self._send(OutMessage(self.topics.config_reported, report.to_bytes(), retain=True))

    def publish_status(self, status: Status) -> bool:
        """Publish retained now (if connected) and use it as the birth message after reconnects."""
        self._birth = status.to_bytes()
        return self._send(OutMessage(self.topics.status, self._birth, retain=True))

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
                log.error(
                    "broker refused %s on %s: %s (%d); dropped",
                    row.kind,
                    row.topic,
                    ack.reason,
                    ack.reason_code,
                )
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
