"""The last-known-good store: what a device that restarts offline comes back with."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from edge.config.errors import ConfigError
from edge.config.load import validate
from edge.config.store import FILENAME, LastKnownGood, startup_config
from edge.daemon.live_config import LiveConfig
from edge.messaging.link import ConfigUpdate
from edge.messaging.schemas import MAX_CONFIG_VERSION, ConfigDesired


def test_store_file_is_private(tmp_path: Path) -> None:
    LastKnownGood(tmp_path).save({"decision": {"threshold": 0.5}}, None, version=1)
    assert ((tmp_path / FILENAME).stat().st_mode & 0o777) == 0o600  # the fleet's documents are not public
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILENAME]  # no temp file left behind


def test_last_known_good_roundtrip_and_startup(tmp_path: Path) -> None:
    state = tmp_path / "state"
    cfg_file = tmp_path / "gate.yaml"
    cfg_file.write_text(f"gate_id: G1\nstate_dir: {state}\ncamera: {{backend: file, url: clip.avi}}\n")
    first = startup_config(cfg_file, env={})
    assert first.source == "file" and first.stored is None

    lkg = LastKnownGood(state)
    lkg.save({"decision": {"threshold": 0.5}}, {"decision": {"margin": 0.1}}, version=7)
    started = startup_config(cfg_file, env={})
    assert started.source == "last_known_good"
    assert started.config.decision.threshold == 0.5 and started.config.decision.margin == 0.1
    assert started.config.version == 7
    # An operator's later edit to the file still applies under the stored overrides.
    cfg_file.write_text(cfg_file.read_text() + "telemetry: {interval_s: 12}\n")
    assert startup_config(cfg_file, env={}).config.telemetry.interval_s == 12


def test_store_refuses_secrets_and_ignores_damage(tmp_path: Path) -> None:
    lkg = LastKnownGood(tmp_path)
    with pytest.raises(ConfigError):
        lkg.save({"mqtt": {"password": "x"}}, None)
    assert not (tmp_path / FILENAME).exists()
    lkg.save({"decision": {"threshold": 0.5}}, None, version=1)
    assert lkg.load() is not None
    raw = (tmp_path / FILENAME).read_text()
    (tmp_path / FILENAME).write_text(raw.replace("0.5", "0.9"))  # tampered: checksum mismatch
    assert lkg.load() is None
    (tmp_path / FILENAME).write_text(raw[: len(raw) // 2])  # torn
    assert lkg.load() is None
    (tmp_path / FILENAME).write_text("[]")
    assert lkg.load() is None


def test_stored_overrides_that_no_longer_fit_are_ignored(tmp_path: Path) -> None:
    cfg_file = tmp_path / "gate.yaml"
    head = f"gate_id: G1\nstate_dir: {tmp_path}\ncamera: {{backend: file, url: clip.avi}}\n"
    cfg_file.write_text(head)
    LastKnownGood(tmp_path).save({"decision": {"votes_required": 3}}, None, version=2)
    assert startup_config(cfg_file, env={}).config.decision.votes_required == 3
    cfg_file.write_text(head + "decision: {max_frames: 2}\n")
    started = startup_config(cfg_file, env={})  # 3 votes in at most 2 frames: fall back to the file
    assert started.source == "file" and started.stored is None and started.config.decision.max_frames == 2


# --------------------------------------------------------------------------- version floors
def _update(source: str, version: int, config: dict[str, Any]) -> ConfigUpdate:
    desired = ConfigDesired.model_validate({"schema": ConfigDesired.SCHEMA, "version": version, "config": config})
    return ConfigUpdate(source, desired, retained=True)  # type: ignore[arg-type]


def test_each_sources_version_is_kept(tmp_path: Path) -> None:
    lkg = LastKnownGood(tmp_path)
    lkg.save({"decision": {"threshold": 0.5}}, None, version=10, source="fleet")
    lkg.save({"decision": {"threshold": 0.5}}, {"decision": {"margin": 0.05}}, version=4, source="gate")
    stored = lkg.load()
    assert stored is not None and (stored.version, stored.fleet_version, stored.gate_version) == (4, 10, 4)
    lkg.save({"decision": {"threshold": 0.55}}, {"decision": {"margin": 0.05}}, version=11, source="fleet")
    stored = lkg.load()
    assert stored is not None and (stored.fleet_version, stored.gate_version) == (11, 4)


def test_an_older_store_gives_the_floor_it_can_tell(tmp_path: Path) -> None:
    def plant(fleet: Any, gate: Any, version: int) -> None:
        body = {"format": "gate-edge/config-lkg/1", "saved_at": 1.0, "version": version, "fleet": fleet, "gate": gate}
        digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        (tmp_path / FILENAME).write_text(json.dumps({**body, "sha256": digest}))

    plant({"decision": {"threshold": 0.5}}, None, 7)  # only the fleet's document: its version is 7
    stored = LastKnownGood(tmp_path).load()
    assert stored is not None and (stored.fleet_version, stored.gate_version) == (7, None)
    plant({"decision": {"threshold": 0.5}}, {"decision": {"margin": 0.05}}, 7)  # which was 7? unknown
    stored = LastKnownGood(tmp_path).load()
    assert stored is not None and (stored.fleet_version, stored.gate_version) == (None, None)


@pytest.mark.parametrize("bad", [-1, MAX_CONFIG_VERSION + 1, 10**30, True, 1.5, "7"])
def test_versions_are_bounded_like_the_messages(tmp_path: Path, bad: Any) -> None:
    lkg = LastKnownGood(tmp_path)
    if isinstance(bad, int):
        with pytest.raises(ConfigError):
            lkg.save({"decision": {"threshold": 0.5}}, None, version=bad, source="fleet")
    lkg.save({"decision": {"threshold": 0.5}}, None, version=3, source="fleet")
    doc = json.loads((tmp_path / FILENAME).read_text())
    body = {k: v for k, v in doc.items() if k != "sha256"} | {"fleet_version": bad}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    (tmp_path / FILENAME).write_text(json.dumps({**body, "sha256": digest}))
    assert lkg.load() is None  # an out-of-range floor would lock out every later push
    with pytest.raises(ConfigError):
        validate({"gate_id": "G1", "camera": {"backend": "v4l2"}, "version": MAX_CONFIG_VERSION + 1})


def test_a_restarted_gate_keeps_the_floors_of_what_it_applied(tmp_path: Path) -> None:
    """The issue: a gate that rejected a stale config re-applied it after a restart."""
    state = tmp_path / "state"
    cfg_file = tmp_path / "gate.yaml"
    cfg_file.write_text(f"gate_id: G1\nstate_dir: {state}\ncamera: {{backend: v4l2}}\n")
    floors: list[tuple[str, int]] = []
    reports: list[Any] = []

    def live(start: Any) -> LiveConfig:
        return LiveConfig(start.config, start.base, start.stored, apply=lambda old, new: None,
                          report=reports.append, remember_versions=lambda s, v: floors.append((s, v)))

    first = live(startup_config(cfg_file, env={}))
    assert floors == []  # nothing stored yet: the link's floors stay where they start
    first.consider(_update("fleet", 10, {"decision": {"threshold": 0.5}}))
    first.apply_pending()
    first.consider(_update("gate", 3, {"decision": {"margin": 0.05}}))
    first.apply_pending()
    assert [r.status for r in reports] == ["applied", "applied"] and floors == [("fleet", 10), ("gate", 3)]

    floors.clear()
    restarted = startup_config(cfg_file, env={})
    assert restarted.source == "last_known_good" and restarted.config.version == 3
    live(restarted)
    # Seeded at construction: a retained fleet v5 (older than the v10 in force) is now stale for the link.
    assert sorted(floors) == [("fleet", 10), ("gate", 3)]
