"""Fixtures shared by every test folder: the real face models and the real photos."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.evaluation.data import default_faces

REPO = Path(__file__).resolve().parents[1]

# Shared fixtures for the broker-facing tests (certificates, watchers, the daemon's link).
pytest_plugins = ["support.fixtures"]


def faces_root() -> Path:
    """The faces folder every tool uses: $GATE_EDGE_FACES, else ../shared/faces beside the checkout."""
    return default_faces()


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    root = faces_root()
    if not root.is_dir():
        pytest.fail(f"face photos not found at {root}: set GATE_EDGE_FACES or lay ../shared beside the repo")
    return root


@pytest.fixture(scope="session")
def model_cache() -> Path:
    return REPO / "models" / "cache"


@pytest.fixture(scope="session")
def face_models(model_cache: Path):  # type: ignore[no-untyped-def]
    from edge.config.schema import ModelsConfig
    from edge.inference.onnx_runtime import load_face_models

    return load_face_models(ModelsConfig(cache_dir=model_cache))
