"""Fixtures for the camera tests; the fakes themselves live in camera_fakes.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from camera_fakes import TINY


@pytest.fixture(scope="session")
def recorded_video(tmp_path_factory: pytest.TempPathFactory, faces_dir: Path) -> Path:
    """The tiny scenario written to a real MJPG .avi by gate_sim.record."""
    from gate_sim.record import record

    out = tmp_path_factory.mktemp("video") / "tiny.avi"
    summary = record(TINY, out, faces_dir=faces_dir)
    assert summary["frames"] == 40
    return out
