"""What is specific to each backend, the capture worker's edge cases, and the factory."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from camera_fakes import TINY, FakeHardware, fake_importer, wait_until

from edge.camera.base import CameraUnavailable, EndOfStream, Health
from edge.camera.capture import CaptureWorker, backoff_delays
from edge.camera.factory import create_device, create_source
from edge.camera.file import FileCameraDevice
from edge.camera.gstreamer import GstreamerCameraDevice, build_pipeline, has_gstreamer
from edge.camera.picamera2_backend import Picamera2CameraDevice
from edge.camera.v4l2 import V4l2CameraDevice
from edge.config.schema import (
    CaptureConfig,
    FileCamera,
    GstreamerCamera,
    Picamera2Camera,
    SimulatedCamera,
    V4l2Camera,
)

CAPTURE = CaptureConfig(stall_timeout_s=2.0, reconnect_min_s=0.01, reconnect_max_s=0.05)


def test_backoff_doubles_up_to_the_cap() -> None:
    assert list(itertools.islice(backoff_delays(0.5, 3.0), 6)) == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


class _Crashy:
    """A device whose library throws something that is not a CameraError every third read."""

    name = "crashy"

    def __init__(self) -> None:
        self.n = 0
        self.opens = 0

    def open(self) -> None:
        self.opens += 1

    def read(self) -> np.ndarray:
        self.n += 1
        if self.n % 3 == 0:
            raise ValueError("library bug")
        return np.zeros((4, 4, 3), np.uint8)

    def close(self) -> None:
        pass


def test_unexpected_exceptions_never_kill_the_thread() -> None:
    dev = _Crashy()
    worker = CaptureWorker(dev, CAPTURE)
    worker.start()
    try:
        wait_until(lambda: worker.stats.reconnects >= 3, what="reconnects after library errors")
        assert worker.alive
        assert "ValueError: library bug" in (worker.stats.last_error or "")
        assert worker.latest(timeout=5) is not None
    finally:
        worker.stop()


def test_end_of_stream_stops_the_worker_cleanly(faces_dir: Path, recorded_video: Path) -> None:
    device = FileCameraDevice(FileCamera(url=str(recorded_video), loop=False, realtime=False))
    worker = CaptureWorker(device, CAPTURE)
    worker.start()
    seen = 0
    while worker.latest(timeout=5) is not None:
        seen += 1
    assert worker.finished and worker.health is Health.STOPPED
    assert worker.stats.frames == 40 and worker.stats.reconnects == 0
    assert seen >= 1
    worker.stop()


def test_file_loops_and_paces_at_its_own_fps(recorded_video: Path) -> None:
    now = [0.0]

    def sleep(s: float) -> None:
        now[0] += s

    dev = FileCameraDevice(
        FileCamera(url=str(recorded_video), loop=True, realtime=True), clock=lambda: now[0], sleep=sleep
    )
    dev.open()
    frames = [dev.read() for _ in range(45)]  # past the end of the 40-frame file
    assert now[0] == pytest.approx(45 / 10)
    assert np.abs(frames[40].astype(int) - frames[0].astype(int)).mean() < 1  # looped to the start
    dev.close()
    dev.close()


def test_recorded_video_matches_the_rendered_feed(recorded_video: Path, faces_dir: Path) -> None:
    from gate_sim.camera import SimulatedCameraDevice
    from gate_sim.scenario import load_scenario

    sim = SimulatedCameraDevice(load_scenario(TINY, faces_dir=faces_dir), realtime=False)
    sim.open()
    dev = FileCameraDevice(FileCamera(url=str(recorded_video), loop=False, realtime=False))
    dev.open()
    for _ in range(40):
        a = sim.read()
        b = dev.read()
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 6  # MJPG is lossy, but it is the same feed
    with pytest.raises(EndOfStream):
        dev.read()


def test_stream_urls_hide_credentials() -> None:
    dev = FileCameraDevice(FileCamera(url="rtsp://admin:secret@10.0.0.5/stream1"))
    assert "secret" not in dev.name and "10.0.0.5/stream1" in dev.name


def test_record_cli_rejects_bad_input(tmp_path: Path) -> None:
    from gate_sim.record import main

    assert main([str(tmp_path / "none.yaml"), str(tmp_path / "o.avi")]) == 2
    assert main([str(TINY), str(tmp_path / "o.gif")]) == 2


def test_v4l2_asks_for_mjpg_size_rate_and_a_one_frame_buffer() -> None:
    hw = FakeHardware()
    dev = V4l2CameraDevice(V4l2Camera(device="2", width=160, height=120, fps=15), capture_factory=hw.video_capture)
    dev.open()
    assert hw.opens == [(2, cv2.CAP_V4L2)]
    assert hw.props[cv2.CAP_PROP_BUFFERSIZE] == 1
    assert hw.props[cv2.CAP_PROP_FOURCC] == cv2.VideoWriter.fourcc(*"MJPG")
    assert (hw.props[cv2.CAP_PROP_FRAME_WIDTH], hw.props[cv2.CAP_PROP_FPS]) == (160, 15)
    dev.close()
    assert hw.released == 1


def test_v4l2_grey_frames_become_bgr() -> None:
    hw = FakeHardware()
    hw.frame = lambda: np.zeros((120, 160), np.uint8)  # type: ignore[method-assign]
    dev = V4l2CameraDevice(V4l2Camera(), capture_factory=hw.video_capture)
    dev.open()
    assert dev.read().shape == (120, 160, 3)


def test_picamera2_configures_bgr_at_size_and_reports_a_missing_sensor() -> None:
    hw = FakeHardware()
    dev = Picamera2CameraDevice(Picamera2Camera(width=640, height=480, fps=25), import_module=fake_importer(hw))
    dev.open()
    config = hw.configured[-1]
    assert config["main"] == {"size": (640, 480), "format": "RGB888"}
    assert config["controls"]["FrameDurationLimits"] == (40000, 40000)
    assert dev.read().shape == (480, 640, 3)
    dev.close()
    hw.plugged = False
    with pytest.raises(CameraUnavailable, match="no camera 0"):
        dev.open()


def test_gstreamer_pipeline_and_build_check() -> None:
    cfg = GstreamerCamera(sensor_id=1, width=1920, height=1080, fps=29.97, flip_method=2)
    pipe = build_pipeline(cfg)
    assert pipe.startswith("nvarguscamerasrc sensor-id=1 ! video/x-raw(memory:NVMM),width=1920,height=1080,")
    assert "framerate=2997/100" in pipe and "nvvidconv flip-method=2" in pipe
    assert pipe.endswith("appsink drop=true max-buffers=1 sync=false")
    assert build_pipeline(GstreamerCamera(pipeline="videotestsrc ! appsink")) == "videotestsrc ! appsink"
    assert has_gstreamer("  GStreamer:   YES (1.16.3)") and not has_gstreamer("  GStreamer:   NO")
    assert not has_gstreamer(cv2.getBuildInformation())  # pip's wheel on this machine
    hw = FakeHardware(plugged=False)
    dev = GstreamerCameraDevice(
        GstreamerCamera(), capture_factory=hw.video_capture, build_information=lambda: "GStreamer: YES"
    )
    with pytest.raises(CameraUnavailable, match="nvargus-daemon"):
        dev.open()
    assert hw.opens[0][1] == cv2.CAP_GSTREAMER


@pytest.mark.parametrize(
    "camera, cls",
    [
        (V4l2Camera(), V4l2CameraDevice),
        (Picamera2Camera(), Picamera2CameraDevice),
        (GstreamerCamera(), GstreamerCameraDevice),
        (FileCamera(url="x.avi"), FileCameraDevice),
    ],
)
def test_factory_builds_each_backend_without_touching_hardware(camera: Any, cls: type) -> None:
    source = create_source(camera, CAPTURE)
    assert isinstance(source, CaptureWorker) and isinstance(source._device, cls)
    assert source.health is Health.STARTING


def test_factory_simulated_and_a_wrong_scenario(faces_dir: Path, tmp_path: Path) -> None:
    from gate_sim.camera import SimulatedCameraDevice

    dev = create_device(SimulatedCamera(scenario=TINY, faces_dir=faces_dir, realtime=False, seed=4))
    assert isinstance(dev, SimulatedCameraDevice) and dev.scenario.seed == 4
    bad = tmp_path / "bad.yaml"
    bad.write_text("faces_dir: .\nwalkups: nope\n")
    with pytest.raises(CameraUnavailable, match=r"(?s)bad\.yaml.*walkups: Input should be a valid list"):
        create_device(SimulatedCamera(scenario=bad))


def test_no_hardware_library_is_imported_before_it_is_needed() -> None:
    code = (
        "import sys; import edge.camera.factory as f; from edge.config.schema import Picamera2Camera;"
        "f.create_device(Picamera2Camera());"
        "print('picamera2' in sys.modules, 'edge.camera.v4l2' in sys.modules, 'gate_sim' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "False"]
