"""`gate-edge run` with a file it cannot do without: one line naming the file, exit 2 (the status the
unit does not restart on), no traceback, and nothing loaded or started first. Run as systemd runs it:
the real CLI in a subprocess, from a working directory that is not the checkout."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "deploy" / "gate-edge.service"


def _run(config: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("JOURNAL_STREAM", "NOTIFY_SOCKET", "WATCHDOG_USEC")}
    return subprocess.run([sys.executable, "-m", "edge", "run", "--config", str(config)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def _config(tmp_path: Path, mqtt: dict[str, object]) -> Path:
    empty_cache = tmp_path / "no-models"  # were the models loaded first, this would exit 3, not 2
    empty_cache.mkdir()
    doc = {"gate_id": "G1", "state_dir": str(tmp_path / "state"), "camera": {"backend": "file", "url": "clip.avi"},
           "models": {"cache_dir": str(empty_cache)}, "mqtt": mqtt}
    path = tmp_path / "gate.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_the_unit_does_not_restart_on_exit_2() -> None:
    assert re.search(r"^RestartPreventExitStatus=.*\b2\b", UNIT.read_text(), re.M)


def test_a_missing_password_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "credentials" / "gate-edge.mqtt-password"
    proc = _run(_config(tmp_path, {"username": "G1", "password_file": str(missing)}), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"mqtt.password_file {missing} (the MQTT password): No such file or directory" in lines[0]
    assert "ERROR" in lines[0] and "Traceback" not in proc.stderr and proc.stdout == ""


def test_a_missing_tls_file_is_named(tmp_path: Path) -> None:
    ca = tmp_path / "tls" / "ca.crt"
    proc = _run(_config(tmp_path, {"port": 8883, "tls": {"ca_file": str(ca)}}), cwd=tmp_path)
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()
    assert f"mqtt.tls.ca_file {ca} (the CA certificate that verifies the broker)" in line


def test_a_missing_config_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = _run(tmp_path / "absent.yaml", cwd=tmp_path)
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"error: cannot read the gate's config file {tmp_path / 'absent.yaml'}: ")
