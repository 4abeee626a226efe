"""The aiming view under test: a simulated camera that always shows a traveller and a small bystander,
a gate config that names it, and `gate-edge aim` run as the installer runs it (a subprocess)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MIN_FACE_PX = 60
# One traveller standing still in the middle for ten minutes (looping), and a small bystander at the
# left: inside the capture zone below, but narrower than MIN_FACE_PX.
SCENARIO: dict[str, Any] = {
    "name": "aim", "seed": 1, "camera": {"width": 640, "height": 480, "fps": 10},
    "conditions": {"start_size": 0.6, "end_size": 0.6, "noise": 2, "sway": 0.0, "bystander": True},
    "walk_duration_s": 600, "gap_s": 0, "loop": True, "manifest": ["deepface_id00"],
    "walkups": [{"identity": "deepface_id00"}],
}
ZONE = [0.1, 0.0, 0.9, 1.0]


@pytest.fixture
def aim_config(tmp_path: Path, faces_dir: Path) -> Path:
    """A gate config file (the simulated camera, the checkout's models, no broker needed)."""
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(yaml.safe_dump({**SCENARIO, "faces_dir": str(faces_dir)}))
    cfg = tmp_path / "gate.yaml"
    cfg.write_text(yaml.safe_dump({
        "gate_id": "aim-gate", "state_dir": str(tmp_path / "state"),
        "camera": {"backend": "simulated", "scenario": str(scenario), "faces_dir": str(faces_dir)},
        "models": {"cache_dir": str(REPO / "models" / "cache")},
        "detection": {"capture_zone": ZONE}, "quality": {"min_face_px": MIN_FACE_PX},
    }))
    return cfg


class AimProcess:
    """`gate-edge aim` in a subprocess; ``url`` once it printed where it listens."""

    def __init__(self, config: Path, *args: str, cwd: Path) -> None:
        env = {**os.environ, "HOME": str(cwd)}
        self.proc = subprocess.Popen([sys.executable, "-m", "edge", "aim", "--config", str(config), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, env=env)
        self.url = ""

    def wait_url(self) -> str:
        """Block until the command says where it listens (or fail with what it printed instead)."""
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("aiming view: http"):
            self.proc.kill()
            raise AssertionError(f"gate-edge aim did not start: {line!r} {self.proc.communicate(timeout=30)}")
        self.url = line.split()[2]
        return self.url

    def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.finish()


@pytest.fixture
def aim_process(tmp_path: Path) -> Iterator[list[AimProcess]]:
    """Started processes are stopped after the test (SIGTERM, then waited for)."""
    started: list[AimProcess] = []
    yield started
    for p in started:
        p.stop()
