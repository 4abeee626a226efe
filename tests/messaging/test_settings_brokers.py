"""The ``mqtt.brokers`` list: validated, and the single ``host``/``port`` form keeps working."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from edge.messaging.settings import MAX_BROKERS, BrokerAddress, MqttConfig

hosts = st.from_regex(r"[a-z0-9][a-z0-9.-]{0,30}", fullmatch=True)
ports = st.integers(1, 65535)
addresses = st.tuples(hosts, ports)


@given(st.lists(addresses, min_size=1, max_size=MAX_BROKERS, unique=True))
def test_a_valid_list_is_kept_in_order_and_host_port_name_its_first(addrs: list[tuple[str, int]]) -> None:
    cfg = MqttConfig(brokers=[{"host": h, "port": p} for h, p in addrs])
    assert [(a.host, a.port) for a in cfg.addresses] == addrs
    assert (cfg.host, cfg.port) == addrs[0]
    # What a config file holds comes back the same (the daemon's config is dumped and reloaded).
    assert MqttConfig.model_validate(cfg.model_dump()) == cfg


@given(addresses)
def test_the_single_broker_form_is_one_address(addr: tuple[str, int]) -> None:
    cfg = MqttConfig(host=addr[0], port=addr[1])
    assert cfg.addresses == (BrokerAddress(host=addr[0], port=addr[1]),)
    assert cfg.brokers == ()


@given(st.lists(addresses, min_size=1, max_size=MAX_BROKERS - 1, unique=True), st.data())
def test_a_repeated_broker_is_refused(addrs: list[tuple[str, int]], data: st.DataObject) -> None:
    again = data.draw(st.sampled_from(addrs))
    with pytest.raises(ValidationError, match="more than once"):
        MqttConfig(brokers=[{"host": h, "port": p} for h, p in [*addrs, again]])


@given(st.lists(addresses, min_size=1, max_size=4, unique=True), addresses)
def test_host_and_port_that_disagree_with_the_first_broker_are_refused(addrs: list[tuple[str, int]],
                                                                         other: tuple[str, int]) -> None:
    doc: dict[str, Any] = {"brokers": [{"host": h, "port": p} for h, p in addrs], "host": other[0], "port": other[1]}
    if other == addrs[0]:
        assert MqttConfig(**doc).addresses[0] == BrokerAddress(host=other[0], port=other[1])
    else:
        with pytest.raises(ValidationError, match="disagree"):
            MqttConfig(**doc)


@given(st.one_of(
    st.just([]),  # empty: the single form then, not an error
    st.lists(st.fixed_dictionaries({"host": hosts, "port": st.integers(-5, 0) | st.integers(65536, 10**6)}),
             min_size=1, max_size=3),
    st.lists(st.fixed_dictionaries({"host": st.sampled_from(["", "mqtt://a", "a b", "a/b"])}), min_size=1, max_size=2),
    st.lists(st.just({"port": 1883}), min_size=1, max_size=2),
    st.lists(st.fixed_dictionaries({"host": hosts, "extra": st.just(1)}), min_size=1, max_size=2),
    st.lists(st.builds(lambda h, p: f"{h}:{p}", hosts, ports), min_size=1, max_size=2),
    st.text(max_size=10),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
))
def test_anything_else_is_refused_with_a_validation_error(brokers: Any) -> None:
    if brokers == []:
        assert MqttConfig(brokers=brokers).brokers == ()
        return
    with pytest.raises(ValidationError):
        MqttConfig(brokers=brokers)


def test_more_brokers_than_the_limit_are_refused() -> None:
    with pytest.raises(ValidationError, match="at most"):
        MqttConfig(brokers=[{"host": f"n{i}", "port": 1883} for i in range(MAX_BROKERS + 1)])
