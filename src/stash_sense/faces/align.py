"""dlib 5-point landmarks and the aligned face chip the ResNet descriptor expects."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from .models import InferenceModel, dlib_model_file
from .types import Box, Points, Rect, RGBImage

CHIP_SIZE = 150
CHIP_PADDING = 0.25
# dlib's 5-point predictor was trained on dlib-detector boxes; BlazeFace's boxes share their
# centre but are ~9% larger (measured on 180 celeb17/LFW photos), so they are shrunk first.
BLAZEFACE_TO_DLIB_SCALE = 0.92


def to_dlib_square(box: Box, scale: float = 1.0) -> Rect:
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

    def landmarks(self, image: RGBImage, rect: Rect) -> tuple[NDArray[np.float32], Any]:
        """The five landmarks (float32, 5 x 2) and dlib's ``full_object_detection`` they came from."""
        import dlib

        shape = self.model(image, dlib.rectangle(*rect))
        pts = np.array([[shape.part(i).x, shape.part(i).y] for i in range(shape.num_parts)], dtype=np.float32)
        return pts, shape

    def chip(self, image: RGBImage, shape: Any) -> RGBImage:
        import dlib

        return np.asarray(dlib.get_face_chip(image, shape, size=CHIP_SIZE, padding=CHIP_PADDING))


def eye_centres(landmarks: Points) -> tuple[Points, Points]:
    """(image-left eye, image-right eye) centres from dlib's 5 points (0-1 and 2-3 are the eyes' corners)."""
    a: Points = landmarks[0:2].mean(axis=0)
    b: Points = landmarks[2:4].mean(axis=0)
    return (a, b) if a[0] <= b[0] else (b, a)


# Where dlib's 5 points sit inside a dlib-detector box (medians over 85 celeb17 photos):
# eye distance 0.41 x box side, eyes' midpoint 0.19 x side above the box centre.
EYE_DISTANCE_PER_SIDE = 0.41
EYES_ABOVE_CENTRE_PER_SIDE = 0.186


def box_from_landmarks(landmarks: Points) -> Rect:
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


def plausible_landmarks(landmarks: Points, rect: Rect) -> tuple[bool, str]:
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


# -- the 112x112 five-point template of ArcFace-family models (EdgeFace) ----------------------

ARCFACE_SIZE = 112
# Left eye centre, right eye centre, nose tip, left and right mouth corners ("left" = image left).
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)


class FivePointFitter(InferenceModel):
    """The template's five points: eye centres from dlib's 5-point fit (the midpoint of each
    eye's two corners), nose tip (point 30) and outer mouth corners (48, 54) from dlib's
    68-point predictor (ships in face_recognition_models).

    Chosen on LFW pair folds 3-10 (docs/accuracy.md): the eye-corner midpoints beat the means
    of the 68-point eye contours (0.9924 against 0.9882 with edgeface-xs). The 68-point
    predictor costs ~1-2 ms a face, small beside detection.
    """

    name = "dlib-68pt"

    def _load(self) -> Any:
        import dlib

        return dlib.shape_predictor(dlib_model_file("shape_predictor_68_face_landmarks.dat"))

    def points68(self, image: RGBImage, rect: Rect) -> NDArray[np.float64]:
        import dlib

        shape = self.model(image, dlib.rectangle(*rect))
        pts: NDArray[np.float64] = np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)], dtype=np.float64)
        return pts

    def five_points(self, image: RGBImage, rect: Rect, landmarks5: Points) -> NDArray[np.float64]:
        return template_points(landmarks5, self.points68(image, rect))


def template_points(landmarks5: Points, p68: Points) -> NDArray[np.float64]:
    """(left eye centre, right eye centre, nose tip, left mouth corner, right mouth corner) in
    image coordinates, "left" being the image's left."""
    le, re = eye_centres(landmarks5)
    points: NDArray[np.float64] = np.stack([le, re, p68[30], p68[48], p68[54]]).astype(np.float64)
    return points


def similarity_transform(src: Points, dst: Points) -> NDArray[np.float64]:
    """The least-squares similarity (rotation, uniform scale, translation) taking ``src`` to
    ``dst`` (Umeyama 1991), as a 2x3 matrix for ``cv2.warpAffine``. No RANSAC: five points,
    all of them meant to count."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    fix = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        fix[1, 1] = -1.0  # a reflection is never a valid alignment
    rot = u @ fix @ vt
    var_s = (s**2).sum() / len(src)
    scale = float(np.trace(np.diag(sig) @ fix) / var_s) if var_s > 0 else 1.0
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rot
    matrix[:, 2] = mu_d - scale * rot @ mu_s
    return matrix


def arcface_chip(image: RGBImage, points: Points) -> RGBImage:
    """The 112x112 RGB chip with ``points`` moved onto the template."""
    import cv2

    matrix = similarity_transform(points, ARCFACE_TEMPLATE)
    # cv2's stubs cannot say that a warp keeps its input's dtype: a uint8 image gives a uint8 chip.
    chip = cv2.warpAffine(image, matrix, (ARCFACE_SIZE, ARCFACE_SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return cast(RGBImage, chip)
