"""SFace embedding: crop -> network input, output -> unit-length template."""

from __future__ import annotations

import numpy as np

from edge.core.types import InferFn
from edge.core.wipe import Scratch


def to_blob(crop: np.ndarray, scratch: Scratch | None = None) -> np.ndarray:
    """112x112 BGR uint8 -> 1x3x112x112 float32 RGB, 0-255 (the graph normalises internally)."""
    blob = np.ascontiguousarray(crop[:, :, ::-1].transpose(2, 0, 1)[None], dtype=np.float32)
    if scratch is not None:
        scratch.track(blob)
    return blob


def l2_normalise(v: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    out: np.ndarray = (v / np.maximum(norm, eps)).astype(np.float32)
    return out


class FaceEmbedder:
    """Turns an aligned crop into a unit-length float32 template.

    With ``flip`` (test-time augmentation) the template is the normalised sum of the embeddings of
    the crop and of its mirror image: one more network run, and a template less sensitive to which
    side of the face the light or the landmarks' error falls on.
    """

    def __init__(self, infer: InferFn, dim: int = 128, flip: bool = False) -> None:
        self._infer = infer
        self.dim = dim
        self.flip = flip

    def _raw(self, crop: np.ndarray, scratch: Scratch | None) -> np.ndarray:
        raw = np.asarray(self._infer(to_blob(crop, scratch))[0], np.float32).reshape(-1)
        if scratch is not None:
            scratch.track(raw)
        if raw.shape[0] != self.dim:
            raise ValueError(f"embedder returned {raw.shape[0]} values, expected {self.dim}")
        return raw

    def embed(self, crop: np.ndarray, scratch: Scratch | None = None) -> np.ndarray:
        raw = self._raw(crop, scratch)
        if self.flip:
            mirrored = np.ascontiguousarray(crop[:, ::-1])
            if scratch is not None:
                scratch.track(mirrored)
            # Each view normalised first, so neither outweighs the other.
            views = [l2_normalise(raw), l2_normalise(self._raw(mirrored, scratch))]
            raw = views[0] + views[1]
            if scratch is not None:
                for buf in (*views, raw):
                    scratch.track(buf)
        out = l2_normalise(raw)
        if scratch is not None:
            scratch.track(out)
        return out
