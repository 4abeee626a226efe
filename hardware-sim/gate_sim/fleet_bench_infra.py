"""The world around the fleet benchmark's gates: a gallery server that keeps up with hundreds of
requests, the events consumer, and CPU/memory readings of processes from /proc.

:class:`BenchGalleryServer` answers every gate's gallery request exactly as the simulated gallery
service does (chunks at QoS 0 with a message expiry, chunk 0 carrying the manifest signed by the
gallery authority for that very request), but encodes the 420 photos or templates once, not per
request, so that the server's own CPU does not hide the broker's. It can also publish one flight's
gallery once on a shared topic (:meth:`BenchGalleryServer.publish_shared`), the alternative the
gallery study measures.

:class:`Consumer` is what the fleet's back office runs: it subscribes to every gate's events and
wipe attestations (QoS 1, a persistent session), keeps each event once by ``event_id`` and notes,
per gate, whether the sequence numbers arrived in order and how long after ``decided_at``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np

from edge.messaging.client import MessagingError, MqttClient, OutMessage
from edge.messaging.envelope import Signer, display_json
from edge.messaging.schemas import GalleryChunk, GalleryManifest, GalleryRequest, ManifestEntry
from edge.messaging.settings import MqttConfig

EMBEDDER_ID = "sface_2021dec"  # what the benchmark's gates say they have loaded
DIM = 128
GalleryKind = Literal["photo", "template"]
CHUNK_EXPIRY_S = 30  # as the gallery service: a chunk never outlives the gate's request time-out


def percentiles(values: Sequence[float], points: Sequence[int] = (50, 95, 99), digits: int = 1) -> dict[str, Any]:
    """``{"p50": ..., "n": ...}`` (None when there are no values), nearest-rank on the sorted values."""
    out: dict[str, Any] = {"n": len(values)}
    ordered = sorted(values)
    for p in points:
        if not ordered:
            out[f"p{p}"] = None
            continue
        k = min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))
        out[f"p{p}"] = round(ordered[k], digits)
    out["max"] = round(ordered[-1], digits) if ordered else None
    return out


# --------------------------------------------------------------------------- /proc readings
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` so far (None when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


@dataclass
class ProcWatch:
    """CPU and peak memory of a changing set of processes (a broker restarted gets a new pid)."""

    cpu: dict[int, float] = field(default_factory=dict)  # pid -> last CPU seconds seen
    peak_rss: float = 0.0
    last_rss: float = 0.0

    def sample(self, pids: Sequence[int]) -> None:
        total = 0.0
        for pid in pids:
            c = cpu_seconds(pid)
            if c is not None:
                self.cpu[pid] = c
            total += rss_mb(pid) or 0.0
        self.last_rss = total
        self.peak_rss = max(self.peak_rss, total)

    def cpu_total(self) -> float:
        return sum(self.cpu.values())


# --------------------------------------------------------------------------- gallery server
def _entries_for(kind: GalleryKind, photos: Sequence[tuple[str, bytes]]) -> list[tuple[str, str, str]]:
    """(id, base64 text, sha256 of the decoded bytes) per entry; templates are seeded unit vectors
    (their size and handling are a real template's; their values matter to no one here)."""
    out = []
    rng = np.random.default_rng(420)
    for gid, jpeg in photos:
        if kind == "photo":
            raw = jpeg
        else:
            v = rng.standard_normal(DIM).astype("<f4")
            raw = (v / np.linalg.norm(v)).astype("<f4").tobytes()
        out.append((gid, base64.b64encode(raw).decode(), hashlib.sha256(raw).hexdigest()))
    return out


_S = TypeVar("_S", bound="_Service")


class _Service:
    """A back-office client served by one thread: ``_serve`` runs until :meth:`stop`."""

    client: MqttClient
    _what: str

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=self._what, daemon=True)

    def start(self: _S, timeout: float = 10.0) -> _S:
        self.client.start()
        if not self.client.wait_connected(timeout) or not self.client.wait_subscribed(timeout):
            raise RuntimeError(f"{self._what}: cannot subscribe at the broker {self.client.broker}")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.client.stop()

    def _serve(self) -> None:
        raise NotImplementedError


class BenchGalleryServer(_Service):
    """The gallery authority's service for the benchmark; see the module doc."""

    _what = "bench-gallery"

    def __init__(self, mqtt: MqttConfig, photos: Sequence[tuple[str, bytes]], signer: Signer, *,
                 kind: GalleryKind = "photo", chunk_size: int | None = None, client_id: str = "bench-gallery") -> None:
        self.mqtt, self.signer, self.kind = mqtt, signer, kind
        self.entries = _entries_for(kind, photos)
        # Chunks of about 150 kB either way: 8 photos (as the gallery service sends them) or 128 templates.
        chunk_size = chunk_size or (8 if kind == "photo" else 128)
        self.chunks = [self.entries[i:i + chunk_size] for i in range(0, len(self.entries), chunk_size)]
        field_ = "photo" if kind == "photo" else "template"
        # Each chunk's entries as JSON text, made once: a request only adds its header.
        self._texts = [json.dumps([{"id": gid, field_: b64} for gid, b64, _ in c]) for c in self.chunks]
        self.client = MqttClient(mqtt, client_id, subscriptions=[f"{mqtt.gate_prefix}/+/gallery/request"])
        self.requests = 0
        self.bytes_sent = 0
        self.errors: list[str] = []
        super().__init__()

    def _serve(self) -> None:
        while not self._stop.is_set():
            msg = self.client.get(0.2)
            if msg is None:
                continue
            try:
                req = GalleryRequest.model_validate_json(msg.payload)
                if not msg.response_topic:
                    raise ValueError("request without a response topic")
                for payload in self.payloads(req.gate, req.flight_id, req.request_id):
                    self.client.publish(OutMessage(msg.response_topic, payload, qos=0, message_expiry_s=CHUNK_EXPIRY_S,
                                                   correlation_data=msg.correlation_data))
                    self.bytes_sent += len(payload)
                self.requests += 1
            except (ValueError, MessagingError) as exc:  # offline for a moment (a node lost): the gate asks again
                self.errors.append(f"{type(exc).__name__}: {exc}"[:200])

    def payloads(self, gate: str, flight_id: str, request_id: str, version: int = 1) -> list[bytes]:
        """The chunk payloads answering one request; chunk 0 carries the signed manifest."""
        expires = datetime.now(timezone.utc) + timedelta(hours=6)
        manifest = GalleryManifest(
            gate=gate, flight_id=flight_id, request_id=request_id, gallery_version=version,
            embedding_model=EMBEDDER_ID, dim=DIM, issued_at=datetime.now(timezone.utc), expires_at=expires,
            chunk_count=len(self.chunks), entries=[ManifestEntry(id=gid, sha256=sha) for gid, _, sha in self.entries])
        signed = self.signer(manifest.to_bytes()).decode()
        out = []
        for i, text in enumerate(self._texts):
            head = {"schema": GalleryChunk.SCHEMA, "gate": gate, "flight_id": flight_id, "gallery_version": version,
                    "embedding_model": EMBEDDER_ID, "dim": DIM, "expires_at": expires.isoformat(), "chunk_index": i,
                    "chunk_count": len(self.chunks), "total_entries": len(self.entries)}
            if i == 0:
                head["manifest"] = signed
            out.append((json.dumps(head)[:-1] + ', "entries": ' + text + "}").encode())
        return out

    def publish_shared(self, topic: str, flight_id: str) -> int:
        """One flight's gallery, once, on a topic every gate of the flight subscribes to (QoS 0, expiry,
        never retained). Its manifest can name no single gate nor request: it is signed for the
        flight (``gate`` ``"*"``-free placeholder ``flight``, ``request_id`` the publication's id).
        Returns the bytes published."""
        sent = 0
        for payload in self.payloads("flight", flight_id, f"pub{int(time.time() * 1000)}"):
            self.client.publish(OutMessage(topic, payload, qos=0, message_expiry_s=CHUNK_EXPIRY_S))
            sent += len(payload)
        return sent


# --------------------------------------------------------------------------- consumer
class Consumer(_Service):
    """The back office: every event and wipe attestation of every gate; see the module doc."""

    _what = "bench-consumer"

    def __init__(self, mqtt: MqttConfig, client_id: str = "bench-consumer") -> None:
        p = mqtt.gate_prefix
        self.client = MqttClient(mqtt, client_id, subscriptions=[f"{p}/+/events", f"{p}/+/wipe"],
                                 inbound_queue_size=200_000)
        self._lock = threading.Lock()
        self.event_ids: set[str] = set()
        self.wipe_ids: set[str] = set()
        self.wipes_by_reason: dict[str, int] = defaultdict(int)
        self.duplicates = 0
        self.out_of_order = 0
        self.latencies_ms: list[float] = []
        self._last_seq: dict[str, int] = {}
        self.received_bytes = 0
        super().__init__()

    def has(self, event_ids: Sequence[str], wipe_ids: Sequence[str]) -> bool:
        with self._lock:
            return self.event_ids.issuperset(event_ids) and self.wipe_ids.issuperset(wipe_ids)

    def _serve(self) -> None:
        while not self._stop.is_set():
            msg = self.client.get(0.1)
            if msg is None:
                continue
            now = time.time()
            try:
                body = display_json(msg.payload)  # the gate's signature is the auditor's business
            except ValueError:
                continue
            if not isinstance(body, dict):
                continue
            with self._lock:
                self.received_bytes += len(msg.payload)
                if msg.topic.endswith("/wipe"):
                    wid = str(body.get("attestation_id"))
                    if wid not in self.wipe_ids:
                        self.wipe_ids.add(wid)
                        self.wipes_by_reason[str(body.get("reason"))] += 1
                    continue
                self._event(body, now)

    def _event(self, body: dict[str, Any], now: float) -> None:
        event_id = str(body.get("event_id"))
        if event_id in self.event_ids:
            self.duplicates += 1  # a QoS 1 redelivery: kept once by id
            return
        self.event_ids.add(event_id)
        gate, seq = str(body.get("gate")), int(body.get("seq", 0))
        if seq <= self._last_seq.get(gate, 0):
            self.out_of_order += 1
        self._last_seq[gate] = max(seq, self._last_seq.get(gate, 0))
        decided = datetime.fromisoformat(str(body["decided_at"])).timestamp()
        self.latencies_ms.append((now - decided) * 1e3)
