"""`gate-edge schema --asyncapi`: valid against the official AsyncAPI 3.0.0 JSON Schema, and true to the
gate: every topic the gate uses is a channel, with the direction, QoS, retain flag and signer the code has.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st
from referencing import Registry
from referencing.exceptions import NoSuchResource

from edge.commands import main
from edge.config.schema import LOCAL_ONLY_SECTIONS
from edge.contract import asyncapi_document
from edge.messaging.authenticate import SIGNER_OF
from edge.messaging.envelope import TrustAnchors
from edge.messaging.ids import GATE_ID_PATTERN
from edge.messaging.link import GateLink
from edge.messaging.schemas import ALL_MESSAGES, COMMANDS
from edge.messaging.schemas.examples import examples
from edge.messaging.settings import MqttConfig
from edge.messaging.topics import CHANNELS, Direction, Topics

SPEC = Path(__file__).with_name("asyncapi_spec") / "3.0.0.json"


def _offline(uri: str) -> Any:
    # Every definition the official schema uses is bundled in it: nothing may be fetched.
    raise NoSuchResource(ref=uri)


@cache
def _official() -> jsonschema.Draft7Validator:
    spec = json.loads(SPEC.read_text())
    return jsonschema.Draft7Validator(spec, registry=Registry(retrieve=_offline))


def _errors(document: dict[str, Any]) -> list[str]:
    return [f"{e.json_path}: {e.message[:200]}" for e in _official().iter_errors(document)]


@cache
def _document() -> dict[str, Any]:
    return asyncapi_document()


def doc() -> dict[str, Any]:
    return copy.deepcopy(_document())


def test_the_document_is_valid_asyncapi_3() -> None:
    assert _errors(doc()) == []


def _without_info(d: dict[str, Any]) -> None:
    del d["info"]


def _v2_action(d: dict[str, Any]) -> None:
    d["operations"]["send_events"]["action"] = "publish"  # AsyncAPI 2's word: not valid in 3.0


def _qos_3(d: dict[str, Any]) -> None:
    d["operations"]["send_status"]["bindings"]["mqtt"]["qos"] = 3


def _message_without_payload_schema(d: dict[str, Any]) -> None:
    d["components"]["messages"]["event"]["payload"] = "an event"


def _channel_without_address_type(d: dict[str, Any]) -> None:
    d["channels"]["status"]["address"] = 42


@pytest.mark.parametrize("break_it", [_without_info, _v2_action, _qos_3, _message_without_payload_schema,
                                      _channel_without_address_type])
def test_the_validation_refuses_a_broken_document(break_it: Any) -> None:
    broken = doc()
    break_it(broken)
    assert _errors(broken), f"{break_it.__name__}: the official schema accepted a broken document"


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref}: only references inside the document"
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_every_reference_resolves_inside_the_document() -> None:
    # The official schema does not follow $refs; a pydantic "#/$defs/..." left behind would dangle.
    d = doc()
    refs = set(_refs(d))
    assert refs
    for ref in sorted(refs):
        try:
            _resolve(d, ref)
        except (KeyError, IndexError, TypeError):
            pytest.fail(f"dangling reference {ref}")


def test_channels_are_the_topic_tree() -> None:
    d = doc()
    expected = (len(CHANNELS) - 1) + len(COMMANDS)  # cmd/{command}: one channel per command
    assert len(d["channels"]) == expected
    assert len(d["operations"]) == expected
    for op in d["operations"].values():
        channel = _resolve(d, op["channel"]["$ref"])
        for message in op["messages"]:
            assert message["$ref"].startswith(op["channel"]["$ref"] + "/messages/")
            _resolve(d, message["$ref"])
        assert set(op["bindings"]["mqtt"]) >= {"qos", "retain"}
        assert channel["address"]
    # every message of the schemas travels on a channel, but the manifest (inside chunk 0's envelope)
    assert set(d["components"]["messages"]) == set(ALL_MESSAGES) - {"gallery_manifest"}


def test_directions_qos_and_retain_are_the_gates() -> None:
    d = doc()
    topics = Topics("G1")
    ops = d["operations"]
    # what the gate subscribes to is exactly the receive side
    receive = {op["channel"]["$ref"].rsplit("/", 1)[1] for op in ops.values() if op["action"] == "receive"}
    addresses = {d["channels"][c]["address"].replace("{gate_id}", "G1") for c in receive}
    subscribed = set(topics.subscriptions())
    assert {re.sub(r"/cmd/\w+$", "/cmd/+", a) for a in addresses} == subscribed
    assert ops["send_status"]["bindings"]["mqtt"] == {"qos": 1, "retain": True, "bindingVersion": "0.2.0"}
    assert ops["receive_gallery_response"]["bindings"]["mqtt"]["qos"] == 0
    assert ops["receive_assignment"]["bindings"]["mqtt"]["retain"] is True
    assert ops["send_events"]["bindings"]["mqtt"]["retain"] is False
    assert "messageExpiryInterval" in ops["send_telemetry"]["bindings"]["mqtt"]
    assert ops["send_gallery_request"]["reply"]["channel"] == {"$ref": "#/channels/gallery_response"}


def test_the_subscription_qos_documented_is_the_one_the_link_asks_for(tmp_path: Path) -> None:
    link = GateLink("G1", MqttConfig(), tmp_path, embedder_id="sface_2021dec", embedder_dim=128,
                    trust=TrustAnchors.of({}))
    try:
        client = link.client
        asked = {t: 0 if t in client._qos0 else 1 for t in client.subscriptions}
    finally:
        link.outbox.close()
    d = doc()
    documented = {}
    for op in d["operations"].values():
        if op["action"] == "receive":
            address = _resolve(d, op["channel"]["$ref"])["address"].replace("{gate_id}", "G1")
            documented[re.sub(r"/cmd/\w+$", "/cmd/+", address)] = op["bindings"]["mqtt"]["qos"]
    assert asked == documented


def test_signed_messages_are_described_as_envelopes_and_their_examples_open() -> None:
    d = doc()
    messages = d["components"]["messages"]
    # the gate's own key (edge.messaging.link)
    signed = {"event": "gate", "wipe_attestation": "gate", "enrolment_report": "gate"}
    for spec in CHANNELS.values():
        if spec.kind is not None and spec.kind in SIGNER_OF:
            for name in COMMANDS if "{command}" in spec.path else [""]:
                signed[spec.messages[0].format(command=name)] = SIGNER_OF[spec.kind]
    found = examples()
    for name, message in messages.items():
        payload = message["payload"]
        role = signed.get(name)
        if role is None:
            assert payload == {"$ref": f"#/components/schemas/{ALL_MESSAGES[name].__name__}"}, name
            assert message["examples"][0]["payload"] == found[name]
            continue
        assert payload["allOf"] == [{"$ref": "#/components/schemas/SignedEnvelope"}], name
        assert payload["properties"]["role"] == {"const": role}, name
        inner = payload["properties"]["payload"]["contentSchema"]["$ref"]
        assert inner == f"#/components/schemas/{ALL_MESSAGES[name].__name__}"
        wire = message["examples"][0]["payload"]
        assert wire["role"] == role
        assert json.loads(base64.b64decode(wire["payload"])) == found[name]
    assert set(signed) <= set(messages)


def test_the_desired_config_body_is_the_gate_config_without_local_sections() -> None:
    d = doc()
    schemas = d["components"]["schemas"]
    assert schemas["ConfigDesired"]["properties"]["config"]["$ref"] == "#/components/schemas/DesiredConfig"
    body = schemas["DesiredConfig"]
    assert "required" not in body  # partial: merged over the local file
    assert not set(body["properties"]) & LOCAL_ONLY_SECTIONS
    assert {"decision", "quality", "detection", "gallery", "telemetry"} <= set(body["properties"])
    validator = jsonschema.Draft202012Validator({**body, "components": {"schemas": schemas}})
    assert not list(validator.iter_errors(examples()["config_desired"]["config"]))
    assert list(validator.iter_errors({"decision": {"threshold": "high"}}))
    assert list(validator.iter_errors({"decision": {"treshold": 0.4}}))


def _channel_patterns(d: dict[str, Any]) -> dict[str, re.Pattern[str]]:
    out = {}
    for cid, channel in d["channels"].items():
        parts = re.split(r"(\{[a-z_]+\})", channel["address"])
        out[cid] = re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "$")
    return out


@given(gate=st.from_regex(GATE_ID_PATTERN, fullmatch=True), command=st.sampled_from(sorted(COMMANDS)))
def test_every_topic_the_gate_builds_matches_exactly_one_channel(gate: str, command: str) -> None:
    patterns = _channel_patterns(_document())
    t = Topics(gate)
    built = {spec.name: getattr(t, spec.name) for spec in CHANNELS.values() if "{command}" not in spec.path}
    built[f"cmd_{command}"] = t.command(command)
    for name, topic in built.items():
        matching = [cid for cid, p in patterns.items() if p.match(topic)]
        assert matching == [name], f"{topic} matches {matching}"
        # and the channel's direction is the one the gate uses the topic for
        spec = CHANNELS["command" if name.startswith("cmd_") else name]
        assert (topic in t.subscriptions() or name.startswith("cmd_")) == (spec.direction is Direction.RECEIVE)


def test_every_topic_property_of_topics_is_a_channel() -> None:
    # a topic added to Topics by hand, outside CHANNELS, would be missing from the document
    not_topics = {"base", "command_filter"}
    props = {n for n, v in vars(Topics).items() if isinstance(v, property) and n not in not_topics}
    assert props == {spec.name for spec in CHANNELS.values() if "{command}" not in spec.path}


def test_the_command_prints_the_document(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "--asyncapi"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == _document()
    assert main(["schema", "--asyncapi", "event"]) == 2
