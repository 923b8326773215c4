"""Face embedders run by ONNX Runtime (EdgeFace): 112x112 aligned chip -> 512-d unit vector.

The model file is installed by ``stash-sense models install`` into the models directory and
only looked for here; nothing is ever downloaded at run time. A session runs on the providers
of ``STASH_SENSE_ONNX_PROVIDERS`` (CPU by default) with ``STASH_SENSE_ONNX_THREADS`` intra-op
threads (1 by default: the worker pool already runs one process per core).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .align import ARCFACE_SIZE
from .catalog import catalog_entry, install_command, installed_path, variant_name
from .embed import ARCFACE_ALIGNMENT, FaceEmbedder
from .models import ModelLoadError
from .types import RGBImage, Vectors

# Faces per inference call: large enough to amortise the call, small enough to keep memory flat.
BATCH = 64

# EdgeFace's unit vectors are scaled by this so that Euclidean distances share dlib's scale:
# the distance settings of matching, clustering and DB building (max_distance 0.6,
# cluster_threshold 0.5, the duplicate-photo distance) then keep their meaning. It is the ratio
# of the two models' verification thresholds fitted on LFW pair folds 3-10 (dlib 0.623,
# edgeface-xs 1.2286 on the unit sphere: 0.623 / 1.2286 = 0.507); see docs/accuracy.md.
DISTANCE_SCALE = 0.507


class ModelNotInstalledError(ModelLoadError):
    """The embedder's model file is not in the models directory."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class OnnxFaceEmbedder(FaceEmbedder):
    """An ArcFace-style ONNX model (input ``N x 3 x 112 x 112`` RGB in [-1, 1]).

    ``flip`` averages the embeddings of the chip and its mirror image before normalising.
    """

    # Not unit length but of one constant length (DISTANCE_SCALE): the face DB's unit-norm check
    # does not apply, the model name and preprocessing keep DBs of other models apart.
    normalized = False
    alignment = ARCFACE_ALIGNMENT
    vector_norm = DISTANCE_SCALE

    def __init__(self, base: str, *, flip: bool = False, providers: list[str] | None = None, threads: int | None = None) -> None:
        super().__init__()
        self.entry = catalog_entry(base)
        self.flip = flip
        self.dim = self.entry.dim
        self.model_name = variant_name(self.entry.name, flip)
        self.name = self.model_name
        self.preprocessing = f"arcface112-eyes5pt-dlib68-rgb-pm1-unit-x{DISTANCE_SCALE}"
        self._providers = providers
        self._threads = threads

    def check_available(self) -> None:
        path = installed_path(self.entry.name)
        if not path.is_file():
            raise ModelNotInstalledError(
                f"face model {self.entry.name} is not installed (looked for {path}); install it with "
                f"`{install_command(self.entry.name)}`"
            )

    def _load(self) -> Any:
        import onnxruntime as ort

        from ..config import onnx_providers, onnx_threads

        self.check_available()
        path = installed_path(self.entry.name)
        if path.stat().st_size != self.entry.size or _sha256(path) != self.entry.sha256:
            raise ModelLoadError(
                f"{path} is damaged (size or sha256 differs from the catalog); reinstall it with "
                f"`{install_command(self.entry.name)}` (check with `stash-sense models verify`)"
            )
        providers = self._providers or onnx_providers()
        available = ort.get_available_providers()
        missing = [p for p in providers if p not in available]
        if missing:
            raise ModelLoadError(
                f"ONNX Runtime providers {', '.join(missing)} are not available (available: {', '.join(available)}); "
                "check STASH_SENSE_ONNX_PROVIDERS"
            )
        options = ort.SessionOptions()
        threads = onnx_threads() if self._threads is None else self._threads
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        self._input = session.get_inputs()[0].name
        return session

    def _run(self, batch: NDArray[np.float32]) -> Vectors:
        return np.asarray(self.model.run(None, {self._input: batch})[0], dtype=np.float32)

    def embed(self, chips: list[RGBImage]) -> Vectors:
        if not chips:
            return np.zeros((0, self.dim), dtype=np.float32)
        for c in chips:
            if c.shape != (ARCFACE_SIZE, ARCFACE_SIZE, 3):
                raise ValueError(f"{self.model_name} needs {ARCFACE_SIZE}x{ARCFACE_SIZE} RGB chips, got shape {c.shape}")
        x = np.stack(chips).astype(np.float32).transpose(0, 3, 1, 2)
        x = (x / 127.5 - 1.0).astype(np.float32)
        out = []
        for i in range(0, len(x), BATCH):
            part = np.ascontiguousarray(x[i : i + BATCH])
            vec = _unit(self._run(part))
            if self.flip:
                # The mean of the two unit vectors, as the evaluation cache computes it.
                vec = _unit(vec + _unit(self._run(np.ascontiguousarray(part[:, :, :, ::-1]))))
            out.append(vec)
        return (np.concatenate(out, axis=0) * DISTANCE_SCALE).astype(np.float32)


def _unit(vecs: Vectors) -> Vectors:
    unit: Vectors = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    return unit
