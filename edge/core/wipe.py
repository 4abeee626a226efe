"""Zeroing biometric buffers when a frame or a transaction is done with them.

Python frees memory lazily and the allocator reuses it without clearing, so a frame or an embedding
that is merely dropped can linger in the process for a long time. Every buffer that holds a face
(frames, resized copies, network input blobs, aligned crops, embeddings) is registered with a
:class:`Scratch` and overwritten with zeros when the scratch closes, also when an exception escapes.

What this cannot reach: immutable Python objects (``bytes``, ``str``: an MQTT payload, the JSON text
parsed from it) and the private buffers of native libraries (OpenCV, onnxruntime, OpenSSL). What is
and is not guaranteed is stated in docs/security.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np


class Scratch:
    """A set of numpy buffers to be zeroed together."""

    def __init__(self) -> None:
        self._buffers: list[np.ndarray] = []
        self.closed = False

    def track(self, array: np.ndarray) -> np.ndarray:
        """Register ``array`` for wiping and return it (so calls can be inlined)."""
        if self.closed:
            raise RuntimeError("scratch already wiped")
        self._buffers.append(array)
        return array

    @property
    def buffers(self) -> tuple[np.ndarray, ...]:
        return tuple(self._buffers)

    def wipe(self) -> int:
        """Zero every tracked buffer; returns how many bytes were cleared."""
        cleared = 0
        for buf in self._buffers:
            # A read-only array (np.frombuffer over bytes) is not ours to clear; its owner wipes it.
            if buf.flags.writeable:
                buf.fill(0)
                cleared += buf.nbytes
        self._buffers.clear()
        self.closed = True
        return cleared


@contextmanager
def wiped() -> Iterator[Scratch]:
    """``with wiped() as scratch:`` everything tracked is zeroed on exit, whatever the outcome."""
    scratch = Scratch()
    try:
        yield scratch
    finally:
        scratch.wipe()
