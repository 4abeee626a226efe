"""Config loading: every error reported with path/value/expected, example configs, fleet merge,
change classification."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from edge.config.errors import ROOT_PATH, ConfigError, desired_path
from edge.config.load import (
    classify_change,
    deep_merge,
    load_file,
    merge_desired,
    parse_yaml,
    read_raw,
    try_validate,
    validate,
)
from edge.config.schema import GateConfig

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "config").glob("*.yaml"))

BROKEN = Path(__file__).with_name("broken-gate.yaml")  # every kind of mistake, one file


def _minimal(**extra: object) -> dict[str, object]:
    return {"gate_id": "G1", "camera": {"backend": "file", "url": "clip.avi"}, **extra}


def test_broken_config_lists_every_error() -> None:
    path = BROKEN
    with pytest.raises(ConfigError) as info:
        load_file(path)
    by_path = {i.path: i for i in info.value.issues}
    assert set(by_path) == {
        "gate_id",
        "camera.widht",
        "camera.fps",
        "mqtt.port",
        "mqtt.passwrd",
        "mqtt.tls.ca_file",  # (cert without key is checked only once the section parses)
        "capture",
        "models.providers[0]",
        "decison",
        "detection.capture_zone",
        "logging.level",
    }
    assert by_path["camera.widht"].suggestion == "width"
    assert by_path["decison"].suggestion == "decision"
    assert by_path["mqtt.passwrd"].suggestion == "password"
    assert "hunter2" not in str(info.value)  # a misspelt password key still holds a secret
    assert by_path["camera.fps"].value == -3 and "greater than 0" in by_path["camera.fps"].expected
    assert by_path["mqtt.port"].line == 7
    assert by_path["logging.level"].line == 18
    assert "'INFO'" in by_path["logging.level"].expected
    text = str(info.value)
    assert "did you mean 'width'?" in text and f"{path}:4:" in text
    for issue in info.value.issues:
        assert issue.path and issue.expected
        json.dumps(issue.to_dict())  # reportable on the config/reported topic


def test_unknown_backend_suggests_the_nearest() -> None:
    with pytest.raises(ConfigError) as info:
        validate({"gate_id": "G1", "camera": {"backend": "v4l"}})
    (issue,) = info.value.issues
    assert issue.path == "camera.backend" and issue.value == "v4l" and issue.suggestion == "v4l2"


def test_union_alternatives_become_one_issue() -> None:
    with pytest.raises(ConfigError) as info:
        validate({"gate_id": "G1", "camera": {"backend": "v4l2", "device": [1]}})
    (issue,) = info.value.issues
    assert issue.path == "camera.device"
    assert "string" in issue.expected and "integer" in issue.expected


def test_yaml_syntax_error_has_line_and_column() -> None:
    with pytest.raises(ConfigError) as info:
        parse_yaml("gate_id: G1\ncamera: [1, 2\nmqtt: {}\n", "gate.yaml")
    (issue,) = info.value.issues
    assert issue.line == 3 and issue.column is not None
    assert "gate.yaml:3" in str(info.value)


def test_duplicate_keys_are_errors() -> None:
    with pytest.raises(ConfigError) as info:
        parse_yaml("gate_id: A\ncamera: {backend: file, url: x}\ngate_id: B\n")
    (issue,) = info.value.issues
    assert issue.path == "gate_id" and issue.line == 3


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "42\n"])
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    path = tmp_path / "gate.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_file(path)
    assert info.value.issues[0].path == ROOT_PATH


def test_missing_and_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="an existing config file"):
        load_file(tmp_path / "nope.yaml")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"gate_id: \xe9\xff\n")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_file(bad)


def test_systemd_directories_are_expanded(tmp_path: Path) -> None:
    path = tmp_path / "gate.yaml"
    path.write_text(
        "gate_id: G1\nstate_dir: ${STATE_DIRECTORY:-var/state}\ncamera: {backend: file, url: '${HOME}/x'}\n"
        "mqtt: {password_file: '${CREDENTIALS_DIRECTORY}/pw'}\n"
    )
    cfg = load_file(path, env={"STATE_DIRECTORY": "/var/lib/gate-edge", "CREDENTIALS_DIRECTORY": "/run/c"})
    assert cfg.state_dir == Path("/var/lib/gate-edge")
    assert str(cfg.mqtt.password_file) == "/run/c/pw"
    # Only the systemd directory variables expand; a relative file name is next to the config file.
    assert cfg.camera.url == str(tmp_path / "${HOME}/x")  # type: ignore[union-attr]
    with pytest.raises(ConfigError) as info:
        load_file(path, env={})
    (issue,) = info.value.issues
    assert issue.path == "mqtt.password_file" and "CREDENTIALS_DIRECTORY" in issue.expected
    assert issue.line == 4


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_configs_validate(path: Path) -> None:
    cfg = load_file(path, env={})
    assert cfg.gate_id


def test_every_kind_of_gate_has_an_example() -> None:
    backends = {load_file(p, env={}).camera.backend for p in EXAMPLES}
    assert {"v4l2", "picamera2", "gstreamer", "simulated"} <= backends


def test_sim_example_points_at_an_existing_scenario() -> None:
    cfg = load_file(REPO / "config" / "sim-gate.yaml", env={})
    assert (REPO / cfg.camera.scenario).is_file()  # type: ignore[union-attr]


# --------------------------------------------------------------------------- fleet merge
def test_merge_precedence_gate_over_fleet_over_file() -> None:
    base = _minimal(decision={"threshold": 0.45, "margin": 0.05}, version=0)
    fleet = {"decision": {"threshold": 0.5}, "telemetry": {"interval_s": 10}, "version": 3}
    gate = {"decision": {"threshold": 0.55}, "version": 4}
    merged = merge_desired(base, fleet, gate)
    cfg = validate(merged)
    assert cfg.decision.threshold == 0.55 and cfg.decision.margin == 0.05
    assert cfg.telemetry.interval_s == 10 and cfg.version == 4
    assert base["decision"] == {"threshold": 0.45, "margin": 0.05}  # inputs untouched
    assert validate(merge_desired(base, fleet, None, version=9)).version == 9


def test_merge_replaces_a_camera_of_another_backend() -> None:
    merged = deep_merge(_minimal(), {"camera": {"backend": "v4l2", "device": 2}})
    assert validate(merged).camera.backend == "v4l2"


def test_fleet_may_not_set_identity_or_secrets() -> None:
    with pytest.raises(ConfigError) as info:
        merge_desired(_minimal(), {"gate_id": "OTHER", "mqtt": {"password": "s3cret"}}, ["not", "a", "map"])
    paths = {i.path for i in info.value.issues}
    assert paths == {"gate_id", "mqtt.password", desired_path("gate")}
    assert "s3cret" not in str(info.value)


def test_try_validate_returns_the_error() -> None:
    result = try_validate(_minimal(decision={"threshold": 7}))
    assert isinstance(result, ConfigError) and result.issues[0].path == "decision.threshold"
    assert isinstance(try_validate(_minimal()), GateConfig)


# --------------------------------------------------------------------------- change classes
def test_classify_change() -> None:
    old = validate(_minimal())
    assert classify_change(old, validate(_minimal())) == ("none", ())
    live = classify_change(old, validate(_minimal(decision={"threshold": 0.5}, version=2)))
    assert live.kind == "live" and live.paths == ("decision.threshold", "version")
    restart = classify_change(old, validate(_minimal(mqtt={"port": 1884}, decision={"margin": 0.1})))
    assert restart.kind == "restart_required"
    assert restart.paths == ("decision.margin", "mqtt.port")
    other_cam = validate({**_minimal(), "camera": {"backend": "v4l2"}})
    assert classify_change(old, other_cam).kind == "restart_required"
    zone = classify_change(old, validate(_minimal(detection={"capture_zone": [0.1, 0, 1, 1]})))
    assert zone.kind == "live" and zone.paths == ("detection.capture_zone[0]",)


def test_read_raw_keeps_positions(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text("gate_id: G1\ncamera:\n  backend: file\n  url: a\n")
    raw = read_raw(path, env=os.environ)
    assert raw.lines["camera.url"] == (4, 3)
