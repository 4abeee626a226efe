"""A new gallery goes live between transactions, never in the middle of one."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from edge.core.decide import Observation, Phase
from edge.core.search import Candidate
from edge.daemon.gallery_loader import LiveGallery
from edge.index import build_index
from edge.inference.onnx_runtime import FaceModels

from .conftest import World


def _live(flight: str, version: int) -> LiveGallery:
    templates = np.eye(3, 128, dtype=np.float32)
    return LiveGallery(flight, version, datetime.now(timezone.utc) + timedelta(hours=1), "0" * 64,
                       build_index(["P-1", "P-2", "P-3"], templates), 3)


def test_gallery_swap_waits_for_the_transaction_to_end(world: World, face_models: FaceModels) -> None:
    from edge.daemon.gate import GateDaemon

    cfg = world.config()
    daemon = GateDaemon(cfg, models=face_models, source=world.source(cfg))  # not run: driven by hand
    try:
        daemon._flight = "TEST1"
        daemon.gallery = _live("TEST1", 1)
        # A traveller is being acquired (present, no usable frame yet) when version 2 finishes loading.
        daemon.machine.observe(Observation(t=0.0, present=True))
        assert daemon.machine.phase is Phase.ACQUIRING
        old_index = daemon.gallery.index
        daemon.loader._done.put(_live("TEST1", 2))
        daemon._between_transactions()
        assert daemon.gallery.version == 1 and daemon.gallery.index is old_index
        # The transaction ends (a match on version 1); the next pass swaps, and wipes the old gallery.
        usable = Observation(t=0.1, present=True, usable=True, candidates=(Candidate("P-1", 0.9),))
        assert daemon.machine.observe(usable) is not None
        daemon._between_transactions()
        assert daemon.gallery.version == 2 and old_index.size == 0
    finally:
        daemon.loader.stop()
        daemon.link.outbox.close()


def test_gallery_loading_progress_shows_in_the_status(world: World, face_models: FaceModels) -> None:
    from edge.daemon.gallery_loader import GalleryProgress
    from edge.daemon.gate import GateDaemon

    cfg = world.config()
    daemon = GateDaemon(cfg, models=face_models, source=world.source(cfg))  # not run: driven by hand
    published: list[Any] = []
    daemon.link.publish_status = lambda status: published.append(status) or True  # type: ignore[method-assign]
    try:
        daemon._gallery_state = "loading"
        daemon.loader.progress = GalleryProgress("TEST1", 1, total=400, done=50, state="loading")
        daemon._between_transactions()
        assert published[-1].gallery.state == "loading"
        assert (published[-1].gallery.loaded, published[-1].gallery.entries) == (50, 400)
        assert "50/400" in daemon._summary()
        n = len(published)
        daemon._between_transactions()  # no progress, no new status
        assert len(published) == n
        daemon.loader.progress.done = 75
        daemon._between_transactions()
        assert published[-1].gallery.loaded == 75
    finally:
        daemon.loader.stop()
        daemon.link.outbox.close()
