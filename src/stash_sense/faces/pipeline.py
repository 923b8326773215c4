"""Image -> faces: detect, fit landmarks, align, score quality, embed.

:meth:`FacePipeline.find_faces` is the one detect -> filter -> align path: photo identification,
scene identification and face-DB builds all take their faces from it, and embed them either
here (:meth:`FacePipeline.embed_faces`) or in a worker pool (:meth:`FacePipeline.attach`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from .align import (
    BLAZEFACE_TO_DLIB_SCALE,
    FivePointFitter,
    LandmarkAligner,
    arcface_chip,
    box_from_landmarks,
    plausible_landmarks,
    to_dlib_square,
)
from .detect import BlazeFaceDetector, CascadeDetector, FaceDetector, default_detector
from .embed import ARCFACE_ALIGNMENT, FaceEmbedder
from .embedders import create_embedder
from .imageio import ImageReadError, decode_image
from .quality import face_quality
from .types import Box, DetectedFace, Face, ImageFaces, Points, Rect, RGBImage, Vectors

WHOLE_IMAGE = "whole-image"
# Central squares tried, largest first, when a headshot is too tight for any detector.
_WHOLE_IMAGE_SCALES = (1.0, 0.8, 0.6)
_REFINE_STEPS = 4


# Later-stage detections added in the second look must be at least this sure (dlib HOG margin
# 0.42; every central face recovered on LFW scored 0.72 or more).
_SECOND_LOOK_MIN_SCORE = 0.7
# Chips are enlarged to this side before the face check (BlazeFace wants more than a chip).
_CHECK_SIZE = 300


def _chip(face: Face) -> RGBImage:
    assert face.crop is not None  # align() and fit_whole_image() always cut the chip
    return face.crop


def _covers_centre(box: Box, width: int, height: int) -> bool:
    return box.x <= width / 2.0 <= box.x + box.w and box.y <= height / 2.0 <= box.y + box.h


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What a face DB must agree with to be searched with these embeddings."""

    model: str
    dim: int
    preprocessing: str
    normalized: bool
    detector: str


@dataclass(frozen=True, slots=True)
class PipelineOptions:
    min_face_size: int = 20  # px, the face box's shorter side
    min_detector_score: float = 0.5
    min_quality: float = 0.0  # faces whose quality score is lower are dropped after alignment
    expect_single_face: bool = False  # performer images: keep the main face, fit one if none is found
    # Video frames: the frame detector (BlazeFace only). The photo cascade's HOG stage costs ~100x
    # BlazeFace on every frame without a face, and a performer who matters is in many frames.
    video_frame: bool = False
    embed: bool = True
    keep_crops: bool = False


@dataclass(slots=True)
class FoundFaces:
    """One image's faces from :meth:`FacePipeline.find_faces`."""

    detected: int  # detections scoring at least min_detector_score, before the size filter
    faces: list[Face]  # aligned and filtered, largest first (chips kept, not yet embedded)
    detect_s: float = 0.0  # seconds spent detecting (benchmarks report the stages apart)
    align_s: float = 0.0  # seconds spent fitting landmarks and cutting chips


def frame_detector() -> CascadeDetector:
    """The video-frame detector: both BlazeFace ranges, no HOG, a low score floor (the caller's
    min_detector_score filters)."""
    return CascadeDetector(
        [BlazeFaceDetector(full_range=True, min_confidence=0.3), BlazeFaceDetector(full_range=False, min_confidence=0.3)]
    )


class FacePipeline:
    """Detector, aligner and embedder; each model loads lazily on first use."""

    def __init__(
        self,
        detector: FaceDetector | None = None,
        embedder: FaceEmbedder | None = None,
        aligner: LandmarkAligner | None = None,
        frames_detector: FaceDetector | None = None,
    ) -> None:
        self.detector = detector or default_detector()
        self.frames_detector = frames_detector or frame_detector()
        self.embedder = embedder or create_embedder()
        self.aligner = aligner or LandmarkAligner()
        # The 5-point fit (boxes, quality, headshot checks) is the same for every embedder; an
        # ArcFace-style embedder also needs the template's five points for its 112 px chip.
        self.five_points = FivePointFitter() if self.embedder.alignment == ARCFACE_ALIGNMENT else None
        self._chip_checker = BlazeFaceDetector(full_range=False, min_confidence=0.4)

    @property
    def info(self) -> ModelInfo:
        e = self.embedder
        return ModelInfo(e.model_name, e.dim, e.preprocessing, e.normalized, self.detector.name)

    def load(self) -> None:
        self.detector.load()
        self.frames_detector.load()
        self.aligner.load()
        if self.five_points is not None:
            self.five_points.load()
        self.embedder.load()

    # -- stages -----------------------------------------------------------------------------

    def detect(self, image: RGBImage, options: PipelineOptions = PipelineOptions()) -> list[DetectedFace]:
        detector = self.frames_detector if options.video_frame else self.detector
        return self._usable(detector.detect(image), options)

    @staticmethod
    def _confident(found: list[DetectedFace], options: PipelineOptions) -> list[DetectedFace]:
        return [d for d in found if d.score >= options.min_detector_score]

    @classmethod
    def _usable(cls, found: list[DetectedFace], options: PipelineOptions) -> list[DetectedFace]:
        kept = [d for d in cls._confident(found, options) if min(d.box.w, d.box.h) >= options.min_face_size]
        kept.sort(key=lambda d: d.box.area, reverse=True)
        return kept

    def detect_subject(self, image: RGBImage, options: PipelineOptions = PipelineOptions()) -> list[DetectedFace]:
        """Faces of a single-subject photo, searched harder when none sits at the centre.

        A portrait's subject is framed at the centre. When the first detector that finds
        anything finds only bystanders (measured on LFW: 25 of 10,675 photos, where BlazeFace
        full-range missed the central face but found someone at the edge), the later stages of
        the cascade get their look too.
        """
        h, w = image.shape[:2]
        detected = self.detect(image, options)
        if detected and not any(_covers_centre(d.box, w, h) for d in detected) and isinstance(self.detector, CascadeDetector):
            # Only a confident face at the centre is worth adding: a weak HOG hit elsewhere (a
            # chest, a pattern) would otherwise compete with the real face.
            detected += [
                d
                for d in self._usable(self.detector.detect_later_stages(image, detected), options)
                if _covers_centre(d.box, w, h) and d.score >= _SECOND_LOOK_MIN_SCORE
            ]
        return self.main_face(detected, w, h)

    @staticmethod
    def main_face(detected: list[DetectedFace], width: int, height: int) -> list[DetectedFace]:
        """The one face of a single-subject photo: the face nearest the centre, distance
        measured in face sizes (a big face slightly off-centre still beats a small one at the
        edge; of two faces overlapping the centre the one centred on it wins)."""
        if len(detected) <= 1:
            return detected
        cx, cy = width / 2.0, height / 2.0

        def off_centre(d: DetectedFace) -> float:
            return float(np.hypot(d.box.x + d.box.w / 2.0 - cx, d.box.y + d.box.h / 2.0 - cy)) / max(1.0, float(np.sqrt(d.box.area)))

        return [min(detected, key=off_centre)]

    def align(self, image: RGBImage, detected: DetectedFace) -> Face:
        scale = 1.0 if detected.detector.startswith("dlib") else BLAZEFACE_TO_DLIB_SCALE
        rect = to_dlib_square(detected.box, scale)
        landmarks, shape = self.aligner.landmarks(image, rect)
        chip = self.chip(image, rect, shape, landmarks)
        quality, parts = face_quality(float(rect[2] - rect[0]), chip, landmarks)
        return Face(
            box=detected.box,
            score=detected.score,
            detector=detected.detector,
            landmarks=landmarks,
            quality=quality,
            quality_parts=parts,
            crop=chip,
        )

    def fit_whole_image(self, image: RGBImage) -> Face | None:
        """One face in an image no detector could read (a tight headshot).

        Landmarks are fitted in a few central squares; each fit is refined by re-deriving the
        box the landmarks imply and fitting again, and the most self-consistent plausible fit
        wins. The predictor always returns *some* points, so implausible geometry is refused.
        """
        h, w = image.shape[:2]
        side = min(h, w)
        centre_box = Box(int((w - side) / 2), int((h - side) / 2), side, side)
        best: tuple[float, Rect, Points, object] | None = None
        for scale in _WHOLE_IMAGE_SCALES:
            rect = to_dlib_square(centre_box, scale)
            landmarks, shape = self.aligner.landmarks(image, rect)
            drift = float("inf")
            for _ in range(_REFINE_STEPS):
                refined = box_from_landmarks(landmarks)
                if refined[2] - refined[0] < 16:
                    break
                new_landmarks, new_shape = self.aligner.landmarks(image, refined)
                drift = float(np.abs(new_landmarks - landmarks).max()) / max(1.0, refined[2] - refined[0])
                rect, landmarks, shape = refined, new_landmarks, new_shape
                if drift < 0.01:
                    break
            ok, _ = plausible_landmarks(landmarks, rect)
            if ok and (best is None or drift < best[0]):
                best = (drift, rect, landmarks, shape)
        if best is None or best[0] > 0.08:
            return None
        _, rect, landmarks, shape = best
        chip = self.chip(image, rect, shape, landmarks)
        if not self._chip_shows_face(chip):
            return None
        quality, parts = face_quality(float(rect[2] - rect[0]), chip, landmarks)
        x0, y0, x1, y1 = rect
        fbox = Box(max(0, x0), max(0, y0), min(w, x1) - max(0, x0), min(h, y1) - max(0, y0))
        return Face(fbox, 0.0, WHOLE_IMAGE, landmarks, quality, parts, crop=chip)

    def chip(self, image: RGBImage, rect: Rect, shape: object, landmarks: Points) -> RGBImage:
        """The aligned chip the running embedder was trained on: dlib's 150 px chip, or the
        112 px five-point ArcFace template for ONNX embedders."""
        if self.five_points is not None:
            return arcface_chip(image, self.five_points.five_points(image, rect, landmarks))
        return self.aligner.chip(image, shape)

    def _chip_shows_face(self, chip: RGBImage) -> bool:
        """An aligned chip of a real face is centred and upright: any face detector finds it.
        Noise, textures and cartoons fitted by the landmark predictor are refused here."""
        import cv2

        # cv2's stubs cannot say that resizing keeps the dtype: the enlarged chip is uint8 RGB too.
        big = cast(RGBImage, cv2.resize(chip, (_CHECK_SIZE, _CHECK_SIZE), interpolation=cv2.INTER_LINEAR))
        return bool(self._chip_checker.detect(big))

    # -- whole images -----------------------------------------------------------------------

    def find_faces(self, image: RGBImage, options: PipelineOptions = PipelineOptions()) -> FoundFaces:
        """Detect, filter (score, size), align and filter (quality): the one path every caller
        takes. Chips stay on the faces for embedding; nothing is embedded here."""
        # dlib's bindings need C-contiguous uint8 RGB (slices and views are not).
        image = np.ascontiguousarray(image, dtype=np.uint8)
        started = time.perf_counter()
        if options.expect_single_face:
            detected = self.detect_subject(image, options)
            confident = len(detected)
        else:
            raw = (self.frames_detector if options.video_frame else self.detector).detect(image)
            confident = len(self._confident(raw, options))
            detected = self._usable(raw, options)
        aligning = time.perf_counter()
        faces = [face for face in (self.align(image, d) for d in detected) if face.quality >= options.min_quality]
        if not faces and options.expect_single_face:
            fitted = self.fit_whole_image(image)
            faces = [fitted] if fitted is not None and fitted.quality >= options.min_quality else []
        return FoundFaces(confident, faces, aligning - started, time.perf_counter() - aligning)

    def embed_faces(self, faces: list[Face]) -> None:
        """Embeds the faces' chips in this process (see :meth:`attach` for a worker pool's)."""
        if faces:
            self.attach(faces, self.embedder.embed([_chip(face) for face in faces]))

    @staticmethod
    def attach(faces: list[Face], vectors: Vectors | list[Vectors]) -> None:
        """Gives each face its vector (row i for faces[i]), computed here or by a worker pool."""
        for face, vec in zip(faces, vectors):
            face.embedding = np.asarray(vec, dtype=np.float32)

    def analyze(self, image: RGBImage, options: PipelineOptions = PipelineOptions()) -> list[Face]:
        faces = self.find_faces(image, options).faces
        if options.embed:
            self.embed_faces(faces)
        if not options.keep_crops:
            for face in faces:
                face.crop = None
        return faces

    def analyze_file(self, path: str | Path, options: PipelineOptions = PipelineOptions()) -> ImageFaces:
        """Never raises for bad input: the error is reported in ``ImageFaces.error``."""
        try:
            image = decode_image(path)
        except ImageReadError as exc:
            return ImageFaces(source=str(path), error=str(exc))
        result = ImageFaces(source=str(path), width=image.shape[1], height=image.shape[0])
        result.faces = self.analyze(image, options)
        return result

    def analyze_bytes(self, data: bytes, name: str, options: PipelineOptions = PipelineOptions()) -> ImageFaces:
        try:
            image = decode_image(data, name=name)
        except ImageReadError as exc:
            return ImageFaces(source=name, error=str(exc))
        result = ImageFaces(source=name, width=image.shape[1], height=image.shape[0])
        result.faces = self.analyze(image, options)
        return result
