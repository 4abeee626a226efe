"""The scenario file format: what a simulated flight says, validated (no paths resolved, no photos read).

A scenario file names a faces folder (one subfolder per identity, photos inside; relative paths
resolve against the scenario file's folder, ``$GATE_EDGE_FACES`` overrides it, and without either
the faces default of every tool applies), the camera, the capture conditions, the manifest, and the
walk-ups, either listed or generated::

    name: demo-flight
    seed: 7
    faces_dir: ../../../shared/faces
    camera: {width: 1280, height: 720, fps: 15}
    conditions: {start_size: 0.35, end_size: 0.8, blur: 0.6, noise: 3, bystander: true}
    walk_duration_s: 1.6          # per walk-up unless the walk-up says otherwise
    gap_s: 0.6                    # empty frames before each walk-up and after the last one
    manifest: auto                # every identity with two or more photos; or a list of folder names
    walkups:                      # either this list ...
      - {identity: deepface_id00}
      - {identity: solvay_03}               # not on the manifest: an impostor
      - {gap_s: 2.0}                        # nobody at the gate
      - {identity: deepface_id01, opt_out: true, conditions: {blur: 2.0}}
    generate: {enrolled: all, impostors: 5, opt_outs: 1, order: shuffled}   # ... or this

:mod:`gate_sim.scenario` turns a validated spec into frame segments, the gallery and the truth.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CameraSpec(_Model):
    width: int = Field(1280, ge=64, le=4096)
    height: int = Field(720, ge=48, le=4096)
    fps: float = Field(15.0, gt=0, le=120)
    # The simulated camera "unplugs" after this many seconds connected, for disconnect_for_s.
    disconnect_every_s: float | None = Field(None, gt=0)
    disconnect_for_s: float = Field(2.0, gt=0, le=3600)


class Conditions(_Model):
    """Capture conditions. Sizes are the traveller's photo height as a fraction of the frame height."""

    start_size: float = Field(0.35, gt=0, le=2, description="at the first frame of a walk-up")
    end_size: float = Field(0.8, gt=0, le=2, description="at the last frame (closest to the camera)")
    blur: float = Field(0.0, ge=0, le=20, description="Gaussian blur sigma in pixels")
    noise: float = Field(2.0, ge=0, le=64, description="sensor noise, standard deviation in grey levels")
    gain: float = Field(1.0, gt=0, le=4, description="lighting: pixel values are multiplied by this")
    brightness: float = Field(0.0, ge=-128, le=128, description="lighting: added after the gain")
    sway: float = Field(0.03, ge=0, le=0.5, description="side-to-side movement, fraction of frame width")
    bystander: bool = Field(False, description="a small face of someone else in the background")
    bystander_size: float = Field(0.14, gt=0, le=1)


class WalkUpSpec(_Model):
    """One walk-up (``identity``) or an empty stretch (``gap_s``)."""

    identity: str | None = Field(None, min_length=1)
    photo: str | None = Field(None, min_length=1, description="file name inside the identity's folder")
    opt_out: bool = False
    duration_s: float | None = Field(None, gt=0, le=600)
    frames: int | None = Field(None, ge=1, le=100_000)
    conditions: Conditions | None = None
    gap_s: float | None = Field(None, gt=0, le=3600)

    @model_validator(mode="after")
    def _one_kind(self) -> WalkUpSpec:
        if (self.identity is None) == (self.gap_s is None):
            raise ValueError("a walk-up needs exactly one of `identity` (someone walks up) or `gap_s`")
        if self.gap_s is not None and (self.photo or self.opt_out or self.conditions or self.frames):
            raise ValueError("a gap takes only `gap_s`")
        if self.duration_s is not None and self.frames is not None:
            raise ValueError("give `duration_s` or `frames`, not both")
        return self


class GenerateSpec(_Model):
    enrolled: int | Literal["all"] = Field("all", description="enrolled travellers who walk up")
    impostors: int | Literal["all"] = Field("all", description="people not on the manifest who walk up")
    opt_outs: int = Field(0, ge=0, description="walk-ups (enrolled first) flagged as opting out")
    order: Literal["shuffled", "enrolled_first"] = "shuffled"

    @model_validator(mode="after")
    def _non_negative(self) -> GenerateSpec:
        for key in ("enrolled", "impostors"):
            value = getattr(self, key)
            if isinstance(value, int) and value < 0:
                raise ValueError(f"`{key}` must be >= 0 or 'all'")
        return self


class ScenarioSpec(_Model):
    name: str = Field("flight", min_length=1, max_length=100)
    seed: int = 0
    # None: edge.evaluation.data.default_faces(), the one faces default of every tool.
    faces_dir: Path | None = None
    camera: CameraSpec = CameraSpec()
    conditions: Conditions = Conditions()
    walk_duration_s: float = Field(1.6, gt=0, le=600)
    gap_s: float = Field(0.5, ge=0, le=3600, description="empty frames before each walk-up and at the end")
    loop: bool = Field(False, description="start again at the end instead of finishing")
    manifest: list[str] | Literal["auto"] = "auto"
    walkups: list[WalkUpSpec] | None = None
    generate: GenerateSpec | None = None

    @model_validator(mode="after")
    def _walkups_or_generate(self) -> ScenarioSpec:
        if (self.walkups is None) == (self.generate is None):
            raise ValueError("give exactly one of `walkups` (a list) or `generate`")
        return self
