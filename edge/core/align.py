"""Five-point alignment to the 112x112 ArcFace/SFace template.

The similarity transform is the least-squares (Umeyama) fit of the five detected landmarks onto the
template, the same estimate OpenCV's FaceRecognizerSF.alignCrop uses, so crops match it closely.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.core.wipe import Scratch

CROP_SIZE = 112
# Right eye, left eye, nose tip, right and left mouth corner, in 112x112 crop pixels.
TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 matrix of the similarity (rotation, uniform scale, translation) mapping src onto dst."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    n = src.shape[0]
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / n
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(cov) < 0:
        d[1] = -1
    rot = u @ np.diag(d) @ vt
    var_src = (src_c**2).sum() / n
    scale = float((s * d).sum() / var_src) if var_src > 0 else 1.0
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = dst_mean - scale * rot @ src_mean
    return m


def align(image: np.ndarray, landmarks: np.ndarray, scratch: Scratch | None = None) -> np.ndarray:
    """The 112x112 BGR crop of the face whose five landmarks are given (frame coordinates)."""
    m = similarity_transform(landmarks, TEMPLATE)
    crop = cv2.warpAffine(image, m, (CROP_SIZE, CROP_SIZE), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    if scratch is not None:
        scratch.track(crop)
    return crop
