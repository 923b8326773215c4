"""Face detectors behind one small interface.

The default is MediaPipe's bundled BlazeFace (fast, robust to pose), backed up by dlib's HOG
detector for the faces BlazeFace misses. Both ship their weights inside PyPI packages, so
nothing is downloaded.
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from typing import Any, cast

import numpy as np

from .models import InferenceModel
from .types import Box, DetectedFace, RGBImage


class FaceDetector(InferenceModel):
    """Finds faces in an RGB uint8 image."""

    @abstractmethod
    def detect(self, image: RGBImage) -> list[DetectedFace]: ...


def _clip_box(x0: float, y0: float, x1: float, y1: float, width: int, height: int) -> Box | None:
    xa, ya = max(0, int(round(x0))), max(0, int(round(y0)))
    xb, yb = min(width, int(round(x1))), min(height, int(round(y1)))
    if xb - xa < 4 or yb - ya < 4:
        return None
    return Box(xa, ya, xb - xa, yb - ya)


class BlazeFaceDetector(FaceDetector):
    """MediaPipe BlazeFace. ``full_range`` suits faces far from the camera (scene frames);
    the short-range model is better on close-up portraits."""

    def __init__(self, *, full_range: bool = True, min_confidence: float = 0.5) -> None:
        super().__init__()
        self.full_range = full_range
        self.min_confidence = min_confidence
        self.name = "blazeface-full" if full_range else "blazeface-short"
        # MediaPipe graphs are not re-entrant: one call at a time per instance.
        self._run_lock = threading.Lock()

    def _load(self) -> Any:
        from mediapipe.python.solutions import face_detection

        return face_detection.FaceDetection(
            model_selection=1 if self.full_range else 0, min_detection_confidence=self.min_confidence
        )

    def detect(self, image: RGBImage) -> list[DetectedFace]:
        h, w = image.shape[:2]
        model = self.model
        with self._run_lock:
            result = model.process(np.ascontiguousarray(image))
        faces: list[DetectedFace] = []
        for det in result.detections or []:
            rel = det.location_data.relative_bounding_box
            box = _clip_box(rel.xmin * w, rel.ymin * h, (rel.xmin + rel.width) * w, (rel.ymin + rel.height) * h, w, h)
            if box is None:
                continue
            kps = np.array([[kp.x * w, kp.y * h] for kp in det.location_data.relative_keypoints], dtype=np.float32)
            faces.append(DetectedFace(box=box, score=float(det.score[0]), detector=self.name, keypoints=kps))
        return faces


class DlibHogDetector(FaceDetector):
    """dlib's HOG + linear SVM detector: slower and frontal-only, but finds faces BlazeFace
    sometimes misses (heavy makeup, unusual lighting)."""

    name = "dlib-hog"

    def __init__(self, *, upsample: int = 1, max_side: int = 800) -> None:
        super().__init__()
        self.upsample = upsample
        # HOG cost grows with pixels (x4 per upsample): large frames are searched downscaled.
        self.max_side = max_side

    def _load(self) -> Any:
        import dlib

        return dlib.get_frontal_face_detector()

    def detect(self, image: RGBImage) -> list[DetectedFace]:
        h, w = image.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        work = image
        if scale < 1.0:
            import cv2

            # cv2's stubs cannot say that resizing keeps the dtype: the copy is uint8 RGB too.
            work = cast(RGBImage, cv2.resize(image, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA))
        rects, scores, _ = self.model.run(work, self.upsample, 0.0)
        faces: list[DetectedFace] = []
        for r, s in zip(rects, scores):
            box = _clip_box(r.left() / scale, r.top() / scale, (r.right() + 1) / scale, (r.bottom() + 1) / scale, w, h)
            if box is None:
                continue
            # HOG scores are SVM margins (about -0.5..3); squash to (0, 1) for a common scale.
            faces.append(DetectedFace(box=box, score=float(1.0 / (1.0 + np.exp(-2.0 * s))), detector=self.name))
        return faces


def iou(a: Box, b: Box) -> float:
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1, y1 = min(a.x + a.w, b.x + b.w), min(a.y + a.h, b.y + b.h)
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    union = a.area + b.area - inter
    return inter / union if union else 0.0


class CascadeDetector(FaceDetector):
    """Runs detectors in order and stops at the first that finds a face.

    The later detectors only pay their cost on the images the earlier ones found nothing in.
    """

    def __init__(self, detectors: list[FaceDetector]) -> None:
        super().__init__()
        self.detectors = detectors
        self.name = "+".join(d.name for d in detectors)

    def _load(self) -> Any:
        for d in self.detectors:
            d.load()
        return True

    def detect(self, image: RGBImage) -> list[DetectedFace]:
        for det in self.detectors:
            faces = det.detect(image)
            if faces:
                return faces
        return []

    def detect_later_stages(self, image: RGBImage, found: list[DetectedFace]) -> list[DetectedFace]:
        """The faces, other than ``found``, that the stages after the one that produced
        ``found`` detect.

        The early exit of :meth:`detect` can stop at a stage that found a bystander and missed
        the subject; this is the second look for callers that know where the subject should be.
        """
        if not found:
            return []  # every stage already ran and found nothing
        names = [d.name for d in self.detectors]
        last = max((names.index(f.detector) for f in found if f.detector in names), default=len(names))
        new: list[DetectedFace] = []
        for det in self.detectors[last + 1 :]:
            for face in det.detect(image):
                if all(iou(face.box, f.box) < 0.3 for f in [*found, *new]):
                    new.append(face)
        return new


def default_detector(min_confidence: float = 0.5) -> CascadeDetector:
    return CascadeDetector(
        [
            BlazeFaceDetector(full_range=True, min_confidence=min_confidence),
            BlazeFaceDetector(full_range=False, min_confidence=min_confidence),
            DlibHogDetector(upsample=1),
        ]
    )
