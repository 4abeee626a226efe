"""One contract for every frame source that can run here, each behind the real CaptureWorker.

simulated: the real scenario renderer on real photos. file: a real MJPG video written by
gate_sim.record, decoded by OpenCV's FFMPEG backend. v4l2 / gstreamer: the real backends with
cv2.VideoCapture faked. picamera2: the real backend with the picamera2 module faked.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from camera_fakes import TINY, FakeHardware, OffsetClock, Valve, fake_importer, wait_until

from edge.camera.base import CameraDevice, CameraError, CameraUnavailable, FrameSource, Health
from edge.camera.capture import CaptureWorker
from edge.config.schema import CaptureConfig, FileCamera, GstreamerCamera, Picamera2Camera, V4l2Camera

CAPTURE = CaptureConfig(stall_timeout_s=2.0, reconnect_min_s=0.01, reconnect_max_s=0.05)


@dataclass
class Rig:
    make: Callable[[], CameraDevice]  # a working device
    breaks: Callable[[Any], None] | None  # make the running device's next read fail as its hardware would
    missing: Callable[[], CameraDevice]  # a device whose open() fails: absent camera or library
    missing_hint: str  # what the error must tell the operator
    make_flaky: Callable[[], CameraDevice] | None = None  # a device that fails a read by itself


def _simulated(faces_dir: Path, tmp_path: Path) -> Rig:
    from gate_sim.camera import SimulatedCameraDevice
    from gate_sim.scenario import load_scenario

    def make() -> CameraDevice:
        return SimulatedCameraDevice(load_scenario(TINY, faces_dir=faces_dir), realtime=False, loop=True)

    def missing() -> CameraDevice:
        dev = SimulatedCameraDevice(load_scenario(TINY, faces_dir=faces_dir), realtime=False)
        dev.unplug(1e9)
        return dev

    return Rig(make, lambda d: d.unplug(0.0), missing, "unplugged")


def _file(recorded: Path, tmp_path: Path) -> Rig:
    from edge.camera.file import FileCameraDevice

    # A copy cut short (a half-copied recording): FFMPEG still expects 40 frames, reads fail after
    # ~25, and every reopen plays the start again. Releasing the capture under the reading thread
    # instead would crash OpenCV: cv2.VideoCapture is not thread-safe.
    truncated = tmp_path / "truncated.avi"
    data = recorded.read_bytes()
    truncated.write_bytes(data[: int(len(data) * 0.6)])
    return Rig(
        lambda: FileCameraDevice(FileCamera(url=str(recorded), loop=True, realtime=False)),
        None,
        lambda: FileCameraDevice(FileCamera(url=str(tmp_path / "nope.avi"))),
        "no such video file",
        make_flaky=lambda: FileCameraDevice(FileCamera(url=str(truncated), loop=True, realtime=False)),
    )


def _v4l2(hw: FakeHardware) -> Rig:
    from edge.camera.v4l2 import V4l2CameraDevice

    def missing() -> CameraDevice:
        hw.plugged = False
        return V4l2CameraDevice(V4l2Camera(device="/dev/video97"), capture_factory=hw.video_capture)

    return Rig(
        lambda: V4l2CameraDevice(V4l2Camera(width=160, height=120), capture_factory=hw.video_capture),
        lambda d: setattr(hw, "fail_next_read", True),
        missing,
        "cannot open /dev/video97: no such device: is the camera plugged in",
    )


def _picamera2(hw: FakeHardware) -> Rig:
    from edge.camera.picamera2_backend import Picamera2CameraDevice

    def missing() -> CameraDevice:
        hw.installed = False
        return Picamera2CameraDevice(Picamera2Camera(), import_module=fake_importer(hw))

    return Rig(
        lambda: Picamera2CameraDevice(Picamera2Camera(width=160, height=120), import_module=fake_importer(hw)),
        lambda d: setattr(hw, "fail_next_read", True),
        missing,
        "sudo apt install -y python3-picamera2",
    )


def _gstreamer(hw: FakeHardware) -> Rig:
    import cv2

    from edge.camera.gstreamer import GstreamerCameraDevice

    with_gst = "  Video I/O:\n    GStreamer:                   YES (1.20.3)\n"
    return Rig(
        lambda: GstreamerCameraDevice(
            GstreamerCamera(), capture_factory=hw.video_capture, build_information=lambda: with_gst
        ),
        lambda d: setattr(hw, "fail_next_read", True),
        # The real build information of this machine's pip OpenCV: no GStreamer.
        lambda: GstreamerCameraDevice(
            GstreamerCamera(), capture_factory=hw.video_capture, build_information=cv2.getBuildInformation
        ),
        "built without GStreamer",
    )


BACKENDS = ["simulated", "file", "v4l2", "picamera2", "gstreamer"]


@pytest.fixture(params=BACKENDS)
def rig(request: pytest.FixtureRequest, faces_dir: Path, tmp_path: Path) -> Rig:
    name = request.param
    if name == "simulated":
        return _simulated(faces_dir, tmp_path)
    if name == "file":
        return _file(request.getfixturevalue("recorded_video"), tmp_path)
    hw = FakeHardware()
    return {"v4l2": _v4l2, "picamera2": _picamera2, "gstreamer": _gstreamer}[name](hw)


@pytest.fixture
def running(rig: Rig) -> Any:
    """A started worker over a working device; stopped afterwards whatever happened."""
    workers: list[CaptureWorker] = []

    def start(device: CameraDevice | None = None, clock: Any = None) -> CaptureWorker:
        kwargs = {"clock": clock} if clock is not None else {}
        w = CaptureWorker(device or rig.make(), CAPTURE, **kwargs)
        workers.append(w)
        w.start()
        return w

    yield start
    for w in workers:
        w.stop()


def _frames(worker: CaptureWorker, n: int) -> list[Any]:
    out = []
    while len(out) < n:
        f = worker.latest(timeout=10)
        assert f is not None, f"no frame within 10 s (stats {worker.stats}, health {worker.health})"
        out.append(f)
    return out


def test_frames_are_bgr_with_increasing_seq_and_timestamps(running: Any) -> None:
    worker = running()
    assert isinstance(worker, FrameSource)
    frames = _frames(worker, 6)
    for f in frames:
        assert f.image.ndim == 3 and f.image.shape[2] == 3 and f.image.dtype == np.uint8
        assert f.image.shape[0] >= 48 and f.image.shape[1] >= 64
    seqs = [f.seq for f in frames]
    stamps = [f.timestamp for f in frames]
    assert all(b > a for a, b in itertools.pairwise(seqs))
    assert all(b > a for a, b in itertools.pairwise(stamps))
    assert worker.health is Health.OK
    assert worker.last_frame_time is not None and worker.last_frame_time >= stamps[-1]


def test_each_frame_is_returned_at_most_once(running: Any) -> None:
    worker = running()
    seen = {f.seq for f in _frames(worker, 10)}
    assert len(seen) == 10


def test_slow_reader_gets_the_newest_frame_and_drops_are_counted(running: Any) -> None:
    worker = running()
    first = _frames(worker, 1)[0]
    wait_until(lambda: worker.stats.frames >= first.seq + 4, what="frames to pile up")
    newest = _frames(worker, 1)[0]
    stats = worker.stats
    assert newest.seq >= first.seq + 4
    assert stats.dropped >= newest.seq - first.seq - 1 >= 3
    # A dropped frame was wiped when it was overwritten (biometric data never lingers).


def test_health_degrades_when_frames_stop_and_recovers_without_restart(rig: Rig, running: Any) -> None:
    clock = OffsetClock()
    valve = Valve(rig.make())
    worker = running(valve, clock)
    _frames(worker, 2)
    assert worker.health is Health.OK
    valve.flowing.clear()
    wait_until(valve.blocked.is_set, what="the reader to hang in read()")
    beat = worker.heartbeat
    clock.offset += CAPTURE.stall_timeout_s + 1  # time passes with no frame
    assert worker.health is Health.DEGRADED
    valve.flowing.set()
    _frames(worker, 2)
    wait_until(lambda: worker.health is Health.OK, what="health back to OK")
    assert worker.heartbeat > beat
    assert worker.stats.reconnects == 0  # it recovered by itself: no reopen, no restart


def test_reconnects_after_a_failing_read(rig: Rig, running: Any) -> None:
    device = rig.make_flaky() if rig.make_flaky else rig.make()
    worker = running(device)
    before = _frames(worker, 2)[-1]
    if rig.breaks is not None:
        rig.breaks(device)
    wait_until(lambda: worker.stats.reconnects >= 1, what="a reconnect")
    after = _frames(worker, 2)[-1]
    stats = worker.stats
    assert after.seq > before.seq
    assert stats.errors >= 1 and stats.last_error
    wait_until(lambda: worker.health is Health.OK, what="health back to OK")


def test_missing_device_gives_a_clear_error_and_never_kills_the_worker(rig: Rig) -> None:
    with pytest.raises(CameraUnavailable, match=re.escape(rig.missing_hint)):
        rig.missing().open()
    worker = CaptureWorker(rig.missing(), CAPTURE)
    worker.start()
    try:
        wait_until(lambda: worker.stats.errors >= 2, what="repeated open attempts")
        assert worker.alive
        assert worker.health is Health.DEGRADED
        assert rig.missing_hint in (worker.stats.last_error or "")
        assert worker.latest(timeout=0.01) is None
    finally:
        worker.stop()
    assert worker.health is Health.STOPPED


def test_stop_is_clean_and_closes_the_device(rig: Rig) -> None:
    device = rig.make()
    worker = CaptureWorker(device, CAPTURE)
    assert worker.health is Health.STARTING
    worker.start()
    _frames(worker, 1)
    worker.stop()
    worker.stop()  # twice is fine
    assert worker.health is Health.STOPPED
    assert not worker.alive
    assert worker.latest(timeout=0.01) is None
    with pytest.raises(CameraError):
        device.read()  # closed: the backend no longer holds the camera
