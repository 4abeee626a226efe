"""A new gallery goes live between transactions, never in the middle of one (the daemon carrying out
its flight session's actions; the machine alone is tested in test_flight_session.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from edge.core.decide import Observation, Phase
from edge.core.search import Candidate
from edge.daemon import reports
from edge.daemon.flight_session import GalleryInfo
from edge.daemon.gallery_loader import GalleryProgress, LiveGallery
from edge.daemon.gate import GateDaemon
from edge.daemon.wiring import build_gate
from edge.index import build_index
from edge.inference.onnx_runtime import FaceModels

from .conftest import Bench

EXPIRES = datetime.now(timezone.utc) + timedelta(hours=1)


def _live(flight: str, version: int) -> LiveGallery:
    templates = np.eye(3, 128, dtype=np.float32)
    return LiveGallery(flight, version, EXPIRES, "0" * 64, build_index(["P-1", "P-2", "P-3"], templates), 3)


def _receive(daemon: GateDaemon, handle: int, version: int) -> None:
    """As if the link delivered version ``version`` of TEST1's gallery and the loader had it in hand."""
    daemon.session.request_sent(f"r{handle}")
    info = GalleryInfo(handle, "TEST1", version, 3, "0" * 64, EXPIRES)
    daemon.session.gallery_received(f"r{handle}", info)  # BuildGallery: the loader's part is played below


def test_gallery_swap_waits_for_the_transaction_to_end(world: Bench, face_models: FaceModels) -> None:
    cfg = world.config()
    daemon = build_gate(cfg, models=face_models, source=world.source(cfg))  # not run: driven by hand
    try:
        daemon._carry_out(daemon.session.assignment("TEST1", None, datetime.now(timezone.utc)))
        _receive(daemon, 1, 1)
        daemon._take_built([(1, _live("TEST1", 1))])
        daemon._between_frames()
        assert daemon.live is not None and daemon.live.version == 1
        # A traveller is being acquired (present, no usable frame yet) when version 2 finishes loading.
        daemon.machine.observe(Observation(t=0.0, present=True))
        assert daemon.machine.phase is Phase.ACQUIRING
        old_index = daemon.live.index
        _receive(daemon, 2, 2)
        daemon._take_built([(2, _live("TEST1", 2))])
        daemon._between_frames()
        assert daemon.live.version == 1 and daemon.live.index is old_index
        # The transaction ends (a match on version 1); the next pass swaps, and wipes the old gallery.
        usable = Observation(t=0.1, present=True, usable=True, candidates=(Candidate("P-1", 0.9),))
        assert daemon.machine.observe(usable) is not None
        daemon._between_frames()
        assert daemon.live.version == 2 and old_index.size == 0
    finally:
        daemon.loader.stop()
        daemon.link.outbox.close()


def test_gallery_loading_progress_shows_in_the_status(world: Bench, face_models: FaceModels) -> None:
    cfg = world.config()
    daemon = build_gate(cfg, models=face_models, source=world.source(cfg))  # not run: driven by hand
    published: list[Any] = []
    daemon.link.publish_status = lambda status: published.append(status) or True  # type: ignore[method-assign]
    try:
        daemon._carry_out(daemon.session.assignment("TEST1", None, datetime.now(timezone.utc)))
        _receive(daemon, 1, 1)
        daemon.loader.progress = GalleryProgress("TEST1", 1, total=400, done=50, state="loading")
        daemon._between_frames()
        assert published[-1].gallery.state == "loading"
        assert (published[-1].gallery.loaded, published[-1].gallery.entries) == (50, 400)
        assert "50/400" in reports.systemd_line(daemon._view())
        n = len(published)
        daemon._between_frames()  # no progress, no new status
        assert len(published) == n
        daemon.loader.progress.done = 75
        daemon._between_frames()
        assert published[-1].gallery.loaded == 75
    finally:
        daemon.loader.stop()
        daemon.link.outbox.close()
