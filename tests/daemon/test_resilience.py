"""Faults inside the gate that must not stop it: a frame that breaks the pipeline, a gallery request
made while the broker is away."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import numpy as np
from support.waiting import wait_for

from edge.daemon.wiring import build_gate
from edge.inference.onnx_runtime import FaceModels
from edge.messaging.schemas import GalleryState

from .conftest import Bench, decisions, gallery_live


class PoisonEvery:
    """Wraps the simulated camera; every ``n``-th frame is garbage the pipeline cannot take."""

    def __init__(self, device: Any, n: int) -> None:
        self._device, self._n, self._i = device, n, 0
        self.name = device.name
        self.poisoned = 0

    def open(self) -> None:
        self._device.open()

    def close(self) -> None:
        self._device.close()

    def read(self) -> np.ndarray:
        frame: np.ndarray = self._device.read()
        self._i += 1
        if self._i % self._n == 0:
            self.poisoned += 1
            return np.zeros((0, 0, 3), np.uint8)  # an empty image: cv2.resize raises on it
        return frame


def test_a_frame_that_breaks_the_pipeline_does_not_stop_the_gate(world: Bench, face_models: FaceModels) -> None:
    cfg = world.config()
    device = PoisonEvery(world.device(), 7)
    run = world.start_daemon(cfg, face_models, source=world.source(cfg, device))
    world.board()
    gallery_live(world)
    wait_for(lambda: run.daemon._frame_errors >= 3, 30, "poisoned frames to reach the pipeline")
    n = len(decisions(world))
    wait_for(lambda: len(decisions(world)) >= n + 2, 40, "decisions between the poisoned frames")
    assert run.alive
    run.stop()


def test_gallery_request_while_offline_is_retried(world: Bench, face_models: FaceModels) -> None:
    cfg = world.config()
    daemon = build_gate(cfg, models=face_models, source=world.source(cfg))  # link never started: offline
    try:
        daemon._carry_out(daemon.session.assignment("TEST1", None, datetime.now(timezone.utc)))
        assert daemon.session.request_id is None and daemon.session.retry_at is not None
        assert daemon.session.state is GalleryState.REQUESTED  # waiting to ask again, not given up
    finally:
        daemon.loader.stop()
        daemon.link.outbox.close()
