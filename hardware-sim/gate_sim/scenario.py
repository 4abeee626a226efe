"""A simulated flight laid out: who is on the manifest, who walks up when, and what should happen.

:func:`load_scenario` reads a scenario file (its format: :mod:`gate_sim.scenario_spec`), resolves the
faces folder and lays every walk-up out as frame segments. Each enrolled identity's gallery photo is
its first photo by sorted file name; when it walks up it shows a different photo. Enrolled identities
get an opaque gallery id (``P-`` + 12 hex digits of a hash of seed and identity): names never appear
in ids. :meth:`Scenario.gallery` and :meth:`Scenario.truth` feed the simulated gallery service and
the demo's scoring only.
"""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from edge.evaluation.data import FACES_ENV, default_faces
from gate_sim.scenario_spec import CameraSpec, Conditions, ScenarioSpec, WalkUpSpec

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".pgm", ".ppm", ".tif", ".tiff"})


class ScenarioError(ValueError):
    """A scenario file is missing, not YAML, or wrong; the message names the file and every problem."""


Expected = Literal["match", "no_match", "opt_out"]


@dataclass(frozen=True)
class Segment:
    """A stretch of frames: one walk-up (``walk_id`` set) or a gap (``walk_id`` None)."""

    walk_id: str | None
    frames: int
    conditions: Conditions
    identity: str | None = None
    photo: Path | None = None
    bystander_photo: Path | None = None
    opt_out: bool = False
    gallery_id: str | None = None  # set when the traveller is enrolled


@dataclass(frozen=True)
class WalkTruth:
    walk_id: str
    expected: Expected
    gallery_id: str | None  # the expected match for enrolled travellers (also set when opting out)
    photo: Path
    identity: str
    first_frame: int
    frames: int


def gallery_id_for(seed: int, identity: str) -> str:
    return "P-" + hashlib.sha256(f"{seed}:{identity}".encode()).hexdigest()[:12]


def index_faces(faces_dir: Path) -> dict[str, list[Path]]:
    """identity -> its photos sorted by file name (folders without photos are left out)."""
    out: dict[str, list[Path]] = {}
    for sub in sorted(p for p in faces_dir.iterdir() if p.is_dir()):
        photos = sorted(
            (p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
            key=lambda p: p.name,
        )
        if photos:
            out[sub.name] = photos
    return out


class Scenario:
    """A validated scenario with every path resolved and every walk-up laid out as frame segments."""

    def __init__(
        self, spec: ScenarioSpec, source: str, faces_dir: Path, segments: list[Segment], enrolled: dict[str, Path]
    ) -> None:
        self.spec = spec
        self.source = source
        self.faces_dir = faces_dir
        self.segments = segments
        self._enrolled = enrolled

    @property
    def seed(self) -> int:
        return self.spec.seed

    @property
    def camera(self) -> CameraSpec:
        return self.spec.camera

    @property
    def total_frames(self) -> int:
        return sum(s.frames for s in self.segments)

    def gallery(self) -> list[tuple[str, Path]]:
        """(opaque gallery id, gallery photo) for every identity on the manifest."""
        return [(gallery_id_for(self.seed, ident), photo) for ident, photo in self._enrolled.items()]

    def truth(self) -> list[WalkTruth]:
        out: list[WalkTruth] = []
        frame = 0
        for seg in self.segments:
            if seg.walk_id is not None:
                assert seg.photo is not None and seg.identity is not None
                expected: Expected = "opt_out" if seg.opt_out else "match" if seg.gallery_id is not None else "no_match"
                out.append(WalkTruth(seg.walk_id, expected, seg.gallery_id, seg.photo, seg.identity, frame, seg.frames))
            frame += seg.frames
        return out


# --------------------------------------------------------------------------- loading
def load_scenario(path: str | Path, faces_dir: str | Path | None = None, seed: int | None = None) -> Scenario:
    """Read and validate a scenario file. ``faces_dir``/``seed`` override the file (and the env var)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read scenario file: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except Exception as exc:  # YAMLError, but also ValueError from e.g. an impossible date, RecursionError
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from exc
    return parse_scenario(data, source=str(path), base_dir=path.parent, faces_dir=faces_dir, seed=seed)


def parse_scenario(
    data: Any,
    source: str = "<scenario>",
    base_dir: Path | None = None,
    faces_dir: str | Path | None = None,
    seed: int | None = None,
) -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario must be a mapping of keys, got {type(data).__name__}")
    try:
        spec = ScenarioSpec.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_format(source, [_describe(e) for e in exc.errors()])) from None
    if seed is not None:
        spec = spec.model_copy(update={"seed": seed})
    try:
        faces = _resolve_faces(spec.faces_dir, base_dir, faces_dir)
        faces_ok = faces.is_dir()
    except (OSError, ValueError) as exc:  # e.g. an embedded NUL byte, a symlink loop
        raise ScenarioError(_format(source, [f"faces_dir: unusable path: {exc}"])) from exc
    problems: list[str] = []
    if not faces_ok:
        raise ScenarioError(_format(source, [f"faces_dir: {faces} is not a folder (set {FACES_ENV}?)"]))
    try:
        index = index_faces(faces)
    except OSError as exc:
        raise ScenarioError(_format(source, [f"faces_dir: cannot list {faces}: {exc}"])) from exc
    segments, enrolled = _layout(spec, index, problems)
    if problems:
        raise ScenarioError(_format(source, problems))
    return Scenario(spec, source, faces, segments, enrolled)


def _resolve_faces(in_file: Path | None, base_dir: Path | None, override: str | Path | None) -> Path:
    """An explicit folder wins; then ``$GATE_EDGE_FACES`` (it overrides the file, so one variable points
    every scenario at a machine's photos); then the file's own ``faces_dir``; then the tools' default."""
    if override is not None:
        chosen = Path(override)
    elif os.environ.get(FACES_ENV) or in_file is None:
        chosen = default_faces()
    else:
        chosen = in_file if in_file.is_absolute() or base_dir is None else base_dir / in_file
    return chosen.expanduser().resolve()


def _describe(err: Any) -> str:
    loc = ".".join(str(p) for p in err.get("loc", ())) or "(top level)"
    msg = err.get("msg", "invalid")
    if err.get("type") == "extra_forbidden":
        return f"{loc}: unknown key"
    value = err.get("input")
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{loc}: {msg} (got {shown})"


def _format(source: str, problems: list[str]) -> str:
    head = f"{source}: {len(problems)} problem{'s' if len(problems) != 1 else ''} in scenario"
    return head + "".join(f"\n  - {p}" for p in problems)


def _layout(
    spec: ScenarioSpec, index: dict[str, list[Path]], problems: list[str]
) -> tuple[list[Segment], dict[str, Path]]:
    rng = random.Random(spec.seed)
    # -- the manifest
    if spec.manifest == "auto":
        manifest = [ident for ident, photos in index.items() if len(photos) >= 2]
        if not manifest:
            problems.append("manifest: auto found no identity with two or more photos in faces_dir")
    else:
        manifest = []
        for i, ident in enumerate(spec.manifest):
            if ident not in index:
                problems.append(
                    f"manifest.{i}: no folder {ident!r} with photos in faces_dir{_did_you_mean(ident, index)}"
                )
            elif len(index[ident]) < 2:
                problems.append(
                    f"manifest.{i}: {ident!r} has one photo; an enrolled traveller needs a second one to walk up with"
                )
            elif ident in manifest:
                problems.append(f"manifest.{i}: {ident!r} is listed twice")
            else:
                manifest.append(ident)
    enrolled = {ident: index[ident][0] for ident in manifest}

    # -- the walk-ups
    given = spec.walkups
    walkups = list(given) if given is not None else _generate(spec, manifest, index, rng, problems)
    fps = spec.camera.fps
    gap_frames = round(spec.gap_s * fps)
    segments: list[Segment] = []
    walk_no = 0
    for i, w in enumerate(walkups):
        if w.gap_s is not None:
            segments.append(Segment(None, max(1, round(w.gap_s * fps)), spec.conditions))
            continue
        assert w.identity is not None
        where = f"walkups.{i}"
        photos = index.get(w.identity)
        if photos is None:
            problems.append(
                f"{where}.identity: no folder {w.identity!r} with photos in faces_dir{_did_you_mean(w.identity, index)}"
            )
            continue
        gallery_photo = enrolled.get(w.identity)
        candidates = [p for p in photos if p != gallery_photo]
        if w.photo is not None:
            match = [p for p in photos if p.name == w.photo]
            if not match:
                problems.append(f"{where}.photo: {w.identity}/{w.photo} does not exist")
                continue
            if match[0] == gallery_photo:
                problems.append(
                    f"{where}.photo: {w.photo} is {w.identity}'s gallery photo; a walk-up must show a different one"
                )
                continue
            photo = match[0]
        elif not candidates:
            problems.append(f"{where}.identity: {w.identity!r} has no photo besides its gallery photo")
            continue
        else:
            photo = rng.choice(candidates)
        conditions = spec.conditions
        if w.conditions is not None:
            conditions = conditions.model_copy(
                update={k: getattr(w.conditions, k) for k in w.conditions.model_fields_set}
            )
        others = [ident for ident in index if ident != w.identity]
        bystander = rng.choice(index[rng.choice(others)]) if conditions.bystander and others else None
        frames = w.frames or max(1, round((w.duration_s or spec.walk_duration_s) * fps))
        if gap_frames and (not segments or segments[-1].walk_id is not None):
            segments.append(Segment(None, gap_frames, spec.conditions))
        walk_no += 1
        segments.append(
            Segment(
                walk_id=f"w{walk_no:03d}",
                frames=frames,
                conditions=conditions,
                identity=w.identity,
                photo=photo,
                bystander_photo=bystander,
                opt_out=w.opt_out,
                gallery_id=gallery_id_for(spec.seed, w.identity) if gallery_photo is not None else None,
            )
        )
    if gap_frames and segments and segments[-1].walk_id is not None:
        segments.append(Segment(None, gap_frames, spec.conditions))
    if not problems and walk_no == 0:
        problems.append("walkups: nobody walks up")
    return segments, enrolled


def _generate(
    spec: ScenarioSpec, manifest: list[str], index: dict[str, list[Path]], rng: random.Random, problems: list[str]
) -> list[WalkUpSpec]:
    gen = spec.generate
    assert gen is not None
    outsiders = [ident for ident in index if ident not in manifest]
    picks: dict[str, list[str]] = {}
    for key, pool in (("enrolled", manifest), ("impostors", outsiders)):
        want = getattr(gen, key)
        n = len(pool) if want == "all" else want
        if n > len(pool):
            problems.append(f"generate.{key}: {n} asked, faces_dir has only {len(pool)}")
            n = len(pool)
        picks[key] = rng.sample(pool, n)
    people = picks["enrolled"] + picks["impostors"]
    if gen.opt_outs > len(people):
        problems.append(f"generate.opt_outs: {gen.opt_outs} asked, only {len(people)} walk up")
    opting = set(people[: gen.opt_outs])  # enrolled travellers first: opting out matters most for them
    if gen.order == "shuffled":
        rng.shuffle(people)
    return [WalkUpSpec(identity=ident, opt_out=ident in opting) for ident in people]


def _did_you_mean(name: str, index: dict[str, list[Path]]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(index), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
