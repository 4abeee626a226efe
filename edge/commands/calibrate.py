"""`gate-edge calibrate`: derive the decision threshold and quality gates from labelled faces."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edge.evaluation.calibrate import calibrate
from edge.evaluation.data import DatasetError
from edge.evaluation.evaluate import TARGET_FPIR
from edge.evaluation.setup import add_model_arguments
from edge.inference.manifest import ModelError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--faces", type=Path, action="append", required=True,
                        help="labelled folder (repeat to pool several)")
    parser.add_argument("--target-fpir", type=float, default=TARGET_FPIR, help="accepted impostor share")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--gallery-size", type=int, default=None, help="per folder: enrolled identities to draw")
    parser.add_argument("--impostors", type=int, default=None, help="per folder: impostor identities to draw")
    parser.add_argument("--probes-per-identity", type=int, default=None, help="per folder: genuine probes")
    parser.add_argument("--seed", type=int, default=0)
    add_model_arguments(parser)




def run(args: argparse.Namespace) -> int:
    try:
        rep = calibrate(args)
    except (DatasetError, ModelError) as exc:
        print(f"gate-edge calibrate: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rep))
        return 0
    p = rep["proposal"]
    for f in rep["folders"]:
        s = f["scores"]
        print(f"{f['faces']}: {f['genuine_probes']} genuine, {f['impostor_probes']} impostor probes; mated "
              f"min/p50 {s['mated']['min']}/{s['mated']['p50']}, non-mated p99/max "
              f"{s['nonmated_top']['p99']}/{s['nonmated_top']['max']}")
    print(f"proposal at FPIR <= {rep['target_fpir']}: threshold {p['threshold']} margin {p['margin']} "
          f"min_face_px {p['min_face_px']} min_sharpness {p['min_sharpness']} max_yaw {p['max_yaw']} "
          f"(pooled FNIR {p['pooled_fnir']})")
    for f in p["per_folder"]:
        print(f"  {f['faces']}: FNIR {f['fnir']} FPIR {f['fpir']}")
    return 0
