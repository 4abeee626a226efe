"""Turning a received flight gallery into a live, searchable one, off the frame loop.

Photos are decoded and embedded in a background thread (the frame loop keeps serving the current
gallery); the finished :class:`LiveGallery` is handed back through a queue and swapped in by the
daemon between transactions. Every numpy buffer on the way (encoded photo, decoded image, crop,
template) is zeroed once used; the live gallery's own matrix and index are zeroed when it is wiped.
The MQTT payload and JSON text the photos arrived in are immutable and cannot be zeroed (see
docs/security.md for what the wipe guarantees and what it cannot).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import cv2
import numpy as np

from edge.core.analyse import FrameAnalyser
from edge.core.embed import l2_normalise
from edge.core.enrol import EnrolVerdict
from edge.core.gallery import Gallery
from edge.core.search import GalleryIndex
from edge.core.wipe import wiped
from edge.index import build_index
from edge.messaging.schemas.gallery import EnrolmentReport, enrolment_report

log = logging.getLogger(__name__)


@dataclass
class LiveGallery:
    flight_id: str
    version: int
    expires_at: datetime
    sha256: str
    index: GalleryIndex
    entries: int
    # Entry id -> enrolment verdict (edge.core.enrol.EnrolVerdict value) for every photo entry: what the
    # gallery service is told (EnrolmentReport); a word per entry, nothing biometric.
    verdicts: dict[str, str] = field(default_factory=dict)

    @property
    def failed_ids(self) -> list[str]:
        """The photo entries that gave no template (failures to enrol), in gallery order."""
        return [i for i, v in self.verdicts.items() if not EnrolVerdict(v).enrolled]

    def report(self) -> EnrolmentReport:
        """The per-entry verdicts as the message for the gallery service."""
        return enrolment_report(self.flight_id, self.version, self.sha256, self.verdicts)

    def wipe(self) -> int:
        n = self.index.size
        self.index.wipe()
        return n


@dataclass
class GalleryProgress:
    flight_id: str | None = None
    version: int | None = None
    total: int = 0
    done: int = 0
    state: str = "none"  # none | requested | loading | live


def build_live_gallery(gallery: Gallery, analyser: FrameAnalyser, exact_max_entries: int,
                       progress: Callable[[int, int], None] = lambda done, total: None) -> LiveGallery:
    """Embed photos (templates are taken as they are), build the index, wipe every input buffer.

    The received ``gallery`` is wiped on return, whatever happens: from then on the only copy of the
    templates is inside the index.
    """
    dim = analyser.embedder.dim
    total = len(gallery.items)
    matrix = np.zeros((total, dim), np.float32)
    ids: list[str] = []
    verdicts: dict[str, str] = {}
    try:
        for n, item in enumerate(gallery.items, 1):
            if item.template is not None:
                matrix[len(ids)] = l2_normalise(item.template)
                ids.append(item.id)
            elif item.photo is not None:
                with wiped() as scratch:
                    encoded = scratch.track(item.photo)
                    image = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
                    if image is None:
                        verdicts[item.id] = EnrolVerdict.UNREADABLE.value
                        log.warning("gallery %s: entry %s: photo cannot be decoded", gallery.flight_id, item.id)
                    else:
                        scratch.track(image)
                        enrolled = analyser.enrol(image, scratch)
                        verdicts[item.id] = enrolled.verdict.value
                        if enrolled.template is None:
                            log.warning("gallery %s: entry %s: no face found in photo (failure to enrol)",
                                        gallery.flight_id, item.id)
                        else:
                            matrix[len(ids)] = enrolled.template
                            ids.append(item.id)
            item.wipe()
            if n % 25 == 0 or n == total:
                progress(n, total)
        index = build_index(ids, matrix[: len(ids)], exact_max_entries)
        return LiveGallery(gallery.flight_id, gallery.version, gallery.expires_at, gallery.sha256, index,
                           len(ids), verdicts)
    finally:
        matrix.fill(0)
        gallery.wipe()


class GalleryLoader:
    """One background worker that builds galleries, each under the handle the flight session gave it.

    Results come back through :meth:`take` as ``(handle, LiveGallery)`` or ``(handle, Exception)``;
    the daemon hands them to the flight session, which decides whether each goes live or is wiped.
    """

    def __init__(self, analyser: FrameAnalyser, exact_max_entries: Callable[[], int]) -> None:
        self._analyser = analyser
        self._exact_max = exact_max_entries
        self._jobs: queue.Queue[tuple[int, Gallery] | None] = queue.Queue()
        self._done: queue.Queue[tuple[int, LiveGallery | Exception]] = queue.Queue()
        self.progress = GalleryProgress()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._work, name="gallery-loader", daemon=True)
        self._thread.start()

    def submit(self, handle: int, gallery: Gallery) -> None:
        with self._lock:
            self.progress = GalleryProgress(gallery.flight_id, gallery.version, len(gallery.items), 0, "loading")
        self._jobs.put((handle, gallery))

    def take(self) -> list[tuple[int, LiveGallery | Exception]]:
        """Every result finished since the last call."""
        out: list[tuple[int, LiveGallery | Exception]] = []
        while True:
            try:
                out.append(self._done.get_nowait())
            except queue.Empty:
                return out

    def stop(self, timeout: float = 10.0) -> list[tuple[int, LiveGallery | Exception]]:
        """Finish the job in hand, stop the worker, and return what was never taken (the caller wipes it)."""
        self._jobs.put(None)
        self._thread.join(timeout=timeout)
        return self.take()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            handle, gallery = job
            try:
                def report(done: int, total: int, g: Gallery = gallery) -> None:
                    with self._lock:
                        self.progress.done = done
                    log.info("gallery %s v%s: %d/%d entries loaded", g.flight_id, g.version, done, total)

                live = build_live_gallery(gallery, self._analyser, self._exact_max(), report)
                self._done.put((handle, live))
            except Exception as exc:  # one bad gallery must not end the worker
                gallery.wipe()
                log.exception("gallery %s could not be loaded", gallery.flight_id)
                self._done.put((handle, exc))
