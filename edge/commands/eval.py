"""`gate-edge eval`: 1:N accuracy of the gate protocol on a labelled faces folder."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edge.core.decide import DecisionParams
from edge.evaluation.data import DatasetError, build_protocol
from edge.evaluation.evaluate import TARGET_FPIR, report, run_protocol
from edge.evaluation.setup import add_model_arguments, decision_params, load_models, make_analyser
from edge.inference.manifest import ModelError


def format_report(rep: dict[str, Any]) -> str:
    lat = rep["latency_ms"]
    at = rep[f"fnir_at_fpir_{TARGET_FPIR}"]
    lines = [
        f"faces folder        {rep['faces']}",
        f"enrolled            {rep['identities_enrolled']} identities ({rep['failures_to_enrol']} failed to enrol)",
        f"probes              {rep['genuine_probes']} genuine, {rep['impostor_probes']} impostor "
        f"({rep['failures_to_acquire']} failed to acquire)",
        f"threshold / margin  {rep['threshold']} / {rep['margin']}",
        f"FNIR                {rep['fnir']:.4f}   (genuine not matched to themselves, FTA included)",
        f"FPIR                {rep['fpir']:.4f}   (impostors matched to anyone)",
        f"FNIR @ FPIR<={TARGET_FPIR}  {at['fnir']:.4f} at threshold {at['threshold']}",
        f"rank-1 rate         {rep['rank1_identification_rate']}",
        f"latency ms          p50 {lat['p50']}  p95 {lat['p95']}  max {lat['max']}",
    ]
    for kind in ("enrol", "acquire"):
        for f in rep["failures"][kind]:
            lines.append(f"  failed to {kind}: {f['file']} ({f['reason']})")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--faces", type=Path, required=True, help="labelled folder: one subfolder per identity")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--gallery-size", type=int, default=None, help="enrolled identities to draw")
    parser.add_argument("--impostors", type=int, default=None, help="single-photo identities to draw as impostors")
    parser.add_argument("--probes-per-identity", type=int, default=None, help="genuine probes per enrolled identity")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draws (default 0)")
    parser.add_argument("--threshold", type=float, default=None, help="override the default decision threshold")
    parser.add_argument("--margin", type=float, default=None, help="override the default decision margin")
    add_model_arguments(parser)


def _progress(done: int, total: int) -> None:
    if total >= 500 and (done % 250 == 0 or done == total):
        print(f"eval: {done}/{total} probes", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    try:
        protocol = build_protocol(args.faces, args.gallery_size, args.impostors, args.probes_per_identity, args.seed)
        models = load_models(args)
    except (DatasetError, ModelError) as exc:
        print(f"gate-edge eval: {exc}", file=sys.stderr)
        return 2
    params = decision_params()
    overrides = {k: v for k, v in (("threshold", args.threshold), ("margin", args.margin)) if v is not None}
    if overrides:
        params = DecisionParams(**{**params.__dict__, **overrides})
    result = run_protocol(make_analyser(models), protocol, params, _progress)
    rep = report(result)
    print(json.dumps(rep) if args.json else format_report(rep))
    return 0
