"""Turns any blocking :class:`CameraDevice` into a :class:`FrameSource`.

One daemon thread reads the device as fast as it delivers. Frames land in a one-frame slot: a
newer frame overwrites (and wipes) an unread older one and counts it as dropped, so a slow
consumer never blocks the camera and never sees stale frames. Any failure closes the device and
reopens it after an exponential back-off; the thread itself never dies of an exception.

Health is derived from the clock on every query rather than from a watchdog thread, so a device
whose ``read()`` hangs still shows ``DEGRADED`` once the stall timeout has passed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import numpy as np

from edge.camera.base import CameraDevice, CameraError, EndOfStream, Frame, Health, SourceStats
from edge.config.schema import CaptureConfig

log = logging.getLogger(__name__)

Clock = Callable[[], float]


def backoff_delays(minimum: float, maximum: float) -> Iterator[float]:
    """Exponential back-off: minimum, 2*minimum, 4*minimum, ... capped at maximum, forever."""
    delay = minimum
    while True:
        yield min(delay, maximum)
        delay = min(delay * 2, maximum)


class CaptureWorker:
    """A capture thread with a newest-frame slot, reconnect with back-off and a health state."""

    def __init__(self, device: CameraDevice, capture: CaptureConfig, clock: Clock = time.monotonic) -> None:
        self._device = device
        self._cfg = capture
        self._clock = clock
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._slot: Frame | None = None
        self._seq = 0
        self._stats = SourceStats()
        self._opened = False
        self._reconnecting = False
        self._stopped = False
        self._finished = False
        self._started_at: float | None = None
        self._last_frame_at: float | None = None
        self._heartbeat = clock()

    # ------------------------------------------------------------------ FrameSource
    @property
    def name(self) -> str:
        return self._device.name

    def start(self) -> None:
        with self._cond:
            if self._thread is not None:
                return
            self._started_at = self._clock()
            self._thread = threading.Thread(target=self._run, name=f"capture-{self._device.name}", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread, close the device and wipe any unread frame. Safe to call twice."""
        self._stop.set()
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                # The device is stuck inside read(); the thread closes it when read() returns.
                log.warning("camera %s: capture thread did not stop within %.1fs", self.name, timeout)
        if thread is None:
            self._close_device()
        with self._cond:
            if self._slot is not None:
                self._slot.wipe()
                self._slot = None

    def latest(self, timeout: float) -> Frame | None:
        deadline = time.monotonic() + max(timeout, 0.0)
        with self._cond:
            while self._slot is None and not self._stopped and not self._finished:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)
            frame, self._slot = self._slot, None
            return frame

    @property
    def health(self) -> Health:
        with self._cond:
            if self._stopped or self._finished:
                return Health.STOPPED
            if self._reconnecting:
                return Health.DEGRADED
            now = self._clock()
            if self._last_frame_at is None:
                # Never delivered: still starting until the stall timeout, then clearly not well.
                started = self._started_at if self._started_at is not None else now
                return Health.DEGRADED if now - started > self._cfg.stall_timeout_s else Health.STARTING
            if now - self._last_frame_at > self._cfg.stall_timeout_s:
                return Health.DEGRADED
            return Health.OK

    @property
    def stats(self) -> SourceStats:
        """A snapshot; the worker keeps updating its own copy."""
        with self._cond:
            return replace(self._stats, extra=dict(self._stats.extra))

    # ------------------------------------------------------------------ for the daemon
    @property
    def finished(self) -> bool:
        """True once the device signalled the end of its stream (a scenario or a video ended)."""
        return self._finished

    @property
    def last_frame_time(self) -> float | None:
        """Clock time of the newest frame, None before the first one."""
        return self._last_frame_at

    @property
    def heartbeat(self) -> float:
        """Clock time the capture loop last made progress (a frame, an open attempt, a back-off step)."""
        return self._heartbeat

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        delays = backoff_delays(self._cfg.reconnect_min_s, self._cfg.reconnect_max_s)
        failed_before = False
        try:
            while not self._stop.is_set():
                self._heartbeat = self._clock()
                try:
                    if not self._opened:
                        self._device.open()
                        self._opened = True
                        if failed_before:
                            with self._cond:
                                self._stats.reconnects += 1
                            log.info("camera %s: reopened", self.name)
                    image = self._device.read()
                except EndOfStream:
                    log.info("camera %s: end of stream", self.name)
                    with self._cond:
                        self._finished = True
                        self._cond.notify_all()
                    return
                except Exception as exc:  # any failure, CameraError or a library bug: reconnect
                    failed_before = True
                    self._on_failure(exc)
                    self._stop.wait(next(delays))
                    continue
                delays = backoff_delays(self._cfg.reconnect_min_s, self._cfg.reconnect_max_s)
                self._publish(image)
        finally:
            self._close_device()

    def _publish(self, image: np.ndarray) -> None:
        now = self._clock()
        with self._cond:
            self._seq += 1
            self._stats.frames += 1
            if self._slot is not None:
                # Unread frame overwritten: count it and wipe it, it is biometric data.
                self._stats.dropped += 1
                self._slot.wipe()
            self._slot = Frame(image=image, timestamp=now, seq=self._seq)
            if self._reconnecting or self._last_frame_at is None:
                log.info("camera %s: frames arriving", self.name)
            self._reconnecting = False
            self._last_frame_at = now
            self._heartbeat = now
            self._cond.notify_all()

    def _on_failure(self, exc: BaseException) -> None:
        # The message of a CameraError is ours and says what to check; for anything else only the
        # type and text are kept (never image data: no backend puts pixels in exception text).
        text = str(exc) if isinstance(exc, CameraError) else f"{type(exc).__name__}: {exc}"
        with self._cond:
            self._stats.errors += 1
            self._stats.last_error = text
            self._reconnecting = True
        if isinstance(exc, CameraError):
            # Backends name themselves in their messages; don't say the name twice.
            shown = text if text.startswith(self.name) else f"camera {self.name}: {text}"
            log.warning("%s; reconnecting", shown)
        else:
            log.error("camera %s: unexpected %s; reconnecting", self.name, text, exc_info=exc)
        self._close_device()

    def _close_device(self) -> None:
        try:
            self._device.close()
        except Exception as exc:  # closing must never take the thread down
            log.warning("camera %s: close failed: %s", self.name, exc)
        self._opened = False
