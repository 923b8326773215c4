"""Typed outputs of the face pipeline (pure data, no model code)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import NDArray

RGBImage: TypeAlias = NDArray[np.uint8]
"""An RGB image or aligned face chip: height x width x 3, uint8."""

Points: TypeAlias = NDArray[np.floating[Any]]
"""Points in image pixels, one (x, y) row each (dlib's landmarks are float32, fitted ones float64)."""

Vectors: TypeAlias = NDArray[np.float32]
"""Face embeddings: one float32 row per face (or a single vector)."""

Rect: TypeAlias = tuple[int, int, int, int]
"""A dlib rectangle: (left, top, right, bottom) in image pixels."""


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
    keypoints: Points | None = None  # detector keypoints (N x 2), image pixels, if any


@dataclass(slots=True)
class Face:
    """A detected, aligned and embedded face."""

    box: Box
    score: float
    detector: str
    landmarks: Points  # 5 x 2 dlib landmarks in image pixels
    quality: float  # in [0, 1]: size, sharpness and pose combined
    quality_parts: dict[str, float] = field(default_factory=dict)
    embedding: Vectors | None = None  # the embedder's float32 vector (see FaceEmbedder.vector_norm)
    crop: RGBImage | None = None  # aligned RGB face chip (uint8) of the size the embedder takes


@dataclass(slots=True)
class ImageFaces:
    """Faces found in one image (or the error that stopped it)."""

    source: str
    width: int = 0
    height: int = 0
    faces: list[Face] = field(default_factory=list)
    error: str | None = None
