"""The one frame-source interface every camera backend (and the simulated camera) sits behind.

The daemon only ever sees :class:`FrameSource`. A backend provides a small blocking
:class:`CameraDevice` (open / read one frame / close); :class:`edge.camera.capture.CaptureWorker`
turns any device into a FrameSource with a capture thread, a newest-frame slot (older frames are
dropped and counted instead of blocking the camera), reconnect with back-off, timestamps and a
health state.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


class CameraError(RuntimeError):
    """A camera could not be opened or stopped delivering frames. The message says what to check."""


class CameraUnavailable(CameraError):
    """The backend's library or the device itself is missing (e.g. picamera2 not installed)."""


class EndOfStream(CameraError):
    """The source has no more frames by design (a scenario or a non-looping video ended).

    Not a fault: the capture worker does not reconnect, it stops and reports ``Health.STOPPED``.
    """


class Health(str, enum.Enum):
    STARTING = "starting"  # not yet delivered a frame
    OK = "ok"  # frames arriving
    DEGRADED = "degraded"  # no frame for longer than the stall timeout; reconnecting
    STOPPED = "stopped"  # closed on purpose


@dataclass
class Frame:
    """One captured image. ``image`` is HxWx3 BGR uint8 and is biometric data: wipe it after use."""

    image: np.ndarray
    timestamp: float  # time.monotonic() when the frame was captured
    seq: int  # increasing per source, gaps mean dropped frames

    def wipe(self) -> None:
        self.image.fill(0)


@dataclass
class SourceStats:
    frames: int = 0  # delivered by the device
    dropped: int = 0  # overwritten in the newest-frame slot before anyone read them
    reconnects: int = 0  # times the device was reopened after a failure
    errors: int = 0
    last_error: str | None = None
    extra: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class CameraDevice(Protocol):
    """What a backend implements: blocking, single-threaded, no retry logic of its own."""

    name: str

    def open(self) -> None:
        """Open the device; raise CameraError (or CameraUnavailable) with a clear message."""

    def read(self) -> np.ndarray:
        """Block for the next frame and return it as an HxWx3 BGR uint8 image. Raise CameraError on failure."""

    def close(self) -> None:
        """Release the device. Must be safe to call twice or after a failed open."""


@runtime_checkable
class FrameSource(Protocol):
    """What the daemon consumes."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def latest(self, timeout: float) -> Frame | None:
        """The newest frame not yet returned, waiting up to ``timeout`` seconds; None if none came."""

    @property
    def health(self) -> Health: ...

    @property
    def stats(self) -> SourceStats: ...
