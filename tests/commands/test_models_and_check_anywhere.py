"""`gate-edge models` and `check` from any working directory: the cache from the flag, the config or
the config's default; the manifest from the package; broker and credential problems named in `check`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import edge.inference
from edge.commands.check import CheckResult, run_checks
from edge.config.schema import ModelsConfig
from edge.inference.manifest import default_manifest, load_manifest

REPO = Path(__file__).resolve().parents[2]


def _gate_edge(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def _write_config(tmp_path: Path, **sections: object) -> Path:
    doc = {"gate_id": "G1", "state_dir": str(tmp_path / "state"), "camera": {"backend": "file", "url": "clip.avi"},
           **sections}
    path = tmp_path / "gate.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_the_manifest_is_package_data_and_the_only_copy() -> None:
    assert default_manifest() == Path(edge.inference.__file__).parent / "manifest.json"
    assert set(load_manifest().models) == {"yunet_2023mar", "sface_2021dec"}
    assert not (REPO / "models" / "manifest.json").exists()  # one canonical file
    assert "edge/inference/manifest.json" in (REPO / "models" / "README.md").read_text()


def test_models_verify_from_another_directory(tmp_path: Path, model_cache: Path) -> None:
    proc = _gate_edge("models", "verify", "--cache-dir", str(model_cache), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"(manifest {default_manifest()})" in proc.stdout
    assert proc.stdout.count("\nOK ") == 2


def test_models_take_the_config_s_models_section(tmp_path: Path, model_cache: Path) -> None:
    config = _write_config(tmp_path, models={"cache_dir": str(model_cache)})
    for action in ("verify", "fetch"):  # fetch finds every file present and verified: no download
        proc = _gate_edge("models", action, "--config", str(config), cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert str(model_cache) in proc.stdout
    broken = tmp_path / "broken.yaml"
    broken.write_text("gate_id: [\n")
    assert _gate_edge("models", "verify", "--config", str(broken), cwd=tmp_path).returncode == 2


def test_the_models_default_is_the_config_s_default(tmp_path: Path) -> None:
    proc = _gate_edge("models", "verify", cwd=tmp_path)
    assert proc.stdout.startswith(f"models in {ModelsConfig().cache_dir} ")


def _checks(tmp_path: Path, mqtt: dict[str, object]) -> dict[str, CheckResult]:
    config = _write_config(tmp_path, mqtt=mqtt)
    return {r.check: r for r in run_checks(str(config), skip=("models", "providers", "camera"), broker_timeout=10)}


def test_check_names_a_missing_credential(tmp_path: Path) -> None:
    missing = tmp_path / "gate-edge.mqtt-password"
    checks = _checks(tmp_path, {"username": "G1", "password_file": str(missing)})
    assert checks["credentials"].status == "FAIL"
    assert checks["credentials"].detail.startswith(f"cannot read mqtt.password_file {missing} (the MQTT password)")
    assert checks["broker"].status == "SKIP"


def test_check_lists_the_files_it_read(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("x\n")
    checks = _checks(tmp_path, {"port": 1, "username": "G1", "password_file": str(pw)})
    assert checks["credentials"].status == "OK" and str(pw) in checks["credentials"].detail


@pytest.mark.parametrize(
    ("mqtt", "reason"),
    [
        ({"host": "no-such-broker.invalid"}, "cannot resolve the broker's name 'no-such-broker.invalid'"),
        ({"port": "closed"}, "connection refused by 127.0.0.1:"),
    ],
)
def test_check_gives_the_reason_the_broker_cannot_be_reached(tmp_path: Path, mqtt: dict[str, object],
                                                             reason: str) -> None:
    if mqtt.get("port") == "closed":
        from gate_sim.broker import free_port

        mqtt = {"port": free_port()}
    checks = _checks(tmp_path, mqtt)
    assert checks["credentials"].status == "OK"
    assert checks["broker"].status == "FAIL" and reason in checks["broker"].detail, checks["broker"].detail
