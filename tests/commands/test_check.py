"""`gate-edge check` end to end: the real CLI module in a subprocess (run from the config's folder,
not the checkout), real models, the simulated camera on a real scenario, a real Mosquitto."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.config.load import deep_merge

REPO = Path(__file__).resolve().parents[2]
SIM_CONFIG = REPO / "config" / "sim-gate.yaml"
BROKEN = REPO / "tests" / "config" / "broken-gate.yaml"  # the config tests' sample of every mistake


def _run_check(config: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-m", "edge.commands.check", "--config", str(config), "--json", *extra],
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=90,
    )
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"no JSON report (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.returncode, report


def _by_check(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["check"]: c for c in report["checks"]}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Any]:
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        pytest.skip("needs mosquitto")
    from gate_sim.broker import Broker

    b = Broker(workdir=tmp_path / "broker", users={"SIM-01": "right-password"}).start()
    try:
        yield b
    finally:
        b.close()


def _sim_config(tmp_path: Path, **overrides: Any) -> Path:
    # The copy lives in tmp_path, where its relative paths would resolve: point them at the checkout.
    here = {
        "state_dir": str(tmp_path / "state"),
        "camera": {"scenario": str(REPO / "hardware-sim" / "scenarios" / "demo_flight.yaml")},
        "models": {"cache_dir": str(REPO / "models" / "cache")},
    }
    data = deep_merge(deep_merge(yaml.safe_load(SIM_CONFIG.read_text()), here), overrides)
    path = tmp_path / "gate.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_check_on_a_broken_config_lists_every_error() -> None:
    code, report = _run_check(BROKEN)
    assert code == 1 and report["ok"] is False
    config = _by_check(report)["config"]
    assert config["status"] == "FAIL"
    paths = {i["path"] for i in config["issues"]}
    assert {"gate_id", "camera.widht", "camera.fps", "mqtt.port", "decison", "logging.level"} <= paths
    assert len(config["issues"]) == 11
    assert all({"path", "value", "expected"} <= set(i) for i in config["issues"])
    assert "hunter2" not in json.dumps(report)
    # Sections that are broken skip their checks; the valid ones still run.
    checks = _by_check(report)
    assert checks["camera"]["status"] == "SKIP" and checks["broker"]["status"] == "SKIP"
    assert checks["models"]["status"] == "SKIP"  # models.providers is broken
    assert checks["state_dir"]["status"] == "OK"  # its key is fine, so it is still checked


def test_check_table_output() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "edge.commands.check", "--config", str(BROKEN), "--skip", "models",
         "--skip", "providers"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "did you mean 'width'?" in proc.stdout and "line 4:" in proc.stdout
    assert "check(s) failed" in proc.stdout


def test_check_passes_on_the_sim_config(tmp_path: Path, broker: Any) -> None:
    path = _sim_config(tmp_path, mqtt={"port": broker.port, "username": "SIM-01", "password": "right-password"})
    code, report = _run_check(path)
    checks = _by_check(report)
    assert code == 0, json.dumps(report, indent=1)
    assert {c["status"] for c in report["checks"]} == {"OK"}
    assert checks["camera"]["detail"].startswith("simulated: 1280x720")
    assert "CPUExecutionProvider" in checks["providers"]["detail"]
    assert {"config", "state_dir", "providers", "camera", "broker"} <= set(checks)


def test_wrong_password_fails_only_the_broker_check(tmp_path: Path, broker: Any) -> None:
    path = _sim_config(tmp_path, mqtt={"port": broker.port, "username": "SIM-01", "password": "wrong"})
    code, report = _run_check(path, "--broker-timeout", "2", "--skip", "camera")
    checks = _by_check(report)
    assert code == 1
    assert checks["broker"]["status"] == "FAIL" and "135" in checks["broker"]["detail"]
    assert checks["config"]["status"] == "OK" and checks["providers"]["status"] == "OK"


def test_unreachable_broker_and_missing_model_are_reported(tmp_path: Path) -> None:
    port = _free_port()
    (tmp_path / "models").mkdir()
    path = _sim_config(tmp_path, mqtt={"port": port}, models={"cache_dir": str(tmp_path / "models")})
    code, report = _run_check(path, "--broker-timeout", "1", "--skip", "camera")
    checks = _by_check(report)
    assert code == 1
    assert checks["broker"]["status"] == "FAIL"
    assert checks["models: yunet_2023mar"]["status"] == "FAIL"
    assert "models fetch" in checks["models: yunet_2023mar"]["detail"]
    assert checks["config"]["status"] == "OK"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_every_configured_broker_is_probed_so_a_dead_standby_is_named(tmp_path: Path, broker: Any) -> None:
    """With `mqtt.brokers`, a gate can only fail over to a broker that takes it: each is tried alone."""
    down = _free_port()
    path = _sim_config(tmp_path, mqtt={"port": broker.port,  # the sample's host and port must be the first's
                                       "brokers": [{"host": "127.0.0.1", "port": broker.port},
                                                   {"host": "127.0.0.1", "port": down}],
                                       "username": "SIM-01", "password": "right-password"})
    code, report = _run_check(path, "--broker-timeout", "1", "--skip", "camera")
    probes = [c for c in report["checks"] if c["check"] == "broker"]
    assert code == 1
    assert [c["status"] for c in probes] == ["OK", "FAIL"], probes
    assert probes[0]["detail"].startswith(f"broker 1 of 2: connected to 127.0.0.1:{broker.port}")
    assert probes[1]["detail"].startswith(f"broker 2 of 2: cannot connect to 127.0.0.1:{down}")
