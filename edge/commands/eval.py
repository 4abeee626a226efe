"""`gate-edge eval`: 1:N accuracy of the gate protocol on a labelled faces folder."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edge.core.decide import DecisionParams
from edge.evaluation.data import DatasetError, build_protocol
from edge.evaluation.evaluate import TARGET_FPIR
from edge.evaluation.flights import combined_report, parse_seeds, run_flights, write_plot
from edge.evaluation.setup import add_model_arguments, decision_params, load_models, make_analyser
from edge.evaluation.walkup import walkup_main
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
        "95% intervals       " + "  ".join(f"{k} {v}" for k, v in rep["intervals"].items()
                                           if isinstance(v, list)),
        f"latency ms          p50 {lat['p50']}  p95 {lat['p95']}  max {lat['max']}",
    ]
    for kind in ("enrol", "acquire"):
        for f in rep["failures"][kind]:
            lines.append(f"  failed to {kind}: {f['file']} ({f['reason']})")
    if "warning" in rep["intervals"]:
        lines.append(f"warning: {rep['intervals']['warning']}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--faces", type=Path, required=True, help="labelled folder: one subfolder per identity")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--gallery-size", type=int, default=None, help="enrolled identities to draw")
    parser.add_argument("--impostors", type=int, default=None, help="single-photo identities to draw as impostors")
    parser.add_argument("--probes-per-identity", type=int, default=None, help="genuine probes per enrolled identity")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draws (default 0)")
    parser.add_argument("--seeds", type=str, default=None,
                        help="several flights, e.g. 1,2,3: per-seed reports and their mean (instead of --seed)")
    parser.add_argument("--det-plot", type=Path, default=None,
                        help="write the DET plot (PNG) with the operating point marked (needs the 'plot' extra)")
    parser.add_argument("--walkup", action="store_true",
                        help="walk-ups of several frames per traveller through the decision machine: per-transaction "
                             "FNIR, FPIR and time to decision, single frame against fused")
    parser.add_argument("--threshold", type=float, default=None, help="override the default decision threshold")
    parser.add_argument("--margin", type=float, default=None, help="override the default decision margin")
    add_model_arguments(parser)


def _progress(done: int, total: int) -> None:
    if total >= 500 and (done % 250 == 0 or done == total):
        print(f"eval: {done}/{total} probes", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    try:
        seeds = parse_seeds(args.seeds) if args.seeds is not None else [args.seed]
        build_protocol(args.faces, args.gallery_size, args.impostors, args.probes_per_identity, seeds[0])
        models = load_models(args)
    except (DatasetError, ModelError, ValueError) as exc:
        print(f"gate-edge eval: {exc}", file=sys.stderr)
        return 2
    params = decision_params()
    overrides = {k: v for k, v in (("threshold", args.threshold), ("margin", args.margin)) if v is not None}
    if overrides:
        params = DecisionParams(**{**params.__dict__, **overrides})
    if args.walkup:
        return walkup_main(make_analyser(models, args=args), args, seeds, params)
    runs = run_flights(make_analyser(models, args=args), args.faces, seeds, params,
                       (args.gallery_size, args.impostors, args.probes_per_identity), _progress)
    combined = combined_report(runs)
    if args.det_plot is not None:
        try:
            write_plot(args.det_plot, runs, combined["per_seed"])
        except ImportError as exc:
            print(f"gate-edge eval: the DET plot needs the 'plot' extra (matplotlib): {exc}", file=sys.stderr)
            return 2
    if args.seeds is None:
        rep = combined["per_seed"][0]
        print(json.dumps(rep) if args.json else format_report(rep))
    else:
        print(json.dumps(combined) if args.json else format_flights(combined))
    return 0


def format_flights(combined: dict[str, Any]) -> str:
    key = f"fnir_at_fpir_{TARGET_FPIR}"
    lines = []
    for rep in combined["per_seed"]:
        lines += [f"--- seed {rep['seed']}", format_report(rep)]
    lines.append(f"--- mean over seeds {combined['seeds']}")
    for k in ("fnir", "fpir", key, "rank1_identification_rate"):
        m = combined["mean"][k]
        lines.append(f"{k:<28} mean {m['mean']:.4f}  per seed {m['per_seed']}")
    lines += [f"warning: {w}" for w in combined["warnings"]]
    return "\n".join(lines)
