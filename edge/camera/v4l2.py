"""USB cameras through OpenCV's V4L2 backend (Linux)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from edge.camera._opencv import VideoCaptureLike, read_frame, release_quietly
from edge.camera.base import CameraUnavailable
from edge.config.schema import V4l2Camera

log = logging.getLogger(__name__)

CaptureFactory = Callable[[Any, int], VideoCaptureLike]


def _device_arg(device: str | int) -> str | int:
    """OpenCV takes an index or a path; '0' in a YAML file means index 0."""
    if isinstance(device, str) and device.isdigit():
        return int(device)
    return device


class V4l2CameraDevice:
    """A USB/V4L2 camera: MJPG (or the configured fourcc), size, fps, and a one-frame driver buffer."""

    def __init__(self, config: V4l2Camera, capture_factory: CaptureFactory | None = None) -> None:
        self._cfg = config
        self._factory: CaptureFactory = capture_factory or cv2.VideoCapture
        self._cap: VideoCaptureLike | None = None
        self.name = f"v4l2:{config.device}"

    def _path(self) -> str:
        dev = _device_arg(self._cfg.device)
        return f"/dev/video{dev}" if isinstance(dev, int) else dev

    def open(self) -> None:
        self.close()
        path = self._path()
        try:
            cap = self._factory(_device_arg(self._cfg.device), cv2.CAP_V4L2)
        except Exception as exc:  # OpenCV raises cv2.error for some bad arguments
            raise CameraUnavailable(f"cannot open {path}: {exc}") from exc
        if not cap.isOpened():
            release_quietly(cap)
            if not os.path.exists(path):
                hint = "no such device: is the camera plugged in? (ls /dev/video*)"
            elif not os.access(path, os.R_OK | os.W_OK):
                hint = "permission denied: is the user in group video? (SupplementaryGroups=video)"
            else:
                hint = "is the camera plugged in and is the user in group video?"
            raise CameraUnavailable(f"cannot open {path}: {hint}")
        # Order matters for many UVC cameras: the format first, then size and rate.
        cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*self._cfg.fourcc))
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self._cfg.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self._cfg.height)
        cap.set(cv2.CAP_PROP_FPS, self._cfg.fps)
        # One driver buffer: read() returns the newest frame rather than one queued seconds ago.
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        got = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        if got != (self._cfg.width, self._cfg.height):
            log.warning(
                "camera %s: asked for %dx%d, the driver gave %dx%d",
                self.name,
                self._cfg.width,
                self._cfg.height,
                *got,
            )
        self._cap = cap

    def read(self) -> np.ndarray:
        return read_frame(self._cap, self.name, f"no frame from {self._path()} (unplugged or stalled?)")

    def close(self) -> None:
        cap, self._cap = self._cap, None
        release_quietly(cap)
