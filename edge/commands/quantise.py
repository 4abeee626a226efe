"""`gate-edge models quantise`: the int8 embedder, calibrated on face crops made in memory.

Calibration crops come from labelled photos (each photo's subject, aligned as for enrolment); they
are held in memory only and zeroed once the quantiser has read them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from edge.config.schema import ModelsConfig
from edge.core.align import align
from edge.core.embed import to_blob
from edge.core.select import select_subject
from edge.core.wipe import wiped
from edge.evaluation.data import DatasetError, default_faces, list_identities, read_image
from edge.evaluation.setup import detector_params
from edge.inference.manifest import Manifest, ModelError, verify
from edge.inference.onnx_runtime import derived_model, int8_path, load_face_models

MAX_CROPS = 200  # min-max ranges settle long before; more only costs time


def calibration_blobs(models_cfg: ModelsConfig, manifest: Manifest, faces: Path) -> list[np.ndarray]:
    """Embedder input blobs of the subjects of up to :data:`MAX_CROPS` photos, spread over the folder."""
    models = load_face_models(models_cfg, detector_params(), manifest, warm_up=False)
    photos = [p for paths in list_identities(faces).values() for p in paths]
    photos = photos[:: max(1, len(photos) // MAX_CROPS)][:MAX_CROPS]
    blobs: list[np.ndarray] = []
    for path in photos:
        with wiped() as scratch:
            image = read_image(path, scratch)
            if image is None:
                continue
            face = select_subject(models.detector.detect(image, scratch), image.shape[1], image.shape[0])
            if face is not None:
                blobs.append(to_blob(align(image, face.landmarks, scratch)))
    return blobs


def quantise_embedder(cache_dir: Path, manifest: Manifest, faces: Path | None) -> int:
    try:
        from edge.inference.quantise import quantise
    except ImportError as exc:
        print(f"error: quantisation needs the 'quantise' extra (onnx): {exc}", file=sys.stderr)
        return 1
    cfg = ModelsConfig(cache_dir=cache_dir)
    spec = manifest.get(cfg.embedder)
    source = verify(spec, cache_dir)
    runtime_copy = derived_model(spec, source, cache_dir)
    blobs: list[np.ndarray] = []
    try:
        blobs = calibration_blobs(cfg, manifest, faces or default_faces())
        input_name = str(spec.raw.get("input", {}).get("name", "data"))
        stamp = quantise(runtime_copy, spec.sha256, int8_path(spec, cache_dir), input_name, blobs)
    except (DatasetError, ModelError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        for b in blobs:
            b.fill(0)
    print(f"int8 {spec.name}: {int8_path(spec, cache_dir)} sha256 {stamp['sha256']} "
          f"({stamp['calibration_crops']} calibration crops)")
    return 0
