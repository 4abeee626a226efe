"""What the gate attests is signed with its own key: events and wipe attestations verify against the
public key in its status, a forged or altered one does not, and `gate-edge verify` says so."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

from support.waiting import wait_for

from edge.inference.onnx_runtime import FaceModels
from edge.messaging.envelope import TrustAnchors, public_key_from_pem

from .conftest import Bench, decisions, gallery_live


def test_events_and_wipes_are_signed_by_the_gate_key_and_verifiable(
    world: Bench, face_models: FaceModels, tmp_path: Path
) -> None:
    run = world.start_daemon(world.config(), face_models)
    world.board()
    status = gallery_live(world)
    key = public_key_from_pem(status["public_key"].encode())
    anchors = TrustAnchors.of({"gate": [key]})
    wait_for(lambda: decisions(world), 60, "a decision")
    run.stop()  # the shutdown wipe is attested
    world.watcher.wait(world.topics.wipe, lambda a: a["reason"] == "shutdown")
    key_file = Path(world.config().state_dir) / "gate-key.pem"
    assert key_file.stat().st_mode & 0o077 == 0  # the private key is the daemon's alone

    raw_event = world.watcher.raw(world.topics.events)[0].payload
    raw_wipe = world.watcher.raw(world.topics.wipe)[-1].payload
    assert json.loads(anchors.open(raw_event, "gate"))["schema"] == "gate-edge/event/1"
    assert json.loads(anchors.open(raw_wipe, "gate"))["reason"] == "shutdown"

    (tmp_path / "status.json").write_text(json.dumps(status))
    (tmp_path / "wipe.json").write_bytes(raw_wipe)
    env = json.loads(raw_wipe)
    inner = json.loads(base64.b64decode(env["payload"]))
    inner["entries_wiped"] = 0  # an altered attestation, re-wrapped with the original signature
    env["payload"] = base64.b64encode(json.dumps(inner).encode()).decode()
    (tmp_path / "altered.json").write_text(json.dumps(env))

    def verify(*files: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "edge", "verify", "--status", str(tmp_path / "status.json"),
                               *files], capture_output=True, text=True, timeout=60)

    ok = verify(str(tmp_path / "wipe.json"))
    assert ok.returncode == 0 and "verified" in ok.stdout and status["key_id"] in ok.stdout
    bad = verify(str(tmp_path / "altered.json"))
    assert bad.returncode == 1 and "NOT VERIFIED" in bad.stdout
