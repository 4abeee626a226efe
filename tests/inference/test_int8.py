"""The int8 embedder: made by `gate-edge models quantise`, hash-checked at load, close to fp32."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.commands import models as models_cmd
from edge.config.schema import ModelsConfig
from edge.core.align import align
from edge.core.select import select_subject
from edge.core.wipe import wiped
from edge.inference.manifest import ModelError, derived_stamp_path, load_manifest
from edge.inference.onnx_runtime import int8_path, load_face_models


def _args(**kw: object) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    models_cmd.add_arguments(parser)
    ns = parser.parse_args(["quantise"])
    for k, v in kw.items():
        setattr(ns, k, v)
    return ns


@pytest.fixture(scope="module")
def int8_cache(tmp_path_factory: pytest.TempPathFactory, model_cache: Path, faces_dir: Path) -> Path:
    cache = tmp_path_factory.mktemp("int8-cache")
    for spec in load_manifest().models.values():
        shutil.copy(model_cache / spec.file, cache / spec.file)
    assert models_cmd.run(_args(cache_dir=cache, faces=faces_dir)) == 0
    return cache


def test_no_int8_copy_is_a_clear_error(tmp_path: Path, model_cache: Path) -> None:
    for spec in load_manifest().models.values():
        shutil.copy(model_cache / spec.file, tmp_path / spec.file)
    with pytest.raises(ModelError, match="models quantise"):
        load_face_models(ModelsConfig(cache_dir=tmp_path, embedder_precision="int8"), warm_up=False)


def test_int8_embedder_loads_and_agrees_with_fp32(int8_cache: Path, faces_dir: Path) -> None:
    fp32 = load_face_models(ModelsConfig(cache_dir=int8_cache), warm_up=False)
    int8 = load_face_models(ModelsConfig(cache_dir=int8_cache, embedder_precision="int8"), warm_up=False)
    assert int8.embedder_model.session is not fp32.embedder_model.session
    assert "int8" in str(int8_path(int8.embedder_model.spec, int8_cache))
    sims = []
    for person in ("deepface_id01", "deepface_id02", "deepface_id03"):
        photo = cv2.imread(str(sorted((faces_dir / person).iterdir())[0]))
        with wiped() as scratch:
            face = select_subject(fp32.detector.detect(photo, scratch), photo.shape[1], photo.shape[0])
            assert face is not None
            crop = align(photo, face.landmarks, scratch)
            a, b = fp32.embedder.embed(crop), int8.embedder.embed(crop)
            assert not np.array_equal(a, b)  # really another model
            sims.append(float(a @ b))
    assert min(sims) >= 0.9, sims


def test_an_altered_int8_copy_is_refused(int8_cache: Path, tmp_path: Path) -> None:
    cache = tmp_path / "c"
    shutil.copytree(int8_cache, cache)
    spec = load_manifest().get(ModelsConfig().embedder)
    copy = int8_path(spec, cache)
    assert derived_stamp_path(copy).is_file()
    data = bytearray(copy.read_bytes())
    data[-100] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="altered or corrupt"):
        load_face_models(ModelsConfig(cache_dir=cache, embedder_precision="int8"), warm_up=False)
