"""Video files and network streams (RTSP/HTTP) through OpenCV's FFMPEG backend, for replay."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from edge.camera._opencv import VideoCaptureLike, as_bgr, release_quietly
from edge.camera.base import CameraError, CameraUnavailable, EndOfStream
from edge.camera.pacing import FramePacer
from edge.config.schema import FileCamera

log = logging.getLogger(__name__)

CaptureFactory = Callable[[Any, int], VideoCaptureLike]
DEFAULT_FPS = 25.0  # when a file does not declare its rate


def is_stream(url: str) -> bool:
    return "://" in url and not url.startswith("file://")


class FileCameraDevice:
    """Plays a file (looping at its end, paced at its own fps or as fast as possible) or a stream.

    Streams are paced by the sender; a dropped stream raises CameraError and the capture worker
    reconnects. A file that ends without ``loop`` raises :class:`EndOfStream`.
    """

    def __init__(
        self,
        config: FileCamera,
        capture_factory: CaptureFactory | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._cfg = config
        self._factory: CaptureFactory = capture_factory or cv2.VideoCapture
        self._cap: VideoCaptureLike | None = None
        self._stream = is_stream(config.url)
        self._path = config.url.removeprefix("file://")
        self._pacer = FramePacer(clock, sleep)
        self.name = f"file:{_redact(config.url)}"

    def open(self) -> None:
        self.close()
        if not self._stream and not os.path.isfile(self._path):
            raise CameraUnavailable(f"{self.name}: no such video file: {self._path}")
        try:
            cap = self._factory(self._source(), cv2.CAP_FFMPEG)
        except Exception as exc:
            raise CameraUnavailable(f"{self.name}: cannot open: {exc}") from exc
        if not cap.isOpened():
            release_quietly(cap)
            what = "is the stream up and the URL right?" if self._stream else "can OpenCV decode it?"
            raise CameraUnavailable(f"{self.name}: cannot open: {what}")
        fps = cap.get(cv2.CAP_PROP_FPS)
        fps = fps if 0 < fps < 1000 else DEFAULT_FPS
        self._pacer.restart(1.0 / fps if (self._cfg.realtime and not self._stream) else 0.0)
        self._cap = cap

    def _source(self) -> str:
        return self._cfg.url if self._stream else self._path

    def read(self) -> np.ndarray:
        cap = self._cap
        if cap is None:
            raise CameraError(f"{self.name}: not open")
        ok, frame = _read(cap, self.name)
        if not ok and not self._stream and self._at_end(cap):
            if not self._cfg.loop:
                raise EndOfStream(f"{self.name}: end of file")
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = _read(cap, self.name)
        if not ok or frame is None:
            raise CameraError(f"{self.name}: no frame (stream dropped or file unreadable)")
        self._pacer.wait()
        return as_bgr(frame, self.name)

    def _at_end(self, cap: VideoCaptureLike) -> bool:
        total = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        pos = cap.get(cv2.CAP_PROP_POS_FRAMES)
        # FFMPEG's frame count is an estimate for some containers: a frame short of it counts as the end.
        return total > 0 and pos >= total - 1

    def close(self) -> None:
        cap, self._cap = self._cap, None
        release_quietly(cap)


def _read(cap: VideoCaptureLike, name: str) -> tuple[bool, Any]:
    try:
        return cap.read()
    except Exception as exc:
        raise CameraError(f"{name}: read failed: {exc}") from exc


def _redact(url: str) -> str:
    """Hide credentials in rtsp://user:pass@host URLs: names end up in logs."""
    if "://" in url and "@" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
