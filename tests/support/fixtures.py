"""Fixtures shared by the messaging and security tests (registered in tests/conftest.py): test
certificates, watchers and the daemon's own link, each closed after the test."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.messaging.link import GateLink
from edge.messaging.settings import MqttConfig
from support.ejabberd import ejabberd_cluster, ejabberd_factory  # noqa: F401 - fixtures, registered here
from support.keys import TRUST
from support.mqtt import Watcher
from support.pki import make_pki

EMBEDDER = ("sface_2021dec", 128)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate (CN = identity) per identity."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def watcher_factory() -> Iterator[Callable[..., Watcher]]:
    """``make(cfg, filters, client_id="watcher", **kw)``: a started :class:`support.Watcher`, closed after.
    On the shipped broker the client id is the certificate's CN: one watcher per identity at a time."""
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
    """``make(cfg, gate="G1", state=None, **GateLink kwargs)``: the daemon's own link for a gate, started,
    its subscriptions granted. It trusts the test keys (``support.keys``) unless ``trust=`` says otherwise."""
    made: list[GateLink] = []

    def make(cfg: MqttConfig, gate: str = "G1", state: str | None = None, **kw: Any) -> GateLink:
        kw.setdefault("trust", TRUST)
        link = GateLink(gate, cfg, tmp_path / (state or f"state-{gate}"), embedder_id=EMBEDDER[0],
                        embedder_dim=EMBEDDER[1], **kw)
        made.append(link)
        link.start()
        assert link.client.wait_connected(10), f"link could not connect: {link.client.stats}"
        assert link.client.wait_subscribed(10), "the link's subscriptions were not granted"
        return link

    yield make
    for link in made:
        with contextlib.suppress(Exception):
            link.stop(flush_timeout=0.2)
