"""The DET plot of an evaluation (PNG): the only module that imports matplotlib (the ``plot`` extra).

FNIR against FPIR over all thresholds, FPIR on a log axis, with the decision threshold's operating
point and the target FPIR marked. Only rates and thresholds are drawn: nothing biometric.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on a gate or in CI; must precede pyplot

import matplotlib.pyplot as plt
import numpy as np


def write_det_plot(path: Path, curves: Sequence[tuple[str, np.ndarray, np.ndarray]],
                   operating_points: Sequence[tuple[str, float, float]], target_fpir: float) -> None:
    """Write a PNG: one (label, FPIR, FNIR) curve per flight, and (label, FPIR, FNIR) points marked."""
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=120)
    try:
        floor = 1e-4  # FPIR 0 cannot sit on a log axis: drawn at the axis' floor
        for label, fp, fn in curves:
            ax.step(np.maximum(fp, floor), fn, where="post", label=label, linewidth=1.2)
        for label, fp_pt, fn_pt in operating_points:
            ax.plot([max(fp_pt, floor)], [fn_pt], "o", markersize=6, label=label)
        ax.axvline(target_fpir, color="grey", linestyle="--", linewidth=0.8, label=f"FPIR {target_fpir}")
        ax.set_xscale("log")
        ax.set_xlim(floor, 1.0)
        # Room above the worst operating point; the curve's far end (FNIR 1 at the top threshold) is off-chart.
        ax.set_ylim(0.0, min(1.0, max([0.1] + [2 * fn_pt for _, _, fn_pt in operating_points])))
        ax.set_xlabel("FPIR (impostors matched to anyone)")
        ax.set_ylabel("FNIR (travellers not matched to themselves)")
        ax.set_title("DET")
        ax.grid(True, which="both", linewidth=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(str(path), format="png")
    finally:
        plt.close(fig)
