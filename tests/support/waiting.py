"""Polling for a condition (generous timeouts: the test machine is shared)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(pred: Callable[[], T], timeout: float = 20.0, what: str = "condition") -> T:
    """Poll until ``pred()`` is truthy and return that value; AssertionError after ``timeout`` seconds.

    ``pred`` should test something real (a message seen, a counter moved, a thread ended), so that
    a passing wait proves it happened.
    """
    deadline = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)
