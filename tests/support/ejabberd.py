"""A private two-node ejabberd MQTT cluster for tests (:class:`gate_sim.ejabberd.EjabberdCluster`).

Skipped only where ejabberd is not installed and ``CI`` is not set: in CI (``make test`` installs it)
a missing ejabberd is a failure, not a silent skip.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from gate_sim.ejabberd import EjabberdCluster, ejabberd_available


def require_ejabberd() -> None:
    """Skip (locally) or fail (CI) when ejabberd is not installed."""
    if ejabberd_available():
        return
    if os.environ.get("CI"):
        pytest.fail("ejabberd is not installed (make test installs it: apt-get install ejabberd)")
    pytest.skip("ejabberd is not installed (apt-get install ejabberd; make test installs it)")


@pytest.fixture
def ejabberd_factory() -> Iterator[Callable[..., EjabberdCluster]]:
    """``make(nodes=2, **EjabberdCluster kwargs)``: a started private cluster, stopped and removed after."""
    require_ejabberd()
    made: list[EjabberdCluster] = []

    def make(nodes: int = 2, **kw: Any) -> EjabberdCluster:
        c = EjabberdCluster(nodes=nodes, **kw)
        made.append(c)
        return c.start()

    yield make
    for c in made:
        c.close()


@pytest.fixture
def ejabberd_cluster(ejabberd_factory: Callable[..., EjabberdCluster]) -> EjabberdCluster:
    """A started two-node cluster (both nodes joined), its own for this test: kill and restart freely."""
    return ejabberd_factory(2)
