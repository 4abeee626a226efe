"""Small helpers shared by the backends that read through ``cv2.VideoCapture``."""

from __future__ import annotations

import contextlib
from typing import Any, Protocol

import cv2
import numpy as np

from edge.camera.base import CameraError


class VideoCaptureLike(Protocol):
    """The part of ``cv2.VideoCapture`` the backends use; tests fake exactly this."""

    def isOpened(self) -> bool: ...

    def read(self) -> tuple[bool, Any]: ...

    def set(self, prop: int, value: float) -> bool: ...

    def get(self, prop: int) -> float: ...

    def release(self) -> None: ...


def as_bgr(frame: Any, name: str) -> np.ndarray:
    """Return ``frame`` as HxWx3 uint8 BGR, converting grey or BGRA; CameraError for anything else."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8:
        raise CameraError(f"{name}: the device returned an unusable frame ({type(frame).__name__})")
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    if frame.ndim == 3 and frame.shape[2] == 3:
        return frame
    raise CameraError(f"{name}: the device returned frames of shape {frame.shape}, expected HxWx3")


def read_frame(cap: VideoCaptureLike | None, name: str, no_frame: str) -> np.ndarray:
    """One BGR frame from an open capture; CameraError (with ``no_frame`` as the hint) otherwise."""
    if cap is None:
        raise CameraError(f"{name}: not open")
    try:
        ok, frame = cap.read()
    except Exception as exc:  # OpenCV raises cv2.error and others from its backends
        raise CameraError(f"{name}: read failed: {exc}") from exc
    if not ok or frame is None:
        raise CameraError(f"{name}: {no_frame}")
    return as_bgr(frame, name)


def release_quietly(cap: VideoCaptureLike | None) -> None:
    if cap is None:
        return
    with contextlib.suppress(Exception):  # a release that fails leaves nothing more to do
        cap.release()
