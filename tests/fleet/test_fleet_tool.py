"""`gate-edge fleet` against a gate in the simulated world: the gates table, config pushes that wait
for the gate's report, a restart that brings the gate back with a restart-required config, the live
decisions, and commands the gate refuses when they are not signed by a trusted fleet-admin key."""

from __future__ import annotations

import json
from pathlib import Path

from support.waiting import wait_for

from edge.daemon.officer_commands import EXIT_RESTART
from edge.messaging.envelope import load_or_create_private_key, private_pem

from .conftest import FLIGHT, GATE, FleetBench, gallery_live, in_thread


def boarding(bench: FleetBench) -> None:
    bench.start_gate()
    bench.world.board(GATE, FLIGHT)
    gallery_live(bench)


def test_gates_lists_the_gate_from_its_retained_status(fleet_world: FleetBench) -> None:
    boarding(fleet_world)
    rc, out, _ = fleet_world.fleet("gates", "--json")
    assert rc == 0
    (row,) = json.loads(out)
    assert row["gate"] == GATE and row["online"] is True and row["since"]
    assert row["flight"] == FLIGHT and row["gallery"] == "live (3)"
    assert row["camera"] == "ok" and row["broker"] == "connected" and row["software"]
    assert row["config_version"] == fleet_world.runs[0].config.version
    rc, out, _ = fleet_world.fleet("gates")  # piped: plain text, one header and one line
    assert rc == 0 and out.splitlines()[1].split()[0] == "gate" and out.splitlines()[2].split()[:2] == [GATE, "yes"]


def test_a_valid_push_waits_for_the_report_and_an_invalid_one_says_where(fleet_world: FleetBench,
                                                                         tmp_path: Path) -> None:
    boarding(fleet_world)
    good = tmp_path / "good.yaml"
    good.write_text("version: 41\nconfig: {decision: {margin: 0.06}}\n")
    rc, out, err = fleet_world.fleet("config", "push", str(good), "--gate", GATE, *fleet_world.key)
    assert rc == 0, out + err
    assert f"{GATE}: applied (running version 41)" in out
    assert fleet_world.runs[0].daemon.cfg.decision.margin == 0.06  # the report came after it was in force

    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 42\nconfig: {decision: {treshold: 0.5, margin: -1}}\n")
    rc, out, err = fleet_world.fleet("config", "push", str(bad), "--gate", GATE, *fleet_world.key)
    assert rc == 2 and "nothing was sent" in err  # refused here, by the gate's own schema
    assert "decision.treshold" in err and "did you mean 'threshold'" in err and "decision.margin" in err

    # The same document sent anyway: the gate's report carries the same paths and suggestion.
    rc, out, err = fleet_world.fleet("config", "push", str(bad), "--gate", GATE, "--skip-local-check",
                                     *fleet_world.key)
    assert rc == 1, out + err
    assert f"{GATE}: rejected (running version 41)" in out
    assert "decision.treshold" in out and "did you mean 'threshold'" in out and "decision.margin" in out
    assert fleet_world.runs[0].daemon.cfg.version == 41


def test_restart_brings_the_gate_back_with_a_restart_required_config(fleet_world: FleetBench,
                                                                     tmp_path: Path) -> None:
    boarding(fleet_world)
    first = fleet_world.runs[0]
    change = tmp_path / "capture.yaml"
    change.write_text("capture: {stall_timeout_s: 2.5}\n")
    rc, out, err = fleet_world.fleet("config", "push", str(change), "--gate", GATE, "--version", "50",
                                     *fleet_world.key)
    assert rc == 0, out + err
    assert f"{GATE}: restart_required" in out and "capture.stall_timeout_s" in out
    assert "    version:" not in out  # every document changes the version: not a reason to restart
    assert first.daemon.cfg.capture.stall_timeout_s == 1.0  # not in force before the restart

    tool, result = in_thread(lambda: fleet_world.fleet("cmd", "restart", "--gate", GATE, "--wait-back", "120",
                                                       *fleet_world.key))
    first.thread.join(60)  # the gate ends by itself ...
    assert not first.thread.is_alive() and first.exit_status == EXIT_RESTART  # ... with the status the unit restarts on
    second = fleet_world.start_gate()  # what systemd does (RestartForceExitStatus=75)
    tool.join(150)
    rc, out, err = result[0]
    assert rc == 0, out + err
    assert f"{GATE}: restart accepted" in out and f"{GATE}: back online since" in out
    assert "config version 50" in out
    assert second.daemon.cfg.capture.stall_timeout_s == 2.5 and second.daemon.cfg.version == 50
    gallery_live(fleet_world)  # the retained assignment brings the flight's gallery back
    rc, out, _ = fleet_world.fleet("gates", "--json")
    (row,) = json.loads(out)
    assert row["config_version"] == 50 and row["config_state"] == "applied v50 (at a restart)"


def test_events_follow_json_shows_each_decision(fleet_world: FleetBench) -> None:
    tool, result = in_thread(lambda: fleet_world.fleet("events", "--follow", "--json", "--count", "4",
                                                       "--seconds", "90"))
    boarding(fleet_world)
    tool.join(120)
    rc, out, _ = result[0]
    assert rc == 0
    shown = [json.loads(line) for line in out.splitlines()]
    assert len(shown) == 4 and all(e["gate"] == GATE for e in shown)
    assert [e["seq"] for e in shown] == list(range(shown[0]["seq"], shown[0]["seq"] + 4))  # none skipped
    published = {e["transaction_id"]: e for e in fleet_world.watcher.on(fleet_world.world.topics(GATE).events)}
    for e in shown:
        assert e["outcome"] == published[e["transaction_id"]]["outcome"]
        assert "total" in e["latency_ms"] and "score" in e
    assert max(len(line) for line in out.splitlines()) < 1000  # no payload of any size


def test_unsigned_and_forged_commands_are_still_refused(fleet_world: FleetBench, tmp_path: Path) -> None:
    boarding(fleet_world)
    rc, _, err = fleet_world.fleet("cmd", "pause", "--gate", GATE)  # no key: nothing is sent
    assert rc == 2 and "no signing key" in err
    forged = tmp_path / "forged.pem"
    forged.write_bytes(private_pem(load_or_create_private_key(tmp_path / "k.pem")))
    rc, out, _ = fleet_world.fleet("cmd", "pause", "--gate", GATE, "--signing-key", str(forged))
    assert rc == 1 and f"{GATE}: pause rejected: unknown_key" in out
    t = fleet_world.world.topics(GATE)
    fleet_world.world.publish(t.command("pause"), {"schema": "gate-edge/cmd/1", "request_id": "unsigned01",
                                                   "issued_at": "2026-01-01T00:00:00+00:00"})
    fleet_world.watcher.wait(t.rejected, lambda n: n.get("code") == "unsigned", what="the unsigned command refused")
    assert not fleet_world.runs[0].daemon._paused
    rc, out, _ = fleet_world.fleet("cmd", "pause", "--gate", GATE, *fleet_world.key)  # the real key works
    assert rc == 0 and f"{GATE}: pause accepted" in out
    wait_for(lambda: fleet_world.runs[0].daemon._paused, 10, "the gate to pause")


def test_a_fleet_wide_push_waits_for_the_gates_online(fleet_world: FleetBench, tmp_path: Path) -> None:
    from edge.messaging.schemas import Status

    boarding(fleet_world)
    gone = fleet_world.world.topics("G9")  # a gate that went offline: it takes the config when it is back
    fleet_world.world.publish(gone.status, Status(gate="G9", online=False).to_bytes(), retain=True)
    doc = tmp_path / "fleet.yaml"
    doc.write_text("telemetry: {interval_s: 30}\n")
    rc, out, err = fleet_world.fleet("config", "push", str(doc), "--fleet", "--version", "60", *fleet_world.key)
    assert rc == 0, out + err
    assert f"{GATE}: applied (running version 60)" in out and "G9: offline; takes it when it reconnects" in out
    assert fleet_world.runs[0].daemon.cfg.telemetry.interval_s == 30
