"""`gate-edge check` loads the models the way the daemon does: through edge.inference's loader, so
the derived runtime copy is what gets opened and the providers check is the daemon's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnxruntime as ort
import pytest
import yaml

from edge.commands.check import CheckResult, run_checks

CONFIG = {"gate_id": "G1", "camera": {"backend": "file", "url": "clip.avi"}}


def _check(tmp_path: Path, models: dict[str, Any]) -> dict[str, CheckResult]:
    path = tmp_path / "gate.yaml"
    path.write_text(yaml.safe_dump({**CONFIG, "state_dir": str(tmp_path / "state"), "models": models}))
    return {r.check: r for r in run_checks(str(path), skip=("camera", "broker"))}


def _cache_with_the_models(tmp_path: Path, model_cache: Path) -> Path:
    cache = tmp_path / "models"
    cache.mkdir()
    for original in model_cache.glob("*.onnx"):
        (cache / original.name).symlink_to(original)  # verified by hash like any copy; no 40 MB copied
    return cache


def test_check_opens_the_derived_copy_as_the_daemon_does(tmp_path: Path, model_cache: Path) -> None:
    cache = _cache_with_the_models(tmp_path, model_cache)
    results = _check(tmp_path, {"cache_dir": str(cache)})
    assert results["providers"].status == "OK", results["providers"].detail
    assert "yunet_2023mar: CPUExecutionProvider" in results["providers"].detail
    # The loader derived the runtime copies (the daemon's path); the originals are untouched.
    derived = sorted(p.name for p in (cache / "derived").glob("*.onnx"))
    assert len(derived) == 2 and all(name.count(".") == 2 for name in derived)


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(), reason="CUDA is active here")
@pytest.mark.filterwarnings("ignore:Specified provider:UserWarning")  # onnxruntime's own note of the same
def test_a_required_provider_that_is_not_active_fails_as_it_would_stop_the_daemon(
    tmp_path: Path, model_cache: Path
) -> None:
    cache = _cache_with_the_models(tmp_path, model_cache)
    results = _check(tmp_path, {"cache_dir": str(cache), "providers": ["CUDAExecutionProvider"]})
    assert results["providers"].status == "FAIL"
    assert "not active" in results["providers"].detail
    relaxed = _check(tmp_path, {"cache_dir": str(cache), "providers": ["CUDAExecutionProvider"],
                                "require_providers": False})
    assert relaxed["providers"].status == "OK"  # the daemon would run, on the CPU fallback: say so
    assert "NOT active: CUDAExecutionProvider" in relaxed["providers"].detail


def test_a_missing_model_fails_the_load(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    results = _check(tmp_path, {"cache_dir": str(tmp_path / "models")})
    assert results["providers"].status == "FAIL" and "models fetch" in results["providers"].detail
