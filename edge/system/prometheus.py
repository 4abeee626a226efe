"""The gate's Prometheus endpoint: the one module that imports ``prometheus_client``.

The daemon describes its figures as plain :class:`Family` values (edge/daemon/metrics.py builds them
from its counters); this adapter turns them into the library's metric families on every scrape,
through a custom collector on a registry of its own (no process-wide default registry, so two gates
in one test process never share figures), and serves them over HTTP from a daemon thread.

``prometheus_client`` is an optional dependency (``pip install 'gate-edge[metrics]'``): it is imported
only when an endpoint is started, so a gate without it runs as long as ``metrics.enabled`` is false.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal


class MetricsUnavailable(RuntimeError):
    """prometheus-client is not installed."""


@dataclass(frozen=True)
class Series:
    """One labelled value of a family; for a histogram, its cumulative buckets and sum instead."""

    labels: tuple[tuple[str, str], ...] = ()
    value: float = 0.0
    buckets: tuple[tuple[float, int], ...] = ()  # (upper bound, observations at or below), +Inf last
    total: float = 0.0  # histograms: the sum of the observations


@dataclass(frozen=True)
class Family:
    """A metric: ``name`` without the ``_total`` a counter gets, its type, help text and series."""

    name: str
    kind: Literal["counter", "gauge", "histogram"]
    help: str
    series: tuple[Series, ...]
    unit: str = ""


class _Collector:
    """Asks for the families on each scrape (the registry calls ``collect``)."""

    def __init__(self, families: Callable[[], Iterable[Family]]) -> None:
        self._families = families

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        for f in self._families():
            names = sorted({k for s in f.series for k, _ in s.labels})
            out: Any
            if f.kind == "counter":
                out = CounterMetricFamily(f.name, f.help, labels=names, unit=f.unit)
            elif f.kind == "gauge":
                out = GaugeMetricFamily(f.name, f.help, labels=names, unit=f.unit)
            else:
                out = HistogramMetricFamily(f.name, f.help, labels=names, unit=f.unit)
            for s in f.series:
                values = [dict(s.labels).get(n, "") for n in names]
                if f.kind == "histogram":
                    out.add_metric(values, [(_le(b), n) for b, n in s.buckets], s.total)
                else:
                    out.add_metric(values, s.value)
            yield out

    def describe(self) -> list[Any]:
        return []  # families vary with the host (thermal zones): nothing to check at registration


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


class MetricsEndpoint:
    """``GET /metrics`` (any path, as the library serves it) on ``address:port``, from a daemon thread."""

    def __init__(self, families: Callable[[], Iterable[Family]], address: str = "127.0.0.1",
                 port: int = 9464) -> None:
        self.address, self.port = address, port
        self._families = families
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def loopback(self) -> bool:
        return ipaddress.ip_address(self.address).is_loopback

    @property
    def url(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"http://{host}:{self.port}/metrics"

    def start(self) -> MetricsEndpoint:
        """Bind and serve. Raises MetricsUnavailable without the library, OSError if the port is taken."""
        try:
            from prometheus_client import CollectorRegistry, start_http_server
        except ImportError as exc:
            raise MetricsUnavailable("prometheus-client is not installed (pip install 'gate-edge[metrics]')") from exc
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(self._families))
        self._server, self._thread = start_http_server(self.port, self.address, registry)
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
