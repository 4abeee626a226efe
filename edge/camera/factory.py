"""Builds the configured camera. Backend modules are imported here, lazily, on first use only.

Nothing is probed at import time: a Jetson image never imports picamera2, and a Pi never checks
for GStreamer, unless the config asks for that backend.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from edge.camera.base import CameraDevice, CameraUnavailable
from edge.camera.capture import CaptureWorker
from edge.config.schema import (
    CameraConfig,
    CaptureConfig,
    FileCamera,
    GstreamerCamera,
    Picamera2Camera,
    SimulatedCamera,
    V4l2Camera,
)


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
    if isinstance(camera, SimulatedCamera):
        try:
            from gate_sim.camera import SimulatedCameraDevice
            from gate_sim.scenario import ScenarioError
        except ImportError as exc:  # a production install without the simulator
            raise CameraUnavailable(f"the simulated camera needs the gate_sim package: {exc}") from exc
        try:
            device: CameraDevice = SimulatedCameraDevice.from_config(camera)
            return device
        except ScenarioError as exc:
            raise CameraUnavailable(str(exc)) from exc
    raise CameraUnavailable(f"unknown camera backend {getattr(camera, 'backend', camera)!r}")


def create_source(
    camera: CameraConfig, capture: CaptureConfig, clock: Callable[[], float] = time.monotonic
) -> CaptureWorker:
    """The configured camera behind a capture thread (not started: call ``start()``)."""
    return CaptureWorker(create_device(camera), capture, clock=clock)
