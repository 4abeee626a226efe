"""Pure validation: every inbound kind, every rejection code, the gallery assembler, no data echoed."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.core.gallery import Gallery
from edge.messaging.intake import (
    AssignmentUpdate,
    CommandItem,
    ConfigUpdate,
    GalleryAssembler,
    GalleryChunkItem,
    Inbound,
    IntakeContext,
    Rejection,
    parse,
)
from edge.messaging.schemas import Event, gallery_digest, json_schemas
from edge.messaging.topics import COMMAND_NAMES, InboundKind, TopicError, Topics

from .conftest import FACES

T = Topics("G1")
NOW = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
CTX = IntakeContext(
    T,
    "sface_2021dec",
    128,
    max_payload_bytes=4 * 1024 * 1024,
    max_photo_bytes=1024,
    fleet_config_version=3,
    gate_config_version=5,
    pending_gallery_requests=frozenset({"req1"}),
)
PHOTO = next(FACES.glob("*/*.jpg")).read_bytes()


def tmpl(seed: int, dim: int = 128) -> str:
    v = np.random.default_rng(seed).standard_normal(dim).astype("<f4")
    return base64.b64encode(v.tobytes()).decode()


def chunk(i: int = 0, n: int = 1, entries: list[dict[str, Any]] | None = None, **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schema": "gate-edge/gallery/1",
        "gate": "G1",
        "flight_id": "LH123",
        "gallery_version": 7,
        "embedding_model": "sface_2021dec",
        "dim": 128,
        "expires_at": (NOW + timedelta(hours=1)).isoformat(),
        "chunk_index": i,
        "chunk_count": n,
        "total_entries": 2 * n,
        "entries": entries
        if entries is not None
        else [{"id": f"P{i}a", "template": tmpl(i)}, {"id": f"P{i}b", "template": tmpl(100 + i)}],
    }
    body.update(kw)
    return body


def msg(topic: str, body: Any, corr: bytes | None = b"req1", reply: str | None = "gate/v1/G1/replies/x") -> Inbound:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Inbound(topic, payload, response_topic=reply, correlation_data=corr)


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
    a = parse(
        msg(
            T.assignment,
            {
                "schema": "gate-edge/assignment/1",
                "gate": "G1",
                "flight_id": "LH123",
                "issued_at": NOW.isoformat(),
            },
        ),
        CTX,
        NOW,
    )
    assert isinstance(a, AssignmentUpdate) and a.assignment.flight_id == "LH123"
    c = parse(msg(T.fleet_config, {"schema": "gate-edge/config-desired/1", "version": 4, "config": {"x": 1}}), CTX)
    assert isinstance(c, ConfigUpdate) and c.source == "fleet" and c.desired.version == 4
    for name in COMMAND_NAMES:
        r = parse(msg(T.command(name), {"schema": "gate-edge/cmd/1", "request_id": "r1"}), CTX)
        assert isinstance(r, CommandItem) and r.name == name and r.reply_topic
    o = parse(msg(T.command("opt_out"), {"schema": "gate-edge/cmd/1", "request_id": "r1", "duration_s": 9}), CTX)
    assert isinstance(o, CommandItem) and o.request.duration_s == 9  # type: ignore[attr-defined]
    g = parse(msg(T.gallery_response, chunk()), CTX, NOW)
    assert isinstance(g, GalleryChunkItem) and [i.id for i in g.items] == ["P0a", "P0b"]
    assert g.items[0].template is not None and g.items[0].template.shape == (128,)


# --------------------------------------------------------------------------- rejections
CASES = [
    ("malformed_json", T.assignment, b"{not json"),
    ("malformed_json", T.command("wipe"), b"\xff\xfe"),
    ("wrong_schema", T.assignment, {"schema": "gate-edge/assignment/9", "gate": "G1", "flight_id": "F"}),
    ("wrong_schema", T.fleet_config, {"version": 9, "config": {}}),
    ("wrong_schema", T.command("pause"), {"schema": "gate-edge/event/1", "request_id": "r"}),
    ("invalid", T.command("opt_out"), {"schema": "gate-edge/cmd/1", "request_id": "r", "duration_s": -1}),
    ("invalid", T.command("wipe"), {"schema": "gate-edge/cmd/1", "request_id": "r", "extra": 1}),
    ("wrong_gate", "gate/v1/G2/assignment", {}),
    (
        "wrong_gate",
        T.assignment,
        {"schema": "gate-edge/assignment/1", "gate": "G2", "flight_id": "F", "issued_at": NOW.isoformat()},
    ),
    (
        "wrong_gate",
        T.config_desired,
        {"schema": "gate-edge/config-desired/1", "version": 9, "gate": "G2", "config": {}},
    ),
    ("wrong_gate", T.command("wipe"), {"schema": "gate-edge/cmd/1", "request_id": "r", "gate": "G2"}),
    ("wrong_gate", T.gallery_response, chunk(gate="G2")),
    ("stale_version", T.fleet_config, {"schema": "gate-edge/config-desired/1", "version": 2, "config": {}}),
    ("stale_version", T.config_desired, {"schema": "gate-edge/config-desired/1", "version": 1, "config": {}}),
    ("wrong_model", T.gallery_response, chunk(embedding_model="arcface")),
    ("wrong_model", T.gallery_response, chunk(dim=512, entries=[{"id": "x", "template": tmpl(1, 512)}])),
    ("expired", T.gallery_response, chunk(expires_at=(NOW - timedelta(seconds=1)).isoformat())),
    ("invalid", T.gallery_response, chunk(entries=[{"id": "x", "template": tmpl(1, 127)}])),
    ("invalid", T.gallery_response, chunk(entries=[{"id": "x", "template": "@@@"}])),
    ("invalid", T.gallery_response, chunk(entries=[{"id": "x", "template": tmpl(1), "photo": "AAAA"}])),
    (
        "invalid",
        T.gallery_response,
        chunk(entries=[{"id": "x", "photo": base64.b64encode(b"GIF89a").decode()}]),
    ),
    (
        "invalid",
        T.gallery_response,
        chunk(entries=[{"id": "x", "template": tmpl(1)}, {"id": "x", "template": tmpl(2)}]),
    ),
    ("invalid", T.gallery_response, chunk(entries=[{"id": "Jane Doe", "template": tmpl(1)}])),
    (
        "bad_template",
        T.gallery_response,
        chunk(entries=[{"id": "x", "template": base64.b64encode(np.full(128, np.nan, "<f4").tobytes()).decode()}]),
    ),
    (
        "too_large",
        T.gallery_response,
        chunk(entries=[{"id": "x", "photo": base64.b64encode(PHOTO).decode()}]),
    ),
    ("unknown_topic", "gate/v1/G1/cmd/selfdestruct", {}),
    ("unknown_topic", "elsewhere/x", {}),
]


@pytest.mark.parametrize(("expected", "topic", "body"), CASES)
def test_bad_input_is_rejected_with_its_reason(expected: str, topic: str, body: Any) -> None:
    r = parse(msg(topic, body), CTX, NOW)
    assert code(r) == expected
    assert isinstance(r, Rejection) and r.reason and r.topic == topic


def test_oversized_and_unsolicited_gallery_are_rejected() -> None:
    big = Inbound(T.assignment, b"", oversized_bytes=10**7)
    assert code(parse(big, CTX)) == "oversized"
    assert code(parse(Inbound(T.command("wipe"), b" " * (CTX.max_payload_bytes + 1)), CTX)) == "oversized"
    assert code(parse(msg(T.gallery_response, chunk(), corr=b"someone-else"), CTX, NOW)) == "unsolicited"
    assert code(parse(msg(T.gallery_response, chunk(), corr=None), CTX, NOW)) == "unsolicited"


def test_reapplied_config_version_is_ignored_quietly() -> None:
    r = parse(msg(T.config_desired, {"schema": "gate-edge/config-desired/1", "version": 5, "config": {}}), CTX)
    assert isinstance(r, Rejection) and r.code == "stale_version" and not r.report


def test_rejection_reasons_never_echo_the_payload() -> None:
    secret = tmpl(42, 127)  # wrong length: its base64 must not show up in the reason
    r = parse(msg(T.gallery_response, chunk(entries=[{"id": "x", "template": secret}])), CTX, NOW)
    assert isinstance(r, Rejection) and secret[:16] not in r.reason
    r2 = parse(msg(T.command("wipe"), {"schema": "gate-edge/cmd/1", "request_id": "r", "leak": secret}), CTX)
    assert isinstance(r2, Rejection) and secret[:16] not in r2.reason


def test_command_rejection_keeps_the_request_id_for_the_reply() -> None:
    r = parse(msg(T.command("opt_out"), {"schema": "gate-edge/cmd/1", "request_id": "abc", "duration_s": 0}), CTX)
    assert isinstance(r, Rejection) and r.request_id == "abc" and r.reply_topic == "gate/v1/G1/replies/x"


# --------------------------------------------------------------------------- assembler
def _items(n: int) -> list[GalleryChunkItem]:
    out = []
    for i in range(n):
        m = msg(T.gallery_response, chunk(i, n))
        r = parse(m, CTX, NOW)
        assert isinstance(r, GalleryChunkItem)
        out.append(r)
    return out


def test_assembler_yields_the_gallery_only_when_every_chunk_is_in_whatever_the_order() -> None:
    payloads = [json.dumps(chunk(i, 3)).encode() for i in range(3)]
    items = _items(3)
    asm = GalleryAssembler(max_entries=100, timeout_s=30)
    assert asm.add(items[2]) is None
    assert asm.add(items[0]) is None
    assert asm.add(items[0]) is None  # QoS1 duplicate: ignored
    assert asm.pending == {"req1": (2, 3)}
    g = asm.add(items[1])
    assert isinstance(g, Gallery) and len(g) == 6 and g.version == 7
    assert [i.id for i in g.items] == ["P0a", "P0b", "P1a", "P1b", "P2a", "P2b"]
    assert g.sha256 == gallery_digest(payloads)
    templates = [i.template for i in g.items]
    assert g.wipe() == 6 and all(t is not None and not t.any() for t in templates)


def test_assembler_rejects_inconsistent_chunks_and_drops_the_partial() -> None:
    asm = GalleryAssembler(max_entries=100, timeout_s=30)
    a = _items(2)
    assert asm.add(a[0]) is None
    held = a[0].items[0].template
    other = parse(msg(T.gallery_response, chunk(1, 2, gallery_version=8)), CTX, NOW)
    assert isinstance(other, GalleryChunkItem)
    assert code(asm.add(other)) == "invalid"
    assert asm.pending == {} and held is not None and not held.any()  # partial wiped, never live
    dup = parse(
        msg(
            T.gallery_response,
            chunk(1, 2, entries=[{"id": "P0a", "template": tmpl(5)}, {"id": "Q", "template": tmpl(6)}]),
        ),
        CTX,
        NOW,
    )
    assert isinstance(dup, GalleryChunkItem)
    b = _items(2)
    assert asm.add(b[0]) is None
    assert code(asm.add(dup)) == "duplicate_id"


def test_assembler_is_bounded_in_size_and_time() -> None:
    now = [0.0]
    asm = GalleryAssembler(max_entries=3, timeout_s=10, clock=lambda: now[0])
    items = _items(2)
    assert asm.add(items[0]) is None
    assert code(asm.add(items[1])) == "too_large"
    asm2 = GalleryAssembler(max_entries=100, timeout_s=10, clock=lambda: now[0])
    assert asm2.add(_items(2)[0]) is None
    now[0] = 11.0
    assert asm2.expire() == ["req1"] and asm2.pending == {}


# --------------------------------------------------------------------------- schemas
def test_events_cannot_carry_images_or_embeddings() -> None:
    base = {
        "gate": "G1",
        "transaction_id": "t1",
        "outcome": "no_match",
        "started_at": NOW,
        "decided_at": NOW,
        "config_version": 1,
    }
    Event.model_validate(base)
    with pytest.raises(ValueError):
        Event.model_validate({**base, "embedding": [0.1] * 128})
    with pytest.raises(ValueError):
        Event.model_validate({**base, "outcome": "match"})  # a match must name the gallery id
    e = Event.model_validate({**base, "outcome": "match", "matched_id": "P1", "score": 0.8})
    assert json.loads(e.to_bytes())["schema"] == "gate-edge/event/1"


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
                {
                    "schema": "gate-edge/assignment/1",
                    "gate": "G1",
                    "flight_id": "F1",
                    "issued_at": NOW.isoformat(),
                },
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
    assert code(parse(Inbound(T.assignment, b"[" * 100_000 + b"]" * 100_000), CTX)) in {
        "malformed_json",
        "invalid",
    }
