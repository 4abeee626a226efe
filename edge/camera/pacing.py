"""Releasing frames at a fixed rate: a recording or a simulated feed played back in real time."""

from __future__ import annotations

import time
from collections.abc import Callable


class FramePacer:
    """``wait()`` once per frame sleeps until that frame is due; a period of 0 never waits."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._clock = clock
        self._sleep = sleep
        self.period = 0.0
        self._next_due = 0.0

    def restart(self, period: float) -> None:
        """Start a new run of frames now (after an open or a reconnect)."""
        self.period = period
        self._next_due = self._clock()

    def wait(self) -> None:
        if self.period <= 0:
            return
        self._next_due += self.period
        delay = self._next_due - self._clock()
        if delay > 0:
            self._sleep(delay)
        elif delay < -1.0:
            self._next_due = self._clock()  # far behind (a slow disk, a pause): skip ahead, don't burst
