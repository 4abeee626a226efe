"""Fail-over: a gate's link with several brokers moves to the next when the one it is on goes, and its
durable outbox delivers, exactly once and in order, what was decided meanwhile.

- a two-node ejabberd cluster (mod_mqtt), the node the gate is on killed (SIGKILL: a crash);
- two Mosquittos listed as brokers, the first one stopped;
- one Mosquitto restarted (the single-broker form keeps working as before).

Each counts the events by event id at a consumer that stays connected to the broker that survives.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gate_sim.broker import Broker, free_port
from gate_sim.ejabberd import EjabberdCluster
from support import Watcher, fast_mqtt, wait_for

from edge.messaging.link import GateLink
from edge.messaging.schemas import Event
from edge.messaging.settings import MqttConfig

BEFORE, DURING = 3, 3  # events decided before the node is lost, and while the gate has no broker


def event(link: GateLink, i: int) -> Event:
    now = datetime.now(timezone.utc)
    return Event(gate=link.topics.gate_id, transaction_id=f"t{i}", outcome="no_match", started_at=now,
                 decided_at=now, config_version=1)


def two_brokers(ports: list[int], **kw: Any) -> MqttConfig:
    # A 2 s back-off before the first retry: the events "decided meanwhile" are decided well before it.
    return fast_mqtt(ports[0], brokers=[{"host": "127.0.0.1", "port": p} for p in ports],
                     reconnect_min_s=2.0, reconnect_max_s=2.0, **kw)


def delivered_until_empty(link: GateLink, consumer: Watcher, n: int) -> list[dict[str, Any]]:
    """Pump the link until the consumer has ``n`` distinct events and the outbox is empty."""
    topic = link.topics.events

    def done() -> bool:
        link.poll()
        return link.outbox.depth == 0 and len({e["event_id"] for e in consumer.on(topic)}) >= n

    wait_for(done, 60, f"{n} events at the consumer (outbox {link.outbox.depth}, on {link.client.broker})")
    return consumer.on(topic)


def lose_broker_and_decide(link: GateLink, lose: Callable[[], None]) -> list[Event]:
    """Everything so far acknowledged, the broker the gate is on goes; events are decided until the
    gate has reconnected somewhere; returns those decided while it had no connection."""
    assert link.flush(20), "the outbox did not empty before the broker was lost"
    lose()
    wait_for(lambda: not link.connected, 30, "the gate to notice the broker is gone")
    offline: list[Event] = []
    i = BEFORE
    while len(offline) < DURING:
        i += 1
        before = link.connected
        stored = link.publish_event(event(link, i))
        if not before and not link.connected:
            offline.append(stored)
    return offline


def check_exactly_once(events: list[dict[str, Any]], offline: list[Event], total: int, *,
                       redelivered: bool = False) -> None:
    """Every event decided arrived, in order, once by event id. ``redelivered``: the consumer's own
    broker restarted, and QoS 1 may hand it again what it had not acknowledged to it (it dedups)."""
    ids = [e["event_id"] for e in events]
    unique = list(dict.fromkeys(ids))
    assert len(unique) == total, f"{len(unique)} distinct events delivered, {total} decided"
    if not redelivered:
        assert len(ids) == total, f"{len(ids)} deliveries of {total} events"
    first = {e["event_id"]: e["seq"] for e in reversed(events)}
    assert [first[i] for i in unique] == list(range(1, total + 1))  # in order, none missing
    assert {str(e.event_id) for e in offline} <= set(ids)  # what was decided without a broker arrived


def test_a_gate_fails_over_between_two_cluster_nodes_without_losing_or_repeating_an_event(
    ejabberd_cluster: EjabberdCluster,
    link_factory: Callable[..., GateLink],
    watcher_factory: Callable[..., Watcher],
) -> None:
    c = ejabberd_cluster
    c.register("G1", "pw-g1")
    c.register("consumer", "pw-c")
    cfg = two_brokers(c.ports, username="G1", password="pw-g1")
    link = link_factory(cfg, "G1")
    assert link.client.broker == f"127.0.0.1:{c.ports[0]}"
    # The consumer is on the node that survives.
    consumer = watcher_factory(fast_mqtt(c.ports[1], username="consumer", password="pw-c"),
                               [link.topics.events, link.topics.status], "events-consumer")
    for i in range(1, BEFORE + 1):
        link.publish_event(event(link, i))
    delivered_until_empty(link, consumer, BEFORE)

    offline = lose_broker_and_decide(link, lambda: c.kill(0))
    total = link.outbox.last_seq()
    events = delivered_until_empty(link, consumer, total)

    assert link.client.broker == f"127.0.0.1:{c.ports[1]}"
    assert link.client.failovers >= 1
    check_exactly_once(events, offline, total)
    # The gate's birth message, published again on the new node, says it is online.
    consumer.wait_latest(link.topics.status, lambda s: s["online"] is True, what="the gate online again")


def test_a_gate_fails_over_between_two_mosquittos(
    tmp_path: Path, link_factory: Callable[..., GateLink], watcher_factory: Callable[..., Watcher]
) -> None:
    brokers = [Broker(workdir=tmp_path / f"b{i}").start() for i in range(2)]
    try:
        link = link_factory(two_brokers([b.port for b in brokers]), "G2")
        consumer = watcher_factory(fast_mqtt(brokers[1].port), [link.topics.events], "events-consumer")
        for i in range(1, BEFORE + 1):
            link.publish_event(event(link, i))
        # Only the events published on the second broker reach this consumer: none yet.
        assert link.flush(20)
        offline = lose_broker_and_decide(link, brokers[0].stop)
        total = link.outbox.last_seq()
        events = delivered_until_empty(link, consumer, DURING)
        assert link.client.broker == f"127.0.0.1:{brokers[1].port}"
        got = [e["seq"] for e in events]
        assert got == list(range(BEFORE + 1, total + 1)), got
        assert {str(e.event_id) for e in offline} <= {e["event_id"] for e in events}
    finally:
        for b in brokers:
            b.close()


def test_a_single_mosquitto_restarted_delivers_what_was_decided_meanwhile_once(
    broker: Broker, link_factory: Callable[..., GateLink], watcher_factory: Callable[..., Watcher]
) -> None:
    cfg = fast_mqtt(broker.port, reconnect_min_s=2.0, reconnect_max_s=2.0)
    link = link_factory(cfg, "G3")
    # A persistent consumer session: Mosquitto keeps it (and what it missed) across its restart.
    consumer = watcher_factory(cfg, [link.topics.events], "events-consumer")
    for i in range(1, BEFORE + 1):
        link.publish_event(event(link, i))
    delivered_until_empty(link, consumer, BEFORE)
    offline = lose_broker_and_decide(link, broker.stop)
    broker.start()
    total = link.outbox.last_seq()
    events = delivered_until_empty(link, consumer, total)
    assert link.client.broker == f"127.0.0.1:{broker.port}" and link.client.failovers == 0
    check_exactly_once(events, offline, total, redelivered=True)


def test_a_failed_first_attempt_moves_on_to_the_next_broker(
    broker: Broker, link_factory: Callable[..., GateLink]
) -> None:
    # Nothing listens on the first port: the attempt fails (refused), and the gate tries the second
    # broker instead of retrying the first for ever.
    dead = free_port()
    link = link_factory(fast_mqtt(dead, brokers=[{"host": "127.0.0.1", "port": p} for p in (dead, broker.port)]), "G4")
    assert link.client.broker == f"127.0.0.1:{broker.port}"
    assert link.client.failovers >= 1 and link.client.stats.connect_failures >= 1
