"""A small run of `gate-edge fleet-bench`: the report's shape, and that every event a gate decided
reached the back office exactly once (by event id) and every wiped gallery has its attestation, on
one Mosquitto and on a Mosquitto per site bridged to a centre (the bridge section docs/topologies.md
shows). Timings are printed by the benchmark, never asserted here."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from gate_sim import fleet_bench
from gate_sim.fleet_bench_infra import percentiles

SECTIONS = {"gallery_delivery_ms", "events", "wipes", "connections", "broker_process", "harness", "faults"}


@pytest.mark.parametrize("broker", ["mosquitto", "bridged"])
def test_three_gates_deliver_every_event_once(broker: str, faces_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    fleet_bench.add_arguments(parser)
    args = parser.parse_args(["--gates", "3", "--duration", "5", "--gallery-size", "60", "--faces", str(faces_dir),
                              "--broker", broker, "--json"])
    rc = fleet_bench.run(args)
    report = json.loads(capsys.readouterr().out)
    assert rc == 0, report["problems"]
    assert set(report) >= SECTIONS and report["ok"] is True and report["problems"] == []
    assert report["broker"] == broker and report["gates"] == 3

    gallery = report["gallery_delivery_ms"]
    assert gallery["first_request_to_complete"]["n"] == 3 and gallery["gates_without_gallery"] == 0
    assert gallery["server_answers"] >= 3 and gallery["server_bytes"] > 0

    events = report["events"]
    assert events["sent"] >= 3  # each gate decides as soon as its gallery is live
    assert events["received_once"] == events["sent"]
    assert events["missing"] == events["unexpected"] == events["out_of_order"] == 0
    assert events["latency_ms"]["n"] == events["sent"]

    wipes = report["wipes"]  # each gate's gallery is wiped at shutdown, with its attestation received
    assert wipes["galleries_wiped"] == wipes["attestations_sent"] == wipes["attestations_received"] == 3
    assert wipes["by_reason"] == {"shutdown": 3} and wipes["without_attestation"] == 0

    for key in ("cpu_pct_run", "rss_mb_peak"):
        assert isinstance(report["broker_process"][key], float)
    assert report["broker_process"]["rss_mb_peak"] > 0
    assert report["faults"] == []


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    got = percentiles(values, (50, 95, 99))
    assert (got["p50"], got["p95"], got["p99"], got["max"], got["n"]) == (50.0, 95.0, 99.0, 100.0, 100)
    assert percentiles([], (50,)) == {"n": 0, "p50": None, "max": None}
    assert percentiles([7.0], (50, 95))["p95"] == 7.0
