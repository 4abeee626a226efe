"""Simulated gallery service: answers gate gallery requests over MQTT v5 request/response.

The enrolled travellers come from a list or a callable ``flight_id -> [(gallery_id, photo_path)]``
(so the demo can feed it from ``gate_sim.scenario.Scenario.gallery()``). By default entries are
photos (the device embeds them); give ``embed`` (photo bytes -> float32 vector) to send templates.
Galleries are split into chunks of ``chunk_size`` entries. ``sabotage`` makes the next answer bad
on purpose, for tests of the device's validation.

    svc = GalleryService(MqttConfig(port=...), entries=[("P001", Path(".../img1.jpg")), ...]).start()
    ...
    svc.served  # [(gate, flight, gallery_version, digest)]: compare with the wipe attestation
    svc.enrolments  # [(gate, EnrolmentReport)]: how each gate enrolled the photos it was sent
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from edge.messaging.client import MessagingError, MqttClient, OutMessage
from edge.messaging.envelope import Signer, display_json
from edge.messaging.schemas import (
    EnrolmentReport,
    GalleryChunk,
    GalleryEntry,
    GalleryManifest,
    GalleryRequest,
    ManifestEntry,
    gallery_digest,
)
from edge.messaging.settings import MqttConfig
from edge.messaging.topics import FleetTopics, Topics

log = logging.getLogger(__name__)

EntrySource = Sequence[tuple[str, Path]] | Callable[[str], Sequence[tuple[str, Path]]]
Sabotage = Literal["wrong_model", "expired", "bad_template", "duplicate_id", "malformed", "wrong_gate", "wrong_flight",
                   "substitute"]


@dataclass(frozen=True)
class Served:
    gate: str
    flight_id: str
    gallery_version: int
    entries: int
    digest: str


def passport_jpeg(data: bytes, max_side: int | None) -> bytes:
    """A photo as a gallery service would hold it: JPEG, at most ``max_side`` pixels on its long side.

    Passport and visa photos are small (ICAO 9303 portraits are a few hundred pixels across and tens
    of kilobytes); test photos straight from a camera are megabytes. ``None`` sends the file as it is.
    """
    if max_side is None:
        return data
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return data  # let the gate reject what it cannot decode
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    image.fill(0)
    return encoded.tobytes() if ok else data


class GalleryService:
    def __init__(
        self,
        mqtt: MqttConfig,
        entries: EntrySource,
        *,
        embedding_model: str = "sface_2021dec",
        dim: int = 128,
        embed: Callable[[bytes], np.ndarray] | None = None,
        chunk_size: int = 8,
        max_chunk_bytes: int = 1024 * 1024,
        ttl: timedelta = timedelta(hours=6),
        gallery_version: int = 1,
        client_id: str = "gallery-service",
        photo_max_side: int | None = 640,
        signer: Signer | None = None,
    ) -> None:
        self.mqtt = mqtt
        self.entries = entries
        self.embedding_model = embedding_model
        self.dim = dim
        self.embed = embed
        self.chunk_size = max(1, chunk_size)
        self.max_chunk_bytes = max_chunk_bytes
        self.ttl = ttl
        self.gallery_version = gallery_version
        self.photo_max_side = photo_max_side
        self.signer = signer  # the gallery authority's key: signs each gallery's manifest
        self.sabotage: Sabotage | None = None
        self.served: list[Served] = []
        self.errors: list[str] = []
        self.enrolments: list[tuple[str, EnrolmentReport]] = []
        self._topics = FleetTopics.from_config(mqtt)
        filt = f"{mqtt.gate_prefix}/+/gallery/request"
        self.client = MqttClient(mqtt, client_id, subscriptions=[filt, self._topics.every_gate("gallery_enrolment")])
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 5.0) -> GalleryService:
        self.client.start()
        if not self.client.wait_connected(timeout):
            raise RuntimeError(f"gallery service: no broker at {self.mqtt.host}:{self.mqtt.port}")
        self._thread = threading.Thread(target=self._serve, name="gallery-service", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        self.client.stop()

    def _serve(self) -> None:
        while not self._stop.is_set():
            msg = self.client.get(0.2)
            if msg is None:
                continue
            try:
                gate = self._topics.gate_of(msg.topic)
                if gate and msg.topic == Topics.from_config(gate, self.mqtt).gallery_enrolment:
                    self._enrolled(gate, msg.payload)
                    continue
                req = GalleryRequest.model_validate_json(msg.payload)
                if not msg.response_topic:
                    raise ValueError("request without a response topic")
                self.answer(req, msg.response_topic, msg.correlation_data or req.request_id.encode())
            except (ValueError, OSError, MessagingError) as e:  # pydantic errors are ValueErrors
                self.errors.append(str(e))
                log.warning("gallery service: bad request on %s: %s", msg.topic, e)

    def _enrolled(self, gate: str, payload: bytes) -> None:
        """Record a gate's enrolment report (the signature is the gate's; a simulation does not check it)."""
        report = EnrolmentReport.model_validate(display_json(payload))
        self.enrolments.append((gate, report))
        counts = Counter(e.verdict for e in report.entries)
        log.info("gallery service: %s enrolled %s v%d: %s", gate, report.flight_id, report.gallery_version,
                 ", ".join(f"{n} {v}" for v, n in sorted(counts.items())) or "no photos")

    def _list(self, flight_id: str) -> Sequence[tuple[str, Path]]:
        return self.entries(flight_id) if callable(self.entries) else self.entries

    def _entry(self, gid: str, path: Path) -> GalleryEntry:
        data = Path(path).read_bytes()
        if self.embed is None:
            return GalleryEntry(id=gid, photo=base64.b64encode(passport_jpeg(data, self.photo_max_side)).decode())
        vec = np.asarray(self.embed(data), dtype="<f4").reshape(-1)
        return GalleryEntry(id=gid, template=base64.b64encode(vec.tobytes()).decode())

    def build(self, gate: str, flight_id: str, request_id: str = "unrequested") -> list[bytes]:
        """The chunk payloads of a flight's gallery for a gate's request (sabotage applied, then cleared).
        With a signer, chunk 0 carries the manifest of every entry, signed for this request."""
        bad, self.sabotage = self.sabotage, None
        entries = [self._entry(g, p) for g, p in self._list(flight_id)]
        now = datetime.now(timezone.utc)
        expires = now - timedelta(minutes=1) if bad == "expired" else now + self.ttl
        manifest = None
        if self.signer is not None and entries:
            manifest = sign_manifest(self.signer, gate, flight_id, request_id, self.gallery_version,
                                     self.embedding_model, self.dim, expires, len(self._split(entries)), entries)
        if bad == "substitute" and len(entries) >= 2:  # an impostor's photo under a listed id, after signing
            entries[0] = GalleryEntry(id=entries[0].id, photo=entries[1].photo, template=entries[1].template)
        if bad == "duplicate_id" and entries:
            entries.append(entries[0])
        if bad == "bad_template" and entries:
            entries[0] = GalleryEntry(id=entries[0].id, template=base64.b64encode(b"\0" * 12).decode())
        chunks = self._split(entries)
        out = []
        for i, part in enumerate(chunks):
            body = {
                "schema": GalleryChunk.SCHEMA,
                "gate": "other-gate" if bad == "wrong_gate" else gate,
                "flight_id": "OTHER01" if bad == "wrong_flight" else flight_id,
                "gallery_version": self.gallery_version,
                "embedding_model": "arcface_r100" if bad == "wrong_model" else self.embedding_model,
                "dim": self.dim,
                "expires_at": expires.isoformat(),
                "chunk_index": i,
                "chunk_count": len(chunks),
                "total_entries": len(entries),
                "entries": [e.model_dump(exclude_none=True) for e in part],
            }
            if i == 0 and manifest is not None:
                body["manifest"] = manifest
            payload = json.dumps(body).encode()
            out.append(payload[:-7] if bad == "malformed" else payload)
        return out

    def _split(self, entries: list[GalleryEntry]) -> list[list[GalleryEntry]]:
        """Chunks of at most ``chunk_size`` entries and (roughly) ``max_chunk_bytes`` each."""
        chunks: list[list[GalleryEntry]] = [[]]
        size = 0
        for e in entries:
            n = len(e.photo or e.template or "") + 64
            if chunks[-1] and (len(chunks[-1]) >= self.chunk_size or size + n > self.max_chunk_bytes):
                chunks.append([])
                size = 0
            chunks[-1].append(e)
            size += n
        return chunks

    def answer(self, req: GalleryRequest, response_topic: str, correlation: bytes) -> Served:
        chunks = self.build(req.gate, req.flight_id, req.request_id)
        for payload in chunks:
            # Photos at QoS 0: the broker never queues a gallery for an offline gate, nor writes it to
            # mosquitto.db; the gate asks again. The expiry keeps one from outliving the request's time-out.
            msg = OutMessage(response_topic, payload, qos=0, message_expiry_s=30, correlation_data=correlation)
            self.client.publish(msg).wait(5.0)
        n = sum(len(json.loads(c).get("entries", [])) for c in chunks if c.endswith(b"}"))
        served = Served(req.gate, req.flight_id, self.gallery_version, n, gallery_digest(chunks))
        self.served.append(served)
        log.info("gallery service: sent %s to %s (%d entries, %d chunks)", req.flight_id, req.gate, n, len(chunks))
        return served


def sign_manifest(signer: Signer, gate: str, flight_id: str, request_id: str, version: int, model: str, dim: int,
                  expires_at: datetime, chunk_count: int, entries: Sequence[GalleryEntry]) -> str:
    """The gallery authority's signed manifest: every entry's sha256 over its decoded bytes."""
    listed = [ManifestEntry(id=e.id, sha256=hashlib.sha256(base64.b64decode(e.photo or e.template or "")).hexdigest())
              for e in entries]
    m = GalleryManifest(gate=gate, flight_id=flight_id, request_id=request_id, gallery_version=version,
                        embedding_model=model, dim=dim, issued_at=datetime.now(timezone.utc), expires_at=expires_at,
                        chunk_count=chunk_count, entries=listed)
    return signer(m.to_bytes()).decode()


def entries_from_faces(
    faces_dir: Path, identities: Sequence[str] | None = None, max_bytes: int = 2 * 1024 * 1024
) -> list[tuple[str, Path]]:
    """One (opaque id, first photo under ``max_bytes``) per identity folder: a quick gallery."""
    out = []
    for i, d in enumerate(sorted(p for p in Path(faces_dir).iterdir() if p.is_dir())):
        if identities is not None and d.name not in identities:
            continue
        photos = sorted(
            p for p in d.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png") and p.stat().st_size <= max_bytes
        )
        if photos:
            out.append((f"T{i:04d}", photos[0]))
    return out
