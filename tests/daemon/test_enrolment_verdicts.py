"""A gallery of photos is enrolled with one verdict per entry, reported without biometric data."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np

from edge.core.analyse import FrameAnalyser
from edge.core.gallery import Gallery, GalleryItem
from edge.core.quality import QualityParams
from edge.daemon.gallery_loader import build_live_gallery


def _encoded(image: np.ndarray) -> np.ndarray:
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return np.asarray(buf, np.uint8).reshape(-1).copy()


def test_each_photo_gets_a_verdict_and_the_report_holds_only_ids_and_words(face_models, faces_dir: Path) -> None:  # type: ignore[no-untyped-def]
    photo = cv2.imread(str(sorted((faces_dir / "deepface_id01").iterdir())[0]))
    other = cv2.imread(str(sorted((faces_dir / "deepface_id02").iterdir())[0]))
    h = 400
    two = np.hstack([cv2.resize(photo, (round(photo.shape[1] * h / photo.shape[0]), h)),
                     cv2.resize(other, (round(other.shape[1] * h / other.shape[0]), h))])
    items = [
        GalleryItem("P-aaaa0001", photo=_encoded(photo)),
        GalleryItem("P-aaaa0002", photo=_encoded(np.full((200, 200, 3), 128, np.uint8))),
        GalleryItem("P-aaaa0003", photo=np.frombuffer(b"not an image at all", np.uint8).copy()),
        GalleryItem("P-aaaa0004", photo=_encoded(two)),
        GalleryItem("P-aaaa0005", template=np.ones(128, np.float32)),
    ]
    digest = hashlib.sha256(b"chunks").hexdigest()
    gallery = Gallery("c-1", "F-1", 3, "sface_2021dec", 128, datetime.now(timezone.utc) + timedelta(hours=1),
                      items, digest)
    analyser = FrameAnalyser(face_models.detector, face_models.embedder, QualityParams())
    live = build_live_gallery(gallery, analyser, 5000)
    try:
        assert live.verdicts == {"P-aaaa0001": "ok", "P-aaaa0002": "no_face", "P-aaaa0003": "unreadable",
                                 "P-aaaa0004": "several_faces"}
        assert live.entries == 3 and sorted(live.failed_ids) == ["P-aaaa0002", "P-aaaa0003"]
        report = live.report()
        doc = json.loads(report.to_bytes())
        assert doc["schema"] == "gate-edge/enrolment-report/1"
        assert doc["flight_id"] == "F-1" and doc["gallery_version"] == 3 and doc["received_sha256"] == digest
        assert {e["id"]: e["verdict"] for e in doc["entries"]} == live.verdicts
        assert set(doc) == {"schema", "flight_id", "gallery_version", "received_sha256", "entries"}
    finally:
        live.wipe()
