"""Several flights in one evaluation (``gate-edge eval --seeds 1,2,3``): per-seed reports and their mean.

Each seed draws its own flight from the same folder (who is enrolled, which probes, which
impostors); the models are loaded once. The mean of a rate over flights is what a gate would see on
average over many flights; the per-seed figures and intervals show how much one flight varies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from edge.core.analyse import FrameAnalyser
from edge.core.decide import DecisionParams
from edge.evaluation.data import build_protocol
from edge.evaluation.evaluate import TARGET_FPIR, EvalRun, report, run_protocol
from edge.evaluation.intervals import mean_and_spread
from edge.evaluation.statistics import det_curve

# The figures averaged over flights (each a rate of its own flight).
AVERAGED = ("fnir", "fpir", "rank1_identification_rate")


def parse_seeds(text: str) -> list[int]:
    """``"1,2,3"`` -> [1, 2, 3]; a clear ValueError for anything else."""
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--seeds takes comma-separated integers, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds needs one or more distinct integers, got {text!r}")
    return seeds


def run_flights(analyser: FrameAnalyser, faces: Path, seeds: Sequence[int], params: DecisionParams,
                draw: tuple[int | None, int | None, int | None],
                progress: Callable[[int, int], None] | None = None) -> list[tuple[int, EvalRun]]:
    gallery_size, impostors, probes_per_identity = draw
    return [(seed, run_protocol(analyser, build_protocol(faces, gallery_size, impostors, probes_per_identity, seed),
                                params, progress)) for seed in seeds]


def combined_report(runs: Sequence[tuple[int, EvalRun]], target: float = TARGET_FPIR) -> dict[str, Any]:
    """One report per seed, and mean / min / max over seeds of the headline rates."""
    per_seed = [{"seed": seed, **report(run, target)} for seed, run in runs]
    key = f"fnir_at_fpir_{target}"
    mean: dict[str, Any] = {k: mean_and_spread([r[k] for r in per_seed if r[k] is not None]) for k in AVERAGED}
    mean[key] = mean_and_spread([r[key]["fnir"] for r in per_seed])
    warnings = sorted({r["intervals"]["warning"] for r in per_seed if "warning" in r["intervals"]})
    return {"seeds": [s for s, _ in runs], "mean": mean, "warnings": warnings, "per_seed": per_seed}


def write_plot(path: Path, runs: Sequence[tuple[int, EvalRun]], reports: Sequence[dict[str, Any]],
               target: float = TARGET_FPIR) -> None:
    """The DET plot of every flight, each with its decision-threshold operating point marked."""
    from edge.evaluation.det_plot import write_det_plot  # matplotlib: the 'plot' extra, imported only here

    curves, points = [], []
    for (seed, run), rep in zip(runs, reports, strict=True):
        gen = [r.search for r in run.genuine]
        imp = [r.search for r in run.impostors]
        _, fp, fn = det_curve(gen, imp, run.params.margin)
        curves.append((f"seed {seed}", fp, fn))
        points.append((f"seed {seed} at threshold {run.params.threshold}", rep["fpir"], rep["fnir"]))
    write_det_plot(path, curves, points, target)
