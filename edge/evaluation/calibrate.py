"""`gate-edge calibrate`: derive the decision threshold, margin and quality gate from labelled faces.

Reproducible by construction: the same folders and draw options give the same probes, and the
models are deterministic. Each folder runs the gate protocol once through the real pipeline with the
quality gate open (every detected face is embedded and searched), recording each probe's quality
figures and its top scores. Everything after that is arithmetic on those records:

1. Unmated searches: the impostor probes plus every genuine probe with its own entry removed.
2. For each quality setting on a small grid (face size, sharpness, yaw), probes that would fail the gate
   become failures to acquire; for each margin, the threshold is the lowest one at which at most
   ``target_fpir`` of the pooled unmated searches are accepted, and FNIR is measured there.
3. The proposal is the setting with the lowest pooled FNIR (ties: the stricter gate, then the larger
   margin: equal misses, more protection against poor captures and look-alikes); the threshold is
   rounded up to 0.005 (THRESHOLD_GRID), which only rejects more.

Pooling several folders is the point: a threshold that holds on gate-like photos and on news photos
is not tuned to either.
"""

from __future__ import annotations

import argparse
import itertools
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from edge.core.quality import QualityParams
from edge.evaluation.data import DatasetError, build_protocol
from edge.evaluation.evaluate import ProbeResult, run_protocol
from edge.evaluation.metrics import Search, fnir, fpir, summary, threshold_for_fpir
from edge.evaluation.setup import decision_params, load_models, make_analyser, quality_params

OPEN_GATE = QualityParams(min_face_px=0, min_sharpness=0.0, max_yaw=math.inf, max_roll_deg=180.0,
                          min_brightness=0.0, max_brightness=255.0)
MARGINS = (0.0, 0.02, 0.05, 0.08, 0.1)
# The proposal is rounded up to this grid: fine enough not to give away a whole point of FNIR
# (0.01 cost 1 of the 31 probes of ../shared/faces with the landmark refinement), coarse enough to be
# read and set by hand.
THRESHOLD_GRID = 0.005
FACE_PX = (0, 24, 32, 40, 48, 64)
SHARPNESS = (0.0, 5.0, 10.0, 20.0, 40.0)
MAX_YAW = (0.3, 0.45, 0.6, 1.0)


def passes(quality: dict[str, float] | None, params: QualityParams) -> bool:
    """Whether recorded quality figures pass ``params`` (the comparisons of quality.assess)."""
    if quality is None:
        return False
    return (quality["face_px"] >= params.min_face_px and quality["sharpness"] >= params.min_sharpness
            and quality["yaw"] <= params.max_yaw and abs(quality["roll_deg"]) <= params.max_roll_deg
            and params.min_brightness <= quality["brightness"] <= params.max_brightness)


@dataclass(frozen=True)
class Records:
    """Per folder: the genuine and impostor probe results recorded with the gate open."""

    folder: Path
    genuine: list[ProbeResult]
    impostors: list[ProbeResult]


def gated(results: list[ProbeResult], params: QualityParams) -> list[Search | None]:
    return [r.search if r.search is not None and passes(r.quality, params) else None for r in results]


def unmated(records: Records, params: QualityParams) -> list[Search | None]:
    gen = [s.unmated() if s is not None else None for s in gated(records.genuine, params)]
    return gated(records.impostors, params) + gen


def evaluate_setting(records: list[Records], params: QualityParams, margin: float, target: float
                     ) -> dict[str, Any]:
    gen = [s for r in records for s in gated(r.genuine, params)]
    un = [s for r in records for s in unmated(r, params)]
    t = threshold_for_fpir(un, target, margin)
    return {"min_face_px": params.min_face_px, "min_sharpness": params.min_sharpness,
            "max_yaw": params.max_yaw, "margin": margin,
            "threshold": t, "fnir": round(fnir(gen, t, margin), 4), "unmated_fpir": round(fpir(un, t, margin), 4),
            "genuine_rejected_by_gate": sum(1 for r in records for x in r.genuine
                                            if x.search is not None and not passes(x.quality, params))}


def propose(records: list[Records], target: float) -> dict[str, Any]:
    base = quality_params()
    sweep = []
    for px, sharp, yaw, margin in itertools.product(FACE_PX, SHARPNESS, MAX_YAW, MARGINS):
        params = replace(base, min_face_px=px, min_sharpness=sharp, max_yaw=yaw)
        sweep.append(evaluate_setting(records, params, margin, target))
    best = min(sweep, key=lambda s: (s["fnir"], -s["min_face_px"], -s["min_sharpness"], s["max_yaw"],
                                     -s["margin"]))
    threshold = round(math.ceil(best["threshold"] / THRESHOLD_GRID - 1e-9) * THRESHOLD_GRID, 4)
    quality = replace(base, min_face_px=best["min_face_px"], min_sharpness=best["min_sharpness"],
                      max_yaw=best["max_yaw"])
    per_folder = []
    for r in records:
        gen, imp = gated(r.genuine, quality), gated(r.impostors, quality)
        per_folder.append({"faces": str(r.folder), "fnir": round(fnir(gen, threshold, best["margin"]), 4),
                           "fpir": round(fpir(imp, threshold, best["margin"]), 4),
                           "unmated_fpir": round(fpir(unmated(r, quality), threshold, best["margin"]), 4)})
    return {"threshold": threshold, "margin": best["margin"], "min_face_px": best["min_face_px"],
            "min_sharpness": best["min_sharpness"], "max_yaw": best["max_yaw"], "exact_threshold": best["threshold"],
            "pooled_fnir": best["fnir"], "per_folder": per_folder,
            "sweep_best_per_margin": [min((s for s in sweep if s["margin"] == m), key=lambda s: s["fnir"])
                                      for m in MARGINS]}


def folder_summary(r: Records) -> dict[str, Any]:
    gen = [x.search for x in r.genuine]
    mated = [s.scores[s.mate.index(True)] for s in gen if s is not None and True in s.mate]
    un = [s.top()[0] for s in unmated(r, OPEN_GATE) if s is not None]
    return {"faces": str(r.folder), "genuine_probes": len(r.genuine), "impostor_probes": len(r.impostors),
            "unmated_searches": len(un), "no_face": sum(1 for x in r.genuine + r.impostors if x.search is None),
            "scores": {"mated": summary(mated), "nonmated_top": summary(un)},
            "rejected_by_default_quality": sum(1 for x in r.genuine + r.impostors
                                               if x.search is not None and not passes(x.quality, quality_params()))}


def calibrate(args: argparse.Namespace) -> dict[str, Any]:
    if not 0.0 <= args.target_fpir < 1.0:
        raise DatasetError(f"--target-fpir must be in [0, 1), got {args.target_fpir}")
    protocols = [build_protocol(f, args.gallery_size, args.impostors, args.probes_per_identity, args.seed)
                 for f in args.faces]
    models = load_models(args)
    analyser = make_analyser(models, OPEN_GATE, args)
    records = []
    for protocol in protocols:
        run = run_protocol(analyser, protocol, decision_params())
        records.append(Records(protocol.root, run.genuine, run.impostors))
    current = decision_params()
    return {
        "target_fpir": args.target_fpir,
        "seed": args.seed,
        "folders": [folder_summary(r) for r in records],
        "current": {"threshold": current.threshold, "margin": current.margin,
                    "min_face_px": quality_params().min_face_px, "min_sharpness": quality_params().min_sharpness,
                    "max_yaw": quality_params().max_yaw},
        "proposal": propose(records, args.target_fpir),
    }
