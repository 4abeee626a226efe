"""The broker the security tests run is the shipped one: deploy/mosquitto/gate-edge.conf and
gate-edge.acl, with only a test port, the test certificates and the ACL's location substituted, laid
out as on a Debian broker (a main mosquitto.conf that sets persistence_location and includes conf.d)."""

from __future__ import annotations

from pathlib import Path

import pytest
from gate_sim.broker import SHIPPED_DIR, Broker, BrokerError, TlsFiles, shipped_config

SUBSTITUTED = ("listener", "cafile", "certfile", "keyfile", "acl_file")


def _options(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_test_broker_runs_the_shipped_files_changing_only_ports_and_paths(shipped_broker: Broker) -> None:
    shipped = _options((SHIPPED_DIR / "gate-edge.conf").read_text())
    running = _options((shipped_broker.workdir / "conf.d" / "gate-edge.conf").read_text())
    assert len(shipped) == len(running)
    changed = [(a, b) for a, b in zip(shipped, running, strict=True) if a != b]
    assert {a.split()[0] for a, _ in changed} == set(SUBSTITUTED)
    assert f"acl_file {SHIPPED_DIR / 'gate-edge.acl'}" in running  # the shipped ACL itself, not a copy
    assert f"listener {shipped_broker.port} 127.0.0.1" in running
    assert shipped_broker.running


def test_the_shipped_config_binds_identity_and_stores_no_password_or_persistence_path() -> None:
    opts = {line.split()[0]: line.split()[1:] for line in _options((SHIPPED_DIR / "gate-edge.conf").read_text())}
    assert opts["use_identity_as_username"] == ["true"] and opts["use_username_as_clientid"] == ["true"]
    assert opts["require_certificate"] == ["true"] and opts["allow_anonymous"] == ["false"]
    assert opts["persistence"] == ["true"] and opts["queue_qos0_messages"] == ["false"]
    # Unused with the certificate as the identity, and refused by Mosquitto as a duplicate of the main config's.
    assert "password_file" not in opts and "persistence_location" not in opts


def test_a_shipped_config_a_test_cannot_honour_is_an_error(tmp_path: Path) -> None:
    tls = TlsFiles(tmp_path / "ca.crt", tmp_path / "s.crt", tmp_path / "s.key")
    text = (SHIPPED_DIR / "gate-edge.conf").read_text()

    def substitute(conf: str) -> str:
        return shipped_config(conf, host="127.0.0.1", port=1, tls=tls, acl_file=tmp_path / "acl")

    with pytest.raises(BrokerError, match="a path a test cannot use"):
        substitute(text + "password_file /etc/mosquitto/gate-edge.passwd\n")
    with pytest.raises(BrokerError, match="changed"):
        substitute(text.replace("listener 8883", "# no listener"))
    with pytest.raises(ValueError, match="shipped config decides"):
        Broker(workdir=tmp_path / "b", tls=tls, users={"G1": "pw"})
