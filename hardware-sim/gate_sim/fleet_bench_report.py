"""The fleet benchmark's inputs (gallery photos, recorded decisions) and its report.

The gallery is the scenario's enrolled travellers (their gallery photos, passport-sized) filled up
to ``--gallery-size`` with one photo per LFW identity; the decisions are the scenario's walk-ups as
the gate decided them (match with the traveller's gallery id, no match, opt-out), replayed in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gate_sim.fleet_bench_infra import Consumer, GalleryKind, percentiles

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "demo_flight.yaml"


def gallery_photos(faces: Path | None, lfw: Path | None, size: int) -> list[tuple[str, bytes]]:
    """``size`` (gallery id, JPEG) pairs: the scenario's enrolled travellers first, then LFW."""
    from edge.evaluation.data import default_faces
    from gate_sim.gallery_service import passport_jpeg
    from gate_sim.scenario import index_faces, load_scenario

    faces = faces or default_faces()
    scenario = load_scenario(SCENARIO, faces_dir=faces)
    out = [(gid, passport_jpeg(path.read_bytes(), 250)) for gid, path in scenario.gallery()][:size]
    lfw = lfw or faces.parent / "lfw"
    fillers = [photos[0] for photos in index_faces(lfw).values()] if lfw.is_dir() else []
    if not fillers:  # no LFW here: the faces folder's photos again, under other ids
        fillers = [p for photos in index_faces(faces).values() for p in photos]
    i = 0
    while len(out) < size:
        path = fillers[i % len(fillers)]
        out.append((f"L-{i:05d}", passport_jpeg(path.read_bytes(), 250)))
        i += 1
    return out


def recorded_decisions(faces: Path | None, photos: list[tuple[str, bytes]]) -> list[tuple[str, str | None]]:
    """The scenario's walk-ups as decisions: (outcome, gallery id of the match)."""
    from edge.evaluation.data import default_faces
    from gate_sim.scenario import load_scenario

    enrolled = {gid for gid, _ in photos}
    out: list[tuple[str, str | None]] = []
    for walk in load_scenario(SCENARIO, faces_dir=faces or default_faces()).truth():
        if walk.expected == "match" and walk.gallery_id in enrolled:
            out.append(("match", walk.gallery_id))
        elif walk.expected == "opt_out":
            out.append(("opt_out", None))
        else:
            out.append(("no_match", None))
    return out


@dataclass
class Run:
    """What the coordinator measured around the gates."""

    target: str
    gates: int
    workers: int
    kind: GalleryKind
    started: float
    cpu0_broker: float
    cpu0_harness: float
    stopped: float = 0.0
    half: tuple[float, float] | None = None  # (monotonic, broker CPU seconds) at half time
    cpu1_broker: float = 0.0
    cpu1_harness: float = 0.0
    broker_rss_peak: float = 0.0
    broker_rss_end: float = 0.0
    coordinator_cpu_s: float = 0.0
    server_requests: int = 0
    server_bytes: int = 0
    faults: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)


def report(run: Run, consumer: Consumer) -> dict[str, Any]:
    gates = {gid: g for r in run.results for gid, g in r["gates"].items()}
    wall = max(1e-6, run.stopped - run.started)
    sent = [e for g in gates.values() for e in g["events"]]
    sent_set = set(sent)
    with consumer._lock:  # a snapshot: the consumer's thread may still be running
        got, wipes_got = set(consumer.event_ids), set(consumer.wipe_ids)
        latencies = list(consumer.latencies_ms)
        duplicates, out_of_order = consumer.duplicates, consumer.out_of_order
        by_reason = dict(consumer.wipes_by_reason)
    wipes_sent = [w for g in gates.values() for w in g["wipes"]]
    wiped = sum(g["wiped_galleries"] for g in gates.values())
    first = [g["first_gallery_s"] * 1e3 for g in gates.values() if g["first_gallery_s"] is not None]
    each = [s * 1e3 for g in gates.values() for s in g["delivered_s"]]
    steady = None
    if run.half is not None:
        t_half, cpu_half = run.half
        steady = round(100 * (run.cpu1_broker - cpu_half) / max(1e-6, run.stopped - t_half), 1)
    worker_cpu = sum(r["cpu_s"] for r in run.results)
    harness_cpu = run.cpu1_harness - run.cpu0_harness  # the gate workers and this process, during the run
    missing = len(sent_set - got)
    unattested = (wiped - len(wipes_sent)) + len(set(wipes_sent) - wipes_got)
    out: dict[str, Any] = {
        "broker": run.target,
        "gates": run.gates,
        "worker_processes": run.workers,
        "gallery_kind": run.kind,
        "seconds": round(wall, 1),
        "gallery_delivery_ms": {
            "first_request_to_complete": percentiles(first, (50, 95)),
            "per_request": percentiles(each, (50, 95)),
            "gates_without_gallery": sum(1 for g in gates.values() if g["first_gallery_s"] is None),
            "requests": sum(g["requests"] for g in gates.values()),
            "failed_requests": sum(g["failed"] for g in gates.values()),
            "re_requested_gates": sum(1 for g in gates.values() if g["requests"] > 1),
            "server_answers": run.server_requests,
            "server_bytes": run.server_bytes,
        },
        "events": {
            "sent": len(sent),
            "received_once": len(sent_set & got),
            "missing": missing,
            "unexpected": len(got - sent_set),
            "duplicates_on_wire": duplicates,
            "out_of_order": out_of_order,
            "latency_ms": percentiles(latencies, (50, 95, 99)),
            "per_second": round(len(sent) / wall, 1),
            # How late each decision came after its slot: the harness's own lag (a busy worker), not the broker's.
            "harness_lag_ms": percentiles([x * 1e3 for g in gates.values() for x in g["lag_s"]], (50, 95, 99)),
        },
        "wipes": {
            "galleries_wiped": wiped,
            "attestations_sent": len(wipes_sent),
            "attestations_received": len(set(wipes_sent) & wipes_got),
            "by_reason": by_reason,
            "without_attestation": unattested,
        },
        "connections": {
            "gates_reconnected": sum(1 for g in gates.values() if g["connects"] > 1),
            "reconnects": sum(max(0, g["connects"] - 1) for g in gates.values()),
            "disconnects": sum(g["disconnects"] for g in gates.values()),
        },
        "broker_process": {
            "cpu_pct_run": round(100 * (run.cpu1_broker - run.cpu0_broker) / wall, 1),
            "cpu_pct_second_half": steady,
            "rss_mb_peak": round(run.broker_rss_peak, 1),
            "rss_mb_end": round(run.broker_rss_end, 1),
        },
        "harness": {
            "cpu_s": round(harness_cpu, 1),
            "cpu_pct_of_one_core": round(100 * harness_cpu / wall, 1),
            "lifetime_cpu_s": {"gate_workers": round(worker_cpu, 1), "coordinator": round(run.coordinator_cpu_s, 1)},
        },
        "faults": run.faults,
    }
    problems = []
    if missing:
        problems.append(f"{missing} events sent but not received")
    if out_of_order:
        problems.append(f"{out_of_order} events out of order")
    if unattested:
        problems.append(f"{unattested} galleries wiped without an attestation received")
    if out["gallery_delivery_ms"]["gates_without_gallery"]:
        problems.append(f"{out['gallery_delivery_ms']['gates_without_gallery']} gates never got their gallery")
    out["problems"] = problems
    out["ok"] = not problems
    return out
