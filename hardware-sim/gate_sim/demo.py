"""`gate-edge demo`: board a simulated flight end to end, over a real (private) Mosquitto.

What runs: a private Mosquitto on a free loopback port, the simulated departure control (assigns the
flight), the simulated gallery service (answers the gate's request with the manifest's passport
photos), a fleet-admin client (watches events, sends one opt-out, closes the flight), and the real
daemon on the simulated camera. Every decision is scored against the scenario's ground truth by the
walk-up tag the simulated camera puts on its frames (never by anything biometric).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.camera.base import EndOfStream
from edge.daemon.metrics import percentiles

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SCENARIO = REPO / "hardware-sim" / "scenarios" / "demo_flight.yaml"
GATE = "demo-gate-1"
FLIGHT = "DEMO123"


class GatedDevice:
    """Wraps the simulated camera: an empty scene until boarding starts, and a frame counter.

    A real gate shows an empty lane until the gallery is live; here the walk-ups start only then,
    so the demo measures the gate and not the gallery download.
    """

    def __init__(self, device: Any, on_frame: Callable[[int], None]) -> None:
        self._device = device
        self.name = device.name
        self.boarding = threading.Event()
        self.ended = threading.Event()
        self._on_frame = on_frame
        self._index = 0
        cam = device.scenario.camera
        self._blank = (cam.height, cam.width)
        self._period = 1.0 / cam.fps

    def open(self) -> None:
        self._device.open()

    def close(self) -> None:
        self._device.close()

    def read(self) -> tuple[np.ndarray, str | None]:
        if not self.boarding.is_set() or self.ended.is_set():
            time.sleep(self._period)
            return np.full((*self._blank, 3), 60, np.uint8), None
        try:
            frame, tag = self._device.read()
        except EndOfStream:
            self.ended.set()
            return np.full((*self._blank, 3), 60, np.uint8), None
        self._on_frame(self._index)
        self._index += 1
        return frame, tag


@dataclass
class Collected:
    events: list[dict[str, Any]] = field(default_factory=list)
    wipes: list[dict[str, Any]] = field(default_factory=list)
    status: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--faces", type=Path, default=None, help="labelled faces folder (default: ../shared/faces)")
    parser.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO)
    parser.add_argument("--json", action="store_true", help="print only the summary, as one JSON object")
    parser.add_argument("--seed", type=int, default=None)


def run(args: argparse.Namespace) -> int:
    from edge.system.logsetup import setup_logging

    setup_logging()
    # The demo narrates each step and decision itself; the daemon's own log only for what goes wrong.
    logging.getLogger().setLevel(logging.WARNING)
    try:
        summary = board(args.scenario, args.faces, seed=args.seed,
                        show=None if args.json else _show)
    except Exception as exc:  # the demo explains failures instead of a traceback
        logging.getLogger("gate_sim.demo").exception("demo failed")
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(summary))
    else:
        _print_summary(summary)
    return 0 if summary["wrong"] == 0 and summary["wipe_attested"] else 1


def _show(line: str) -> None:
    print(line, flush=True)


def board(scenario_path: Path, faces: Path | None, seed: int | None = None,
          show: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the whole simulated flight in real time (the camera's frame rate); returns the summary.

    Real time on purpose: the gate sees frames at the camera's rate and drops what it cannot keep up
    with, which is what the latency and the decisions should be measured under.
    """
    from edge.camera.capture import CaptureWorker
    from edge.config.schema import (
        CaptureConfig,
        DetectionConfig,
        GateConfig,
        SimulatedCamera,
        TelemetryConfig,
    )
    from edge.daemon.gate import GateDaemon
    from edge.evaluation.data import default_faces
    from edge.messaging.topics import Topics
    from gate_sim.camera import SimulatedCameraDevice
    from gate_sim.fleet_admin import FleetAdmin
    from gate_sim.scenario import load_scenario
    from gate_sim.world import private_world, wait_until

    faces = faces or default_faces()
    scenario = load_scenario(scenario_path, faces_dir=faces, seed=seed)
    truth = {t.walk_id: t for t in scenario.truth()}
    opt_out_walks = [t for t in truth.values() if t.expected == "opt_out"]
    say = show or (lambda _line: None)
    say(f"scenario {scenario.spec.name}: {len(scenario.gallery())} travellers on the manifest, "
        f"{len(truth)} walk-ups ({sum(t.expected == 'no_match' for t in truth.values())} not on the flight, "
        f"{len(opt_out_walks)} opting out)")

    collected = Collected()
    with tempfile.TemporaryDirectory(prefix="gate-edge-demo-") as tmp, private_world(scenario.gallery()) as world:
        mqtt, dcs = world.mqtt, world.dcs
        topics = Topics.from_config(GATE, mqtt)
        say(f"private Mosquitto on {mqtt.host}:{mqtt.port}")
        admin = FleetAdmin(mqtt, client_id="demo-admin").start([topics.events, topics.wipe, topics.status])
        stop_watch = threading.Event()
        watcher_args = (admin, topics, collected, say, stop_watch)
        watcher = threading.Thread(target=_watch, args=watcher_args, daemon=True)
        watcher.start()

        fps = scenario.camera.fps
        opt_out_frames = {max(0, t.first_frame - int(0.3 * fps)): t for t in opt_out_walks}

        def on_frame(index: int) -> None:
            walk = opt_out_frames.pop(index, None)
            if walk is not None:
                say(f"officer: traveller {walk.walk_id} opts out")
                threading.Thread(target=admin.command, args=(GATE, "opt_out", {}), daemon=True).start()

        device = GatedDevice(SimulatedCameraDevice(scenario, realtime=True, loop=False), on_frame)
        cfg = GateConfig(
            gate_id=GATE, state_dir=Path(tmp) / "state",
            camera=SimulatedCamera(scenario=scenario_path, faces_dir=faces),
            # The lane is the middle half of the picture: people queueing at the sides are bystanders.
            detection=DetectionConfig(capture_zone=(0.25, 0.0, 0.75, 1.0)),
            capture=CaptureConfig(stall_timeout_s=5.0), mqtt=mqtt, telemetry=TelemetryConfig(interval_s=5),
        )
        say("loading the face models")
        daemon = GateDaemon(cfg, source=CaptureWorker(device, cfg.capture))
        runner = threading.Thread(target=daemon.run, name="gate-daemon", daemon=True)
        runner.start()
        t0 = time.monotonic()
        dcs.assign(GATE, FLIGHT)
        say(f"departure control: flight {FLIGHT} boards at gate {GATE}")
        wait_until(lambda: collected.status.get("gallery", {}).get("state") == "live", 120, "the gallery to go live")
        g = collected.status["gallery"]
        say(f"gallery live after {time.monotonic() - t0:.1f} s: {g['entries']} travellers; boarding starts")
        device.boarding.set()
        wait_until(device.ended.is_set, 3600, "the scenario to end")
        # Let the last traveller's transaction finish, then close the flight.
        time.sleep(1.0)
        reply = admin.command(GATE, "close_flight", {"flight_id": FLIGHT}, timeout=10)
        say(f"officer: close flight -> {reply.get('result') if reply else 'no reply'}")
        wait_until(lambda: any(w.get("reason") == "flight_close" for w in collected.wipes), 15,
                   "the wipe attestation")
        daemon.stop()
        runner.join(timeout=15)
        published = daemon.link.stats.events_published
        time.sleep(0.3)
        stop_watch.set()
        watcher.join(timeout=5)
        admin.stop()
        return _score(collected, truth, published, daemon)


def _watch(admin: Any, topics: Any, out: Collected, say: Callable[[str], None], stop: threading.Event) -> None:
    while not stop.is_set():
        msg = admin.client.get(0.1)
        if msg is None:
            continue
        try:
            body = json.loads(msg.payload)
        except ValueError:
            continue
        with out.lock:
            if msg.topic == topics.events:
                out.events.append(body)
                tag = body.get("source_tag") or "-"
                score = body.get("score")
                say(f"  [{tag:>5}] {body['outcome']:<18} {body.get('matched_id') or '':<15} "
                    f"score={'-' if score is None else f'{score:.3f}'}  "
                    f"{body.get('latency_ms', {}).get('total', 0):.0f} ms")
            elif msg.topic == topics.wipe:
                out.wipes.append(body)
                say(f"  wipe attested: {body['entries_wiped']} entries, reason {body['reason']}, "
                    f"digest {str(body.get('received_sha256'))[:16]}…")
            elif msg.topic == topics.status:
                out.status = body


def _score(c: Collected, truth: dict[str, Any], published: int, daemon: Any) -> dict[str, Any]:
    by_tag: dict[str, list[dict[str, Any]]] = {}
    opt_out_events = 0
    for e in c.events:
        if e["outcome"] == "opt_out":
            opt_out_events += 1
        elif e.get("source_tag"):
            by_tag.setdefault(e["source_tag"], []).append(e)
    correct = wrong = missed = 0
    details = []
    for walk_id, t in truth.items():
        got = by_tag.get(walk_id, [])
        if t.expected == "opt_out":
            ok = not got  # an opted-out traveller must not be captured or decided
        elif not got:
            missed += 1
            ok = False
        else:
            e = got[0]
            ok = len(got) == 1 and e["outcome"] == t.expected and (
                t.expected != "match" or e.get("matched_id") == t.gallery_id)
        correct += ok
        wrong += not ok
        if not ok:
            details.append({"walk": walk_id, "expected": t.expected, "got": [e["outcome"] for e in got]})
    decided = [e for e in c.events if e["outcome"] != "opt_out"]
    lat = [e["latency_ms"]["total"] for e in decided if "total" in e.get("latency_ms", {})]
    p50, p95 = percentiles(lat)
    seqs = [e["seq"] for e in c.events]
    return {
        "transactions": len(decided),
        "walkups": len(truth),
        "correct": correct,
        "wrong": wrong,
        "missed": missed,
        "mistakes": details,
        "opt_outs": opt_out_events,
        "outcomes": {o: sum(e["outcome"] == o for e in c.events) for o in sorted({e["outcome"] for e in c.events})},
        "events_published": published,
        "events_received": len(c.events),
        "events_in_order": seqs == sorted(seqs) and len(set(seqs)) == len(seqs),
        "wipe_attested": any(w.get("reason") == "flight_close" for w in c.wipes),
        "wipes": [{"reason": w["reason"], "entries": w["entries_wiped"]} for w in c.wipes],
        "latency_ms": {"p50": p50, "p95": p95},
        "frames": daemon.metrics.frames,
        "frames_dropped": daemon.source.stats.dropped,
    }


def _print_summary(s: dict[str, Any]) -> None:
    print("\n=== boarding summary ===")
    print(f"walk-ups {s['walkups']}: transactions {s['transactions']}, correct {s['correct']}, wrong {s['wrong']}"
          f" (missed {s['missed']}), opt-outs {s['opt_outs']}")
    print(f"outcomes: {s['outcomes']}")
    print(f"events published {s['events_published']}, received {s['events_received']}, "
          f"in order: {s['events_in_order']}")
    print(f"latency first usable frame -> event: p50 {s['latency_ms']['p50']} ms, p95 {s['latency_ms']['p95']} ms")
    print(f"gallery wipe attested at flight close: {s['wipe_attested']}  ({s['wipes']})")
    for m in s["mistakes"]:
        print(f"  mistake: {m}")
