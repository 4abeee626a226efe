"""Raspberry Pi CSI cameras through picamera2 (libcamera).

picamera2 is imported inside :meth:`Picamera2CameraDevice.open` only: importing it probes
libcamera, and it exists only on Raspberry Pi OS (``python3-picamera2``), never from PyPI alone.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from edge.camera._opencv import as_bgr
from edge.camera.base import CameraError, CameraUnavailable
from edge.config.schema import Picamera2Camera

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "picamera2 is not importable. On Raspberry Pi OS: `sudo apt install -y python3-picamera2`, "
    "create the venv with `python3 -m venv --system-site-packages`, and keep numpy<2 and "
    "opencv-python-headless<4.12 in it (the apt packages are built against numpy 1.x)."
)


class Picamera2CameraDevice:
    """A Pi CSI camera delivering BGR frames (picamera2's "RGB888" is B,G,R in memory)."""

    def __init__(
        self, config: Picamera2Camera, import_module: Callable[[str], ModuleType] = importlib.import_module
    ) -> None:
        self._cfg = config
        self._import = import_module
        self._cam: Any = None
        self.name = f"picamera2:{config.camera_index}"

    def open(self) -> None:
        self.close()
        try:
            module = self._import("picamera2")
        except ImportError as exc:
            raise CameraUnavailable(f"{self.name}: {INSTALL_HINT} ({exc})") from exc
        try:
            cam = module.Picamera2(self._cfg.camera_index)
        except Exception as exc:  # IndexError/RuntimeError when no sensor is attached
            raise CameraUnavailable(
                f"{self.name}: no camera {self._cfg.camera_index}: is the ribbon cable seated and the "
                f"camera enabled? (rpicam-hello --list-cameras) ({exc})"
            ) from exc
        try:
            frame_us = int(1_000_000 / self._cfg.fps)
            config = cam.create_video_configuration(
                main={"size": (self._cfg.width, self._cfg.height), "format": "RGB888"},
                controls={"FrameDurationLimits": (frame_us, frame_us)},
                buffer_count=2,  # few buffers: the newest frame, not a queue of old ones
            )
            cam.configure(config)
            cam.start()
        except Exception as exc:
            _close_quietly(cam)
            raise CameraError(f"{self.name}: cannot start the camera: {exc}") from exc
        self._cam = cam

    def read(self) -> np.ndarray:
        if self._cam is None:
            raise CameraError(f"{self.name}: not open")
        try:
            array = self._cam.capture_array("main")
        except Exception as exc:
            raise CameraError(f"{self.name}: capture failed: {exc}") from exc
        return as_bgr(array, self.name)

    def close(self) -> None:
        cam, self._cam = self._cam, None
        if cam is not None:
            _close_quietly(cam)


def _close_quietly(cam: Any) -> None:
    for method in ("stop", "close"):
        try:
            getattr(cam, method)()
        except Exception as exc:
            log.debug("picamera2 %s failed: %s", method, exc)
