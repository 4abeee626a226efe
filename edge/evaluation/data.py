"""Labelled face folders and the gate protocol drawn from them (who is enrolled, who probes).

A labelled folder has one subfolder per identity (the layout of ../shared/faces and ../shared/lfw);
anything that is not a directory at the top level (manifest.csv, README.md) is ignored, and inside an
identity folder only image files count. The gate protocol, as NIST runs 1:N for travel:

- an identity with two or more photos is on the flight: its first photo (sorted by file name) is
  enrolled, every other photo is a genuine probe;
- an identity with one photo is not on the flight: that photo is an impostor probe.

Flight-sized draws (``gallery_size``, ``impostors``, ``probes_per_identity``) are made with a seeded
``random.Random`` over sorted lists, so the same arguments always give the same protocol.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.core.wipe import Scratch

FACES_ENV = "GATE_EDGE_FACES"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".pgm", ".ppm", ".bmp", ".webp", ".tif", ".tiff"})


def default_faces() -> Path:
    """The faces folder every tool and test uses unless told otherwise: ``$GATE_EDGE_FACES``, else
    ../shared/faces beside a source checkout (where CI lays it)."""
    env = os.environ.get(FACES_ENV)
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "faces"


class DatasetError(ValueError):
    """The folder is not a labelled faces folder (missing, empty, no identity with two photos)."""


@dataclass(frozen=True)
class Probe:
    identity: str
    path: Path
    genuine: bool  # True: the identity is on the flight (enrolled or meant to be)


@dataclass(frozen=True)
class Protocol:
    root: Path
    enrol: tuple[tuple[str, Path], ...]  # (identity, gallery photo), sorted by identity
    probes: tuple[Probe, ...]  # genuine probes first, then impostors; each group sorted

    @property
    def genuine(self) -> tuple[Probe, ...]:
        return tuple(p for p in self.probes if p.genuine)

    @property
    def impostors(self) -> tuple[Probe, ...]:
        return tuple(p for p in self.probes if not p.genuine)


def list_identities(root: Path) -> dict[str, list[Path]]:
    """identity -> its image files sorted by name; identities without any image are left out."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"faces folder not found: {root}")
    out: dict[str, list[Path]] = {}
    for folder in sorted(root.iterdir()):
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        photos = sorted(
            (p for p in folder.iterdir()
             if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES),
            key=lambda p: p.name,
        )
        if photos:
            out[folder.name] = photos
    return out


def _draw(rng: random.Random, items: list[str], n: int | None) -> list[str]:
    if n is None or n >= len(items):
        return list(items)
    return sorted(rng.sample(items, n))


def build_protocol(root: Path, gallery_size: int | None = None, impostors: int | None = None,
                   probes_per_identity: int | None = None, seed: int = 0) -> Protocol:
    """The enrolment set and the probes of the gate protocol on ``root`` (see the module doc)."""
    for name, value in (("gallery_size", gallery_size), ("impostors", impostors),
                        ("probes_per_identity", probes_per_identity)):
        if value is not None and value < 0:
            raise DatasetError(f"{name} must be >= 0, got {value}")
    identities = list_identities(root)
    mated = sorted(i for i, photos in identities.items() if len(photos) >= 2)
    single = sorted(i for i, photos in identities.items() if len(photos) == 1)
    if not mated:
        raise DatasetError(f"{root}: no identity folder with two or more photos, nothing to enrol")
    # Separate streams per draw: changing --impostors does not change who is enrolled.
    gallery_ids = _draw(random.Random(f"{seed}:gallery"), mated, gallery_size)
    impostor_ids = _draw(random.Random(f"{seed}:impostors"), single, impostors)
    probe_rng = random.Random(f"{seed}:probes")
    enrol: list[tuple[str, Path]] = []
    genuine: list[Probe] = []
    for ident in gallery_ids:
        first, *rest = identities[ident]
        enrol.append((ident, first))
        if probes_per_identity is not None and probes_per_identity < len(rest):
            rest = sorted(probe_rng.sample(rest, probes_per_identity), key=lambda p: p.name)
        genuine.extend(Probe(ident, p, True) for p in rest)
    impostor_probes = [Probe(i, identities[i][0], False) for i in impostor_ids]
    return Protocol(Path(root), tuple(enrol), tuple(genuine + impostor_probes))


def read_image(path: Path, scratch: Scratch) -> np.ndarray | None:
    """Decode a photo into memory as BGR uint8 (tracked for wiping), or None if it cannot be decoded.

    cv2.imread only reads the file; nothing is written. Greyscale and alpha images come back as
    three-channel BGR, 16-bit images as 8-bit.
    """
    try:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    except cv2.error:
        return None
    if image is None or image.size == 0:
        return None
    return scratch.track(image)
