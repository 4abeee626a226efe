"""Paths a gate operator can live with: defaults where the systemd unit puts things, and a relative path
in a config file meaning "next to this file", whatever the working directory.

``cd /tmp && gate-edge check --config .../config/usb-gate.yaml`` once failed with
``model file missing: models/cache/...``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edge.config.load import load_file, read_raw, validate
from edge.config.schema import DEFAULT_CACHE_DIR, DEFAULT_STATE_DIR, ModelsConfig
from edge.config.store import startup_config

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "config").glob("*.yaml"))


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from a directory that has nothing to do with the config."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def _unit_dirs() -> tuple[Path, Path]:
    unit = (REPO / "deploy" / "gate-edge.service").read_text()
    state = re.search(r"^StateDirectory=(\S+)", unit, re.M)
    cache = re.search(r"^CacheDirectory=(\S+)", unit, re.M)
    assert state and cache
    return Path("/var/lib") / state.group(1), Path("/var/cache") / cache.group(1)


def test_defaults_are_absolute_and_agree_with_the_unit_and_the_installers() -> None:
    state, cache = _unit_dirs()
    cfg = validate({"gate_id": "G1", "camera": {"backend": "v4l2"}})
    assert cfg.state_dir == DEFAULT_STATE_DIR == state
    assert cfg.models.cache_dir == ModelsConfig().cache_dir == DEFAULT_CACHE_DIR == cache
    lib = (REPO / "deploy" / "lib.sh").read_text()  # where the installers fetch the models to
    assert f"STATE={state}\n" in lib and f"CACHE={cache}\n" in lib


def test_relative_paths_in_a_file_resolve_against_its_folder(tmp_path: Path, elsewhere: Path) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    path = folder / "gate.yaml"
    path.write_text(
        "gate_id: G1\n"
        "state_dir: state\n"
        "camera: {backend: simulated, scenario: scenarios/walk.yaml, faces_dir: ../faces}\n"
        "models: {cache_dir: models/cache, manifest: models/manifest.json}\n"
        "mqtt:\n"
        "  password_file: creds/pw\n"
        "  tls: {ca_file: tls/ca.crt, cert_file: tls/gate.crt, key_file: /abs/gate.key}\n"
        "security: {trust_dir: trust}\n"
    )
    cfg = load_file(path, env={})
    assert cfg.state_dir == folder / "state"
    assert cfg.camera.scenario == folder / "scenarios/walk.yaml"  # type: ignore[union-attr]
    assert cfg.camera.faces_dir == folder / "../faces"  # type: ignore[union-attr]
    assert cfg.models.cache_dir == folder / "models/cache" and cfg.models.manifest == folder / "models/manifest.json"
    assert cfg.mqtt.password_file == folder / "creds/pw"
    assert cfg.mqtt.tls is not None
    assert cfg.mqtt.tls.ca_file == folder / "tls/ca.crt" and cfg.mqtt.tls.cert_file == folder / "tls/gate.crt"
    assert cfg.mqtt.tls.key_file == Path("/abs/gate.key")  # absolute stays as it is
    assert cfg.security.trust_dir == folder / "trust"


def test_a_config_named_relatively_resolves_against_its_own_folder(tmp_path: Path, elsewhere: Path) -> None:
    (elsewhere / "conf").mkdir()
    (elsewhere / "conf" / "gate.yaml").write_text("gate_id: G1\nstate_dir: st\ncamera: {backend: v4l2}\n")
    cfg = load_file("conf/gate.yaml", env={})
    assert cfg.state_dir.is_absolute() and cfg.state_dir == elsewhere / "conf" / "st"


@pytest.mark.parametrize(
    ("url", "resolved"),
    [("clips/walk.mp4", True), ("rtsp://cam.local/stream", False), ("http://cam/x.mjpg", False),
     ("file:///srv/x.mp4", False), ("/srv/x.mp4", False)],
)
def test_a_file_camera_url_resolves_only_when_it_is_a_file(tmp_path: Path, url: str, resolved: bool) -> None:
    path = tmp_path / "gate.yaml"
    path.write_text(f"gate_id: G1\ncamera: {{backend: file, url: '{url}'}}\n")
    got = load_file(path, env={}).camera.url  # type: ignore[union-attr]
    assert got == (str(tmp_path / url) if resolved else url)


def test_systemd_directories_still_win(tmp_path: Path) -> None:
    path = tmp_path / "gate.yaml"
    path.write_text("gate_id: G1\ncamera: {backend: v4l2}\nstate_dir: ${STATE_DIRECTORY:-state}\n")
    assert load_file(path, env={"STATE_DIRECTORY": "/var/lib/gate-edge"}).state_dir == Path("/var/lib/gate-edge")
    assert load_file(path, env={}).state_dir == tmp_path / "state"


def test_wrong_types_are_left_for_validation_to_report(tmp_path: Path) -> None:
    path = tmp_path / "gate.yaml"
    path.write_text("gate_id: G1\ncamera: {backend: nope, scenario: 3}\nstate_dir: [a]\nmodels: 7\n")
    raw = read_raw(path, env={})
    assert raw.data["state_dir"] == ["a"] and raw.data["models"] == 7


def test_a_mapping_validated_directly_keeps_its_paths() -> None:
    cfg = validate({"gate_id": "G1", "camera": {"backend": "v4l2"}, "state_dir": "rel/state"})
    assert cfg.state_dir == Path("rel/state")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_examples_work_from_any_directory(path: Path, elsewhere: Path) -> None:
    cfg = load_file(path, env={})
    for p in (cfg.state_dir, cfg.models.cache_dir, cfg.security.trust_dir):
        assert p.is_absolute()
    if path.name == "sim-gate.yaml":
        assert cfg.camera.scenario.is_file()  # type: ignore[union-attr]
        assert cfg.models.cache_dir.resolve() == REPO / "models" / "cache"
        assert cfg.state_dir.resolve() == REPO / "var" / "state"
    else:  # appliance configs: the unit's directories when run by hand too
        assert (cfg.state_dir, cfg.models.cache_dir) == _unit_dirs()


def test_startup_config_resolves_too(tmp_path: Path, elsewhere: Path) -> None:
    path = tmp_path / "gate.yaml"
    path.write_text("gate_id: G1\nstate_dir: state\ncamera: {backend: file, url: clip.avi}\n")
    start = startup_config(path, env={})
    assert start.config.state_dir == tmp_path / "state"
    assert start.base["camera"]["url"] == str(tmp_path / "clip.avi")  # merges start from resolved paths
