"""`gate-edge demo`: board a simulated flight end to end, over a real (private) Mosquitto.

What runs: a private Mosquitto on a free loopback port, the simulated departure control (assigns the
flight), the simulated gallery service (answers the gate's request with the manifest's passport
photos), a fleet admin (sends one opt-out, closes the flight), a watcher of the gate's topics, and
the real gate, built by the product's composition root, on the simulated camera. Departure control,
the gallery service and the fleet admin sign what they send with the world's keys, which the gate
trusts as its anchors (``gate_sim.world``), exactly as a deployed gate checks them. Every decision is
scored against the scenario's ground truth: the event's ``started_at`` is held against the camera's
timeline of walk-ups (never anything biometric, and nothing the gate itself is told).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edge.camera.base import EndOfStream

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
DEFAULT_SCENARIO = SCENARIOS / "demo_flight.yaml"
GATE = "demo-gate-1"
FLIGHT = "DEMO123"
# After the scenario ends: how long the last decisions, and then the published events, may take to
# arrive before the demo goes on without them (and scores what is missing as missed).
DECISIONS_TIMEOUT_S = 15.0
DELIVERY_TIMEOUT_S = 10.0


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

    def read(self) -> np.ndarray:
        if not self.boarding.is_set() or self.ended.is_set():
            time.sleep(self._period)  # the empty lane, at the camera's frame rate
            return np.full((*self._blank, 3), 60, np.uint8)
        try:
            frame: np.ndarray = self._device.read()
        except EndOfStream:
            self.ended.set()
            return np.full((*self._blank, 3), 60, np.uint8)
        self._on_frame(self._index)
        self._index += 1
        return frame


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--faces", type=Path, default=None,
                        help="labelled faces folder (default: $GATE_EDGE_FACES, else ../shared/faces)")
    parser.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO)
    parser.add_argument("--json", action="store_true", help="print only the summary, as one JSON object")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--metrics-port", type=int, default=None, metavar="PORT",
                        help="turn the gate's metrics endpoint on (127.0.0.1:PORT), scrape it before the gate "
                             "stops and compare its decision counters with the events received")


def run(args: argparse.Namespace) -> int:
    from edge.system.logsetup import setup_logging

    setup_logging()
    # The demo narrates each step and decision itself; the daemon's own log only for what goes wrong.
    logging.getLogger().setLevel(logging.WARNING)
    try:
        summary = board(args.scenario, args.faces, seed=args.seed,
                        show=None if args.json else _show, metrics_port=args.metrics_port)
    except Exception as exc:  # the demo explains failures instead of a traceback
        logging.getLogger("gate_sim.demo").exception("demo failed")
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(summary))
    else:
        _print_summary(summary)
    agree = summary.get("metrics", {}).get("agree_with_events", True)
    return 0 if summary["wrong"] == 0 and summary["wipe_attested"] and agree else 1


def _show(line: str) -> None:
    print(line, flush=True)


def board(scenario_path: Path, faces: Path | None, seed: int | None = None,
          show: Callable[[str], None] | None = None, metrics_port: int | None = None) -> dict[str, Any]:
    """Run the whole simulated flight in real time (the camera's frame rate); returns the summary.

    Real time on purpose: the gate sees frames at the camera's rate and drops what it cannot keep up
    with, which is what the latency and the decisions should be measured under.
    """
    from edge.camera.capture import CaptureWorker
    from edge.config.schema import CaptureConfig, DetectionConfig, MetricsConfig, TelemetryConfig
    from edge.evaluation.data import default_faces
    from gate_sim.camera import SimulatedCameraDevice
    from gate_sim.scenario import load_scenario
    from gate_sim.watch import GateWatch
    from gate_sim.world import RunningGate, private_world, wait_until

    faces = faces or default_faces()
    scenario = load_scenario(scenario_path, faces_dir=faces, seed=seed)
    truth = {t.walk_id: t for t in scenario.truth()}
    opt_out_walks = [t for t in truth.values() if t.expected == "opt_out"]
    say = show or (lambda _line: None)
    say(f"scenario {scenario.spec.name}: {len(scenario.gallery())} travellers on the manifest, "
        f"{len(truth)} walk-ups ({sum(t.expected == 'no_match' for t in truth.values())} not on the flight, "
        f"{len(opt_out_walks)} opting out)")

    camera = SimulatedCameraDevice(scenario, realtime=True, loop=False)
    with private_world(scenario.gallery()) as world:
        admin = world.admin
        say(f"private Mosquitto on {world.mqtt.host}:{world.mqtt.port}")
        watch = GateWatch(world.mqtt, GATE, "demo-watch", on_event=lambda e: say(_event_line(e, camera)),
                          on_wipe=lambda w: say(_wipe_line(w))).start()

        fps = scenario.camera.fps
        opt_out_frames = {max(0, t.first_frame - int(0.3 * fps)): t for t in opt_out_walks}

        def on_frame(index: int) -> None:
            walk = opt_out_frames.pop(index, None)
            if walk is not None:
                say(f"officer: traveller {walk.walk_id} opts out")
                threading.Thread(target=admin.command, args=(GATE, "opt_out", {}), daemon=True).start()

        device = GatedDevice(camera, on_frame)
        cfg = world.config(
            GATE, scenario_path, faces_dir=faces,
            # The lane is the middle half of the picture: people queueing at the sides are bystanders.
            detection=DetectionConfig(capture_zone=(0.25, 0.0, 0.75, 1.0)),
            capture=CaptureConfig(stall_timeout_s=5.0), telemetry=TelemetryConfig(interval_s=5),
            metrics=MetricsConfig(enabled=metrics_port is not None, port=metrics_port or 9464),
        )
        say("loading the face models")
        running = RunningGate(cfg, CaptureWorker(device, cfg.capture))
        scrape: dict[str, Any] | None = None
        gate = running.gate
        try:
            t0 = time.monotonic()
            world.board(GATE, FLIGHT)
            say(f"departure control: flight {FLIGHT} boards at gate {GATE}")
            wait_until(lambda: watch.gallery_state == "live", 120, "the gallery to go live")
            g = watch.status["gallery"]
            say(f"gallery live after {time.monotonic() - t0:.1f} s: {g['entries']} travellers; boarding starts")
            device.boarding.set()
            wait_until(device.ended.is_set, 3600, "the scenario to end")
            # The last travellers may still be being decided (a failure to acquire needs them gone):
            # close the flight once every walk-up that should be decided has its event.
            deciding = {w for w, t in truth.items() if t.expected != "opt_out"}
            try:
                wait_until(lambda: deciding <= _decided(watch.events, camera), DECISIONS_TIMEOUT_S,
                           "the last decisions")
            except TimeoutError:
                say(f"no decision for {sorted(deciding - _decided(watch.events, camera))}; closing the flight")
            reply = admin.command(GATE, "close_flight", {"flight_id": FLIGHT}, timeout=10)
            say(f"officer: close flight -> {reply.get('result') if reply else 'no reply'}")
            wait_until(lambda: any(w.get("reason") == "flight_close" for w in watch.wipes), 15,
                       "the wipe attestation")
            if metrics_port is not None:
                scrape = _scrape(metrics_port)
        finally:
            running.stop(timeout=15)
        # Every event the gate published should reach the fleet: wait for each id, then score.
        with contextlib.suppress(TimeoutError):  # a shortfall shows in the summary
            wait_until(lambda: watch.received(list(running.published)), DELIVERY_TIMEOUT_S, "every published event")
        watch.stop()
        summary = _score(watch.events, watch.wipes, truth, camera, gate)
        if scrape is not None:
            summary["metrics"] = {**scrape, "agree_with_events": scrape["decisions"] == summary["outcomes"]}
        return summary


def _scrape(port: int) -> dict[str, Any]:
    """The gate's metrics endpoint as a scraper sees it: decisions by outcome and the frame counters."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    families = list(text_string_to_metric_families(text))
    samples = {(s.name, s.labels.get("outcome")): s.value for f in families for s in f.samples}
    decisions = {o: int(v) for (name, o), v in samples.items() if name == "gate_edge_decisions_total" and v}
    return {"families": len(families), "decisions": dict(sorted(decisions.items())),
            "frames_in": int(samples.get(("gate_edge_frames_in_total", None), 0)),
            "frames_dropped": int(samples.get(("gate_edge_frames_dropped_total", None), 0))}


def _decided(events: list[dict[str, Any]], camera: Any) -> set[str | None]:
    return {camera.timeline.walkup_of(e) for e in events if e["outcome"] != "opt_out"}


def _event_line(e: dict[str, Any], camera: Any) -> str:
    walk = "-" if e["outcome"] == "opt_out" else camera.timeline.walkup_of(e) or "?"
    score = e.get("score")
    return (f"  [{walk:>5}] {e['outcome']:<18} {e.get('matched_id') or '':<15} "
            f"score={'-' if score is None else f'{score:.3f}'}  {e.get('latency_ms', {}).get('total', 0):.0f} ms")


def _wipe_line(w: dict[str, Any]) -> str:
    return (f"  wipe attested: {w['entries_wiped']} entries, reason {w['reason']}, "
            f"digest {str(w.get('received_sha256'))[:16]}…")


def _score(events: list[dict[str, Any]], wipes: list[dict[str, Any]], truth: dict[str, Any], camera: Any,
           gate: Any) -> dict[str, Any]:
    from edge.daemon.metrics import percentiles

    by_walk: dict[str, list[dict[str, Any]]] = {}
    opt_out_events = 0
    for e in events:
        if e["outcome"] == "opt_out":
            opt_out_events += 1
        elif (walk := camera.timeline.walkup_of(e)) is not None:
            by_walk.setdefault(walk, []).append(e)
    correct = wrong = missed = 0
    details = []
    for walk_id, t in truth.items():
        got = by_walk.get(walk_id, [])
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
    decided = [e for e in events if e["outcome"] != "opt_out"]
    lat = [e["latency_ms"]["total"] for e in decided if "total" in e.get("latency_ms", {})]
    p50, p95 = percentiles(lat)
    seqs = [e["seq"] for e in events]
    return {
        "transactions": len(decided),
        "walkups": len(truth),
        "correct": correct,
        "wrong": wrong,
        "missed": missed,
        "mistakes": details,
        "opt_outs": opt_out_events,
        "outcomes": {o: sum(e["outcome"] == o for e in events) for o in sorted({e["outcome"] for e in events})},
        "events_published": gate.link.stats.events_published,
        "events_received": len(events),
        "events_in_order": seqs == sorted(seqs) and len(set(seqs)) == len(seqs),
        "wipe_attested": any(w.get("reason") == "flight_close" for w in wipes),
        "wipes": [{"reason": w["reason"], "entries": w["entries_wiped"]} for w in wipes],
        "latency_ms": {"p50": p50, "p95": p95},
        "frames": gate.metrics.frames,
        "frames_dropped": gate.source.stats.dropped,
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
    if "metrics" in s:
        m = s["metrics"]
        print(f"metrics scraped before stop: {m['families']} families, decisions {m['decisions']}, frames in "
              f"{m['frames_in']}, dropped {m['frames_dropped']}; agree with the events: {m['agree_with_events']}")
    for m in s["mistakes"]:
        print(f"  mistake: {m}")
