"""A running gate tells the gallery service how each photo of a gallery enrolled: one report when the
gallery is built, signed with the gate's key, with entry ids and verdict words and nothing biometric."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from support.waiting import wait_for

from edge.inference.onnx_runtime import FaceModels
from edge.messaging.envelope import TrustAnchors, public_key_from_pem

from .conftest import Bench, gallery_live

NO_FACE = "P-noface000001"


def test_a_built_gallery_is_reported_to_the_gallery_service_once_with_a_verdict_per_photo(
    world: Bench, face_models: FaceModels, tmp_path: Path
) -> None:
    blank = tmp_path / "blank.png"  # a photo with no face in it: not enrolled, the service should re-take it
    assert cv2.imwrite(str(blank), np.full((240, 200, 3), 128, np.uint8))
    travellers = world.scenario.gallery()
    world.gallery.entries = [*travellers, (NO_FACE, blank)]
    run = world.start_daemon(world.config(), face_models)
    world.board()
    status = gallery_live(world)
    topic = world.topics.gallery_enrolment
    (gate, report) = wait_for(lambda: world.gallery.enrolments[:1], 30, "the gallery service to get the report")[0]
    assert gate == world.topics.gate_id
    expected = {gid: "ok" for gid, _ in travellers} | {NO_FACE: "no_face"}
    assert {e.id: e.verdict for e in report.entries} == expected
    served = world.gallery.served[-1]
    assert (report.flight_id, report.gallery_version, report.received_sha256) == (
        served.flight_id, served.gallery_version, served.digest)
    run.stop()  # nothing more is reported for this gallery, also not on the way out
    assert len(world.gallery.enrolments) == 1 and len(world.watcher.raw(topic)) == 1

    # Signed with the gate's own key; ids and words only, nothing photo- or template-sized.
    (raw,) = world.watcher.raw(topic)
    anchors = TrustAnchors.of({"gate": [public_key_from_pem(status["public_key"].encode())]})
    doc = json.loads(anchors.open(raw.payload, "gate"))
    assert set(doc) == {"schema", "flight_id", "gallery_version", "received_sha256", "entries"}
    assert all(set(e) == {"id", "verdict"} for e in doc["entries"])
    assert len(raw.payload) < 300 * len(expected) + 1000
