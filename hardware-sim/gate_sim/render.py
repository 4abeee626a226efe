"""Renders the simulated camera's frames: a synthetic gate background and a traveller walking up.

The background is drawn, not photographed. The traveller is their photo, scaled from the
scenario's start size to its end size over the walk-up, swaying a little, with feathered edges;
blur, lighting and sensor noise apply to the whole frame. Everything random comes from the
scenario seed, so a scenario renders the same frames every time.

Photos are biometric data even here: :class:`WalkUpImages` decodes them once per walk-up, keeps only
a copy no larger than the largest size needed, and zeroes every buffer when the walk-up ends.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from gate_sim.scenario_spec import Conditions

NOISE_BANK = 4  # precomputed noise frames per level: per-frame Gaussian noise at 720p costs ~30 ms


class RenderError(RuntimeError):
    """A photo could not be read or decoded."""


def make_background(width: int, height: int, seed: int) -> np.ndarray:
    """A plain gate hall: a lit wall gradient, a floor, a door frame and a few signs. No photo."""
    rng = np.random.default_rng([seed, 0xB6])
    wall = np.linspace(190, 120, height, dtype=np.float32)[:, None, None]
    tint = np.array([1.0, 0.96, 0.9], dtype=np.float32)  # slightly warm light (BGR)
    img = np.broadcast_to(wall * tint, (height, width, 3)).copy()
    # Low-frequency texture so the wall is not perfectly flat (a detector sees real-ish noise).
    small = rng.normal(0, 6, (max(2, height // 40), max(2, width // 40), 1)).astype(np.float32)
    img += cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)[:, :, None]
    floor = int(height * 0.82)
    img[floor:] = img[floor:] * 0.55
    out = np.clip(img, 0, 255).astype(np.uint8)
    x0, x1 = int(width * 0.3), int(width * 0.7)
    cv2.rectangle(out, (x0, int(height * 0.08)), (x1, floor), (90, 90, 95), max(2, width // 160))
    for _ in range(3):
        w, h = int(rng.integers(width // 14, width // 7)), int(rng.integers(height // 20, height // 10))
        x = int(rng.integers(0, max(1, width - w)))
        y = int(rng.integers(0, max(1, height // 4)))
        colour = tuple(int(c) for c in rng.integers(30, 230, 3))
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, -1)
    return out


def _decode(path: Path) -> np.ndarray:
    data = np.fromfile(str(path), dtype=np.uint8)
    try:
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    finally:
        data.fill(0)
    if image is None:
        raise RenderError(f"cannot decode photo {path}")
    return image


def _downscaled(image: np.ndarray, max_height: int) -> np.ndarray:
    """A copy no taller than max_height; the original is zeroed."""
    if image.shape[0] > max_height:
        scale = max_height / image.shape[0]
        out = cv2.resize(image, (max(1, round(image.shape[1] * scale)), max_height), interpolation=cv2.INTER_AREA)
    else:
        out = image.copy()
    image.fill(0)
    return out


class WalkUpImages:
    """The decoded traveller (and bystander) photos of one walk-up. Call :meth:`wipe` when it ends."""

    def __init__(self, photo: Path, bystander: Path | None, conditions: Conditions, frame_h: int) -> None:
        tallest = max(8, round(max(conditions.start_size, conditions.end_size) * frame_h))
        self.person = _downscaled(_decode(photo), tallest)
        self.bystander: np.ndarray | None = None
        if bystander is not None:
            small = max(8, round(conditions.bystander_size * frame_h))
            self.bystander = _downscaled(_decode(bystander), small)

    def wipe(self) -> None:
        self.person.fill(0)
        if self.bystander is not None:
            self.bystander.fill(0)


def _feather(h: int, w: int) -> np.ndarray:
    """Alpha mask fading the outer ~12% of a pasted photo, so it reads as a person, not a card."""
    edge = max(1.0, 0.12 * min(h, w))
    ys = np.minimum(np.arange(h), np.arange(h)[::-1]).astype(np.float32) / edge
    xs = np.minimum(np.arange(w), np.arange(w)[::-1]).astype(np.float32) / edge
    mask: np.ndarray = np.clip(np.minimum(ys[:, None], xs[None, :]), 0, 1)
    return mask[:, :, None]


def _paste(frame: np.ndarray, photo: np.ndarray, height: int, cx: float, cy: float) -> None:
    h = max(2, height)
    w = max(2, round(photo.shape[1] * h / photo.shape[0]))
    interp = cv2.INTER_AREA if h < photo.shape[0] else cv2.INTER_LINEAR
    scaled = cv2.resize(photo, (w, h), interpolation=interp)
    x0, y0 = round(cx - w / 2), round(cy - h / 2)
    fx0, fy0 = max(0, x0), max(0, y0)
    fx1, fy1 = min(frame.shape[1], x0 + w), min(frame.shape[0], y0 + h)
    if fx1 <= fx0 or fy1 <= fy0:
        scaled.fill(0)
        return
    part = scaled[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0].astype(np.float32)
    alpha = _feather(h, w)[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
    roi = frame[fy0:fy1, fx0:fx1]
    roi[:] = (roi * (1 - alpha) + part * alpha).astype(np.uint8)
    part.fill(0)
    scaled.fill(0)


class Renderer:
    """Draws frames for one scenario camera (size and seed fixed)."""

    def __init__(self, width: int, height: int, seed: int) -> None:
        self.width, self.height, self.seed = width, height, seed
        self.background = make_background(width, height, seed)
        self._noise: dict[float, list[tuple[np.ndarray, np.ndarray]]] = {}

    def _noise_bank(self, level: float) -> list[tuple[np.ndarray, np.ndarray]]:
        key = round(level, 2)
        if key not in self._noise:
            rng = np.random.default_rng([self.seed, 0x5E, int(key * 100)])
            bank = []
            for _ in range(NOISE_BANK):
                n = rng.normal(0, key, (self.height, self.width, 3)).astype(np.float32)
                bank.append((np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8)))
            self._noise[key] = bank
        return self._noise[key]

    def render(
        self, conditions: Conditions, index: int, count: int, images: WalkUpImages | None, walk_no: int = 0
    ) -> np.ndarray:
        """Frame ``index`` of ``count`` of a walk-up (or of a gap when ``images`` is None)."""
        frame = self.background.copy()
        if images is not None:
            if images.bystander is not None:
                bh = round(conditions.bystander_size * self.height)
                _paste(frame, images.bystander, bh, self.width * 0.14, self.height * 0.32)
            t = index / (count - 1) if count > 1 else 1.0
            t = t * t * (3 - 2 * t)  # ease in and out: people slow down as they reach the gate
            size = conditions.start_size + (conditions.end_size - conditions.start_size) * t
            phase = (walk_no * 0.7) % (2 * math.pi)
            cx = self.width / 2 + conditions.sway * self.width * math.sin(2 * math.pi * t + phase)
            _paste(frame, images.person, round(size * self.height), cx, self.height * 0.5)
        if conditions.blur > 0:
            cv2.GaussianBlur(frame, (0, 0), conditions.blur, dst=frame)
        if conditions.gain != 1.0 or conditions.brightness != 0.0:
            cv2.convertScaleAbs(frame, dst=frame, alpha=conditions.gain, beta=conditions.brightness)
        if conditions.noise > 0:
            plus, minus = self._noise_bank(conditions.noise)[(index * 3 + walk_no) % NOISE_BANK]
            cv2.add(frame, plus, dst=frame)
            cv2.subtract(frame, minus, dst=frame)
        return frame
