"""Property tests: whatever mapping arrives (file or fleet), validation gives a GateConfig or a
ConfigError whose every issue has a path, never another exception."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.config.errors import ConfigError
from edge.config.load import merge_desired, parse_yaml, validate
from edge.config.schema import GateConfig

SECTION_KEYS = [*GateConfig.model_fields, "widht", "backend", "url", "threshold", "port", "password", "trust_dir"]
BACKENDS = ["v4l2", "picamera2", "gstreamer", "file", "simulated", "v4l", ""]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(BACKENDS),
    st.binary(max_size=8),
)
keys = st.one_of(st.sampled_from(SECTION_KEYS), st.text(max_size=12), st.integers(-3, 3), st.none())
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(keys, children, max_size=5),
        st.tuples(children, children),
    ),
    max_leaves=25,
)
camera = st.fixed_dictionaries(
    {"backend": st.sampled_from(BACKENDS)}, optional={"url": values, "device": values, "fps": values}
)
configs = st.one_of(
    values,
    st.dictionaries(keys, values, max_size=8),
    st.fixed_dictionaries(
        {"gate_id": values, "camera": camera},
        optional={k: values for k in SECTION_KEYS if k not in ("gate_id", "camera")},
    ),
)


def _check(data: Any) -> None:
    try:
        cfg = validate(data)
    except ConfigError as exc:
        assert exc.issues
        for issue in exc.issues:
            assert isinstance(issue.path, str) and issue.path
            assert isinstance(issue.expected, str) and issue.expected
            issue.message()
            issue.to_dict()
        str(exc)
    else:
        assert isinstance(cfg, GateConfig)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs)
def test_any_mapping_validates_or_raises_config_error(data: Any) -> None:
    _check(data)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(keys, values, max_size=5), st.one_of(st.none(), values))
def test_fleet_merge_never_raises_anything_else(fleet: Any, gate: Any) -> None:
    base = {"gate_id": "G1", "camera": {"backend": "file", "url": "x"}}
    try:
        merged = merge_desired(base, fleet, gate)
    except ConfigError as exc:
        assert all(i.path for i in exc.issues)
        return
    _check(merged)


@settings(max_examples=120, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_or_raises_config_error(text: str) -> None:
    try:
        loaded = parse_yaml(text)
    except ConfigError as exc:
        assert all(i.path for i in exc.issues)
        return
    _check(loaded.data)
