"""The install scripts parse, stop on errors, and document themselves (they cannot run here)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SCRIPTS = sorted(DEPLOY.glob("install-*.sh"))


def test_one_script_per_platform() -> None:
    assert {p.name for p in SCRIPTS} == {"install-debian.sh", "install-pi.sh", "install-jetson.sh"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_syntax_strict_mode_and_help(script: Path) -> None:
    text = script.read_text()
    assert "set -euo pipefail" in text
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    proc = subprocess.run(["bash", str(script), "--help"], capture_output=True, text=True, timeout=10)
    assert proc.returncode == 0 and proc.stdout.startswith("Usage:")
    bad = subprocess.run(["bash", str(script), "--bogus"], capture_output=True, text=True, timeout=10)
    assert bad.returncode != 0 and "unknown option" in bad.stderr


def test_pi_pins_keep_the_apt_packages_working() -> None:
    text = (DEPLOY / "install-pi.sh").read_text()
    assert "numpy<2" in text and "opencv-python-headless<4.12" in text and "--system-site-packages" in text
