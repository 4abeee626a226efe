"""The safety envelope: bounds no config crosses, whether it comes from the file or over MQTT.

Found by pushing desired configs as an attacker with publish rights on ``fleet/v1/config`` would:
a threshold of 0 (or -1 with no margin) made an impostor match; impossible quality gates made every
walk-up a failure to acquire. Each case is refused the same way from the file and from the fleet.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.config.errors import ConfigError
from edge.config.load import load_file, merge_desired, validate
from edge.config.schema import (
    MIN_BRIGHTNESS_GAP,
    THRESHOLD_CEILING,
    THRESHOLD_FLOOR,
    DecisionConfig,
    GateConfig,
    QualityConfig,
)
from edge.messaging.schemas import MAX_CONFIG_VERSION

BASE: dict[str, Any] = {"gate_id": "G1", "camera": {"backend": "file", "url": "/clips/clip.avi"}}

# (desired document, the paths it must be refused at)
REFUSED: list[tuple[dict[str, Any], set[str]]] = [
    ({"decision": {"threshold": 0}}, {"decision.threshold"}),
    ({"decision": {"threshold": -1, "margin": 0}}, {"decision.threshold"}),
    ({"decision": {"threshold": THRESHOLD_FLOOR - 0.001}}, {"decision.threshold"}),
    ({"decision": {"threshold": 1.5}}, {"decision.threshold"}),
    ({"decision": {"threshold": math.nan}}, {"decision.threshold"}),
    ({"decision": {"margin": -0.01}}, {"decision.margin"}),
    ({"decision": {"margin": 2}}, {"decision.margin"}),
    ({"quality": {"min_sharpness": math.inf}}, {"quality.min_sharpness"}),
    ({"quality": {"min_sharpness": 1e9}}, {"quality.min_sharpness"}),
    ({"quality": {"min_brightness": 255, "max_brightness": 0}}, {"quality.min_brightness", "quality.max_brightness"}),
    ({"quality": {"min_brightness": 100, "max_brightness": 150}}, {"quality"}),  # a window too narrow
    ({"quality": {"min_face_px": 4000}}, {"quality.min_face_px"}),
    ({"quality": {"max_yaw": 0.01}}, {"quality.max_yaw"}),
    ({"quality": {"max_roll_deg": 0.5}}, {"quality.max_roll_deg"}),
    ({"quality": {"max_roll_deg": -math.inf}}, {"quality.max_roll_deg"}),
    ({"decision": {"votes_required": 0}}, {"decision.votes_required"}),
    ({"decision": {"votes_required": 6, "max_frames": 5}}, {"decision"}),  # a vote count never reached
    ({"decision": {"max_frames": 10_000}}, {"decision.max_frames"}),
    ({"decision": {"budget_s": 0.001}}, {"decision.budget_s"}),
    ({"decision": {"budget_s": math.inf}}, {"decision.budget_s"}),
    ({"decision": {"acquire_timeout_s": 1e6}}, {"decision.acquire_timeout_s"}),
    ({"detection": {"score_threshold": 0.999}}, {"detection.score_threshold"}),
    ({"detection": {"capture_zone": [0.5, 0.5, 0.51, 0.51]}}, {"detection.capture_zone"}),
    ({"detection": {"capture_zone": [0, 0, math.nan, 1]}}, {"detection.capture_zone[2]"}),
    ({"telemetry": {"interval_s": math.inf}}, {"telemetry.interval_s"}),
    ({"version": MAX_CONFIG_VERSION + 1}, {"version"}),
]


@pytest.mark.parametrize(("desired", "paths"), REFUSED, ids=lambda x: str(x)[:60])
def test_the_envelope_holds_for_pushed_configs(desired: dict[str, Any], paths: set[str]) -> None:
    with pytest.raises(ConfigError) as info:
        validate(merge_desired(BASE, desired, None))
    assert {i.path for i in info.value.issues} == paths
    with pytest.raises(ConfigError):  # the gate's own override is held to the same bounds
        validate(merge_desired(BASE, None, desired))


@pytest.mark.parametrize(("desired", "paths"), REFUSED, ids=lambda x: str(x)[:60])
def test_the_envelope_holds_for_the_file(tmp_path: Path, desired: dict[str, Any], paths: set[str]) -> None:
    path = tmp_path / "gate.yaml"
    # JSON is YAML; .nan and .inf are YAML's spelling of the non-finite numbers.
    text = json.dumps({**BASE, **desired}).replace("NaN", ".nan").replace("-Infinity", "-.inf")
    path.write_text(text.replace("Infinity", ".inf"))
    with pytest.raises(ConfigError) as info:
        load_file(path, env={})
    assert {i.path for i in info.value.issues} == paths


def test_the_defaults_and_the_floors_themselves_are_inside() -> None:
    cfg = validate(BASE)
    assert THRESHOLD_FLOOR <= cfg.decision.threshold <= THRESHOLD_CEILING
    edge = validate({**BASE, "decision": {"threshold": THRESHOLD_FLOOR, "margin": 0},
                     "quality": {"min_brightness": 100, "max_brightness": 100 + MIN_BRIGHTNESS_GAP}})
    assert edge.decision.threshold == THRESHOLD_FLOOR
    # Tighter is always allowed.
    strict = validate({**BASE, "decision": {"threshold": 0.6, "margin": 0.1, "votes_required": 3, "max_frames": 8}})
    assert strict.decision.votes_required == 3


def test_the_floor_is_no_looser_than_the_calibrated_operating_point_allows() -> None:
    # The calibrated default (FPIR <= 0.3%) is above the 1% floor; the floor sits where the comment's
    # measurement put it. Lowering it below 0.43 would let more than 1 in 100 impostors through.
    assert THRESHOLD_FLOOR >= 0.43
    assert DecisionConfig().threshold > THRESHOLD_FLOOR


finite_or_not = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf]),
)


@settings(max_examples=200, deadline=None)
@given(
    section=st.sampled_from(["quality", "decision", "detection", "capture", "telemetry", "opt_out", "gallery"]),
    data=st.data(),
)
def test_no_non_finite_number_is_ever_accepted(section: str, data: st.DataObject) -> None:
    model = type(getattr(validate(BASE), section))
    floats = [n for n, f in model.model_fields.items() if f.annotation is float]
    if not floats:
        return
    name = data.draw(st.sampled_from(floats))
    value = data.draw(finite_or_not)
    try:
        cfg = validate(merge_desired(BASE, {section: {name: value}}, None))
    except ConfigError as exc:
        assert exc.issues
        return
    assert math.isfinite(getattr(getattr(cfg, section), name))


@settings(max_examples=200, deadline=None)
@given(
    threshold=st.floats(allow_nan=True, allow_infinity=True),
    margin=st.floats(allow_nan=True, allow_infinity=True),
)
def test_no_accepted_decision_is_looser_than_the_floor(threshold: float, margin: float) -> None:
    try:
        cfg = validate(merge_desired(BASE, {"decision": {"threshold": threshold, "margin": margin}}, None))
    except ConfigError:
        return
    assert cfg.decision.threshold >= THRESHOLD_FLOOR and cfg.decision.margin >= 0


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "min_face_px": st.integers(-10, 5000),
            "min_sharpness": st.floats(allow_nan=True, allow_infinity=True),
            "max_yaw": st.floats(allow_nan=True, allow_infinity=True),
            "max_roll_deg": st.floats(allow_nan=True, allow_infinity=True),
            "min_brightness": st.floats(allow_nan=True, allow_infinity=True),
            "max_brightness": st.floats(allow_nan=True, allow_infinity=True),
        },
    )
)
def test_every_accepted_quality_gate_can_be_passed(quality: dict[str, Any]) -> None:
    try:
        cfg = validate({**BASE, "quality": quality})
    except ConfigError:
        return
    q: QualityConfig = cfg.quality
    # A face 512 px wide, sharp, frontal, level and mid-grey passes every accepted gate.
    assert q.min_face_px <= 512 and q.min_sharpness <= 100 and q.max_yaw >= 0.2 and q.max_roll_deg >= 10
    assert all(math.isfinite(v) for v in (q.min_sharpness, q.max_yaw, q.max_roll_deg, q.min_brightness))
    assert q.min_brightness >= 0 and q.min_brightness + MIN_BRIGHTNESS_GAP <= q.max_brightness <= 255


def test_a_gate_config_built_in_code_is_held_to_the_same_bounds() -> None:
    with pytest.raises(ValueError):
        GateConfig(gate_id="G1", camera={"backend": "v4l2"}, decision={"threshold": 0.0})  # type: ignore[arg-type]
