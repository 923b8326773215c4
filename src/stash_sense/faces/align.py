"""dlib 5-point landmarks and the aligned face chip the ResNet descriptor expects."""

from __future__ import annotations

from typing import Any

import numpy as np

from .models import InferenceModel, dlib_model_file
from .types import Box

CHIP_SIZE = 150
CHIP_PADDING = 0.25
# dlib's 5-point predictor was trained on dlib-detector boxes; BlazeFace's boxes share their
# centre but are ~9% larger (measured on 180 celeb17/LFW photos), so they are shrunk first.
BLAZEFACE_TO_DLIB_SCALE = 0.92


def to_dlib_square(box: Box, scale: float = 1.0) -> tuple[int, int, int, int]:
    """Square (left, top, right, bottom) around the box centre with side ``scale`` x mean side."""
    cx, cy = box.x + box.w / 2.0, box.y + box.h / 2.0
    half = scale * (box.w + box.h) / 4.0
    return int(round(cx - half)), int(round(cy - half)), int(round(cx + half)), int(round(cy + half))


class LandmarkAligner(InferenceModel):
    """Fits dlib's 5-point landmarks inside a face box and cuts the aligned chip."""

    name = "dlib-5pt"

    def _load(self) -> Any:
        import dlib

        return dlib.shape_predictor(dlib_model_file("shape_predictor_5_face_landmarks.dat"))

    def landmarks(self, image: np.ndarray, rect: tuple[int, int, int, int]) -> tuple[np.ndarray, Any]:
        import dlib

        shape = self.model(image, dlib.rectangle(*rect))
        pts = np.array([[shape.part(i).x, shape.part(i).y] for i in range(shape.num_parts)], dtype=np.float32)
        return pts, shape

    def chip(self, image: np.ndarray, shape: Any) -> np.ndarray:
        import dlib

        return np.asarray(dlib.get_face_chip(image, shape, size=CHIP_SIZE, padding=CHIP_PADDING))


def eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(image-left eye, image-right eye) centres from dlib's 5 points (0-1 and 2-3 are the eyes' corners)."""
    a = landmarks[0:2].mean(axis=0)
    b = landmarks[2:4].mean(axis=0)
    return (a, b) if a[0] <= b[0] else (b, a)


# Where dlib's 5 points sit inside a dlib-detector box (medians over 85 celeb17 photos):
# eye distance 0.41 x box side, eyes' midpoint 0.19 x side above the box centre.
EYE_DISTANCE_PER_SIDE = 0.41
EYES_ABOVE_CENTRE_PER_SIDE = 0.186


def box_from_landmarks(landmarks: np.ndarray) -> tuple[int, int, int, int]:
    """The dlib-detector-style square a face with these landmarks would have been given."""
    le, re = eye_centres(landmarks)
    eye_vec = re - le
    dist = float(np.linalg.norm(eye_vec)) or 1.0
    side = dist / EYE_DISTANCE_PER_SIDE
    down = np.array([-eye_vec[1], eye_vec[0]]) / dist  # perpendicular to the eye line, pointing chin-ward
    if down[1] < 0:
        down = -down
    centre = (le + re) / 2 + down * EYES_ABOVE_CENTRE_PER_SIDE * side
    half = side / 2
    return int(round(centre[0] - half)), int(round(centre[1] - half)), int(round(centre[0] + half)), int(round(centre[1] + half))


def plausible_landmarks(landmarks: np.ndarray, rect: tuple[int, int, int, int]) -> tuple[bool, str]:
    """Whether landmarks fitted on a box without a detection look like a real face.

    Used when a detector found nothing in an image known to show one face (a tight headshot):
    the predictor always returns *some* points, so they are checked for a sane geometry.
    """
    left, top, right, bottom = rect
    side = max(1.0, float(right - left))
    le, re = eye_centres(landmarks)
    nose = landmarks[4]
    eye_vec = re - le
    eye_dist = float(np.linalg.norm(eye_vec))
    if not 0.18 * side <= eye_dist <= 0.75 * side:
        return False, f"eye distance {eye_dist / side:.2f} of the box is implausible"
    angle = abs(float(np.degrees(np.arctan2(eye_vec[1], eye_vec[0]))))
    if angle > 35:
        return False, f"eyes tilted {angle:.0f} degrees"
    # The nose must sit below the eye line and between the eyes horizontally.
    normal = np.array([-eye_vec[1], eye_vec[0]]) / eye_dist
    mid = (le + re) / 2
    drop = float(np.dot(nose - mid, normal))
    if drop < 0.2 * eye_dist or drop > 1.6 * eye_dist:
        return False, "nose position inconsistent with the eyes"
    along = float(np.dot(nose - mid, eye_vec / eye_dist))
    if abs(along) > 0.75 * eye_dist:
        return False, "nose far outside the eyes"
    return True, ""
