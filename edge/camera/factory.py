"""Builds the configured camera. Backend modules are imported here, lazily, on first use only.

Nothing is probed at import time: a Jetson image never imports picamera2, and a Pi never checks
for GStreamer, unless the config asks for that backend. Backends that are not part of the product
(the developers' simulated camera) are found by name among the ``gate_edge.cameras`` entry points,
so the product never imports the simulator.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib.metadata import entry_points

from edge.camera.base import CameraDevice, CameraUnavailable
from edge.camera.capture import CaptureWorker
from edge.config.schema import (
    CameraConfig,
    CaptureConfig,
    FileCamera,
    GstreamerCamera,
    Picamera2Camera,
    V4l2Camera,
)

PLUGIN_GROUP = "gate_edge.cameras"


def create_device(camera: CameraConfig) -> CameraDevice:
    """The bare device for ``camera`` (not opened). Raises CameraUnavailable for a wrong scenario."""
    if isinstance(camera, V4l2Camera):
        from edge.camera.v4l2 import V4l2CameraDevice

        return V4l2CameraDevice(camera)
    if isinstance(camera, Picamera2Camera):
        from edge.camera.picamera2_backend import Picamera2CameraDevice

        return Picamera2CameraDevice(camera)
    if isinstance(camera, GstreamerCamera):
        from edge.camera.gstreamer import GstreamerCameraDevice

        return GstreamerCameraDevice(camera)
    if isinstance(camera, FileCamera):
        from edge.camera.file import FileCameraDevice

        return FileCameraDevice(camera)
    return _plugin_device(camera)


def _plugin_device(camera: CameraConfig) -> CameraDevice:
    """A backend registered by another distribution under ``gate_edge.cameras`` (by backend name)."""
    backend = str(getattr(camera, "backend", camera))
    found = list(entry_points(group=PLUGIN_GROUP, name=backend))
    if not found:
        raise CameraUnavailable(f"camera backend {backend!r} is not installed (no {PLUGIN_GROUP!r} entry point "
                                f"named {backend!r}; the simulated camera comes with the gate-edge-sim package)")
    try:
        create = found[0].load()
    except ImportError as exc:
        raise CameraUnavailable(f"camera backend {backend!r} cannot be loaded: {exc}") from exc
    device: CameraDevice = create(camera)
    return device


def create_source(
    camera: CameraConfig, capture: CaptureConfig, clock: Callable[[], float] = time.monotonic
) -> CaptureWorker:
    """The configured camera behind a capture thread (not started: call ``start()``)."""
    return CaptureWorker(create_device(camera), capture, clock=clock)
