"""What redirects the gate is set by the local file only: never over MQTT, never stored as last known good.

An RTSP URL or a GStreamer pipeline pushed on ``fleet/v1/config`` was once stored and applied at every
start; so were broker settings. Now a desired config that touches the identity, the state directory,
the camera, the broker connection, the models or the trust anchors is refused whole, naming every path.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from edge.config.errors import REDACTED, ConfigError, is_model, union_members, unwrap
from edge.config.guards import MAX_LOCAL_ONLY_ISSUES
from edge.config.load import LOCAL_ONLY_PATHS, merge_desired, validate
from edge.config.schema import DEFAULT_TRUST_DIR, GateConfig
from edge.config.store import FILENAME, LastKnownGood, startup_config

BASE: dict[str, Any] = {"gate_id": "G1", "camera": {"backend": "file", "url": "/clips/clip.avi"}}
EXPECTED_LOCAL = {"gate_id", "state_dir", "camera", "mqtt", "models", "security", "metrics"}

ATTACKS: list[dict[str, Any]] = [
    {"camera": {"backend": "file", "url": "rtsp://attacker.example/feed"}},
    {"camera": {"backend": "gstreamer", "pipeline": "videotestsrc ! appsink"}},
    {"mqtt": {"host": "attacker.example", "port": 1883}},
    {"mqtt": {"username": "x", "password": "hunter3", "tls": {"ca_file": "/tmp/evil.pem"}}},
    {"mqtt": {"gate_prefix": "evil/v1", "fleet_prefix": "evil/v1"}},
    {"models": {"cache_dir": "/tmp/evil", "providers": ["CUDAExecutionProvider"]}},
    {"models": {"manifest": "/tmp/evil.json"}},
    {"state_dir": "/tmp/evil"},
    {"metrics": {"enabled": True, "address": "0.0.0.0"}},
    {"gate_id": "OTHER"},
    {"security": {"trust_dir": "/tmp/evil-trust"}},
    {"mqtt": None},
    {"camera": "rtsp://attacker.example/feed"},
]


def test_the_local_only_sections() -> None:
    assert LOCAL_ONLY_PATHS == EXPECTED_LOCAL
    assert set(LOCAL_ONLY_PATHS) <= set(GateConfig.model_fields)


def _path_fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, fld in model.model_fields.items():
        ann = unwrap(fld.annotation)
        members = union_members(ann) or [ann]
        if Path in members:
            out.append(prefix + name)
        for m in members:
            if is_model(m):
                out += _path_fields(typing.cast(type[BaseModel], m), f"{prefix}{name}.")
    return out


def test_every_path_and_url_field_is_local_only() -> None:
    # A file the gate reads or writes, or a place it connects to, is never the fleet's to choose.
    fields = _path_fields(GateConfig)
    assert {"state_dir", "models.cache_dir", "mqtt.tls.ca_file", "camera.scenario", "security.trust_dir"} <= set(fields)
    assert all(f.split(".")[0] in LOCAL_ONLY_PATHS for f in fields), fields


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: next(iter(a)))
def test_a_desired_config_touching_them_is_refused_with_every_path(attack: dict[str, Any]) -> None:
    for fleet, gate in ((attack, None), (None, attack)):
        with pytest.raises(ConfigError) as info:
            merge_desired(BASE, fleet, gate)
        issues = info.value.issues
        assert {i.path.split(".")[0] for i in issues} == set(attack)
        assert all(i.value == REDACTED and "local file only" in i.expected for i in issues)
        text = str(info.value)
        assert "attacker" not in text and "hunter3" not in text and "evil" not in text


def test_every_offending_path_is_named() -> None:
    doc = {"mqtt": {"host": "h", "tls": {"ca_file": "c", "key_file": "k"}}, "camera": {"url": "u"},
           "decision": {"threshold": 0.5}}
    with pytest.raises(ConfigError) as info:
        merge_desired(BASE, doc, {"security": {"trust_dir": "/x"}, "gate_id": "G2"})
    assert [i.path for i in info.value.issues] == [
        "camera.url", "mqtt.host", "mqtt.tls.ca_file", "mqtt.tls.key_file", "gate_id", "security.trust_dir",
    ]
    assert "fleet config" in info.value.issues[0].expected and "gate config" in info.value.issues[-1].expected


def test_a_flood_of_local_only_keys_gets_a_bounded_report() -> None:
    doc = {"mqtt": {f"k{i}": i for i in range(10_000)}}
    with pytest.raises(ConfigError) as info:
        merge_desired(BASE, doc, None)
    assert len(info.value.issues) == MAX_LOCAL_ONLY_ISSUES + 1
    assert "9900 more" in str(info.value.issues[-1].value)


@settings(max_examples=150, deadline=None)
@given(
    section=st.sampled_from(sorted(EXPECTED_LOCAL)),
    value=st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
        lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=5), c, max_size=3)),
        max_leaves=10,
    ),
    other=st.dictionaries(st.sampled_from(["decision", "telemetry", "logging"]), st.just({}), max_size=2),
)
def test_no_local_only_section_ever_gets_through(section: str, value: Any, other: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as info:
        merge_desired(BASE, {**other, section: value}, None)
    assert all(i.path.split(".")[0] == section for i in info.value.issues)


def test_the_security_section_is_local(tmp_path: Path) -> None:
    assert validate(BASE).security.trust_dir == DEFAULT_TRUST_DIR
    cfg = validate({**BASE, "security": {"trust_dir": "/srv/trust"}})
    assert cfg.security.trust_dir == Path("/srv/trust")
    with pytest.raises(ConfigError):
        validate({**BASE, "security": {"trust_dir": "/srv/trust", "allow_unsigned": True}})


def test_they_are_never_stored_as_last_known_good(tmp_path: Path) -> None:
    lkg = LastKnownGood(tmp_path)
    for attack in ATTACKS:
        with pytest.raises(ConfigError):
            lkg.save(attack, None, version=3, source="fleet")
        with pytest.raises(ConfigError):
            lkg.save({"decision": {"threshold": 0.5}}, attack, version=3, source="gate")
    assert not (tmp_path / FILENAME).exists()


def _plant(state: Path, fleet: dict[str, Any]) -> None:
    """A last-known-good file as an older version wrote it (before local-only sections were refused)."""
    import hashlib

    body = {"format": "gate-edge/config-lkg/1", "saved_at": 1.0, "version": 9, "fleet": fleet, "gate": None}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    state.mkdir(parents=True, exist_ok=True)
    (state / FILENAME).write_text(json.dumps({**body, "sha256": digest}))


def test_a_stored_camera_url_is_refused_at_start(tmp_path: Path) -> None:
    state = tmp_path / "state"
    cfg_file = tmp_path / "gate.yaml"
    cfg_file.write_text(f"gate_id: G1\nstate_dir: {state}\ncamera: {{backend: v4l2}}\n")
    _plant(state, {"camera": {"backend": "file", "url": "rtsp://attacker.example/feed"},
                   "decision": {"threshold": 0.5}})
    assert LastKnownGood(state).load() is None
    started = startup_config(cfg_file, env={})
    assert started.source == "file" and started.stored is None
    assert started.config.camera.backend == "v4l2" and started.config.decision.threshold != 0.5
    # A clean stored document from the same older version is still used.
    _plant(state, {"decision": {"threshold": 0.5}})
    started = startup_config(cfg_file, env={})
    assert started.source == "last_known_good" and started.config.decision.threshold == 0.5
