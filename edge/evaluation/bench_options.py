"""`gate-edge bench`'s options section: end-to-end latency with and without each accuracy option, and
the ratio to OpenCV's pipeline, all in one interleaved loop so every figure sees the same machine load.

Variants: every option off ("none", the reference for the 1.3x limit); the config's default;
landmark refinement alone (re-detect on the traveller's region); flip test-time augmentation alone;
the int8 embedder alone (when `gate-edge models quantise` has made it); and all of them together.
Enlarging small frames changes nothing on frames at least as wide as the detector's working width
(the benchmark's 1280x720 frames): it is reported as such, not measured.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from edge.config.schema import DetectionConfig
from edge.core.analyse import FrameAnalyser
from edge.core.decide import DecisionMachine, DecisionParams
from edge.core.embed import FaceEmbedder
from edge.core.search import GalleryIndex
from edge.core.wipe import wiped
from edge.evaluation.setup import models_config
from edge.inference.manifest import ModelError, load_manifest
from edge.inference.onnx_runtime import FaceModels, load_model

Runner = Callable[[np.ndarray], float]


def _variants(models: FaceModels, base: FrameAnalyser, args: argparse.Namespace) -> tuple[dict[str, FrameAnalyser],
                                                                                           dict[str, str]]:
    """The analysers to time, and a note for each option that could not be timed."""
    notes: dict[str, str] = {}
    dim = models.embedder.dim
    plain = FaceEmbedder(models.embedder_model, dim, flip=False)
    flipped = FaceEmbedder(models.embedder_model, dim, flip=True)

    def with_(embedder: FaceEmbedder, refine: bool) -> FrameAnalyser:
        return FrameAnalyser(base.detector, embedder, base.quality, base.zone, refine=refine)

    # "none": every option off (the frame path before the options existed); each option alone; the
    # config's default; all of them.
    out = {"none": with_(plain, False), "default": base, "refine": with_(plain, True),
           "flip_tta": with_(flipped, False)}
    cfg = models_config(args)
    try:
        spec = load_manifest(cfg.manifest).get(cfg.embedder)
        int8 = load_model(spec, cfg, int8=True)
        out["int8"] = with_(FaceEmbedder(int8, dim), False)
        out["all"] = with_(FaceEmbedder(int8, dim, flip=True), True)
    except ModelError as exc:
        notes["int8"] = str(exc)
        out["all"] = with_(flipped, True)
    notes["enlarge"] = (f"no effect here: frames are wider than the detector's input width "
                        f"({DetectionConfig().input_width}); it applies to narrower frames and to photos")
    return out, notes


def bench_options(args: argparse.Namespace, models: FaceModels, base: FrameAnalyser, frames: list[np.ndarray],
                  index: GalleryIndex, opencv: Runner, params: DecisionParams, rounds: int) -> dict[str, Any]:
    """p95/p50 end to end per variant and each one's ratio to OpenCV (median over median), same loop."""
    analysers, notes = _variants(models, base, args)

    def runner(analyser: FrameAnalyser) -> Runner:
        def run(frame: np.ndarray) -> float:
            with wiped() as scratch:
                t0 = time.perf_counter()
                analysis = analyser.analyse(frame, index, scratch)
                DecisionMachine(params).observe(analysis.observation(t=0.0))
                return (time.perf_counter() - t0) * 1e3
        return run

    runners: dict[str, Runner] = {name: runner(a) for name, a in analysers.items()}
    runners["opencv"] = opencv
    times: dict[str, list[float]] = {name: [] for name in runners}
    names = list(runners)
    for frame in frames[:2]:  # warm-up, not measured
        for name in names:
            runners[name](frame)
    for r in range(rounds):
        for i, frame in enumerate(frames):
            shift = (r * len(frames) + i) % len(names)  # rotate who goes first
            for name in names[shift:] + names[:shift]:
                times[name].append(runners[name](frame))
    cv_median = float(np.median(times["opencv"]))
    none_p95 = float(np.percentile(times["none"], 95))
    out: dict[str, Any] = {}
    for name in names:
        p50, p95 = (float(v) for v in np.percentile(times[name], [50, 95]))
        row: dict[str, Any] = {"end_to_end_ms": {"p50": round(p50, 2), "p95": round(p95, 2)}}
        if name != "opencv":
            row["ratio_vs_opencv"] = round(p50 / cv_median, 3)
            row["p95_vs_none"] = round(p95 / none_p95, 3)
        out[name] = row
    return {"frames_measured": len(times["opencv"]), "variants": out, "notes": notes}
