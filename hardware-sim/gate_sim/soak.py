"""`gate-edge soak`: run the whole gate for a set time and check that it stays up and does not leak.

What runs (all in this process except Mosquitto): a private broker, the simulated gallery service and
departure control, and the real gate (built by the product's composition root, as ``gate-edge run``
builds it) on the simulated camera, which loops over a flight built from the faces folder and
"unplugs" itself every ``--disconnect-every`` seconds for ``--disconnect-for``. Every
``--reassign-every`` seconds departure control moves the gate to a new flight, so galleries are
loaded, swapped and wiped over and over (the paths most likely to leak biometric buffers).

The report (one JSON object with ``--json``): seconds, frames, transactions by outcome, capture
restarts, camera degraded periods seen in the status messages, events published and received,
wipes, RSS after warm-up and gallery load, at the end, a series every ``--sample-every`` seconds,
and the least-squares RSS slope after the warm-up. Exit 1 when RSS grew more than
``--rss-tolerance-mb`` after the warm-up (``--warmup``, when the run is at least twice as long) or
the slope after it exceeds ``--slope-tolerance`` MB/min, the gate stopped early, or an event was lost.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import resource
import sys
import time
from pathlib import Path
from typing import Any

import yaml

GATE = "soak-gate"
log = logging.getLogger("gate_sim.soak")

# A flight at a modest resolution: every identity with two photos enrolled, four impostors, in a
# shuffled order, looping for as long as the soak runs.
SCENARIO: dict[str, Any] = {
    "name": "soak",
    "seed": 11,
    "camera": {"width": 640, "height": 360, "fps": 10},
    "conditions": {"start_size": 0.45, "end_size": 0.85, "noise": 2, "blur": 0.4},
    "walk_duration_s": 1.2,
    "gap_s": 0.5,
    "loop": True,
    "manifest": "auto",
    "generate": {"enrolled": "all", "impostors": 4, "opt_outs": 0, "order": "shuffled"},
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=240.0, help="how long to run after warm-up")
    parser.add_argument("--disconnect-every", type=float, default=20.0,
                        help="the simulated camera unplugs after this many seconds connected (0: never)")
    parser.add_argument("--disconnect-for", type=float, default=2.0, help="and stays unplugged this long")
    parser.add_argument("--reassign-every", type=float, default=60.0,
                        help="move the gate to a new flight this often (0: never)")
    parser.add_argument("--sample-every", type=float, default=10.0, help="RSS sample interval")
    parser.add_argument("--warmup", type=float, default=60.0,
                        help="seconds of the soak before RSS is judged (lazy allocations settle)")
    parser.add_argument("--rss-tolerance-mb", type=float, default=10.0,
                        help="allowed RSS growth from the end of the warm-up to the end")
    parser.add_argument("--slope-tolerance", type=float, default=1.0,
                        help="allowed RSS slope after the warm-up, MB/min")
    parser.add_argument("--faces", type=Path, default=None,
                        help="labelled faces folder (default: $GATE_EDGE_FACES or ../shared/faces)")
    parser.add_argument("--json", action="store_true", help="print only the report, as one JSON object")


def rss_mb() -> float:
    """Resident set size of this process now (Linux /proc; elsewhere the peak from getrusage)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 2)
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 2)


def slope_mb_per_min(series: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, MB) points in MB/min; None with fewer than three points."""
    if len(series) < 3:
        return None
    n = len(series)
    mt = sum(t for t, _ in series) / n
    mr = sum(r for _, r in series) / n
    den = sum((t - mt) ** 2 for t, _ in series)
    if den == 0:
        return None
    return round(sum((t - mt) * (r - mr) for t, r in series) / den * 60.0, 3)


def soak(
    seconds: float,
    disconnect_every: float | None,
    disconnect_for: float,
    reassign_every: float | None = 60.0,
    sample_every: float = 10.0,
    faces: Path | None = None,
    warmup: float = 60.0,
    say: Any = None,
) -> dict[str, Any]:
    """Run the gate for ``seconds`` (after warm-up and the first gallery) and return the report."""
    from edge.camera.capture import CaptureWorker
    from edge.config.schema import CaptureConfig, TelemetryConfig
    from edge.evaluation.data import default_faces
    from gate_sim.camera import SimulatedCameraDevice
    from gate_sim.scenario import parse_scenario
    from gate_sim.watch import GateWatch
    from gate_sim.world import RunningGate, private_world, wait_until

    say = say or (lambda _line: None)
    faces = faces or default_faces()
    spec = {**SCENARIO, "faces_dir": str(faces)}
    scenario = parse_scenario(spec, source="<soak scenario>")

    with private_world(scenario.gallery(), photo_max_side=320) as world:
        scenario_path = world.workdir / "soak.yaml"
        scenario_path.write_text(yaml.safe_dump(spec))
        watch = GateWatch(world.mqtt, GATE, "soak-watch").start()

        device = SimulatedCameraDevice(scenario, realtime=True, loop=True,
                                       disconnect_every_s=disconnect_every or None,
                                       disconnect_for_s=disconnect_for)
        cfg = world.config(GATE, scenario_path, faces_dir=faces,
                           capture=CaptureConfig(stall_timeout_s=1.0, reconnect_min_s=0.2, reconnect_max_s=1.0),
                           telemetry=TelemetryConfig(interval_s=10))
        say("loading the face models")
        running = RunningGate(cfg, CaptureWorker(device, cfg.capture))
        gate, runner, published = running.gate, running.runner, running.published
        try:
            flights = 1
            world.board(GATE, f"SOAK{flights:03d}")
            wait_until(lambda: watch.gallery_state == "live", 120, "the first gallery")
            gc.collect()
            rss_start = rss_mb()
            say(f"gallery live; soaking for {seconds:.0f} s (RSS {rss_start} MB)")
            t0 = time.monotonic()
            series: list[tuple[float, float]] = [(0.0, rss_start)]
            next_sample = t0 + sample_every
            next_flight = t0 + reassign_every if reassign_every else None
            stopped_early = False
            while (now := time.monotonic()) - t0 < seconds:
                if not runner.is_alive():
                    stopped_early = True
                    break
                if next_flight is not None and now >= next_flight:
                    flights += 1
                    world.board(GATE, f"SOAK{flights:03d}")  # the gate closes the old flight, loads the new one
                    next_flight += reassign_every or 0
                if now >= next_sample:
                    series.append((round(now - t0, 1), rss_mb()))
                    say(f"  {now - t0:5.0f} s: RSS {series[-1][1]} MB, {gate.metrics.transactions} transactions, "
                        f"camera {gate.source.health.value}, reconnects {gate.source.stats.reconnects}")
                    next_sample += sample_every
                time.sleep(0.2)  # the soak's own tick: reassignments and samples are due on the clock
            elapsed = time.monotonic() - t0
            gc.collect()
            rss_end = rss_mb()
            series.append((round(elapsed, 1), rss_end))
        finally:
            running.stop(timeout=30)  # also when the soak fails half-way: the gate must not outlive its world
        if runner.is_alive():
            raise RuntimeError("soak: the daemon did not stop within 30 s")
        # Counters are read once the daemon's loop has ended: a snapshot taken before the join missed
        # the frames handled in the last turns of the loop (camera_frames < frames, a flaky report).
        stats = gate.source.stats
        published_count = gate.link.stats.events_published
        with contextlib.suppress(TimeoutError):  # a shortfall is reported below
            wait_until(lambda: watch.received(list(published)), 10, "every published event")
        watch.stop()

    # Judged after the warm-up (onnxruntime arenas, first gallery swaps): the baseline is the first
    # sample at or after it, or the start when the run is shorter than the warm-up.
    settled = [(t, r) for t, r in series if t >= warmup] if elapsed >= 2 * warmup else series
    baseline = settled[0][1] if settled else rss_start
    outcomes = dict(gate.metrics.outcomes)
    reasons = [w["reason"] for w in watch.wipes]
    return {
        "seconds": round(elapsed, 1),
        "frames": gate.metrics.frames,
        "camera_frames": stats.frames,
        "frames_dropped": stats.dropped,
        "transactions": gate.metrics.transactions,
        "outcomes": outcomes,
        "capture_restarts": stats.reconnects,
        "camera_errors": stats.errors,
        "camera_degraded_periods": watch.degraded_periods,
        "flights": flights,
        "wipes": {r: reasons.count(r) for r in sorted(set(reasons))},
        "events_published": published_count,
        "events_received": watch.received_count(),
        "events_duplicated_on_wire": watch.duplicates,
        "stopped_early": stopped_early,
        "rss_mb": {
            "start": rss_start,
            "end": rss_end,
            "growth": round(rss_end - rss_start, 2),
            "warmup_s": warmup if elapsed >= 2 * warmup else 0.0,
            "baseline": baseline,
            "growth_after_warmup": round(rss_end - baseline, 2),
            "series": [[t, r] for t, r in series],
            "slope_mb_per_min": slope_mb_per_min(series),
            "slope_after_warmup": slope_mb_per_min(settled),
        },
    }


def verdict(report: dict[str, Any], tolerance_mb: float, slope_tolerance: float) -> list[str]:
    """Why the soak failed (empty: it passed)."""
    rss = report["rss_mb"]
    problems = []
    if report["stopped_early"]:
        problems.append("the daemon stopped before the end of the soak")
    if rss["growth_after_warmup"] > tolerance_mb:
        problems.append(f"RSS grew {rss['growth_after_warmup']} MB after the warm-up > {tolerance_mb} MB")
    slope = rss["slope_after_warmup"]
    if slope is not None and slope > slope_tolerance:
        problems.append(f"RSS slope after the warm-up {slope} MB/min > {slope_tolerance} MB/min")
    if report["events_received"] < report["events_published"]:
        problems.append(f"{report['events_published'] - report['events_received']} published events not received")
    return problems


def run(args: argparse.Namespace) -> int:
    from edge.system.logsetup import setup_logging

    setup_logging()
    logging.getLogger().setLevel(logging.WARNING if args.json else logging.INFO)
    say = None if args.json else (lambda line: print(line, flush=True))
    try:
        report = soak(args.seconds, args.disconnect_every, args.disconnect_for, args.reassign_every,
                      args.sample_every, args.faces, args.warmup, say)
    except Exception as exc:  # explain instead of a traceback
        log.exception("soak failed")
        print(f"soak failed: {exc}", file=sys.stderr)
        return 2
    problems = verdict(report, args.rss_tolerance_mb, args.slope_tolerance)
    report["ok"] = not problems
    report["problems"] = problems
    if args.json:
        print(json.dumps(report))
    else:
        print(json.dumps({k: v for k, v in report.items() if k != "rss_mb"}, indent=1))
        rss = report["rss_mb"]
        print("rss_mb: " + json.dumps({k: v for k, v in rss.items() if k != "series"}))
        print("rss_mb series (s, MB): " + " ".join(f"{t:.0f}:{r:.1f}" for t, r in rss["series"]))
        print("soak " + ("passed" if not problems else "FAILED: " + "; ".join(problems)))
    return 0 if not problems else 1
