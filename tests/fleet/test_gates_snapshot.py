"""`gate-edge fleet gates` reads the retained messages up to its own marker: every gate's status is in
the table however many gates there are, with no waiting for a quiet spell; an offline gate shows when
it said so."""

from __future__ import annotations

import json
from pathlib import Path

from gate_sim.world import private_world
from support.mqtt import Watcher

from edge.commands import main as gate_edge
from edge.messaging.schemas import ConfigIssue, ConfigReported, GalleryState, GallerySummary, Status

GATES = 300


def test_every_retained_status_is_in_the_table(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    with private_world([], workdir=tmp_path) as world:
        names = [f"T{i:03d}" for i in range(GATES)]
        for i, gate in enumerate(names):
            status = Status(gate=gate, online=i % 7 != 0, software_version="0.1.0", config_version=i,
                            gallery=GallerySummary(flight_id="LH42", state=GalleryState.LIVE, entries=i))
            world.publish(world.topics(gate).status, status.to_bytes(), retain=True)
        report = ConfigReported(gate="T001", status="rejected", version=9, applied_version=1,
                                errors=[ConfigIssue(path="decision.treshold", value="<unknown key>",
                                                    expected="a known key", suggestion="threshold")])
        world.publish(world.topics("T001").config_reported, report.to_bytes(), retain=True)
        # Everything is on the broker (each publish was acknowledged): a fresh subscriber reads it all.
        probe = Watcher(world.mqtt, ["gate/v1/T299/status"], "probe")
        assert probe.wait("gate/v1/T299/status")["gate"] == "T299"
        probe.close()
        capsys.readouterr()
        assert gate_edge(["fleet", "gates", "--json", "--port", str(world.mqtt.port)]) == 0
        rows = {r["gate"]: r for r in json.loads(capsys.readouterr().out)}
    assert sorted(rows) == names
    assert rows["T000"]["online"] is False and rows["T000"]["since"]  # offline: when it said so
    assert rows["T005"]["online"] is True and rows["T005"]["gallery"] == "live (5)"
    assert rows["T001"]["config_state"] == "rejected v9, 1 error(s)"
