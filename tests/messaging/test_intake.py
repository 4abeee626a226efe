"""Pure validation: every inbound kind, every rejection code of parse, no data echoed, the schemas."""

from __future__ import annotations

import json
import typing
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.config.schema import GalleryConfig
from edge.core.decide import Outcome
from edge.messaging.intake import parse
from edge.messaging.items import AssignmentUpdate, CommandItem, ConfigUpdate, GalleryChunkItem, Rejection
from edge.messaging.schemas import (
    COMMANDS,
    MAX_CONFIG_VERSION,
    ConfigDesired,
    Event,
    GalleryEntry,
    RejectionCode,
    json_schemas,
)
from edge.messaging.settings import IntakeLimits
from edge.messaging.topics import COMMAND_NAMES, InboundKind, TopicError, Topics
from edge.messaging.wire import Inbound

from .chunks import CTX, NOW, PHOTO, T, b64, chunk, msg, tmpl

ISSUED = "2030-01-01T11:59:00+00:00"


def code(r: object) -> str:
    assert isinstance(r, Rejection), r
    return r.code


# --------------------------------------------------------------------------- topics
def test_topics_are_built_from_the_prefixes_and_classified_back() -> None:
    t = Topics("G7", "airport/x/gate", "airport/x/fleet")
    assert t.events == "airport/x/gate/G7/events"
    assert t.fleet_config == "airport/x/fleet/config"
    assert t.classify(t.assignment).kind is InboundKind.ASSIGNMENT
    assert t.classify(t.command("opt_out")).command == "opt_out"
    assert set(t.subscriptions()) >= {t.assignment, t.gallery_response, t.fleet_config, t.config_desired}
    with pytest.raises(TopicError, match="is for gate"):
        t.classify("airport/x/gate/G8/assignment")
    with pytest.raises(TopicError, match="unknown command"):
        t.classify(t.command("selfdestruct"))
    with pytest.raises(TopicError):
        Topics("bad gate")


# --------------------------------------------------------------------------- happy paths
def test_valid_messages_of_every_kind_parse_into_typed_items() -> None:
    body = {"schema": "gate-edge/assignment/1", "gate": "G1", "flight_id": "LH123", "issued_at": NOW.isoformat()}
    a = parse(msg(T.assignment, body), CTX, NOW)
    assert isinstance(a, AssignmentUpdate) and a.assignment.flight_id == "LH123"
    assert a.reply_topic == "gate/v1/G1/replies/x" and a.correlation_data == b"req1"  # kept: it can be refused
    c = parse(msg(T.fleet_config, {"schema": "gate-edge/config-desired/1", "version": 4, "config": {"x": 1}}), CTX)
    assert isinstance(c, ConfigUpdate) and c.source == "fleet" and c.desired.version == 4
    for name in COMMAND_NAMES:
        r = parse(msg(T.command(name), {"schema": "gate-edge/cmd/1", "request_id": "r1", "issued_at": ISSUED}), CTX)
        assert isinstance(r, CommandItem) and r.name == name and r.reply_topic
    body = {"schema": "gate-edge/cmd/1", "request_id": "r1", "duration_s": 9, "issued_at": ISSUED}
    o = parse(msg(T.command("opt_out"), body), CTX)
    assert isinstance(o, CommandItem) and o.request.duration_s == 9  # type: ignore[attr-defined]
    g = parse(msg(T.gallery_response, chunk()), CTX, NOW)
    # Parsed, not decoded: the entries stay base64 until the request's owner has accepted the chunk.
    assert isinstance(g, GalleryChunkItem) and [e.id for e in g.chunk.entries] == ["P0a", "P0b"]
    assert g.correlation_id == "req1" and g.topic == T.gallery_response and len(g.payload_sha256) == 32


# --------------------------------------------------------------------------- rejections
CFG = "gate-edge/config-desired/1"
CASES = [
    ("malformed_json", T.assignment, b"{not json"),
    ("malformed_json", T.command("wipe"), b"\xff\xfe"),
    ("malformed_json", T.gallery_response, b"{not json"),
    ("wrong_schema", T.assignment, {"schema": "gate-edge/assignment/9", "gate": "G1", "flight_id": "F"}),
    ("wrong_schema", T.fleet_config, {"version": 9, "config": {}}),
    ("wrong_schema", T.command("pause"), {"schema": "gate-edge/event/1", "request_id": "r"}),
    ("invalid", T.command("opt_out"), {"schema": "gate-edge/cmd/1", "request_id": "r", "duration_s": -1}),
    ("invalid", T.command("wipe"), {"schema": "gate-edge/cmd/1", "request_id": "r", "extra": 1}),
    ("invalid", T.gallery_response, {"schema": "gate-edge/gallery/1"}),
    ("wrong_gate", "gate/v1/G2/assignment", {}),
    (
        "wrong_gate",
        T.assignment,
        {"schema": "gate-edge/assignment/1", "gate": "G2", "flight_id": "F", "issued_at": NOW.isoformat()},
    ),
    ("wrong_gate", T.config_desired, {"schema": CFG, "version": 9, "gate": "G2", "config": {}}),
    ("wrong_gate", T.command("wipe"),
     {"schema": "gate-edge/cmd/1", "request_id": "r", "gate": "G2", "issued_at": ISSUED}),
    ("wrong_gate", T.gallery_response, chunk(gate="G2")),
    ("stale_version", T.fleet_config, {"schema": "gate-edge/config-desired/1", "version": 2, "config": {}}),
    ("stale_version", T.config_desired, {"schema": "gate-edge/config-desired/1", "version": 1, "config": {}}),
    ("invalid", T.fleet_config, {"schema": CFG, "version": MAX_CONFIG_VERSION + 1, "config": {}}),
    ("invalid", T.config_desired, {"schema": CFG, "version": 10**30, "config": {}}),
    ("wrong_model", T.gallery_response, chunk(embedding_model="arcface")),
    ("wrong_model", T.gallery_response, chunk(dim=512, entries=[{"id": "x", "template": tmpl(1, 512)}])),
    ("expired", T.gallery_response, chunk(expires_at=(NOW - timedelta(seconds=1)).isoformat())),
    ("invalid", T.gallery_response, chunk(entries=[{"id": "x", "template": tmpl(1), "photo": "AAAA"}])),
    ("invalid", T.gallery_response, chunk(entries=[{"id": "x"}])),
    ("invalid", T.gallery_response, chunk(entries=[{"id": "x", "template": tmpl(1)}, {"id": "x", "template": "A"}])),
    ("invalid", T.gallery_response, chunk(entries=[{"id": "Jane Doe", "template": tmpl(1)}])),
    ("invalid", T.gallery_response, chunk(entries=[{"id": "x", "template": 12}])),
    ("unknown_topic", "gate/v1/G1/cmd/selfdestruct", {}),
    ("unknown_topic", "elsewhere/x", {}),
]


@pytest.mark.parametrize(("expected", "topic", "body"), CASES)
def test_bad_input_is_rejected_with_its_reason(expected: str, topic: str, body: Any) -> None:
    r = parse(msg(topic, body), CTX, NOW)
    assert code(r) == expected
    assert isinstance(r, Rejection) and r.reason and r.topic == topic


def test_oversized_payloads_are_rejected_without_being_read() -> None:
    big = Inbound(T.assignment, b"", oversized_bytes=10**7)
    assert code(parse(big, CTX)) == "oversized"
    assert code(parse(Inbound(T.command("wipe"), b" " * (CTX.max_payload_bytes + 1)), CTX)) == "oversized"


def test_gallery_chunks_parse_whatever_their_correlation_the_request_owner_decides() -> None:
    # parse is pure: it knows no requests. Solicited or not is GalleryRequests' call (test_gallery_requests).
    for corr in (b"someone-else", None):
        r = parse(msg(T.gallery_response, chunk(), corr=corr), CTX, NOW)
        assert isinstance(r, GalleryChunkItem) and r.correlation_id == (corr.decode() if corr else None)


def test_reapplied_config_version_is_ignored_quietly() -> None:
    r = parse(msg(T.config_desired, {"schema": "gate-edge/config-desired/1", "version": 5, "config": {}}), CTX)
    assert isinstance(r, Rejection) and r.code == "stale_version" and not r.report and r.version == 5


def test_rejection_reasons_never_echo_the_payload() -> None:
    secret = tmpl(42, 127)
    r = parse(msg(T.gallery_response, chunk(entries=[{"id": "x", "template": secret, "photo": secret}])), CTX, NOW)
    assert isinstance(r, Rejection) and secret[:16] not in r.reason
    r2 = parse(msg(T.command("wipe"), {"schema": "gate-edge/cmd/1", "request_id": "r", "leak": secret}), CTX)
    assert isinstance(r2, Rejection) and secret[:16] not in r2.reason


def test_command_rejection_keeps_the_request_id_for_the_reply() -> None:
    r = parse(msg(T.command("opt_out"), {"schema": "gate-edge/cmd/1", "request_id": "abc", "duration_s": 0}), CTX)
    assert isinstance(r, Rejection) and r.request_id == "abc" and r.reply_topic == "gate/v1/G1/replies/x"


# --------------------------------------------------------------------------- schemas: one source of truth
def test_config_versions_are_bounded_so_no_push_can_lock_out_the_next() -> None:
    assert MAX_CONFIG_VERSION == 2**31 - 1
    ok = ConfigDesired(version=MAX_CONFIG_VERSION, config={})
    assert ok.version == MAX_CONFIG_VERSION
    for bad in (MAX_CONFIG_VERSION + 1, 10**30, -1):
        with pytest.raises(ValueError, match="version"):
            ConfigDesired(version=bad, config={})
    assert json_schemas()["config_desired"]["properties"]["version"]["maximum"] == MAX_CONFIG_VERSION


def test_commands_outcomes_and_limits_each_have_one_source() -> None:
    assert tuple(COMMANDS) == COMMAND_NAMES  # topics follow the command schemas
    schema = json_schemas()["event"]
    outcomes = schema["$defs"]["Outcome"]["enum"]
    assert outcomes == [o.value for o in Outcome]  # the event schema uses the core's enum
    lim, cfg = IntakeLimits(), GalleryConfig()
    assert (cfg.max_entries, cfg.max_photo_bytes, cfg.request_timeout_s) == (
        lim.max_gallery_entries,
        lim.max_photo_bytes,
        lim.gallery_timeout_s,
    )
    assert {"wrong_flight", "clock_skew"} <= set(typing.get_args(RejectionCode))


def test_gallery_entries_check_shape_only_no_decoding() -> None:
    # Not base64, not an image: the schema does not look (intake decodes once, into wipeable buffers).
    e = GalleryEntry(id="x", photo="@@@ not base64")
    assert e.photo is not None
    with pytest.raises(ValueError, match="exactly one"):
        GalleryEntry(id="x", photo=b64(PHOTO), template=tmpl(1))


def test_events_cannot_carry_images_embeddings_or_simulator_labels() -> None:
    base = {
        "gate": "G1",
        "transaction_id": "t1",
        "outcome": "no_match",
        "started_at": NOW,
        "decided_at": NOW,
        "config_version": 1,
    }
    assert Event.model_validate(base).outcome is Outcome.NO_MATCH
    for extra in ({"embedding": [0.1] * 128}, {"source_tag": "walk-up 3"}, {"outcome": "maybe"}):
        with pytest.raises(ValueError):
            Event.model_validate({**base, **extra})
    with pytest.raises(ValueError):
        Event.model_validate({**base, "outcome": "match"})  # a match must name the gallery id
    e = Event.model_validate({**base, "outcome": Outcome.MATCH, "matched_id": "P1", "score": 0.8})
    wire = json.loads(e.to_bytes())
    assert wire["schema"] == "gate-edge/event/1" and wire["outcome"] == "match" and "source_tag" not in wire


def test_every_message_has_a_json_schema_with_its_version() -> None:
    s = json_schemas()
    assert {
        "assignment",
        "gallery_chunk",
        "event",
        "wipe_attestation",
        "config_desired",
        "config_reported",
        "cmd_opt_out",
        "command_reply",
        "status",
        "telemetry",
    } <= set(s)
    for name, sch in s.items():
        assert "schema" in sch["properties"], name
        assert sch["properties"]["schema"]["const"].startswith("gate-edge/"), name


# --------------------------------------------------------------------------- property-based
INBOUND_TOPICS = [
    T.assignment,
    T.gallery_response,
    T.fleet_config,
    T.config_desired,
    *[T.command(n) for n in COMMAND_NAMES],
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
schemas = st.sampled_from(
    ["gate-edge/assignment/1", "gate-edge/gallery/1", "gate-edge/config-desired/1", "gate-edge/cmd/1", "x"]
)


@st.composite
def near_valid(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly-valid shapes with generated values, so the validators themselves get exercised."""
    base = draw(
        st.sampled_from(
            [
                {"schema": "gate-edge/assignment/1", "gate": "G1", "flight_id": "F1", "issued_at": NOW.isoformat()},
                {"schema": "gate-edge/config-desired/1", "version": 9, "config": {}},
                {"schema": "gate-edge/cmd/1", "request_id": "r"},
                chunk(),
            ]
        )
    )
    body = dict(base)
    for k in draw(st.lists(st.sampled_from([*base.keys(), "extra"]), max_size=3)):
        body[k] = draw(json_values)
    return body


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    topic=st.sampled_from(INBOUND_TOPICS),
    payload=st.one_of(
        st.binary(max_size=200),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.dictionaries(st.text(max_size=12), json_values, max_size=6).flatmap(
            lambda d: schemas.map(lambda s: json.dumps({**d, "schema": s}).encode())
        ),
        near_valid().map(lambda d: json.dumps(d).encode()),
    ),
)
def test_generated_payloads_on_every_inbound_topic_never_raise(topic: str, payload: bytes) -> None:
    r = parse(Inbound(topic, payload, correlation_data=b"req1"), CTX, NOW)
    assert isinstance(r, Rejection | AssignmentUpdate | ConfigUpdate | CommandItem | GalleryChunkItem)
    if isinstance(r, Rejection):
        assert r.reason


def test_deeply_nested_json_is_a_rejection_not_a_crash() -> None:
    assert code(parse(Inbound(T.assignment, b"[" * 100_000 + b"]" * 100_000), CTX)) in {"malformed_json", "invalid"}


def test_entry_ids_shaped_like_personal_data_are_refused() -> None:
    """A gallery id is an opaque token; 'SURNAME.GIVEN-BIRTHDATE' is the classic leak (names in ids)."""
    from edge.messaging.schemas import GalleryEntry

    for bad in ("DOE.JANE-1985-03-14", "JANE DOE", "X19850314", "doe_jane_2001-12-31"):
        with pytest.raises(ValueError):
            GalleryEntry(id=bad, template="AAAA")
    for good in ("P-1a2b3c4d5e6f", "P0a", "000123456789", "7f3c9e21-aa"):
        assert GalleryEntry(id=good, template="AAAA").id == good
