"""The systemd unit and the Jetson drop-in: `systemd-analyze verify` prints nothing (it exits 0 on
warnings, so any output is a failure) and `systemd-analyze security` rates exposure <= 2.5.

verify refuses a unit whose ExecStart binary does not exist, so a copy is verified in which only
that path is replaced by an executable stand-in in tmp; the test asserts that nothing else differs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "deploy" / "gate-edge.service"
DROPIN = REPO / "deploy" / "jetson" / "gate-edge.service.d" / "jetson.conf"
MAX_EXPOSURE = 2.5

pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")


def _exec_binary(text: str) -> str:
    match = re.search(r"^ExecStart=(\S+)", text, re.MULTILINE)
    assert match, "the unit has an ExecStart="
    return match.group(1)


def _stage(tmp_path: Path, unit_text: str, dropins: dict[str, str] | None = None) -> Path:
    """unit dir with the unit (ExecStart -> a stand-in) and optional drop-ins; returns the dir."""
    stand_in = tmp_path / "bin" / "gate-edge"
    stand_in.parent.mkdir(parents=True, exist_ok=True)
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    original = _exec_binary(unit_text)
    staged = unit_text.replace(f"ExecStart={original}", f"ExecStart={stand_in}")
    diff = [(a, b) for a, b in zip(unit_text.splitlines(), staged.splitlines(), strict=True) if a != b]
    assert len(diff) == 1 and diff[0][0].startswith("ExecStart="), "only ExecStart may differ"
    unit_dir = tmp_path / "units"
    unit_dir.mkdir(exist_ok=True)
    (unit_dir / "gate-edge.service").write_text(staged)
    for name, text in (dropins or {}).items():
        d = unit_dir / "gate-edge.service.d"
        d.mkdir(exist_ok=True)
        (d / name).write_text(text)
    return unit_dir


def _analyze(unit_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # SYSTEMD_UNIT_PATH (ending in ':' keeps the defaults) makes systemd find the drop-in directory.
    env = {**os.environ, "SYSTEMD_UNIT_PATH": f"{unit_dir}:", "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_PAGER": ""}
    return subprocess.run(["systemd-analyze", *args], cwd=unit_dir, env=env, capture_output=True, text=True, timeout=60)


def _verify_output(unit_dir: Path) -> str:
    proc = _analyze(unit_dir, "verify", "gate-edge.service")
    return (proc.stdout + proc.stderr).strip() + ("" if proc.returncode == 0 else f"\nexit {proc.returncode}")


def test_unit_verifies_silently(tmp_path: Path) -> None:
    out = _verify_output(_stage(tmp_path, UNIT.read_text()))
    assert out == "", out


def test_jetson_dropin_verifies_silently(tmp_path: Path) -> None:
    out = _verify_output(_stage(tmp_path, UNIT.read_text(), {"jetson.conf": DROPIN.read_text()}))
    assert out == "", out


def test_verify_catches_a_bad_key(tmp_path: Path) -> None:
    """The check above can fail: a misspelt key is reported (while verify still exits 0)."""
    broken = UNIT.read_text().replace("NoNewPrivileges=yes", "NoNewPrivilege=yes")
    out = _verify_output(_stage(tmp_path, broken))
    assert "NoNewPrivilege" in out


def _exposure(unit_dir: Path) -> float:
    proc = _analyze(unit_dir, "security", "--offline=true", "gate-edge.service")
    match = re.search(r"Overall exposure level for gate-edge\.service:\s*([0-9.]+)", proc.stdout)
    assert match, proc.stdout + proc.stderr
    return float(match.group(1))


def test_security_exposure(tmp_path: Path) -> None:
    exposure = _exposure(_stage(tmp_path, UNIT.read_text()))
    assert exposure <= MAX_EXPOSURE, f"exposure {exposure} > {MAX_EXPOSURE}"


def test_security_threshold_flag_gates(tmp_path: Path) -> None:
    """The CI form (--threshold) agrees, and a weakened unit crosses the threshold."""
    unit_dir = _stage(tmp_path, UNIT.read_text())
    ok = _analyze(unit_dir, "security", "--offline=true", "--threshold=25", "gate-edge.service")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    weak_text = "\n".join(
        line
        for line in UNIT.read_text().splitlines()
        if not line.startswith(("Protect", "Private", "Restrict", "SystemCall", "Capability", "User="))
    )
    weak_dir = _stage(tmp_path / "weak", weak_text)
    assert _exposure(weak_dir) > MAX_EXPOSURE


def test_unit_has_the_required_settings() -> None:
    text = UNIT.read_text()
    settings = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    for key, value in {
        "Type": "notify",
        "NotifyAccess": "main",
        "WatchdogSec": "30",
        "Restart": "on-failure",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "CapabilityBoundingSet": "",
        "MemoryDenyWriteExecute": "yes",
        "DevicePolicy": "closed",
        "User": "gate-edge",
        "SupplementaryGroups": "video",
    }.items():
        assert settings.get(key) == value, key
    assert "DeviceAllow=char-video4linux rw" in text
    assert "LoadCredential=gate-edge.mqtt-password" in text
    assert _exec_binary(text) == "/opt/gate-edge/venv/bin/gate-edge"
    dropin = DROPIN.read_text()
    assert "MemoryDenyWriteExecute=no" in dropin
