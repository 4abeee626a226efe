"""One aiming session: the camera, the detector on every newest frame, and the page, for a set time.

Threads: the camera's capture worker (newest-frame slot), the analysis loop here (detect, judge each
face, encode the JPEG the page shows), and the HTTP server's. ``run()`` blocks until the time is up
or ``stop()``; then the page is told it stopped, the server closes, the camera is released and the
last frame held is zeroed. Nothing is written anywhere.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import cv2

from edge.aim.server import AimServer, LatestFrame
from edge.aim.view import AimAnalyser
from edge.camera.base import FrameSource, Health
from edge.core.wipe import wiped

log = logging.getLogger("edge.aim")

JPEG_QUALITY = 80


class AimSession:
    def __init__(self, gate_id: str, source: FrameSource, analyser: AimAnalyser, *, address: str = "127.0.0.1",
                 port: int = 0, seconds: float = 600.0) -> None:
        self.gate_id, self.source, self.analyser, self.seconds = gate_id, source, analyser, seconds
        self.latest = LatestFrame()
        self.server = AimServer(address, port, self.latest, self._state)  # binds now: a taken port fails here
        self.frames = 0
        self._stop = threading.Event()
        self._ends_at = time.monotonic() + seconds
        self._detect_ms = 0.0

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Serve until the time is up or :meth:`stop`; always releases the camera and the port."""
        self._ends_at = time.monotonic() + self.seconds
        http = threading.Thread(target=self.server.serve_forever, name="aim-http", daemon=True)
        worker = threading.Thread(target=self._analyse_loop, name="aim-analysis", daemon=True)
        try:
            self.source.start()
            http.start()
            worker.start()
            self._stop.wait(self.seconds)
        finally:
            self._stop.set()
            self.latest.close()  # waiting pages get 410 Gone; the last frame is zeroed
            if http.is_alive():
                self.server.shutdown()
            self.server.server_close()
            if worker.is_alive():
                worker.join(10)
            self.source.stop()
            self.latest.close()  # a frame the worker put while stopping

    def _state(self) -> dict[str, Any]:
        stats = self.source.stats
        return {"camera": self.source.health.value, "error": stats.last_error,
                "seconds_left": max(0, round(self._ends_at - time.monotonic()))}

    def _analyse_loop(self) -> None:
        warned = False
        while not self._stop.is_set():
            frame = self.source.latest(timeout=0.2)
            if frame is None:
                if not warned and self.source.health is Health.DEGRADED:
                    warned = True  # once: the page shows the camera's state all along
                    log.warning("the camera delivers no frames (%s): if the gate daemon holds it, stop it first "
                                "(systemctl stop gate-edge)", self.source.stats.last_error or "no error reported")
                continue
            try:
                self._show(frame.image)
            except Exception:  # one bad frame must not end the session
                log.exception("a frame could not be analysed")
            finally:
                frame.wipe()

    def _show(self, image: Any) -> None:
        with wiped() as scratch:
            scratch.track(image)
            started = time.perf_counter()
            faces = self.analyser.analyse(image, scratch)
            self._detect_ms = round((time.perf_counter() - started) * 1e3, 1)
            ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if not ok:
                raise ValueError("the frame could not be encoded as JPEG")
            h, w = image.shape[:2]
            q = self.analyser.quality
            info = {"gate": self.gate_id, "width": w, "height": h, "zone_px": list(self.analyser.zone_px(w, h)),
                    "faces": [f.as_json(q) for f in faces], "min_face_px": q.min_face_px,
                    "detect_ms": self._detect_ms, **self._state()}
        self.latest.put(jpeg, info)
        self.frames += 1
