"""Face quality in [0, 1] from size, sharpness and pose.

Used to rank faces when capping a performer's faces in the DB and to filter out faces too
poor to match reliably in scenes.
"""

from __future__ import annotations

import cv2
import numpy as np

from .align import eye_centres
from .types import Points, RGBImage

# A face narrower than MIN is barely usable by the 150-px descriptor; above FULL it is fine.
SIZE_MIN_PX = 24.0
SIZE_FULL_PX = 90.0


def size_score(face_width: float) -> float:
    return float(np.clip((face_width - SIZE_MIN_PX) / (SIZE_FULL_PX - SIZE_MIN_PX), 0.0, 1.0))


def sharpness_score(chip: RGBImage) -> float:
    """Variance of the Laplacian on the aligned chip, squashed to [0, 1]."""
    gray = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY)
    var = float(cv2.Laplacian(gray, cv2.CV_64F).var())
    return float(1.0 - np.exp(-var / 120.0))


def yaw_ratio(landmarks: Points) -> float:
    """Horizontal nose offset from the eyes' midpoint in eye distances (0 = frontal, ~0.5 = profile)."""
    le, re = eye_centres(landmarks)
    eye_vec = re - le
    d2 = float(np.dot(eye_vec, eye_vec)) or 1.0
    return float(np.dot(landmarks[4] - (le + re) / 2, eye_vec) / d2)


def pose_score(landmarks: Points) -> float:
    return float(np.clip(1.0 - abs(yaw_ratio(landmarks)) / 0.45, 0.0, 1.0))


def face_quality(face_width: float, chip: RGBImage, landmarks: Points) -> tuple[float, dict[str, float]]:
    parts = {
        "size": size_score(face_width),
        "sharpness": sharpness_score(chip),
        "pose": pose_score(landmarks),
    }
    # Floors keep one weak component from zeroing a face that is otherwise excellent.
    q = (0.25 + 0.75 * parts["size"]) * (0.4 + 0.6 * parts["sharpness"]) * (0.4 + 0.6 * parts["pose"])
    return float(q), parts
