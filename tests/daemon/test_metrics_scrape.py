"""A scrape of the metrics endpoint during a simulated boarding agrees with what the run did.

The demo's flight on the tiny scenario (gate_sim.world: a real Mosquitto, departure control, the
gallery service, the real models and photos, the simulated camera; the gate built by the product's
composition root with ``metrics.enabled``), scraped over HTTP once every walk-up is decided: every
metric is there, the decisions by outcome are the events a watcher received, the frames add up with
the camera's, the gauges say what the retained status says, and the telemetry sent afterwards carries
the same figures.
"""

from __future__ import annotations

import collections
import socket
import threading
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gate_sim.camera import SimulatedCameraDevice
from gate_sim.demo import GatedDevice
from gate_sim.scenario import load_scenario
from gate_sim.watch import GateWatch
from gate_sim.world import RunningGate, private_world, wait_until
from prometheus_client.parser import text_string_to_metric_families
from support.mqtt import Watcher
from support.waiting import wait_for

from edge.camera.capture import CaptureWorker
from edge.config.schema import CaptureConfig, DetectionConfig, MetricsConfig, TelemetryConfig
from edge.core.decide import Phase
from edge.core.quality import QualityIssue
from edge.daemon.metrics import STAGES, cpu_temperatures

TINY = Path(__file__).resolve().parents[2] / "hardware-sim" / "scenarios" / "tiny.yaml"
GATE, FLIGHT = "metrics-gate", "MET001"
Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    out: Samples = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def by(samples: Samples, name: str, label: str) -> dict[str, float]:
    return {dict(k)[label]: v for k, v in samples[name].items()}


def value(samples: Samples, name: str) -> float:
    return samples[name][()]


def test_a_scrape_during_a_boarding_agrees_with_the_run(faces_dir: Path) -> None:
    scenario = load_scenario(TINY, faces_dir=faces_dir)
    truth = scenario.truth()
    camera = SimulatedCameraDevice(scenario, realtime=True, loop=False)
    port = free_port()
    with private_world(scenario.gallery()) as world:
        watch = GateWatch(world.mqtt, GATE, "metrics-watch").start()
        telemetry = Watcher(world.mqtt, [world.topics(GATE).telemetry], "metrics-telemetry")
        fps = scenario.camera.fps
        opt_outs = {max(0, t.first_frame - int(0.3 * fps)) for t in truth if t.expected == "opt_out"}

        def on_frame(index: int) -> None:  # the officer's opt-out just before that traveller arrives
            if index in opt_outs:
                threading.Thread(target=world.admin.command, args=(GATE, "opt_out", {}), daemon=True).start()

        device = GatedDevice(camera, on_frame)
        cfg = world.config(GATE, TINY, faces_dir=faces_dir,
                           detection=DetectionConfig(capture_zone=(0.25, 0.0, 0.75, 1.0)),
                           capture=CaptureConfig(stall_timeout_s=5.0), telemetry=TelemetryConfig(interval_s=1),
                           metrics=MetricsConfig(enabled=True, port=port))
        running = RunningGate(cfg, CaptureWorker(device, cfg.capture))
        url = f"http://127.0.0.1:{port}/metrics"
        try:
            world.board(GATE, FLIGHT)
            wait_until(lambda: watch.gallery_state == "live", 120, "the gallery to go live")
            device.boarding.set()
            wait_until(device.ended.is_set, 300, "the scenario to end")
            # The lane is empty from now on. Once the gate has taken two more frames (the last one with a
            # face may still have been waiting for it) and its decision machine is idle, no decision can
            # follow: what was published by then is all the run decides.
            gate, frames_at_end = running.gate, running.gate.metrics.frames
            wait_until(lambda: gate.metrics.frames >= frames_at_end + 2 and gate.machine.phase is Phase.IDLE, 60,
                       "the gate idle in the empty lane")
            wait_until(lambda: watch.received(list(running.published)), 30, "every published event")
            # The gauges are copied by the gate's loop once a second: wait for the acked outbox to show.
            wait_for(lambda: value(scrape(url), "gate_edge_outbox_depth") == 0, 30, "an empty outbox")
            scraped_at = datetime.now(timezone.utc)
            s = scrape(url)
            delivered = running.gate.source.stats.frames
            later = telemetry.wait(world.topics(GATE).telemetry,
                                   lambda t: datetime.fromisoformat(t["time"]) > scraped_at, 30,
                                   "telemetry sent after the scrape")
            status = watch.status
        finally:
            running.stop(timeout=15)
            telemetry.close()
        watch.stop()

    events = watch.events
    outcomes = collections.Counter(e["outcome"] for e in events)
    decisions = by(s, "gate_edge_decisions_total", "outcome")
    assert decisions == {o: float(outcomes[o]) for o in ("match", "no_match", "failure_to_acquire", "timeout",
                                                          "opt_out")}
    # A loaded machine may drop the frames of a short walk-up altogether: what counts is that the
    # endpoint says what the fleet received, whatever that was.
    assert sum(decisions.values()) == len(events) == len(running.published) > 0
    assert value(s, "gate_edge_transactions_total") == len(events) - outcomes["opt_out"]
    assert value(s, "gate_edge_failures_to_acquire_total") == outcomes["failure_to_acquire"]

    frames_in, dropped = value(s, "gate_edge_frames_in_total"), value(s, "gate_edge_frames_dropped_total")
    analysed = value(s, "gate_edge_frames_analysed_total")
    assert 0 < analysed <= frames_in and frames_in + dropped <= delivered
    assert sum(e["frames_used"] for e in events) <= analysed
    assert value(s, "gate_edge_frame_rate_fps") > 0

    latency = s["gate_edge_stage_latency_seconds_count"]
    counts = {dict(k)["stage"]: v for k, v in latency.items()}
    assert set(counts) == set(STAGES)
    assert counts["e2e"] == len(events) - outcomes["opt_out"]  # one end-to-end latency per decision
    assert counts["detect"] == counts["decide"] == analysed
    assert counts["embed"] <= counts["align"] <= analysed
    assert counts["embed"] >= outcomes["match"] + outcomes["no_match"]  # a match needs embedded frames

    rejections = by(s, "gate_edge_quality_rejections_total", "reason")
    assert set(rejections) == {q.value for q in QualityIssue}

    assert value(s, "gate_edge_broker_connected") == 1 and value(s, "gate_edge_outbox_depth") == 0
    health = by(s, "gate_edge_camera_health", "state")
    assert health[status["camera"]] == 1 and sum(health.values()) == 1
    gallery = by(s, "gate_edge_gallery_state", "state")
    assert gallery[status["gallery"]["state"]] == 1 == gallery["live"] and sum(gallery.values()) == 1
    assert value(s, "gate_edge_gallery_entries") == status["gallery"]["entries"] == len(scenario.gallery())
    assert value(s, "gate_edge_camera_reconnects_total") == 0
    assert value(s, "gate_edge_resident_memory_bytes") > 100 * 2**20  # the models are loaded
    assert value(s, "gate_edge_uptime_seconds") > 0
    temperatures = by(s, "gate_edge_cpu_temperature_celsius", "sensor") if cpu_temperatures() else {}
    assert set(temperatures) == set(cpu_temperatures())
    assert s["gate_edge_info"] == {(("gate", GATE), ("version", _version())): 1.0}

    # The telemetry sent after the scrape: the same counters (the lane is empty now, so nothing but
    # frames moves), and every new field filled.
    c: dict[str, Any] = later["counters"]
    assert (c["matches"], c["non_matches"], c["failures_to_acquire"], c["timeouts"], c["opt_outs"]) == (
        outcomes["match"], outcomes["no_match"], outcomes["failure_to_acquire"], outcomes["timeout"],
        outcomes["opt_out"])
    assert c["frames_in"] >= frames_in and c["frames_analysed"] >= analysed
    assert later["quality_rejections"] == {k: int(v) for k, v in rejections.items()}
    assert set(later["stage_latency_ms"]) == set(STAGES)
    assert later["stage_latency_ms"]["e2e"]["count"] == counts["e2e"]
    assert later["rss_bytes"] > 0 and later["uptime_s"] > 0 and later["frame_rate_fps"] > 0


def _version() -> str:
    from edge import __version__

    return __version__
