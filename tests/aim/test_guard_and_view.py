"""The aiming view's parts: whether a flight is boarding (from the two retained messages), each face's
verdict on a real frame with the real detector, and the newest-frame slot that zeroes what it drops."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from gate_sim.camera import SimulatedCameraDevice
from gate_sim.scenario import load_scenario
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.aim.guard import judge
from edge.aim.server import LatestFrame
from edge.aim.view import AimAnalyser
from edge.core.quality import QualityParams
from edge.core.wipe import wiped
from edge.inference.onnx_runtime import FaceModels

from .conftest import MIN_FACE_PX, SCENARIO, ZONE

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def iso(delta_min: float) -> str:
    return (NOW + timedelta(minutes=delta_min)).isoformat()


@pytest.mark.parametrize(("status", "assignment", "boarding"), [
    (None, None, False),  # a new gate: nothing retained yet
    ({"online": True, "gallery": {"state": "none"}}, {"flight_id": None}, False),
    ({"online": True, "gallery": {"state": "live", "flight_id": "F1"}}, None, True),
    ({"online": True, "gallery": {"state": "loading"}}, None, True),
    ({"online": True, "gallery": {"state": "requested"}}, None, True),
    ({"online": False, "gallery": {"state": "live"}}, None, False),  # the last will: the daemon is gone
    (None, {"flight_id": "F1", "close_time": iso(30)}, True),
    (None, {"flight_id": "F1"}, True),  # no close time: boarding until departure control says otherwise
    (None, {"flight_id": "F1", "close_time": iso(-5)}, False),  # boarding closed five minutes ago
    (None, {"flight_id": "F1", "close_time": "soon"}, True),  # unreadable: as if it never closed
    (None, {"flight_id": "F1", "close_time": "2026-06-01T13:00:00"}, True),  # no zone: unreadable too
])
def test_judge(status: Any, assignment: Any, boarding: bool) -> None:
    assert judge(status, assignment, NOW).boarding is boarding


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=30),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                    max_leaves=20)
FIELDS = st.fixed_dictionaries({}, optional={"online": JSON, "gallery": JSON, "flight_id": JSON, "close_time": JSON})


@settings(max_examples=300, deadline=None)
@given(status=JSON | FIELDS, assignment=JSON | FIELDS)
def test_judge_answers_any_message_without_raising(status: Any, assignment: Any) -> None:
    verdict = judge(status, assignment, NOW)
    assert verdict.boarding in (True, False) and verdict.reason


def test_each_face_gets_its_width_and_the_gate_s_verdict(
    tmp_path: Path, faces_dir: Path, face_models: FaceModels
) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump({**SCENARIO, "faces_dir": str(faces_dir)}))
    device = SimulatedCameraDevice(load_scenario(path), realtime=False, loop=True)
    device.open()
    frame = device.read()
    device.close()
    quality = QualityParams(min_face_px=MIN_FACE_PX)
    wide_zone = AimAnalyser(face_models.detector, quality, tuple(ZONE))  # type: ignore[arg-type]
    with wiped() as scratch:
        first = scratch.track(frame.copy())
        faces = wide_zone.analyse(first, scratch)
        crops = [b for b in scratch.buffers if b.shape == (112, 112, 3)]
    assert not first.any() and len(crops) == 2 and all(not c.any() for c in crops)  # the frame and each crop zeroed
    traveller, bystander = faces
    assert traveller.traveller and traveller.ok and traveller.width_px >= MIN_FACE_PX
    assert traveller.verdict(quality) == "ok"
    assert not bystander.traveller and bystander.in_zone and bystander.issues == ("too_small",)
    assert bystander.verdict(quality) == f"too small ({bystander.width_px} px < {MIN_FACE_PX} px)"
    # With the capture zone narrowed to the middle, the bystander is outside it: shown, and said so.
    with wiped() as scratch:
        narrow = AimAnalyser(face_models.detector, quality, (0.3, 0.0, 0.7, 1.0)).analyse(scratch.track(frame), scratch)
    assert narrow[0].traveller and not narrow[1].in_zone
    assert narrow[1].verdict(quality).startswith("outside the capture zone, too small")
    assert narrow[1].as_json(quality)["width_px"] == narrow[1].box[2]


def test_the_newest_frame_slot_zeroes_what_it_replaces_and_what_it_holds_at_the_end() -> None:
    slot = LatestFrame()
    first, second = np.full(100, 7, np.uint8), np.full(100, 9, np.uint8)
    assert slot.put(first, {"faces": []}) == 1
    got = slot.newer_than(0, 0.0)
    assert got is not None and got[0] == bytes(first) and got[1]["seq"] == 1
    assert slot.newer_than(1, 0.0) is None  # nothing newer yet
    slot.put(second, {"faces": []})
    assert not first.any() and second.all()
    slot.close()
    assert not second.any() and slot.newer_than(0, 0.0) is None
