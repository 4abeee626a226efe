"""Jetson CSI cameras (or any GStreamer pipeline ending in an appsink) through OpenCV."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import cv2
import numpy as np

from edge.camera._opencv import VideoCaptureLike, read_frame, release_quietly
from edge.camera.base import CameraUnavailable
from edge.config.schema import GstreamerCamera

log = logging.getLogger(__name__)

CaptureFactory = Callable[[Any, int], VideoCaptureLike]

NO_GSTREAMER = (
    "this OpenCV was built without GStreamer (pip's opencv-python wheels have none). On a Jetson, "
    "use JetPack's OpenCV: `sudo apt install -y python3-opencv`, create the venv with "
    "`python3 -m venv --system-site-packages`, and `pip uninstall opencv-python-headless` in it"
)


def build_pipeline(config: GstreamerCamera) -> str:
    """The configured pipeline, or nvarguscamerasrc -> BGR appsink that keeps only the newest buffer."""
    if config.pipeline:
        return config.pipeline
    rate = Fraction(config.fps).limit_denominator(1000)
    return (
        f"nvarguscamerasrc sensor-id={config.sensor_id} ! "
        f"video/x-raw(memory:NVMM),width={config.width},height={config.height},"
        f"framerate={rate.numerator}/{rate.denominator} ! "
        f"nvvidconv flip-method={config.flip_method} ! video/x-raw,format=BGRx ! "
        "videoconvert ! video/x-raw,format=BGR ! appsink drop=true max-buffers=1 sync=false"
    )


def has_gstreamer(build_information: str) -> bool:
    """Parse ``cv2.getBuildInformation()``: the Video I/O section has a line 'GStreamer: YES (...)'."""
    match = re.search(r"^\s*GStreamer:\s*(\S+)", build_information, re.MULTILINE)
    return bool(match and match.group(1).upper().startswith("YES"))


class GstreamerCameraDevice:
    def __init__(
        self,
        config: GstreamerCamera,
        capture_factory: CaptureFactory | None = None,
        build_information: Callable[[], str] = cv2.getBuildInformation,
    ) -> None:
        self._cfg = config
        self._factory: CaptureFactory = capture_factory or cv2.VideoCapture
        self._build_information = build_information
        self._cap: VideoCaptureLike | None = None
        self.pipeline = build_pipeline(config)
        self.name = f"gstreamer:{config.sensor_id}" if not config.pipeline else "gstreamer:custom"

    def open(self) -> None:
        self.close()
        if not has_gstreamer(self._build_information()):
            raise CameraUnavailable(f"{self.name}: {NO_GSTREAMER}")
        try:
            cap = self._factory(self.pipeline, cv2.CAP_GSTREAMER)
        except Exception as exc:
            raise CameraUnavailable(f"{self.name}: cannot start pipeline: {exc}") from exc
        if not cap.isOpened():
            release_quietly(cap)
            raise CameraUnavailable(
                f"{self.name}: cannot open the pipeline `{self.pipeline}`: is the CSI camera connected "
                "and nvargus-daemon running? (sudo systemctl restart nvargus-daemon)"
            )
        self._cap = cap

    def read(self) -> np.ndarray:
        return read_frame(self._cap, self.name, "the pipeline delivered no frame (camera stalled?)")

    def close(self) -> None:
        cap, self._cap = self._cap, None
        release_quietly(cap)
