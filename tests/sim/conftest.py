"""Where the simulator's scenario files are; the faces folder comes from tests/conftest.py."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "hardware-sim" / "scenarios"
TINY = SCENARIOS / "tiny.yaml"
