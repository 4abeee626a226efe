"""The gate's own figures (edge/daemon/metrics.py): what each frame and decision adds, the frame rate,
the host readings, the families the Prometheus adapter serves, and that only the local file can turn
the endpoint on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.config.errors import ConfigError
from edge.config.load import merge_desired
from edge.core.analyse import FrameAnalysis
from edge.core.decide import Outcome
from edge.core.quality import QualityIssue, QualityReport
from edge.core.search import Candidate
from edge.core.types import Face
from edge.daemon.metrics import (
    LATENCY_BUCKETS_MS,
    STAGES,
    GateMetrics,
    Histogram,
    cpu_temperatures,
    families,
    resident_memory_bytes,
)

FACE = Face((10.0, 10.0, 80.0, 90.0), np.zeros((5, 2), np.float32), 0.9)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def analysis(issues: tuple[QualityIssue, ...] = (), faces: int = 1, traveller: Face | None = FACE) -> FrameAnalysis:
    quality = None if traveller is None else QualityReport(80.0, 50.0, 0.1, 2.0, 120.0, issues)
    timings = {"detect": 12.0}
    if traveller is not None:
        timings |= {"align": 1.0, "quality": 0.5}
        if not issues:
            timings |= {"embed": 20.0, "search": 0.2}
    cands = (Candidate("e1", 0.7),) if traveller is not None and not issues else ()
    return FrameAnalysis(faces=faces, traveller=traveller, quality=quality, candidates=cands, timings_ms=timings)


def test_frames_stages_and_quality_rejections_are_counted_per_reason() -> None:
    m = GateMetrics()
    m.analysed(analysis((QualityIssue.BLURRED, QualityIssue.TOO_DARK)), decide_ms=0.3)
    m.analysed(analysis((QualityIssue.BLURRED,)), decide_ms=0.3)
    m.analysed(analysis(), decide_ms=0.3)
    m.analysed(analysis(faces=2, traveller=None), decide_ms=0.1)  # faces, none of them the traveller
    m.analysed(analysis(faces=0, traveller=None), decide_ms=0.1)  # an empty lane
    s = m.snapshot()
    assert s.frames_analysed == 5 and s.frames_faces_ignored == 1
    assert s.quality_rejections == {"too_small": 0, "blurred": 2, "pose": 0, "too_dark": 1, "too_bright": 0}
    counts = {k: h.count for k, h in s.stages.items()}
    assert counts == {"detect": 5, "align": 3, "quality": 3, "embed": 1, "search": 1, "decide": 5, "e2e": 0}


def test_decisions_by_outcome_and_the_end_to_end_histogram() -> None:
    m = GateMetrics()
    for outcome, ms in [(Outcome.MATCH, 300.0), (Outcome.MATCH, 40.0), (Outcome.NO_MATCH, 900.0),
                        (Outcome.FAILURE_TO_ACQUIRE, 3000.0), (Outcome.OPT_OUT, None)]:
        m.record(outcome, ms)
    s = m.snapshot()
    assert s.outcomes == {"match": 2, "no_match": 1, "failure_to_acquire": 1, "timeout": 0, "opt_out": 1}
    assert s.transactions == 4
    e2e = s.stages["e2e"]
    assert e2e.count == 4 and e2e.total == pytest.approx(4240.0)
    cumulative = dict(e2e.cumulative())
    assert cumulative[50.0] == 1 and cumulative[500.0] == 2 and cumulative[1000.0] == 3
    assert cumulative[float("inf")] == 4 == cumulative[LATENCY_BUCKETS_MS[-1]]


def test_a_bucket_counts_what_is_at_or_below_its_bound() -> None:
    h = Histogram((1.0, 10.0))
    for v in (0.5, 1.0, 1.5, 10.0, 11.0):
        h.observe(v)
    assert h.cumulative() == [(1.0, 2), (10.0, 4), (float("inf"), 5)]


def test_the_frame_rate_is_over_the_last_ten_seconds() -> None:
    clock = Clock()
    m = GateMetrics(clock=clock)
    assert m.frame_rate() == 0.0
    for _ in range(20):  # 20 frames in the first 2 s: 10 fps
        clock.t += 0.1
        m.frame_in()
    assert m.frame_rate() == pytest.approx(10.0)
    clock.t += 30.0  # then nothing for 30 s: the camera stopped
    assert m.frame_rate() == 0.0
    assert m.frames == 20 and m.uptime_s() == pytest.approx(32.0)


def test_host_readings(tmp_path: Path) -> None:
    rss = resident_memory_bytes()
    assert rss is not None and rss > 10 * 2**20  # this test process, numpy loaded
    zones = tmp_path / "thermal"
    for name, kind, temp in [("thermal_zone0", "cpu-thermal", "51234"), ("thermal_zone1", "cpu-thermal", "49000"),
                             ("thermal_zone2", "gpu thermal", "bad")]:
        (zones / name).mkdir(parents=True)
        (zones / name / "type").write_text(kind + "\n")
        (zones / name / "temp").write_text(temp + "\n")
    assert cpu_temperatures(zones) == {"cpu-thermal": 51.234, "cpu-thermal_1": 49.0}  # unreadable one left out
    assert cpu_temperatures(tmp_path / "none") == {}


def test_every_family_of_the_endpoint() -> None:
    m = GateMetrics()
    m.frame_in()
    m.analysed(analysis((QualityIssue.POSE,)), decide_ms=0.2)
    m.record(Outcome.TIMEOUT, 5000.0)
    fams = {f.name: f for f in families(m, "G7", "1.2.3")}
    assert set(fams) >= {
        "gate_edge_info", "gate_edge_frames_in", "gate_edge_frames_dropped", "gate_edge_frames_analysed",
        "gate_edge_frames_faces_ignored", "gate_edge_frame_rate_fps", "gate_edge_stage_latency_seconds",
        "gate_edge_decisions", "gate_edge_transactions", "gate_edge_failures_to_acquire",
        "gate_edge_quality_rejections", "gate_edge_outbox_depth", "gate_edge_broker_connected",
        "gate_edge_camera_health", "gate_edge_camera_reconnects", "gate_edge_gallery_state",
        "gate_edge_gallery_entries", "gate_edge_uptime_seconds", "gate_edge_cpu_temperature_celsius",
        "gate_edge_resident_memory_bytes",
    }
    values: dict[str, Any] = {f.name: {s.labels: s.value for s in f.series} for f in fams.values()}
    assert values["gate_edge_frames_in"] == {(): 1.0}
    assert values["gate_edge_decisions"][(("outcome", "timeout"),)] == 1.0
    assert values["gate_edge_quality_rejections"][(("reason", "pose"),)] == 1.0
    assert values["gate_edge_camera_health"][(("state", "starting"),)] == 1.0
    assert sum(values["gate_edge_gallery_state"].values()) == 1.0
    latency = {s.labels: s for s in fams["gate_edge_stage_latency_seconds"].series}
    assert {dict(k)["stage"] for k in latency} == set(STAGES)
    e2e = latency[(("stage", "e2e"),)]
    assert e2e.total == pytest.approx(5.0) and dict(e2e.buckets)[5.0] == 1  # seconds on the wire


@pytest.mark.parametrize("section", [{"enabled": True}, {"address": "0.0.0.0"}, {"port": 80}])
def test_a_pushed_config_cannot_touch_the_metrics_endpoint(section: dict[str, Any]) -> None:
    local = {"gate_id": "G1", "camera": {"backend": "file", "url": "/clips/a.avi"}}
    with pytest.raises(ConfigError) as err:
        merge_desired(local, {"metrics": section}, None)
    assert any(i.path.startswith("metrics") for i in err.value.issues)


def test_the_address_must_be_an_ip_address() -> None:
    from edge.config.schema import MetricsConfig

    assert MetricsConfig().address == "127.0.0.1" and not MetricsConfig().enabled
    with pytest.raises(ValueError, match="IP address"):
        MetricsConfig(address="gate.example")
