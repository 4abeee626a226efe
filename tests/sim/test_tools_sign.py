"""The simulated departure control and fleet admin, as command-line tools, sign what they send with
the key given as ``--signing-key`` (the world's own key files), so a gate that trusts the world's
anchors believes it; without a readable key they refuse to start."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gate_sim import dcs, fleet_admin
from gate_sim.world import private_world
from support.mqtt import Watcher

from edge.messaging.envelope import TrustAnchors


def test_the_tools_sign_with_the_key_file_they_are_given(tmp_path: Path) -> None:
    with private_world([], workdir=tmp_path) as world:
        t = world.topics("G3")
        watcher = Watcher(world.mqtt, [t.assignment, t.config_desired], "tools-watcher")
        trust = TrustAnchors.load(world.trust_dir)  # what a gate of this world loads
        port = ["--port", str(world.mqtt.port)]
        try:
            assert dcs.main([*port, "--signing-key", str(world.key_file("departure_control")),
                             "assign", "G3", "LH42"]) == 0
            assignment = watcher.wait(t.assignment, what="the assignment")  # shown unwrapped by the watcher
            assert assignment["flight_id"] == "LH42"
            envelope = watcher.raw(t.assignment)[0].payload
            assert json.loads(trust.open(envelope, "departure_control"))["flight_id"] == "LH42"

            doc = tmp_path / "desired.yaml"
            doc.write_text("version: 3\nconfig: {decision: {margin: 0.05}}\n")
            assert fleet_admin.main([*port, "push-config", "--signing-key", str(world.key_file("fleet_admin")),
                                     "--gate", "G3", str(doc)]) == 0
            watcher.wait(t.config_desired, what="the desired config")
            envelope = watcher.raw(t.config_desired)[0].payload
            assert json.loads(trust.open(envelope, "fleet_admin"))["version"] == 3
        finally:
            watcher.close()


def test_the_tools_refuse_to_start_without_a_readable_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A missing key file is an error, never a fresh key that no gate trusts.
    missing = tmp_path / "nope.pem"
    with pytest.raises(SystemExit) as exc:
        dcs.main(["--signing-key", str(missing), "assign", "G3", "LH42"])
    assert exc.value.code == 2 and "no such key file" in capsys.readouterr().err
    assert not missing.exists()
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key\n")
    with pytest.raises(SystemExit) as exc:
        fleet_admin.main(["cmd", "--signing-key", str(garbage), "G3", "pause"])
    assert exc.value.code == 2 and "garbage.pem" in capsys.readouterr().err
