"""The Prometheus adapter (edge/system/prometheus.py) over real HTTP: what a scrape returns, parsed by
the library's own parser, where it listens, and that closing it frees the port."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from edge.system.prometheus import Family, MetricsEndpoint, Series


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200
        text = r.read().decode()
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


@pytest.fixture
def endpoint() -> Iterator[MetricsEndpoint]:
    calls: list[int] = []

    def fams() -> list[Family]:
        calls.append(1)
        return [
            Family("t_frames_in", "counter", "frames", (Series(value=len(calls) * 10.0),)),
            Family("t_state", "gauge", "state", (Series((("state", "ok"),), 1.0), Series((("state", "bad"),), 0.0))),
            Family("t_latency_seconds", "histogram", "latency",
                   (Series((("stage", "detect"),), buckets=((0.01, 2), (0.1, 3), (float("inf"), 4)), total=0.5),)),
        ]

    ep = MetricsEndpoint(fams, "127.0.0.1", free_port()).start()
    yield ep
    ep.close()


def test_a_scrape_asks_for_fresh_figures_each_time(endpoint: MetricsEndpoint) -> None:
    first, second = scrape(endpoint.url), scrape(endpoint.url)
    assert first["t_frames_in_total"] == {(): 10.0} and second["t_frames_in_total"] == {(): 20.0}
    assert second["t_state"] == {(("state", "ok"),): 1.0, (("state", "bad"),): 0.0}
    buckets = second["t_latency_seconds_bucket"]
    assert buckets[(("le", "0.01"), ("stage", "detect"))] == 2.0
    assert buckets[(("le", "+Inf"), ("stage", "detect"))] == 4.0
    assert second["t_latency_seconds_count"] == {(("stage", "detect"),): 4.0}
    assert second["t_latency_seconds_sum"] == {(("stage", "detect"),): 0.5}


def test_it_listens_on_loopback_only_and_closing_frees_the_port(endpoint: MetricsEndpoint) -> None:
    assert endpoint.loopback and endpoint.url == f"http://127.0.0.1:{endpoint.port}/metrics"
    listening = endpoint._server.socket.getsockname()
    assert listening[0] == "127.0.0.1"
    with pytest.raises(OSError):  # the port is taken while it runs
        MetricsEndpoint(lambda: [], "127.0.0.1", endpoint.port).start()
    endpoint.close()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", endpoint.port), timeout=5):
        pass
    again = MetricsEndpoint(lambda: [], "127.0.0.1", endpoint.port).start()  # free again
    again.close()


def test_a_non_loopback_address_is_named_as_such() -> None:
    assert not MetricsEndpoint(lambda: [], "0.0.0.0", 1).loopback
    assert MetricsEndpoint(lambda: [], "::1", 1).loopback
    assert MetricsEndpoint(lambda: [], "::1", 9).url == "http://[::1]:9/metrics"
