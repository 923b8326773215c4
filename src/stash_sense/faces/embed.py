"""Face embedders: aligned chip -> identity vector (the interface, and dlib's descriptor).

``faces/embedders.py`` opens one by name from the model catalog; ``embed_onnx.py`` holds the
ONNX Runtime one."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np

from .catalog import DEFAULT_EMBEDDER, catalog_entry, variant_name
from .models import InferenceModel, dlib_model_file
from .types import RGBImage, Vectors

# The aligned chip an embedder needs (the pipeline cuts the one its embedder names).
DLIB_ALIGNMENT = "dlib-chip150"
ARCFACE_ALIGNMENT = "arcface112"


class FaceEmbedder(InferenceModel):
    """Maps aligned RGB face chips to fixed-size float32 vectors."""

    dim: int
    model_name: str
    preprocessing: str
    normalized: bool
    alignment: str = DLIB_ALIGNMENT
    # Every vector has this length (None: lengths vary, as dlib's do); a mirror average is
    # brought back to it.
    vector_norm: float | None = None

    def check_available(self) -> None:
        """Raise ``ModelLoadError`` (saying how to fix it) when the model's files are missing;
        cheap (no model is loaded)."""

    @abstractmethod
    def embed(self, chips: list[RGBImage]) -> Vectors:
        """One float32 row per chip (``len(chips) x dim``)."""


class DlibResNetEmbedder(FaceEmbedder):
    """dlib's ResNet-29 face descriptor (the catalog's ``dlib`` runtime; 128-d, 99.38% on LFW as
    published).

    ``flip`` averages the descriptors of the chip and its mirror image, which cancels part of
    the left/right asymmetry of pose and lighting at twice the cost.
    """

    normalized = False

    def __init__(self, base: str = DEFAULT_EMBEDDER, *, flip: bool = False) -> None:
        super().__init__()
        self.entry = catalog_entry(base)
        self.flip = flip
        self.dim = self.entry.dim
        self.model_name = variant_name(self.entry.name, flip)
        self.preprocessing = "dlib-5pt-chip150-pad0.25-rgb"
        self.name = self.model_name

    def check_available(self) -> None:
        dlib_model_file(self.entry.file)

    def _load(self) -> Any:
        import dlib

        return dlib.face_recognition_model_v1(dlib_model_file(self.entry.file))

    def embed(self, chips: list[RGBImage]) -> Vectors:
        if not chips:
            return np.zeros((0, self.dim), dtype=np.float32)
        batch = [np.ascontiguousarray(c) for c in chips]
        vecs = np.asarray(self.model.compute_face_descriptor(batch), dtype=np.float32)
        if self.flip:
            mirrored = [np.ascontiguousarray(c[:, ::-1]) for c in chips]
            vecs = (vecs + np.asarray(self.model.compute_face_descriptor(mirrored), dtype=np.float32)) / 2.0
        return vecs.reshape(len(chips), self.dim)
