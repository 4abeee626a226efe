"""`gate-edge eval`: the gate protocol on a labelled faces folder, through the real pipeline.

Every photo is decoded into memory only and zeroed after use. Gallery photos are enrolled with
:meth:`FrameAnalyser.enrol`; each probe is one still frame through :meth:`FrameAnalyser.analyse`
(detect, select, align, quality gate, embed, search) and the default :class:`DecisionMachine`.
A probe without a usable face (unreadable, no face, failed quality gate) is a failure to acquire and
counts as a miss for genuine probes; a gallery photo without a face is a failure to enrol, and that
identity's probes then count as misses too (the traveller would go to an officer).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.config.schema import GalleryConfig
from edge.core.analyse import FrameAnalyser
from edge.core.decide import DecisionMachine, DecisionParams, Outcome
from edge.core.search import Candidate, GalleryIndex
from edge.core.wipe import wiped
from edge.evaluation.data import Probe, Protocol, read_image
from edge.evaluation.metrics import Search, fnir, fpir, latency_summary, summary, threshold_for_fpir
from edge.evaluation.statistics import intervals
from edge.index import build_index

TARGET_FPIR = 0.003  # NIST FRTE 1:N "travel" operating point: 0.3% of non-travellers falsely accepted
SEARCH_DEPTH = 3  # candidates kept per probe: enough for the margin and for mate-removed searches


class _DeeperIndex:
    """Passes every search through with at least ``depth`` candidates (the decision reads the first
    two, the statistics read one more to score the search as if the mate were absent)."""

    def __init__(self, index: GalleryIndex, depth: int) -> None:
        self._index, self._depth = index, depth

    @property
    def size(self) -> int:
        return self._index.size

    def search(self, query: np.ndarray, k: int = 2) -> list[Candidate]:
        return self._index.search(query, max(k, self._depth))

    def wipe(self) -> None:
        self._index.wipe()


@dataclass(frozen=True)
class ProbeResult:
    probe: Probe
    search: Search | None  # None: failure to acquire
    fta_reason: str | None
    faces: int
    outcome: Outcome
    matched_mate: bool  # the decision matched the probe's own identity
    latency_ms: float  # analyse + decide, decoding excluded
    timings_ms: dict[str, float]
    quality: dict[str, float] | None  # the quality figures of the traveller's face, when measured


@dataclass
class EvalRun:
    protocol: Protocol
    params: DecisionParams
    enrolled: list[str] = field(default_factory=list)
    enrol_failures: list[tuple[Path, str]] = field(default_factory=list)
    results: list[ProbeResult] = field(default_factory=list)

    @property
    def genuine(self) -> list[ProbeResult]:
        return [r for r in self.results if r.probe.genuine]

    @property
    def impostors(self) -> list[ProbeResult]:
        return [r for r in self.results if not r.probe.genuine]


def enrol_gallery(analyser: FrameAnalyser, protocol: Protocol, exact_max_entries: int
                  ) -> tuple[GalleryIndex | None, list[str], list[tuple[Path, str]]]:
    """Enrol the protocol's gallery photos; returns the index, enrolled ids and failures."""
    ids: list[str] = []
    failures: list[tuple[Path, str]] = []
    templates: list[np.ndarray] = []
    try:
        for ident, path in protocol.enrol:
            with wiped() as scratch:
                image = read_image(path, scratch)
                if image is None:
                    failures.append((path, "unreadable"))
                    continue
                got = analyser.enrol(image, scratch)
                if got.template is None:
                    failures.append((path, got.verdict.value))
                    continue
                templates.append(got.template.copy())  # the scratch zeroes the original
                ids.append(ident)
        if not ids:
            return None, ids, failures
        matrix = np.stack(templates)
        index = build_index(ids, matrix, exact_max_entries)
        matrix.fill(0)
        return index, ids, failures
    finally:
        for t in templates:
            t.fill(0)


def probe_once(analyser: FrameAnalyser, index: GalleryIndex | None, probe: Probe,
               params: DecisionParams) -> ProbeResult:
    """One probe photo as one still frame: analyse, then decide with a fresh decision machine."""
    with wiped() as scratch:
        image = read_image(probe.path, scratch)
        if image is None:
            return ProbeResult(probe, None, "unreadable", 0, Outcome.FAILURE_TO_ACQUIRE, False, 0.0, {}, None)
        t0 = time.perf_counter()
        analysis = analyser.analyse(image, index, scratch, photo=True)
        quality = None
        if analysis.quality is not None:
            q = analysis.quality
            quality = {"face_px": q.face_px, "sharpness": q.sharpness, "yaw": q.yaw, "roll_deg": q.roll_deg,
                       "brightness": q.brightness}
        if not analysis.usable:
            latency = (time.perf_counter() - t0) * 1e3
            if analysis.traveller is None:
                reason = "no_face"
            elif analysis.quality is not None and analysis.quality.issues:
                reason = "+".join(i.value for i in analysis.quality.issues)
            else:
                reason = "empty_gallery"
            return ProbeResult(probe, None, reason, analysis.faces, Outcome.FAILURE_TO_ACQUIRE, False, latency,
                               analysis.timings_ms, quality)
        machine = DecisionMachine(params)
        decision = None
        # A still photo held in front of the camera: the same usable frame until the machine decides.
        for n in range(params.max_frames + params.votes_required):
            decision = machine.observe(analysis.observation(t=n / 30.0))
            if decision is not None:
                break
        latency = (time.perf_counter() - t0) * 1e3
        outcome = decision.outcome if decision else Outcome.TIMEOUT
        entry = decision.entry_id if decision else None
        cands = analysis.candidates
        search = Search(tuple(c.score for c in cands), tuple(c.entry_id == probe.identity for c in cands)
                        if probe.genuine else tuple(False for _ in cands))
        return ProbeResult(probe, search, None, analysis.faces, outcome,
                           outcome is Outcome.MATCH and entry == probe.identity, latency, analysis.timings_ms,
                           quality)


def run_protocol(analyser: FrameAnalyser, protocol: Protocol, params: DecisionParams,
                 progress: Callable[[int, int], None] | None = None) -> EvalRun:
    run = EvalRun(protocol, params)
    index, run.enrolled, run.enrol_failures = enrol_gallery(analyser, protocol, GalleryConfig().exact_max_entries)
    try:
        deep = _DeeperIndex(index, SEARCH_DEPTH) if index is not None else None
        total = len(protocol.probes)
        for i, probe in enumerate(protocol.probes):
            run.results.append(probe_once(analyser, deep, probe, params))
            if progress:
                progress(i + 1, total)
    finally:
        if index is not None:
            index.wipe()
    return run


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def report(run: EvalRun, target_fpir: float = TARGET_FPIR) -> dict[str, Any]:
    """The JSON report (no images, no templates; file names only for failures)."""
    p = run.params
    gen, imp = run.genuine, run.impostors
    gen_s: Sequence[Search | None] = [r.search for r in gen]
    imp_s: Sequence[Search | None] = [r.search for r in imp]
    fta = [r for r in run.results if r.search is None]
    t_at = threshold_for_fpir(imp_s, target_fpir, p.margin)
    acquired_gen = [r.search for r in gen if r.search is not None]
    mated = [s.scores[s.mate.index(True)] for s in acquired_gen if True in s.mate]
    nonmated = [s.unmated().top()[0] for s in acquired_gen] + [s.top()[0] for s in imp_s if s is not None]
    stages: dict[str, list[float]] = {}
    for r in run.results:
        for k, v in r.timings_ms.items():
            stages.setdefault(k, []).append(v)
    return {
        "faces": str(run.protocol.root),
        "identities_enrolled": len(run.enrolled),
        "genuine_probes": len(gen),
        "impostor_probes": len(imp),
        # Matched the decision's way (threshold, margin, votes): the decision machine's outcome.
        "fnir": round(1.0 - sum(r.matched_mate for r in gen) / len(gen), 4) if gen else 0.0,
        "fpir": round(sum(r.outcome is Outcome.MATCH for r in imp) / len(imp), 4) if imp else 0.0,
        "failures_to_acquire": len(fta),
        "failures_to_enrol": len(run.enrol_failures),
        "threshold": p.threshold,
        "margin": p.margin,
        "latency_ms": latency_summary([r.latency_ms for r in run.results if r.latency_ms > 0]),
        f"fnir_at_fpir_{target_fpir}": {
            "fnir": round(fnir(gen_s, t_at, p.margin), 4),
            "threshold": t_at,
            "fpir": round(fpir(imp_s, t_at, p.margin), 4),
        },
        # 95% intervals: bootstrap for FNIR, Clopper-Pearson for FPIR (edge.evaluation.statistics).
        "intervals": intervals(gen_s, imp_s, p.threshold, p.margin, target_fpir),
        "rank1_identification_rate": round(sum(1 for s in gen_s if s is not None and s.rank1_is_mate) / len(gen), 4)
        if gen else None,
        "genuine_misidentified": sum(
            1 for r in gen if r.outcome is Outcome.MATCH and not r.matched_mate),
        "outcomes": {
            "genuine": dict(Counter(r.outcome.value for r in gen)),
            "impostor": dict(Counter(r.outcome.value for r in imp)),
        },
        "scores": {"mated": summary(mated), "nonmated_top": summary(nonmated)},
        "probes_with_several_faces": sum(1 for r in run.results if r.faces > 1),
        "failure_to_acquire_reasons": dict(Counter(r.fta_reason for r in fta if r.fta_reason)),
        "stage_ms_p50": {k: round(float(np.median(v)), 2) for k, v in stages.items()},
        "failures": {
            "enrol": [{"file": _rel(f, run.protocol.root), "reason": why} for f, why in run.enrol_failures],
            "acquire": [{"file": _rel(r.probe.path, run.protocol.root), "reason": r.fta_reason} for r in fta],
        },
    }
