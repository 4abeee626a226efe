"""`gate-edge gallery-bench`: bytes and time to deliver one flight's gallery, photos vs templates,
per-gate requests vs one shared flight topic; prints JSON.

Per-gate requests are what gate-edge does: each of the flight's K gates asks for the gallery with
its real :class:`GateLink` and receives its own copy, with a manifest signed for its request (so a
copy cannot be replayed to another gate or later). The shared flight topic is measured here only,
as the alternative: the gallery authority publishes the flight's gallery once on a topic the K
gates subscribe to (QoS 0, a message expiry, never retained: nothing for the broker to keep), with
a manifest signed for the flight and the publication, and each gate checks every chunk against it
as the product does (schema, manifest signature, base64 decoding into wipeable buffers, each
entry's sha256). The broker still sends K copies out; what one publication saves is the gallery
authority's uplink and signing, and, with a broker per site bridged to the centre, the WAN: one
copy per site crosses the bridge instead of one per gate.

    gate-edge gallery-bench --gates-per-flight 1 4 8
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edge.messaging.client import MqttClient
from edge.messaging.envelope import EnvelopeRefused, Signer, TrustAnchors, load_or_create_private_key
from edge.messaging.intake import decode_entries
from edge.messaging.link import GalleryReady, GateLink
from edge.messaging.schemas import GalleryChunk, GalleryManifest
from edge.messaging.settings import MqttConfig
from gate_sim.broker import Broker
from gate_sim.fleet_bench_infra import DIM, EMBEDDER_ID, BenchGalleryServer, GalleryKind, percentiles
from gate_sim.fleet_bench_report import gallery_photos
from gate_sim.world import make_pki, wait_until

# The benchmark's own topic for the shared alternative (not part of gate-edge's protocol).
SHARED_TOPIC = "bench/v1/flight/{flight}/gallery"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gallery-size", type=int, default=420)
    parser.add_argument("--gates-per-flight", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--repeat", type=int, default=3, help="deliveries per case (the median is reported)")
    parser.add_argument("--faces", type=Path, default=None)
    parser.add_argument("--lfw", type=Path, default=None)
    parser.add_argument("--enrol", action="store_true",
                        help="also time what the gate does before a gallery is searchable: embed every photo "
                             "(the real models) or take the templates as they are")
    parser.add_argument("--json", action="store_true")


def enrol_cost(photos: list[tuple[str, bytes]]) -> dict[str, Any]:
    """Seconds for a gate (this machine, the real models) to make the received gallery searchable:
    ``build_live_gallery`` as the daemon's loader runs it, on the photos and on templates."""
    import numpy as np

    from edge.core.gallery import Gallery, GalleryItem
    from edge.daemon.gallery_loader import build_live_gallery
    from edge.evaluation.setup import load_models, make_analyser

    analyser = make_analyser(load_models(argparse.Namespace()))
    out: dict[str, Any] = {}
    rng = np.random.default_rng(1)
    for kind in ("photo", "template"):
        items = [GalleryItem(gid, photo=np.frombuffer(jpeg, np.uint8).copy()) if kind == "photo" else
                 GalleryItem(gid, template=rng.standard_normal(DIM).astype(np.float32)) for gid, jpeg in photos]
        gallery = Gallery("bench", "F1", 1, EMBEDDER_ID, DIM, datetime.now(timezone.utc), items, "0" * 64)
        t0 = time.perf_counter()
        live = build_live_gallery(gallery, analyser, 100_000)
        out[kind] = {"seconds": round(time.perf_counter() - t0, 2), "searchable": live.entries}
        live.wipe()
    return out


class SharedReceiver:
    """A gate of the flight on the shared topic, checking each chunk as the product does."""

    def __init__(self, mqtt: MqttConfig, name: str, topic: str, trust: TrustAnchors) -> None:
        self.client = MqttClient(mqtt, name, subscriptions=[topic], qos0=[topic])
        self.trust = trust
        self.reset()

    def reset(self) -> None:
        self.signed: dict[str, str] | None = None
        self.chunks: dict[int, int] = {}
        self.count: int | None = None
        self.done_at: float | None = None
        self.problem: str | None = None
        self.bytes = 0

    def pump(self) -> None:
        while (m := self.client.get()) is not None:
            self.bytes += len(m.payload)
            try:
                self._chunk(GalleryChunk.model_validate_json(m.payload))
            except (ValidationError, EnvelopeRefused) as exc:
                self.problem = type(exc).__name__

    def _chunk(self, c: GalleryChunk) -> None:
        if c.chunk_index == 0:
            assert c.manifest is not None
            manifest = GalleryManifest.model_validate_json(self.trust.open(c.manifest.encode(), "gallery_authority"))
            self.signed = {e.id: e.sha256 for e in manifest.entries}
        items = decode_entries(c, 2 * 1024 * 1024, 24_000_000)
        if isinstance(items, tuple):
            self.problem = items[0]
            return
        for it in items:  # the manifest arrives first (chunk 0 is published first, QoS 0 in order)
            buf = it.photo if it.photo is not None else it.template
            assert buf is not None
            if self.signed is None or self.signed.get(it.id) != hashlib.sha256(buf.data).hexdigest():
                self.problem = "unsigned entry"
            it.wipe()
        self.chunks[c.chunk_index] = len(items)
        self.count = c.chunk_count
        if len(self.chunks) == self.count:
            self.done_at = time.monotonic()


def _per_gate(links: list[GateLink], flight: str) -> dict[str, Any]:
    t0 = time.monotonic()
    pending = {link.topics.gate_id: link for link in links}
    for link in links:
        link.request_gallery(flight)
    done: dict[str, float] = {}
    deadline = t0 + 60
    while pending and time.monotonic() < deadline:
        for gid, link in list(pending.items()):
            for item in link.poll(0.0):
                if isinstance(item, GalleryReady):
                    done[gid] = time.monotonic() - t0
                    item.gallery.wipe()
                    del pending[gid]
        time.sleep(0.005)
    if pending:
        raise RuntimeError(f"per-gate delivery: {len(pending)} gates without a gallery after 60 s")
    return {"all_ms": max(done.values()) * 1e3, "per_gate_ms": sorted(v * 1e3 for v in done.values())}


def _shared(server: BenchGalleryServer, receivers: list[SharedReceiver], flight: str) -> dict[str, Any]:
    for r in receivers:
        r.reset()
    t0 = time.monotonic()
    sent = server.publish_shared(SHARED_TOPIC.format(flight=flight), flight)
    deadline = t0 + 60
    while any(r.done_at is None for r in receivers) and time.monotonic() < deadline:
        for r in receivers:
            r.pump()
        time.sleep(0.005)
    problems = [r.problem for r in receivers if r.problem or r.done_at is None]
    if problems:
        raise RuntimeError(f"shared delivery failed: {problems}")
    times = sorted((r.done_at or t0) - t0 for r in receivers)
    return {"all_ms": times[-1] * 1e3, "per_gate_ms": [t * 1e3 for t in times], "published_bytes": sent,
            "delivered_bytes": sum(r.bytes for r in receivers)}


def _median_case(runs: list[dict[str, Any]]) -> dict[str, Any]:
    best = sorted(runs, key=lambda r: r["all_ms"])[len(runs) // 2]
    per = percentiles(best["per_gate_ms"], (50, 95), 1)
    return {"all_gates_ms": round(best["all_ms"], 1), "per_gate_ms": {"p50": per["p50"], "p95": per["p95"]}}


def gallery_bench(args: argparse.Namespace, say: Any) -> dict[str, Any]:
    photos = gallery_photos(args.faces, args.lfw, args.gallery_size)
    out: dict[str, Any] = {"gallery_size": args.gallery_size, "repeat": args.repeat, "broker": "mosquitto"}
    with tempfile.TemporaryDirectory(prefix="gallery-bench-") as tmp, Broker(workdir=Path(tmp) / "mosquitto") as b:
        work = Path(tmp)
        signers = make_pki(work)
        trust = TrustAnchors.load(work / "trust")
        mqtt = MqttConfig(host=b.host, port=b.port)
        kinds: tuple[GalleryKind, ...] = ("photo", "template")
        for kind in kinds:
            server = BenchGalleryServer(mqtt, photos, signers["gallery_authority"], kind=kind,
                                        client_id=f"gallery-{kind}").start()
            one = server.payloads("g0", "F1", "r1")
            case: dict[str, Any] = {"gallery_bytes": sum(map(len, one)), "chunks": len(one),
                                    "bytes_per_entry": round(sum(map(len, one)) / args.gallery_size)}
            for k in args.gates_per_flight:
                say(f"{kind}: {k} gates per flight")
                links = [GateLink(f"{kind[0]}{k}g{i}", mqtt, work / "state" / f"{kind}{k}-{i}",
                                  embedder_id=EMBEDDER_ID, embedder_dim=DIM, trust=trust,
                                  signer=Signer("gate", load_or_create_private_key(work / f"{kind}{k}-{i}.pem")))
                         for i in range(k)]
                topic = SHARED_TOPIC.format(flight=f"S{k}")
                receivers = [SharedReceiver(mqtt, f"shared-{kind}-{k}-{i}", topic, trust) for i in range(k)]
                for c in [link.client for link in links] + [r.client for r in receivers]:
                    c.start()
                    wait_until(lambda c=c: c.wait_subscribed(0.1), 10, "a subscription")  # type: ignore[misc]
                per_gate = [_per_gate(links, f"P{k}") for _ in range(args.repeat)]
                shared = [_shared(server, receivers, f"S{k}") for _ in range(args.repeat)]
                case[f"{k}_gates"] = {
                    "per_gate_requests": {**_median_case(per_gate), "bytes_into_broker": k * case["gallery_bytes"],
                                          "bytes_out_of_broker": k * case["gallery_bytes"], "signatures": k},
                    "shared_flight_topic": {**_median_case(shared), "bytes_into_broker": shared[0]["published_bytes"],
                                            "bytes_out_of_broker": shared[0]["delivered_bytes"], "signatures": 1},
                }
                for link in links:
                    link.stop(0.5)
                for r in receivers:
                    r.client.stop()
            server.stop()
            out[kind] = case
    if args.enrol:
        say("enrolling the gallery with the real models")
        out["gate_enrol"] = enrol_cost(photos)
    return out


def run(args: argparse.Namespace) -> int:
    say = (lambda _line: None) if args.json else (lambda line: print(line, file=sys.stderr, flush=True))
    try:
        result = gallery_bench(args, say)
    except Exception as exc:  # explain instead of a traceback
        print(f"gallery-bench failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=None if args.json else 1))
    return 0
