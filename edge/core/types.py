"""Small value types shared by the core."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

# An inference function: one input blob in, the model's outputs out (in the model's output order).
# The onnxruntime adapter provides these; the core never imports onnxruntime.
InferFn = Callable[[np.ndarray], Sequence[np.ndarray]]


@dataclass(frozen=True)
class Face:
    """A detected face in frame pixel coordinates.

    ``landmarks`` is 5x2: right eye, left eye, nose tip, right and left mouth corner (the subject's
    right first, i.e. image-left first), the order of the ArcFace/SFace alignment template.
    """

    box: tuple[float, float, float, float]  # x, y, w, h
    landmarks: np.ndarray
    score: float

    @property
    def area(self) -> float:
        return self.box[2] * self.box[3]

    @property
    def centre(self) -> tuple[float, float]:
        x, y, w, h = self.box
        return x + w / 2, y + h / 2

    @property
    def eye_distance(self) -> float:
        return float(np.linalg.norm(self.landmarks[1] - self.landmarks[0]))

    def as_opencv_row(self) -> np.ndarray:
        """The 15-value row cv2.FaceDetectorYN produces (box, 10 landmark coords, score)."""
        return np.concatenate([np.asarray(self.box, np.float32), self.landmarks.reshape(-1), [self.score]]).astype(
            np.float32
        )


def faces_to_array(faces: Sequence[Face]) -> np.ndarray:
    """Nx15 array in OpenCV's layout (for comparisons and tooling)."""
    if not faces:
        return np.zeros((0, 15), np.float32)
    return np.stack([f.as_opencv_row() for f in faces])
