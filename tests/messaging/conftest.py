"""Fixtures: a real private Mosquitto (plain, or the shipped fleet config: TLS with client
certificates and the shipped ACL, see tests/security), certificates made with the openssl CLI at
test time, GateLink factories and watchers (tests/support)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gate_sim.broker import Broker
from security.pki import client_cfg, make_pki, server_files
from support import Watcher, fast_mqtt
from support.keys import TRUST

from edge.evaluation.data import default_faces
from edge.messaging.link import GateLink
from edge.messaging.settings import MqttConfig

FACES = default_faces()
EMBEDDER = ("sface_2021dec", 128)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(workdir=tmp_path / "broker").start()
    yield b
    b.close()


@pytest.fixture
def plain_cfg(broker: Broker) -> MqttConfig:
    return fast_mqtt(broker.port)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate (CN = identity) per identity."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def secure_broker(tmp_path: Path, pki: Path) -> Iterator[Broker]:
    """The shipped deploy/mosquitto config and ACL on a test port, with the test's certificates."""
    b = Broker(workdir=tmp_path / "sbroker", tls=server_files(pki)).start()
    yield b
    b.close()


@pytest.fixture
def secure_cfg(secure_broker: Broker, pki: Path, tmp_path: Path) -> Callable[[str], MqttConfig]:
    """MqttConfig for an identity: TLS with its client certificate, its password from a file (sent as
    the daemon sends it; the shipped broker identifies clients by certificate only)."""

    def make(user: str) -> MqttConfig:
        return client_cfg(secure_broker.port, pki, tmp_path, user)

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
    """``make(cfg, gate="G1", state="state", **GateLink kwargs)``: a started link, subscribed. It trusts
    the test keys (``support.keys``) unless ``trust=`` says otherwise."""
    made: list[GateLink] = []

    def make(cfg: MqttConfig, gate: str = "G1", state: str = "state", **kw: Any) -> GateLink:
        kw.setdefault("trust", TRUST)
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
