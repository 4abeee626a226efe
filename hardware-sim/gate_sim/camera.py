"""The simulated camera: a :class:`CameraDevice` that plays a scenario.

It reaches the daemon exactly like a real camera does (through :class:`CaptureWorker`) and delivers
images only. What the simulator knows and the gate must not (which walk-up a frame shows) stays here,
in :attr:`SimulatedCameraDevice.timeline`: the wall-clock times of each walk-up's first and last
delivered frame, against which the demo and the tests attribute the gate's events. At the end of the
scenario ``read()`` raises :class:`EndOfStream` (unless the scenario loops), and the camera can
"unplug" on a schedule or on demand to exercise reconnects.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edge.camera.base import CameraError, CameraUnavailable, EndOfStream
from edge.camera.pacing import FramePacer
from edge.config.schema import SimulatedCamera
from gate_sim.render import Renderer, RenderError, WalkUpImages
from gate_sim.scenario import Scenario, ScenarioError, load_scenario
from gate_sim.timeline import WalkupTimeline


class SimulatedCameraDevice:
    def __init__(
        self,
        scenario: Scenario,
        realtime: bool = True,
        loop: bool | None = None,
        disconnect_every_s: float | None = None,
        disconnect_for_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.scenario = scenario
        self.name = f"simulated:{scenario.spec.name}"
        self.realtime = realtime
        self.loop = scenario.spec.loop if loop is None else loop
        cam = scenario.camera
        self._every = disconnect_every_s if disconnect_every_s is not None else cam.disconnect_every_s
        self._for = disconnect_for_s if disconnect_for_s is not None else cam.disconnect_for_s
        self._clock = clock
        self._renderer = Renderer(cam.width, cam.height, scenario.seed)
        self._period = 1.0 / cam.fps
        self._open = False
        self._segment = 0
        self._frame = 0  # index inside the current segment
        self._images: WalkUpImages | None = None
        self._images_for = -1
        self._connected_at = 0.0
        self._pacer = FramePacer(clock, sleep)
        self._unplugged_until: float | None = None
        self._unplug_pending = False
        self.frames_delivered = 0
        self._wall_clock = wall_clock
        self.timeline = WalkupTimeline()

    @classmethod
    def from_config(cls, config: SimulatedCamera) -> SimulatedCameraDevice:
        """Load the scenario named in the daemon config (raises ScenarioError when it is wrong)."""
        scenario = load_scenario(config.scenario, faces_dir=config.faces_dir, seed=config.seed)
        return cls(scenario, realtime=config.realtime)

    # ------------------------------------------------------------------ CameraDevice
    def open(self) -> None:
        now = self._clock()
        if self._unplugged_until is not None:
            if now < self._unplugged_until:
                raise CameraUnavailable(
                    f"{self.name}: unplugged (simulated), back in {self._unplugged_until - now:.1f}s"
                )
            self._unplugged_until = None
        self._open = True
        self._connected_at = now
        self._pacer.restart(self._period if self.realtime else 0.0)

    def read(self) -> np.ndarray:
        if not self._open:
            raise CameraError(f"{self.name}: not open")
        now = self._clock()
        if self._unplug_pending or (self._every is not None and now - self._connected_at >= self._every):
            self._unplug_pending = False
            self._unplugged_until = now + self._for
            self.close()
            raise CameraError(f"{self.name}: camera unplugged (simulated)")
        if self._segment >= len(self.scenario.segments):
            if not self.loop:
                self.close()
                raise EndOfStream(f"{self.name}: scenario finished")
            self._segment, self._frame = 0, 0
        seg = self.scenario.segments[self._segment]
        images = self._images_for_segment()
        index = self._frame
        frame = self._renderer.render(seg.conditions, index, seg.frames, images, walk_no=self._segment)
        self._frame += 1
        if self._frame >= seg.frames:
            self._segment += 1
            self._frame = 0
            self._drop_images()  # the walk-up is over: its photos are wiped now
        self._pacer.wait()
        self.frames_delivered += 1
        if seg.walk_id is not None:
            # Noted as the frame leaves, after pacing: the time the gate receives it, near enough.
            self.timeline.note(seg.walk_id, self._wall_clock(), first=index == 0)
        return frame

    def close(self) -> None:
        self._open = False
        self._drop_images()

    # ------------------------------------------------------------------ extras
    @property
    def finished(self) -> bool:
        return not self.loop and self._segment >= len(self.scenario.segments)

    def unplug(self, duration_s: float) -> None:
        """Fail the next read and refuse to reopen for ``duration_s`` seconds (of the device clock)."""
        self._for = duration_s
        self._unplug_pending = True
        self._unplugged_until = self._clock() + duration_s

    def replug(self) -> None:
        self._unplugged_until = None
        self._unplug_pending = False

    def _images_for_segment(self) -> WalkUpImages | None:
        seg = self.scenario.segments[self._segment]
        if seg.photo is None:
            return None
        if self._images_for != self._segment:
            self._drop_images()
            try:
                self._images = WalkUpImages(seg.photo, seg.bystander_photo, seg.conditions, self.scenario.camera.height)
            except (RenderError, OSError) as exc:
                raise CameraError(f"{self.name}: {exc}") from exc
            self._images_for = self._segment
        return self._images

    def _drop_images(self) -> None:
        if self._images is not None:
            self._images.wipe()
        self._images = None
        self._images_for = -1


def open_scenario_camera(
    scenario: str | Path, faces_dir: str | Path | None = None, seed: int | None = None, realtime: bool = False
) -> SimulatedCameraDevice:
    """Convenience for tools (record, demo): load a scenario file and wrap it in a device."""
    return SimulatedCameraDevice(load_scenario(scenario, faces_dir=faces_dir, seed=seed), realtime=realtime)


def create(config: SimulatedCamera) -> SimulatedCameraDevice:
    """The ``gate_edge.cameras`` entry point named ``simulated``: how the product finds this camera."""
    try:
        return SimulatedCameraDevice.from_config(config)
    except ScenarioError as exc:
        raise CameraUnavailable(str(exc)) from exc
