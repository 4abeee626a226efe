"""YuNet face detection: pre-processing, output decoding and NMS, at any input size.

The YuNet 2023mar graph is size-agnostic (the inference adapter relaxes its declared 640x640 input),
so a frame is scaled to a working width and padded to a multiple of 32 instead of being squashed.
Decoding follows the model's anchor-free head: for each stride s and grid cell (r, c),
``score = sqrt(cls * obj)``, ``centre = (c + dx, r + dy) * s``, ``size = exp(dw, dh) * s``,
``landmark_k = (c + kx_k, r + ky_k) * s``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.core.types import Face, InferFn
from edge.core.wipe import Scratch

STRIDES = (8, 16, 32)
PAD_DIVISOR = 32


@dataclass(frozen=True)
class DetectorParams:
    input_width: int = 640
    score_threshold: float = 0.6
    nms_threshold: float = 0.3
    top_k: int = 50
    # Enlarge images narrower than ``input_width`` to that width before detecting: YuNet's landmarks on a
    # face of 60-100 px are coarse, and a photo or small frame enlarged to the working width gives the
    # aligner better points. ../shared/lfw seed-1 flight (420/420/3), subject picker on: FNIR at FPIR
    # 0.003 4.27% -> 4.15%, rank-1 98.29% -> 98.53% (and it is what landmark refinement builds on).
    enlarge: bool = True


def padded_size(width: int, height: int) -> tuple[int, int]:
    """The network input size for an image: each side rounded up to a multiple of 32."""
    pad_w = ((width - 1) // PAD_DIVISOR + 1) * PAD_DIVISOR
    pad_h = ((height - 1) // PAD_DIVISOR + 1) * PAD_DIVISOR
    return pad_w, pad_h


def to_blob(image: np.ndarray, scratch: Scratch | None = None) -> np.ndarray:
    """BGR uint8 HxWx3 -> float32 1x3xPHxPW (zero padded at right/bottom), values 0-255."""
    h, w = image.shape[:2]
    pad_w, pad_h = padded_size(w, h)
    blob = np.zeros((1, 3, pad_h, pad_w), np.float32)
    blob[0, :, :h, :w] = image.transpose(2, 0, 1)
    if scratch is not None:
        scratch.track(blob)
    return blob


def decode(
    outputs: dict[str, np.ndarray], pad_w: int, pad_h: int, score_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode YuNet's raw outputs into (boxes Nx4 xywh, landmarks Nx5x2, scores N), before NMS."""
    boxes_all, kps_all, scores_all = [], [], []
    for s in STRIDES:
        cols, rows = pad_w // s, pad_h // s
        cls = outputs[f"cls_{s}"].reshape(-1)
        obj = outputs[f"obj_{s}"].reshape(-1)
        score = np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1))
        keep = np.flatnonzero(score >= score_threshold)
        if keep.size == 0:
            continue
        r, c = np.divmod(keep, cols)
        assert r.max(initial=0) < rows, "YuNet output size does not match the input size"
        bbox = outputs[f"bbox_{s}"].reshape(-1, 4)[keep]
        kps = outputs[f"kps_{s}"].reshape(-1, 5, 2)[keep]
        cx = (c + bbox[:, 0]) * s
        cy = (r + bbox[:, 1]) * s
        w = np.exp(bbox[:, 2]) * s
        h = np.exp(bbox[:, 3]) * s
        boxes_all.append(np.stack([cx - w / 2, cy - h / 2, w, h], axis=1))
        grid = np.stack([c, r], axis=1)[:, None, :]
        kps_all.append((kps + grid) * s)
        scores_all.append(score[keep])
    if not boxes_all:
        return np.zeros((0, 4), np.float32), np.zeros((0, 5, 2), np.float32), np.zeros((0,), np.float32)
    return (
        np.concatenate(boxes_all).astype(np.float32),
        np.concatenate(kps_all).astype(np.float32),
        np.concatenate(scores_all).astype(np.float32),
    )


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, top_k: int) -> np.ndarray:
    """Greedy non-maximum suppression over xywh boxes; indices of the kept boxes, best first."""
    order = np.argsort(-scores, kind="stable")
    x1, y1 = boxes[:, 0], boxes[:, 1]
    x2, y2 = x1 + boxes[:, 2], y1 + boxes[:, 3]
    areas = boxes[:, 2] * boxes[:, 3]
    kept: list[int] = []
    while order.size and len(kept) < top_k:
        i = int(order[0])
        kept.append(i)
        rest = order[1:]
        iw = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        ih = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = iw * ih
        iou = inter / (areas[i] + areas[rest] - inter + 1e-9)
        order = rest[iou <= iou_threshold]
    return np.asarray(kept, dtype=np.int64)


class FaceDetector:
    """Detects faces in a BGR frame of any size, returning them in the frame's own pixel coordinates."""

    OUTPUT_NAMES = tuple(f"{k}_{s}" for k in ("cls", "obj", "bbox", "kps") for s in STRIDES)

    def __init__(self, infer: InferFn, output_names: tuple[str, ...] | None = None,
                 params: DetectorParams | None = None) -> None:
        self._infer = infer
        self._names = output_names or self.OUTPUT_NAMES
        self.params = params or DetectorParams()

    def detect_at_input_size(self, image: np.ndarray, scratch: Scratch | None = None) -> list[Face]:
        """Detect on ``image`` as given (no scaling): what cv2.FaceDetectorYN does at that input size."""
        h, w = image.shape[:2]
        pad_w, pad_h = padded_size(w, h)
        outputs = dict(zip(self._names, self._infer(to_blob(image, scratch)), strict=True))
        boxes, kps, scores = decode(outputs, pad_w, pad_h, self.params.score_threshold)
        keep = nms(boxes, scores, self.params.nms_threshold, self.params.top_k)
        return [Face(tuple(map(float, boxes[i])), kps[i].copy(), float(scores[i])) for i in keep]  # type: ignore[arg-type]

    def detect(self, frame: np.ndarray, scratch: Scratch | None = None) -> list[Face]:
        """Detect on a copy scaled to width ``params.input_width`` (downscaled; enlarged too when
        ``params.enlarge``); faces in frame coordinates."""
        h, w = frame.shape[:2]
        scale = self.params.input_width / w
        if not self.params.enlarge:
            scale = min(1.0, scale)
        if scale != 1.0:
            small = cv2.resize(frame, (round(w * scale), round(h * scale)),
                               interpolation=cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR)
            if scratch is not None:
                scratch.track(small)
        else:
            small = frame
        faces = self.detect_at_input_size(small, scratch)
        if scale == 1.0:
            return faces
        # Map back using the actual per-axis ratios (rounding makes them differ slightly).
        sx, sy = w / small.shape[1], h / small.shape[0]
        return [
            Face((f.box[0] * sx, f.box[1] * sy, f.box[2] * sx, f.box[3] * sy), f.landmarks * (sx, sy), f.score)
            for f in faces
        ]
