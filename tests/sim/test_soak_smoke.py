"""A short run of `gate-edge soak`: the report's shape and that its figures are the run's own."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from gate_sim import soak


def test_soak_reports_json_with_restarts_transactions_and_rss(
    faces_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    soak.add_arguments(parser)
    args = parser.parse_args(["--seconds", "14", "--disconnect-every", "5", "--disconnect-for", "1",
                              "--reassign-every", "8", "--sample-every", "4", "--faces", str(faces_dir),
                              "--rss-tolerance-mb", "500", "--slope-tolerance", "5000", "--json"])
    rc = soak.run(args)
    report = json.loads(capsys.readouterr().out)
    assert rc == 0, report["problems"]
    assert report["ok"] is True and report["problems"] == []
    assert report["seconds"] >= 14
    assert report["frames"] > 50 and report["camera_frames"] >= report["frames"]
    assert report["transactions"] == sum(v for k, v in report["outcomes"].items() if k != "opt_out") > 0
    assert report["capture_restarts"] >= 1 and report["camera_degraded_periods"] >= 1
    assert report["flights"] == 2 and report["wipes"].get("flight_close") == 1 and report["wipes"]["shutdown"] == 1
    assert report["events_received"] == report["events_published"] >= report["transactions"]
    rss = report["rss_mb"]
    assert rss["start"] > 0 and rss["end"] > 0
    assert rss["growth"] == pytest.approx(rss["end"] - rss["start"], abs=0.02)
    assert len(rss["series"]) >= 4 and rss["series"][0] == [0.0, rss["start"]]
    assert isinstance(rss["slope_mb_per_min"], float)


def test_verdict_names_each_problem() -> None:
    report = {"stopped_early": True, "events_published": 5, "events_received": 3,
              "rss_mb": {"growth_after_warmup": 12.0, "slope_after_warmup": 2.5}}
    problems = soak.verdict(report, tolerance_mb=10, slope_tolerance=1)
    assert len(problems) == 4
    report = {"stopped_early": False, "events_published": 5, "events_received": 5,
              "rss_mb": {"growth_after_warmup": 1.0, "slope_after_warmup": None}}
    assert soak.verdict(report, tolerance_mb=10, slope_tolerance=1) == []


def test_slope_is_least_squares_in_mb_per_minute() -> None:
    assert soak.slope_mb_per_min([(0, 100.0), (60, 101.0), (120, 102.0)]) == pytest.approx(1.0)
    assert soak.slope_mb_per_min([(0, 100.0), (30, 100.0)]) is None
    assert soak.slope_mb_per_min([(0, 5.0), (10, 3.0), (20, 7.0), (30, 5.0)]) == pytest.approx(2.4)
