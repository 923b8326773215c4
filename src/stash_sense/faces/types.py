"""Typed outputs of the face pipeline (pure data, no model code)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, slots=True)
class Box:
    """Axis-aligned face box in image pixels (top-left origin)."""

    x: int
    y: int
    w: int
    h: int

    @property
    def area(self) -> int:
        return self.w * self.h

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]


@dataclass(slots=True)
class DetectedFace:
    """One face found by a detector, before embedding."""

    box: Box
    score: float  # detector confidence in [0, 1]
    detector: str  # which detector found it ("blazeface-full", "dlib-hog", "whole-image", ...)
    keypoints: np.ndarray | None = None  # detector keypoints (N x 2), image pixels, if any


@dataclass(slots=True)
class Face:
    """A detected, aligned and embedded face."""

    box: Box
    score: float
    detector: str
    landmarks: np.ndarray  # 5 x 2 dlib landmarks in image pixels
    quality: float  # in [0, 1]: size, sharpness and pose combined
    quality_parts: dict[str, float] = field(default_factory=dict)
    embedding: np.ndarray | None = None  # the embedder's float32 vector (see FaceEmbedder.vector_norm)
    crop: np.ndarray | None = None  # aligned RGB face chip (uint8) of the size the embedder takes


@dataclass(slots=True)
class ImageFaces:
    """Faces found in one image (or the error that stopped it)."""

    source: str
    width: int = 0
    height: int = 0
    faces: list[Face] = field(default_factory=list)
    error: str | None = None
