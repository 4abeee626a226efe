"""`gate-edge eval --walkup`: whole walk-ups through the real pipeline and the real decision machine.

A still photo is one look at a traveller; at the gate a traveller gives a frame every 100 ms for
two seconds. A walk-up here is that stream, built from a labelled folder (the gate protocol of
edge/evaluation/data.py: an identity's first photo is enrolled; a genuine walk-up is made of its
other photos, up to ``probes_per_identity`` of them; an impostor walk-up of the one photo of a
traveller who is not on the flight). Each frame is one of the walker's photos, picked at random,
with a realistic variation (cv2): the face grows as the traveller approaches, turns and tilts a
little, is blurred by focus or motion, lit brighter or darker, with sensor noise.

Frames go through :meth:`FrameAnalyser.analyse` (detect, select, align, quality gate, embed,
search) on a simulated clock (``fps``) and into a :class:`DecisionMachine`, one per walk-up. Every
frame is analysed once and replayed for each policy and threshold, so all policies see the same
frames: a single frame (the first usable frame decides), template fusion and score-max fusion.

The per-transaction threshold for FPIR <= 0.003 comes from the impostor walk-ups themselves (see
edge/evaluation/walkup_metrics.py): each policy is first replayed with an unreachable threshold to
read the evidence after every frame, then replayed at the calibrated and at the default threshold.
The genuine walk-ups' evidence, read the same way, gives their outcome at any threshold: the 95%
intervals (edge/evaluation/walkup_intervals.py) redraw walk-ups without replaying the machine.
Photos and frames live in memory only and are zeroed after use; the frames' templates kept for
the replays are zeroed when the evaluation ends.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.config.schema import GalleryConfig
from edge.core.analyse import FrameAnalyser
from edge.core.decide import Decision, DecisionMachine, DecisionParams, Observation, Outcome
from edge.core.fusion import Fusion
from edge.core.search import Candidate, GalleryIndex
from edge.core.wipe import Scratch, wiped
from edge.evaluation.data import Protocol, build_protocol, read_image
from edge.evaluation.evaluate import TARGET_FPIR, enrol_gallery
from edge.evaluation.walkup_intervals import walkup_intervals
from edge.evaluation.walkup_metrics import (
    Step,
    percentiles,
    threshold_for_transaction_fpir,
    transaction_fpir,
    transaction_score,
)

FPS = 10.0  # frames a second reaching the decision on a CPU gate (detect + embed ~ 60-90 ms)
NEVER = math.inf  # a threshold no evidence reaches: the machine runs until max_frames or the budget


@dataclass(frozen=True)
class Walkup:
    identity: str
    photos: tuple[Path, ...]
    genuine: bool


def build_walkups(root: Path, gallery_size: int | None, impostors: int | None, photos_per_walkup: int | None,
                  seed: int) -> tuple[Protocol, list[Walkup]]:
    """The protocol (who is enrolled) and its walk-ups: genuine ones first, then impostors."""
    protocol = build_protocol(root, gallery_size, impostors, photos_per_walkup, seed)
    photos: dict[str, list[Path]] = {}
    for p in protocol.genuine:
        photos.setdefault(p.identity, []).append(p.path)
    walkups = [Walkup(i, tuple(ps), True) for i, ps in sorted(photos.items())]
    walkups += [Walkup(p.identity, (p.path,), False) for p in protocol.impostors]
    return protocol, walkups


def vary(image: np.ndarray, rng: np.random.Generator, progress: float, scratch: Scratch) -> np.ndarray:
    """One frame of a walk-up from a photo: ``progress`` 0 at the far end, 1 at the camera.

    The face grows from 75% to 100% of its photo size, rolls up to 8 degrees, turns a little (a
    horizontal squeeze of up to 10%), shifts by up to 4%, is blurred (focus or motion), lit 30%
    brighter or darker and gets sensor noise. Every buffer is tracked by ``scratch``.
    """
    h, w = image.shape[:2]
    scale = (0.75 + 0.25 * progress) * rng.uniform(0.95, 1.05)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-8, 8), scale)
    squeeze = rng.uniform(0.9, 1.0)
    m[0] *= squeeze
    m[0, 2] += (1 - squeeze) * w / 2 + rng.uniform(-0.04, 0.04) * w
    m[1, 2] += rng.uniform(-0.04, 0.04) * h
    out = scratch.track(cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
    if rng.random() < 0.3:  # motion: a short line kernel along the direction of travel
        length = int(rng.integers(3, 8))
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1.0 / length
        if rng.random() < 0.5:
            kernel = kernel.T.copy()
        out = scratch.track(cv2.filter2D(out, -1, kernel))
    else:  # focus
        sigma = rng.uniform(0.0, 1.5)
        if sigma > 0.3:
            out = scratch.track(cv2.GaussianBlur(out, (0, 0), sigma))
    lit = scratch.track(out.astype(np.float32))
    lit *= rng.uniform(0.7, 1.3)
    lit += rng.uniform(-20, 20)
    noise = scratch.track(rng.normal(0.0, rng.uniform(0.0, 4.0), lit.shape).astype(np.float32))
    lit += noise
    np.clip(lit, 0, 255, out=lit)
    return scratch.track(lit.astype(np.uint8))


@dataclass
class _Frame:
    present: bool
    usable: bool = False
    candidates: tuple[Candidate, ...] = ()
    box: tuple[float, float, float, float] | None = None
    template: np.ndarray | None = field(default=None, repr=False)  # own copy, zeroed by wipe()


class WalkupFrames:
    """The frames of one walk-up, analysed on first use and kept (non-image results only)."""

    def __init__(self, walkup: Walkup, analyser: FrameAnalyser, index: GalleryIndex, seed: int, length: int):
        self.walkup, self._analyser, self._index, self._seed, self.length = walkup, analyser, index, seed, length
        self.frames: list[_Frame] = []

    def get(self, i: int) -> _Frame:
        while len(self.frames) <= i:
            self.frames.append(self._analyse(len(self.frames)))
        return self.frames[i]

    def _analyse(self, i: int) -> _Frame:
        # One generator per frame: frame i is the same whichever policy asks for it first.
        rng = np.random.default_rng([self._seed, zlib.crc32(self.walkup.identity.encode()), i])
        photo = self.walkup.photos[int(rng.integers(len(self.walkup.photos)))]
        with wiped() as scratch:
            image = read_image(photo, scratch)
            if image is None:
                return _Frame(False)
            frame = vary(image, rng, min(1.0, i / max(1, self.length // 2)), scratch)
            a = self._analyser.analyse(frame, self._index, scratch, photo=True)
            box = a.traveller.box if a.traveller is not None else None
            template = a.template.copy() if a.usable and a.template is not None else None
            return _Frame(a.traveller is not None, a.usable, a.candidates if a.usable else (), box, template)

    def wipe(self) -> None:
        for f in self.frames:
            if f.template is not None:
                f.template.fill(0)


def replay(frames: WalkupFrames, params: DecisionParams, index: GalleryIndex, fps: float = FPS
           ) -> tuple[Decision, list[tuple[float, float, str | None]]]:
    """One walk-up through a fresh machine: its decision and the evidence after each usable frame
    (best score, runner-up, best entry; a usable frame the machine did not follow repeats the evidence
    it holds, which can never be a first crossing). A traveller still undecided after ``frames.length``
    frames walks away (absent frames follow)."""
    machine = DecisionMachine(params)
    steps: list[tuple[float, float, str | None]] = []
    i = 0
    while True:
        if i < frames.length:
            f = frames.get(i)
            obs = Observation(t=i / fps, present=f.present, usable=f.usable, candidates=f.candidates, box=f.box,
                              template=f.template, search=index.search if f.usable else None)
        else:
            f, obs = _Frame(False), Observation(t=i / fps, present=False)
        decision = machine.observe(obs)
        if f.usable:
            ev = machine.evidence
            steps.append((ev[0].score if ev else -1.0, ev[1].score if len(ev) > 1 else -1.0,
                          ev[0].entry_id if ev else None))
        if decision is not None:
            return decision, steps
        i += 1


def policies(base: DecisionParams) -> dict[str, DecisionParams]:
    """Today's single-frame decision and the two fusions, otherwise with ``base``'s parameters."""
    return {
        "single": dataclasses.replace(base, fusion=Fusion.NONE, votes_required=1),
        "template": dataclasses.replace(base, fusion=Fusion.TEMPLATE),
        "score_max": dataclasses.replace(base, fusion=Fusion.SCORE_MAX),
    }


def _outcomes(results: Sequence[tuple[Walkup, Decision]], threshold: float) -> dict[str, Any]:
    gen = [(w, d) for w, d in results if w.genuine]
    imp = [d for w, d in results if not w.genuine]
    hits = sum(1 for w, d in gen if d.outcome is Outcome.MATCH and d.entry_id == w.identity)
    return {
        "threshold": threshold,
        "fnir": round(1 - hits / len(gen), 4) if gen else None,
        "fpir": round(sum(d.outcome is Outcome.MATCH for d in imp) / len(imp), 4) if imp else None,
        "genuine_misidentified": sum(1 for w, d in gen if d.outcome is Outcome.MATCH and d.entry_id != w.identity),
        "time_to_decision_s": {
            "genuine": percentiles([d.decided_at - d.started_at for _, d in gen]),
            "impostor": percentiles([d.decided_at - d.started_at for d in imp]),
        },
        "frames_used_mean": round(float(np.mean([d.frames_used for _, d in results])), 2) if results else None,
        "outcomes": {
            "genuine": dict(Counter(d.outcome.value for _, d in gen)),
            "impostor": dict(Counter(d.outcome.value for d in imp)),
        },
    }


def evaluate_walkups(analyser: FrameAnalyser, root: Path, params: DecisionParams, *, seed: int,
                     gallery_size: int | None = None, impostors: int | None = None,
                     photos_per_walkup: int | None = 3, fps: float = FPS, target_fpir: float = TARGET_FPIR,
                     progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """One flight's walk-ups under every policy (see the module doc); a JSON-ready report."""
    protocol, walkups = build_walkups(root, gallery_size, impostors, photos_per_walkup, seed)
    index, enrolled, failures = enrol_gallery(analyser, protocol, GalleryConfig().exact_max_entries)
    if index is None:
        raise ValueError(f"{root}: no gallery photo could be enrolled")
    length = math.ceil((params.acquire_timeout_s + params.budget_s) * fps) + 1
    sources = [WalkupFrames(w, analyser, index, seed, length) for w in walkups]
    report: dict[str, Any] = {
        "seed": seed, "identities_enrolled": len(enrolled), "failures_to_enrol": len(failures),
        "walkups": {"genuine": sum(w.genuine for w in walkups), "impostor": sum(not w.genuine for w in walkups)},
        "policies": {},
    }
    try:
        for name, p in policies(params).items():
            scores: list[float] = []  # per impostor walk-up
            genuine_steps: list[list[Step]] = []  # per genuine walk-up: its outcome at any threshold
            for n, src in enumerate(sources):
                _, read = replay(src, dataclasses.replace(p, threshold=NEVER), index, fps)
                steps = [s for s in read if s[2] is not None]  # no evidence: no threshold matches there
                if src.walkup.genuine:
                    genuine_steps.append([(s1, s2, top == src.walkup.identity) for s1, s2, top in steps])
                else:
                    scores.append(transaction_score([(s1, s2) for s1, s2, _ in steps], p.margin))
                if progress:
                    progress(n + 1, len(sources))
            t_at = threshold_for_transaction_fpir(scores, target_fpir)
            at = [(s.walkup, replay(s, dataclasses.replace(p, threshold=t_at), index, fps)[0]) for s in sources]
            default = [(s.walkup, replay(s, p, index, fps)[0]) for s in sources]
            report["policies"][name] = {
                "fusion": Fusion(p.fusion).value, "max_frames": p.max_frames, "margin": p.margin,
                f"at_fpir_{target_fpir}": {**_outcomes(at, t_at), "transaction_fpir": transaction_fpir(scores, t_at)},
                # The highest impostor transaction scores: thresholds for pooled flights can be read off.
                "impostor_transaction_scores_top": [round(x, 4) for x in sorted(scores, reverse=True)[:8]],
                "at_default_threshold": _outcomes(default, p.threshold),
                "intervals": walkup_intervals(genuine_steps, scores, p.threshold, p.margin, target_fpir),
            }
        report["frames_analysed"] = sum(len(s.frames) for s in sources)
        report["frames_usable"] = sum(f.usable for s in sources for f in s.frames)
    finally:
        for s in sources:
            s.wipe()
        index.wipe()
    return report


def mean_over_seeds(reports: Sequence[dict[str, Any]], target_fpir: float = TARGET_FPIR) -> dict[str, Any]:
    """Per policy, the mean over seeds of FNIR and FPIR at the calibrated and default thresholds, and
    each seed's 95% intervals side by side (flights drawn from one folder share travellers: their
    intervals are not pooled)."""
    key = f"at_fpir_{target_fpir}"
    out: dict[str, Any] = {}
    for name in reports[0]["policies"]:
        rows = [r["policies"][name] for r in reports]
        out[name] = {
            f"fnir_{key}": round(float(np.mean([r[key]["fnir"] for r in rows])), 4),
            f"fpir_{key}": round(float(np.mean([r[key]["fpir"] for r in rows])), 4),
            f"threshold_{key}": round(float(np.mean([r[key]["threshold"] for r in rows])), 4),
            "fnir_at_default_threshold": round(float(np.mean([r["at_default_threshold"]["fnir"] for r in rows])), 4),
            "fpir_at_default_threshold": round(float(np.mean([r["at_default_threshold"]["fpir"] for r in rows])), 4),
            "intervals_per_seed": {k: [r["intervals"].get(k) for r in rows]
                                   for k in ("fnir", "fpir", f"fnir_{key}") if "intervals" in rows[0]},
        }
    return out


def stderr_progress(seed: int) -> Callable[[int, int], None]:
    def show(done: int, total: int) -> None:
        if done == total or done % 100 == 0:
            print(f"eval --walkup seed {seed}: {done}/{total} walk-ups", file=sys.stderr, flush=True)
    return show


def run_walkups(analyser: FrameAnalyser, faces: Path, seeds: Sequence[int], params: DecisionParams,
                draw: tuple[int | None, int | None, int | None], fps: float = FPS) -> dict[str, Any]:
    """Every seed's flight of walk-ups and the mean over seeds (the JSON of ``eval --walkup``)."""
    gallery_size, impostors, photos = draw
    per_seed = [evaluate_walkups(analyser, faces, params, seed=s, gallery_size=gallery_size, impostors=impostors,
                                 photos_per_walkup=3 if photos is None else photos, fps=fps,
                                 progress=stderr_progress(s)) for s in seeds]
    return {"mode": "walkup", "faces": str(faces), "fps": fps, "target_fpir": TARGET_FPIR, "seeds": list(seeds),
            "per_seed": per_seed, "mean": mean_over_seeds(per_seed)}


def format_walkups(rep: dict[str, Any]) -> str:
    key = f"at_fpir_{rep['target_fpir']}"
    lines = [f"walk-ups on {rep['faces']} at {rep['fps']:g} fps; per transaction, threshold calibrated for "
             f"FPIR <= {rep['target_fpir']} on the flight's impostor walk-ups"]
    head = (f"{'seed':>5} {'policy':<10} {'threshold':>9} {'FNIR':>7} {'[95%]':<16} {'FPIR':>7}"
            "   time to decision s (p50/p95)")
    lines.append(head)
    warnings: list[str] = []
    for r in rep["per_seed"]:
        for name, pol in r["policies"].items():
            at, ci = pol[key], pol.get("intervals", {})
            ttd = at["time_to_decision_s"]
            lines.append(f"{r['seed']:>5} {name:<10} {at['threshold']:>9.4f} {at['fnir']:>7.4f} "
                         f"{_interval(ci.get(f'fnir_{key}')):<16} {at['fpir']:>7.4f}"
                         f"   genuine {ttd['genuine']['p50']}/{ttd['genuine']['p95']}"
                         f"  impostor {ttd['impostor']['p50']}/{ttd['impostor']['p95']}")
            d = pol["at_default_threshold"]
            lines.append(f"{'':>5} {'':<10} at the default threshold {d['threshold']:.4f}: FNIR {d['fnir']:.4f} "
                         f"{_interval(ci.get('fnir'))}  FPIR {d['fpir']:.4f} {_interval(ci.get('fpir'))}")
            if "warning" in ci and ci["warning"] not in warnings:
                warnings.append(ci["warning"])
    for name, m in rep["mean"].items():
        lines.append(f"{'mean':>5} {name:<10} {m[f'threshold_{key}']:>9.4f} {m[f'fnir_{key}']:>7.4f} {'':<16} "
                     f"{m[f'fpir_{key}']:>7.4f}   at the default threshold: FNIR {m['fnir_at_default_threshold']:.4f}"
                     f" FPIR {m['fpir_at_default_threshold']:.4f}")
    lines += [f"warning: {w}" for w in warnings]
    return "\n".join(lines)


def _interval(pair: Sequence[float] | None) -> str:
    return "" if pair is None else f"[{pair[0]:.4f}, {pair[1]:.4f}]"


def walkup_main(analyser: FrameAnalyser, args: Any, seeds: Sequence[int], params: DecisionParams) -> int:
    """``gate-edge eval --walkup``: run, then print the report (JSON with ``--json``)."""
    import json

    try:
        rep = run_walkups(analyser, args.faces, seeds, params,
                          (args.gallery_size, args.impostors, args.probes_per_identity))
    except ValueError as exc:
        print(f"gate-edge eval --walkup: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(rep) if args.json else format_walkups(rep))
    return 0
