"""Scenario files, the renderer and the simulated camera (with its walk-up timeline) on the real photos."""

from __future__ import annotations

import contextlib
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from gate_sim.camera import SimulatedCameraDevice
from gate_sim.scenario import ScenarioError, index_faces, load_scenario, parse_scenario
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.camera.base import CameraError, CameraUnavailable, EndOfStream

from .conftest import SCENARIOS, TINY

GALLERY_ID = re.compile(r"^P-[0-9a-f]{12}$")


def _read_all(dev: SimulatedCameraDevice) -> list[np.ndarray]:
    dev.open()
    out = []
    while True:
        try:
            out.append(dev.read())
        except EndOfStream:
            return out


def test_tiny_scenario_truth_and_gallery(faces_dir: Path) -> None:
    s = load_scenario(TINY, faces_dir=faces_dir)
    index = index_faces(faces_dir.resolve())  # the scenario resolves its folder (links included)
    gallery = dict(s.gallery())
    assert len(gallery) == 3
    truth = s.truth()
    assert [t.walk_id for t in truth] == ["w001", "w002", "w003", "w004"]
    assert [t.expected for t in truth] == ["match", "no_match", "opt_out", "match"]
    for t in truth:
        if t.gallery_id is not None:
            # enrolled: the gallery photo is the first by file name, the walk-up shows another one
            assert gallery[t.gallery_id] == index[t.identity][0]
            assert t.photo != gallery[t.gallery_id] and t.photo in index[t.identity]
    for gid in gallery:
        assert GALLERY_ID.match(gid)
    assert not any(ident in gid for gid in gallery for ident in index)
    assert truth[3].frames == 5


def test_demo_flight_is_a_whole_boarding(faces_dir: Path) -> None:
    s = load_scenario(SCENARIOS / "demo_flight.yaml", faces_dir=faces_dir)
    index = index_faces(faces_dir)
    multi = {ident for ident, photos in index.items() if len(photos) >= 2}
    truth = s.truth()
    enrolled_walks = [t for t in truth if t.gallery_id is not None]
    assert {t.identity for t in enrolled_walks} == multi  # every enrolled traveller, once
    assert len(enrolled_walks) == len(multi)
    assert len(s.gallery()) == len(multi)
    impostors = [t for t in truth if t.gallery_id is None]
    assert len(impostors) >= 4 and not {t.identity for t in impostors} & multi
    assert sum(t.expected == "opt_out" for t in truth) == 1
    assert any(seg.walk_id is None for seg in s.segments)
    assert (s.camera.width, s.camera.height, s.camera.fps) == (1280, 720, 15)
    assert all(1.5 <= t.frames / s.camera.fps <= 2.0 for t in truth)


def test_timeline_spans_each_walkup_from_its_first_to_its_last_frame(faces_dir: Path) -> None:
    s = load_scenario(TINY, faces_dir=faces_dir)
    # The wall clock reads the number of frames delivered so far: frame n (from 1) is noted at n.
    dev = SimulatedCameraDevice(s, realtime=False, wall_clock=lambda: float(dev.frames_delivered))
    frames = _read_all(dev)
    assert len(frames) == s.total_frames
    spans = dev.timeline.spans()
    truth = s.truth()
    assert [sp.walk_id for sp in spans] == [t.walk_id for t in truth]
    for sp, t in zip(spans, truth, strict=True):
        assert (sp.first, sp.last) == (t.first_frame + 1, t.first_frame + t.frames)
    # An empty frame is the background only; a walk-up frame has a person in it.
    in_walk = {i for t in truth for i in range(t.first_frame, t.first_frame + t.frames)}
    gaps = [img for i, img in enumerate(frames) if i not in in_walk]
    assert len(gaps) == s.total_frames - len(in_walk) >= 2 and 0 not in in_walk
    walk = frames[truth[0].first_frame]
    assert (
        np.abs(walk.astype(int) - gaps[0].astype(int)).mean()
        > np.abs(gaps[1].astype(int) - gaps[0].astype(int)).mean() + 5
    )


def test_timeline_of_a_looping_scenario_has_a_span_per_play_and_ignores_reconnects(faces_dir: Path) -> None:
    s = load_scenario(TINY, faces_dir=faces_dir)
    now = [0.0]
    dev = SimulatedCameraDevice(s, realtime=False, loop=True, clock=lambda: now[0],
                                wall_clock=lambda: float(dev.frames_delivered))
    dev.open()
    first = s.truth()[0]
    for _ in range(first.first_frame + 2):  # into the first walk-up
        dev.read()
    dev.unplug(1.0)
    with pytest.raises(CameraError, match="unplugged"):
        dev.read()
    now[0] = 2.0
    dev.open()  # back: the same walk-up goes on, in the same span
    for _ in range(2 * s.total_frames - first.first_frame - 2):
        dev.read()
    spans = dev.timeline.spans()
    ids = [t.walk_id for t in s.truth()]
    assert [sp.walk_id for sp in spans] == ids + ids
    assert spans[0].last - spans[0].first == first.frames - 1
    assert spans[len(ids)].first == s.total_frames + first.first_frame + 1


def test_rendering_is_deterministic_for_a_seed(faces_dir: Path) -> None:
    a = _read_all(SimulatedCameraDevice(load_scenario(TINY, faces_dir=faces_dir), realtime=False))
    b = _read_all(SimulatedCameraDevice(load_scenario(TINY, faces_dir=faces_dir), realtime=False))
    c = _read_all(SimulatedCameraDevice(load_scenario(TINY, faces_dir=faces_dir, seed=99), realtime=False))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert any(not np.array_equal(x, y) for x, y in zip(a, c, strict=False))


def test_photo_buffers_are_zeroed_when_the_walkup_ends(faces_dir: Path) -> None:
    s = load_scenario(TINY, faces_dir=faces_dir)
    first = s.truth()[0]
    dev = SimulatedCameraDevice(s, realtime=False)
    dev.open()
    for _ in range(first.first_frame + 1):  # up to the first frame of the first walk-up
        dev.read()
    held = dev._images
    assert held is not None and held.person.any()
    for _ in range(first.frames - 1):  # its last frame
        dev.read()
    assert not held.person.any()
    dev.close()


def test_end_of_scenario_and_unplug_schedule(faces_dir: Path) -> None:
    now = [0.0]
    dev = SimulatedCameraDevice(
        load_scenario(TINY, faces_dir=faces_dir),
        realtime=False,
        disconnect_every_s=1.0,
        disconnect_for_s=2.0,
        clock=lambda: now[0],
    )
    dev.open()
    dev.read()
    now[0] = 1.5
    with pytest.raises(CameraError, match="unplugged"):
        dev.read()
    now[0] = 2.0
    with pytest.raises(CameraUnavailable, match="unplugged"):
        dev.open()
    now[0] = 3.6
    dev.open()
    dev._every = None
    while not dev.finished:
        dev.read()
    with pytest.raises(EndOfStream):
        dev.read()


def test_realtime_paces_at_the_scenario_fps(faces_dir: Path) -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    dev = SimulatedCameraDevice(
        load_scenario(TINY, faces_dir=faces_dir), realtime=True, clock=lambda: now[0], sleep=sleep
    )
    dev.open()
    for _ in range(5):
        dev.read()
    assert now[0] == pytest.approx(5 / 10)  # tiny.yaml runs at 10 fps


# --------------------------------------------------------------------------- errors
def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text(text)
    return p


def test_every_problem_is_named_with_the_file(tmp_path: Path, faces_dir: Path) -> None:
    p = _write(
        tmp_path,
        f"""
faces_dir: {faces_dir}
camera: {{fps: -3, colour: red}}
manifest: [deepface_id00, deepface_idd01, solvay_01]
walkups:
  - {{identity: deepface_id00, photo: img1.jpg}}
  - {{identity: nobody_here}}
""",
    )
    with pytest.raises(ScenarioError) as err:
        load_scenario(p)
    text = str(err.value)
    assert str(p) in text and "camera.fps" in text and "camera.colour: unknown key" in text
    p.write_text(p.read_text().replace("fps: -3, colour: red", "fps: 5"))
    with pytest.raises(ScenarioError) as err:
        load_scenario(p)
    text = str(err.value)
    assert "4 problems" in text
    assert "did you mean 'deepface_id01'" in text
    assert "solvay_01' has one photo" in text
    assert "img1.jpg is deepface_id00's gallery photo" in text
    assert "nobody_here" in text


@pytest.mark.parametrize(
    "text, needle",
    [
        (None, "cannot read"),
        ("walkups: [", "not valid YAML"),
        ("- a list", "must be a mapping"),
        ("faces_dir: /no/such/dir\ngenerate: {}", "is not a folder"),
        ("faces_dir: .\nwalkups: []\ngenerate: {}", "exactly one of"),
    ],
)
def test_wrong_files(tmp_path: Path, text: str | None, needle: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATE_EDGE_FACES", raising=False)  # `make test` sets it; the file's own folder counts here
    p = tmp_path / "missing.yaml" if text is None else _write(tmp_path, text)
    with pytest.raises(ScenarioError, match=re.escape(needle)):
        load_scenario(p)


def test_faces_dir_resolution(tmp_path: Path, faces_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local = tmp_path / "photos"
    for ident in ("deepface_id06", "deepface_id07", "solvay_00"):
        shutil.copytree(faces_dir / ident, local / ident)
    p = _write(tmp_path, "faces_dir: photos\ngenerate: {}\ngap_s: 0\n")
    monkeypatch.delenv("GATE_EDGE_FACES", raising=False)
    assert load_scenario(p).faces_dir == local.resolve()  # relative to the scenario file
    assert len(load_scenario(p).truth()) == 3
    monkeypatch.setenv("GATE_EDGE_FACES", str(faces_dir))
    assert load_scenario(p).faces_dir == faces_dir.resolve()  # the env var overrides the file
    assert load_scenario(p, faces_dir=local).faces_dir == local.resolve()  # an explicit argument wins


def test_generate_counts(faces_dir: Path) -> None:
    data: dict[str, Any] = {
        "faces_dir": str(faces_dir),
        "seed": 5,
        "generate": {"enrolled": 3, "impostors": 2, "opt_outs": 2},
    }
    truth = parse_scenario(data).truth()
    assert len(truth) == 5 and sum(t.expected == "opt_out" for t in truth) == 2
    assert sum(t.gallery_id is None for t in truth) == 2
    data["generate"] = {"enrolled": 300}
    with pytest.raises(ScenarioError, match="300 asked"):
        parse_scenario(data)


# --------------------------------------------------------------------------- hypothesis
KEYS = [
    "name",
    "seed",
    "faces_dir",
    "camera",
    "conditions",
    "walk_duration_s",
    "gap_s",
    "loop",
    "manifest",
    "walkups",
    "generate",
    "identity",
    "photo",
    "opt_out",
    "fps",
    "width",
    "enrolled",
    "impostors",
    "gap_s",
    "start_size",
    "frames",
]
leaf = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats(allow_nan=True) | st.text(max_size=12)
values = st.recursive(
    leaf | st.sampled_from(["deepface_id00", "solvay_01", "all", "auto", "shuffled", "."]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=values)
def test_garbage_structures_only_raise_scenario_error(data: Any, faces_dir: Path) -> None:
    if isinstance(data, dict) and "faces_dir" in data and data["faces_dir"] == ".":
        data["faces_dir"] = str(faces_dir)
    with contextlib.suppress(ScenarioError):
        parse_scenario(data, base_dir=faces_dir)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200) | st.builds(lambda d: yaml.safe_dump(d), values))
def test_garbage_files_only_raise_scenario_error(text: str, tmp_path: Path) -> None:
    p = tmp_path / "g.yaml"
    p.write_bytes(text.encode("utf-8", "surrogatepass"))  # lone surrogates make undecodable files
    with contextlib.suppress(ScenarioError):
        load_scenario(p)
