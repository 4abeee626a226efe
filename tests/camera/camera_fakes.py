"""Fakes for camera hardware that cannot exist here, each at its library's own call boundary.

``FakeHardware`` plays the sensor: plugged in or not, a read that fails once, frames that flow.
``FakeVideoCapture`` stands in for ``cv2.VideoCapture`` (V4L2 and GStreamer backends) and
``fake_picamera2_module`` for the ``picamera2`` module. Everything else in those backends is real.
"""

from __future__ import annotations

import threading
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "hardware-sim" / "scenarios"
TINY = SCENARIOS / "tiny.yaml"


@dataclass
class FakeHardware:
    width: int = 160
    height: int = 120
    plugged: bool = True
    installed: bool = True  # is the library importable (picamera2)
    fail_next_read: bool = False
    frames: int = 0
    opens: list[tuple[Any, int]] = field(default_factory=list)
    props: dict[int, float] = field(default_factory=dict)
    released: int = 0
    configured: list[dict[str, Any]] = field(default_factory=list)

    def frame(self) -> np.ndarray:
        # A moving bar, so consecutive frames differ; no face is needed to test capture.
        time.sleep(0.002)  # ~500 fps: fast, but leaves the CPU to the test
        self.frames += 1
        img = np.full((self.height, self.width, 3), 60, np.uint8)
        img[:, (self.frames * 3) % self.width] = (0, 200, 255)
        return img

    def take_failure(self) -> bool:
        if self.fail_next_read:
            self.fail_next_read = False
            return True
        return False

    # -- cv2.VideoCapture(source, api)
    def video_capture(self, source: Any, api: int) -> FakeVideoCapture:
        self.opens.append((source, api))
        return FakeVideoCapture(self)


class FakeVideoCapture:
    def __init__(self, hw: FakeHardware) -> None:
        self.hw = hw
        self.open = hw.plugged

    def isOpened(self) -> bool:
        return self.open

    def set(self, prop: int, value: float) -> bool:
        self.hw.props[prop] = value
        return True

    def get(self, prop: int) -> float:
        import cv2

        if prop == cv2.CAP_PROP_FRAME_WIDTH:
            return float(self.hw.width)
        if prop == cv2.CAP_PROP_FRAME_HEIGHT:
            return float(self.hw.height)
        return self.hw.props.get(prop, 0.0)

    def read(self) -> tuple[bool, Any]:
        if not self.open or not self.hw.plugged or self.hw.take_failure():
            return False, None
        return True, self.hw.frame()

    def release(self) -> None:
        if self.open:
            self.hw.released += 1
        self.open = False


def fake_picamera2_module(hw: FakeHardware) -> types.ModuleType:
    module = types.ModuleType("picamera2")

    class Picamera2:
        def __init__(self, index: int = 0) -> None:
            if not hw.plugged:
                raise IndexError("list index out of range")  # what picamera2 does with no sensor
            self.index = index
            self.running = False

        def create_video_configuration(self, main: dict[str, Any], **kw: Any) -> dict[str, Any]:
            return {"main": dict(main), **kw}

        def configure(self, config: dict[str, Any]) -> None:
            hw.configured.append(config)
            hw.width, hw.height = config["main"]["size"]

        def start(self) -> None:
            self.running = True

        def capture_array(self, stream: str = "main") -> np.ndarray:
            if not self.running or not hw.plugged or hw.take_failure():
                raise RuntimeError("Camera frontend has timed out!")
            return hw.frame()

        def stop(self) -> None:
            self.running = False

        def close(self) -> None:
            hw.released += 1

    module.Picamera2 = Picamera2  # type: ignore[attr-defined]
    return module


def fake_importer(hw: FakeHardware) -> Any:
    module = fake_picamera2_module(hw)

    def import_module(name: str) -> types.ModuleType:
        if name != "picamera2" or not hw.installed:
            raise ModuleNotFoundError(f"No module named {name!r}")
        return module

    return import_module


class Valve:
    """Test wrapper around any device: while closed, read() blocks, as a hung camera would."""

    def __init__(self, device: Any) -> None:
        self.device = device
        self.name = device.name
        self.flowing = threading.Event()
        self.flowing.set()
        self.blocked = threading.Event()

    def open(self) -> None:
        self.device.open()

    def read(self) -> np.ndarray:
        while not self.flowing.is_set():
            self.blocked.set()
            self.flowing.wait(0.05)
        return self.device.read()  # type: ignore[no-any-return]

    def close(self) -> None:
        self.device.close()


class OffsetClock:
    """time.monotonic plus an offset the test can push forward (to pass a stall timeout instantly)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


def wait_until(predicate: Any, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll until predicate() is true; a generous deadline, not a timing assertion."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)
