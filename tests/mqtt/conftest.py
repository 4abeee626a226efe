"""Fixtures: a real private Mosquitto (plain, or TLS + passwords + per-gate ACL), certificates made
with the openssl CLI at test time, GateLink factories and a watcher that records what a topic gets."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gate_sim.broker import GATE_ACL, Broker, TlsFiles
from pydantic import SecretStr
from waiting import wait_for

from edge.config.schema import MqttConfig, TlsConfig
from edge.messaging.client import MqttClient
from edge.messaging.intake import Inbound
from edge.messaging.link import GateLink

FACES = Path(__file__).resolve().parents[3] / "shared" / "faces"
EMBEDDER = ("sface_2021dec", 128)
PASSWORDS = {
    "G1": "pw-g1",
    "G2": "pw-g2",
    "fleet-admin": "pw-admin",
    "gallery-service": "pw-gal",
    "dcs": "pw-dcs",
}


def fast(cfg: MqttConfig, **kw: Any) -> MqttConfig:
    """Reconnect quickly in tests (the defaults are for the field)."""
    return cfg.model_copy(update={"reconnect_min_s": 0.2, "reconnect_max_s": 1.0, "keepalive_s": 5, **kw})


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(workdir=tmp_path / "broker").start()
    yield b
    b.close()


@pytest.fixture
def plain_cfg(broker: Broker) -> MqttConfig:
    return fast(MqttConfig(port=broker.port))


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate per user."""
    d = tmp_path_factory.mktemp("pki")
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=gate-test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        cwd=d,
    )
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ["server", *PASSWORDS]:
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN={name}",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            cwd=d,
        )
        extra = ["-extfile", "san.cnf"] if name == "server" else []
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            f"{name}.crt",
            *extra,
            cwd=d,
        )
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
        return fast(MqttConfig(port=secure_broker.port, username=user, password_file=pw, tls=tls))

    return make




class Watcher:
    """A plain MQTT subscriber recording (topic, payload) for assertions."""

    def __init__(self, cfg: MqttConfig, filters: list[str], client_id: str = "watcher") -> None:
        self.client = MqttClient(cfg, client_id, subscriptions=filters)
        self.got: list[Inbound] = []
        self.client.start()
        assert self.client.wait_connected(5), "watcher could not connect"
        time.sleep(0.1)  # SUBACK

    def drain(self) -> list[Inbound]:
        while (m := self.client.get()) is not None:
            self.got.append(m)
        return self.got

    def on(self, topic: str) -> list[dict[str, Any]]:
        return [json.loads(m.payload) for m in self.drain() if m.topic == topic and m.payload]

    def wait(self, topic: str, n: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        return wait_for(lambda: (lambda r: r if len(r) >= n else None)(self.on(topic)), timeout, f"{n} on {topic}")

    def close(self) -> None:
        self.client.stop()


@pytest.fixture
def watcher_factory() -> Iterator[Callable[..., Watcher]]:
    made: list[Watcher] = []

    def make(cfg: MqttConfig, filters: list[str], client_id: str = "watcher") -> Watcher:
        w = Watcher(cfg, filters, client_id)
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()


@pytest.fixture
def link_factory(tmp_path: Path) -> Iterator[Callable[..., GateLink]]:
    made: list[GateLink] = []

    def make(cfg: MqttConfig, gate: str = "G1", state: str = "state", **kw: Any) -> GateLink:
        link = GateLink(gate, cfg, tmp_path / state, embedder_id=EMBEDDER[0], embedder_dim=EMBEDDER[1], **kw)
        link.start()
        assert link.client.wait_connected(5), f"link could not connect: {link.client.stats}"
        time.sleep(0.1)  # SUBACK
        made.append(link)
        return link

    yield make
    for link in made:
        with contextlib.suppress(Exception):
            link.stop(flush_timeout=0.2)


def password(user: str) -> SecretStr:
    return SecretStr(PASSWORDS[user])
