"""The last-known-good store: what a device that restarts offline comes back with."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config.errors import ConfigError
from edge.config.store import FILENAME, LastKnownGood, startup_config


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
    cfg_file.write_text(f"gate_id: G1\nstate_dir: {tmp_path}\ncamera: {{backend: file, url: clip.avi}}\n")
    LastKnownGood(tmp_path).save({"camera": {"loop": False}}, None, version=2)
    assert startup_config(cfg_file, env={}).config.camera.loop is False  # type: ignore[union-attr]
    cfg_file.write_text(f"gate_id: G1\nstate_dir: {tmp_path}\ncamera: {{backend: v4l2}}\n")
    started = startup_config(cfg_file, env={})  # 'loop' is not a v4l2 key: fall back to the file
    assert started.source == "file" and started.config.camera.backend == "v4l2"
