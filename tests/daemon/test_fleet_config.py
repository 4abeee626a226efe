"""Fleet config at daemon level: live changes between transactions, restart_required, rejection with
every error, gate over fleet precedence, and the last known good config after an offline restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from support.waiting import wait_for

from edge.config.store import startup_config
from edge.inference.onnx_runtime import FaceModels

from .conftest import Bench, decisions, gallery_live

SCHEMA = "gate-edge/config-desired/1"


def push(w: Bench, source: str, version: int, config: dict[str, Any]) -> dict[str, Any]:
    """Publish retained desired config, signed with the fleet admin's key (as the fleet admin does), and
    return the gate's report on it."""
    topic = w.topics.fleet_config if source == "fleet" else w.topics.config_desired
    w.publish(topic, {"schema": SCHEMA, "version": version, "config": config}, retain=True, role="fleet_admin")
    return w.watcher.wait(w.topics.config_reported, lambda r: r["version"] == version, 20, f"report on v{version}")


def write_config_file(w: Bench, path: Path) -> None:
    """The local YAML file a device boots from (what `gate-edge run --config` reads)."""
    cfg = w.config()
    doc = cfg.model_dump(mode="json", exclude={"version"})
    doc["mqtt"] = {k: doc["mqtt"][k] for k in ("host", "port", "reconnect_min_s", "reconnect_max_s", "keepalive_s")}
    path.write_text(yaml.safe_dump(doc))


def test_fleet_config_lifecycle(world: Bench, face_models: FaceModels, tmp_path: Path) -> None:
    config_file = tmp_path / "gate.yaml"
    write_config_file(world, config_file)
    start = startup_config(config_file)
    assert start.source == "file"
    run = world.start_daemon(start.config, face_models, base_raw=start.base, stored=start.stored)
    d = run.daemon
    world.board()
    gallery_live(world)

    # 1. A live change: applied between transactions, reported with its version, used by events.
    assert d.analyser.refine and not d.analyser.enrol_views and d.models.detector.params.enlarge  # the defaults
    r = push(world, "fleet", 10, {"decision": {"threshold": 0.5},
                                  "detection": {"refine_landmarks": False, "enlarge": False,
                                                "enrol_views": True}})
    assert r["status"] == "applied" and r["applied_version"] == 10 and r["errors"] == []
    assert d.cfg.decision.threshold == 0.5 and d.machine.params.threshold == 0.5
    assert not d.analyser.refine and not d.models.detector.params.enlarge  # what the frames now run with
    assert d.analyser.enrol_views  # what the next gallery is enrolled with
    n = len(decisions(world))
    wait_for(lambda: len(decisions(world)) > n + 1, 30, "decisions after the change")
    assert decisions(world)[-1]["config_version"] == 10

    # 2. An invalid one: rejected with every error (path, value, expected); nothing changes.
    before = d.cfg
    bad = {"decision": {"threshold": 7, "margin": -1}, "detection": {"input_width": "wide"}}
    r = push(world, "gate", 12, bad)
    assert r["status"] == "rejected" and r["applied_version"] == 10
    paths = {e["path"]: e for e in r["errors"]}
    assert {"decision.threshold", "decision.margin", "detection.input_width"} <= set(paths)
    assert paths["decision.threshold"]["value"] == 7 and paths["detection.input_width"]["value"] == "wide"
    assert all(e["expected"] for e in r["errors"])
    assert d.cfg is before

    # 3. The gate's desired config overrides the fleet's, whichever comes last.
    assert push(world, "gate", 14, {"decision": {"threshold": 0.55}})["status"] == "applied"
    assert d.cfg.decision.threshold == 0.55
    r = push(world, "fleet", 15, {"decision": {"threshold": 0.4, "margin": 0.07}})
    assert r["status"] == "applied"
    assert d.cfg.decision.threshold == 0.55 and d.cfg.decision.margin == 0.07 and d.cfg.version == 15

    # 4. A change outside the live sections needs a restart: reported, stored for the next start, not
    # applied now. One touching the camera, the broker connection or the models is refused whole:
    # those belong to the local file alone (they would redirect the gate), values never echoed.
    local = {"mqtt": {"keepalive_s": 20}, "models": {"threads": 2}, "camera": {"realtime": False}}
    r = push(world, "fleet", 16, {"decision": {"threshold": 0.45}, **local})
    assert r["status"] == "rejected" and r["applied_version"] == 15
    assert {e["path"] for e in r["errors"]} == {"mqtt.keepalive_s", "models.threads", "camera.realtime"}
    assert all(e["value"] == "<redacted>" for e in r["errors"])
    change = {"decision": {"threshold": 0.4, "margin": 0.07}, "capture": {"stall_timeout_s": 1.5},
              "outbox": {"max_events": 500}}
    r = push(world, "fleet", 17, change)
    assert r["status"] == "restart_required" and r["applied_version"] == 15
    assert {"capture.stall_timeout_s", "outbox.max_events"} <= {e["path"] for e in r["errors"]}
    assert d.cfg.version == 15 and d.cfg.capture.stall_timeout_s == 1.0 and d.cfg.outbox.max_events == 10_000
    assert run.alive
    run.stop()

    # 5. The device restarts with no broker: it comes up with the last known good config, and the
    # versions it had applied are the floors again (an older retained config stays stale).
    world.broker.stop()
    start = startup_config(config_file)
    assert start.source == "last_known_good"
    cfg = start.config
    assert cfg.version == 17 and cfg.decision.threshold == 0.55 and cfg.decision.margin == 0.07
    assert cfg.capture.stall_timeout_s == 1.5 and cfg.outbox.max_events == 500
    assert cfg.mqtt.keepalive_s == 5 and cfg.models.threads == 1 and cfg.camera.realtime is True
    assert start.stored is not None and (start.stored.fleet_version, start.stored.gate_version) == (17, 14)
    offline = world.start_daemon(cfg, face_models, base_raw=start.base, stored=start.stored)
    wait_for(lambda: offline.daemon.metrics.frames > 5, 30, "frames with no broker")
    assert offline.alive and not offline.daemon.link.connected
    assert offline.daemon.machine.params.threshold == 0.55
    offline.stop()
