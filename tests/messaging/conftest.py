"""Fixtures: a real private Mosquitto (plain, or TLS + passwords + per-gate ACL), certificates made
with the openssl CLI at test time, GateLink factories and watchers (tests/support)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gate_sim.broker import GATE_ACL, Broker, TlsFiles
from support import Watcher, fast_mqtt

from edge.evaluation.data import default_faces
from edge.messaging.link import GateLink
from edge.messaging.settings import MqttConfig, TlsConfig

FACES = default_faces()
EMBEDDER = ("sface_2021dec", 128)
PASSWORDS = {
    "G1": "pw-g1",
    "G2": "pw-g2",
    "fleet-admin": "pw-admin",
    "gallery-service": "pw-gal",
    "dcs": "pw-dcs",
}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(workdir=tmp_path / "broker").start()
    yield b
    b.close()


@pytest.fixture
def plain_cfg(broker: Broker) -> MqttConfig:
    return fast_mqtt(broker.port)


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate per user."""
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=gate-test-ca",
             "-keyout", "ca.key", "-out", "ca.crt", cwd=d)
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ["server", *PASSWORDS]:
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
                 "-out", f"{name}.csr", cwd=d)
        extra = ["-extfile", "san.cnf"] if name == "server" else []
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-days", "2", "-out", f"{name}.crt", *extra, cwd=d)
    return d


@pytest.fixture
def secure_broker(tmp_path: Path, pki: Path) -> Iterator[Broker]:
    tls = TlsFiles(pki / "ca.crt", pki / "server.crt", pki / "server.key")
    b = Broker(workdir=tmp_path / "sbroker", tls=tls, users=PASSWORDS, acl=GATE_ACL).start()
    yield b
    b.close()


@pytest.fixture
def secure_cfg(secure_broker: Broker, pki: Path, tmp_path: Path) -> Callable[[str], MqttConfig]:
    """MqttConfig for a user: TLS with its client certificate, password from a file."""

    def make(user: str) -> MqttConfig:
        pw = tmp_path / f"{user}.pw"
        pw.write_text(PASSWORDS[user] + "\n")
        tls = TlsConfig(ca_file=pki / "ca.crt", cert_file=pki / f"{user}.crt", key_file=pki / f"{user}.key")
        return fast_mqtt(secure_broker.port, username=user, password_file=pw, tls=tls)

    return make


@pytest.fixture
def watcher_factory() -> Iterator[Callable[..., Watcher]]:
    """``make(cfg, filters, client_id="watcher", **kw)``: a started :class:`support.Watcher`, closed after."""
    made: list[Watcher] = []

    def make(cfg: MqttConfig, filters: list[str], client_id: str = "watcher", **kw: Any) -> Watcher:
        w = Watcher(cfg, filters, client_id, **kw)
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()


@pytest.fixture
def link_factory(tmp_path: Path) -> Iterator[Callable[..., GateLink]]:
    """``make(cfg, gate="G1", state="state", **GateLink kwargs)``: a started link, subscribed."""
    made: list[GateLink] = []

    def make(cfg: MqttConfig, gate: str = "G1", state: str = "state", **kw: Any) -> GateLink:
        link = GateLink(gate, cfg, tmp_path / state, embedder_id=EMBEDDER[0], embedder_dim=EMBEDDER[1], **kw)
        made.append(link)
        link.start()
        assert link.client.wait_connected(5), f"link could not connect: {link.client.stats}"
        assert link.client.wait_subscribed(5), "the link's subscriptions were not granted"
        return link

    yield make
    for link in made:
        with contextlib.suppress(Exception):
            link.stop(flush_timeout=0.2)
