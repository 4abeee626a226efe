"""`gate-edge demo --json` end to end on the small scenario: private broker, services, real daemon."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from .conftest import REPO, TINY


def test_demo_json_boards_the_tiny_flight(faces_dir: Path) -> None:
    env = {**os.environ, "GATE_EDGE_FACES": str(faces_dir)}
    with socket.socket() as s:  # a free port for the gate's metrics endpoint
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.run(
        [sys.executable, "-m", "edge", "demo", "--json", "--faces", str(faces_dir),
         "--scenario", str(TINY), "--metrics-port", str(port)],
        capture_output=True, text=True, timeout=180, env=env, cwd=REPO, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    for key in ("transactions", "correct", "wrong", "events_published", "events_received", "wipe_attested"):
        assert key in summary
    assert summary["wrong"] == 0, summary["mistakes"]
    assert summary["walkups"] == 4 and summary["transactions"] == 3 and summary["opt_outs"] == 1
    assert summary["events_received"] == summary["events_published"] == 4
    assert summary["events_in_order"] and summary["wipe_attested"] is True
    assert summary["latency_ms"]["p50"] is not None and summary["latency_ms"]["p95"] is not None
    # A scrape of the gate's metrics endpoint, taken before it stopped, counts the same decisions.
    m = summary["metrics"]
    assert m["agree_with_events"] and m["decisions"] == summary["outcomes"] and m["families"] >= 20
    assert m["frames_in"] > 0
