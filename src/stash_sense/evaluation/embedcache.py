"""Per-image embeddings of labelled photo sets, cached on disk.

Evaluations revisit the same thousands of photos many times while parameters are tuned; the
descriptors depend only on the photo and the models, so each photo is embedded once per model
version and kept in a small SQLite file under ``STASH_SENSE_CACHE``.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import cache_dir
from ..faces.parallel import FaceWorkerPool
from ..faces.pipeline import FacePipeline, PipelineOptions

CACHE_FORMAT = 4  # 4: single-subject photos look again for a confident central face


@dataclass(slots=True)
class ImageEmbedding:
    path: str
    embedding: np.ndarray | None  # plain descriptor of the main face
    mirrored: np.ndarray | None  # descriptor of the mirrored chip (flip averaging = mean of both)
    detector: str | None
    quality: float
    error: str | None  # why there is no embedding (unreadable file, no face)

    def vector(self, flip: bool, norm: float | None = None) -> np.ndarray | None:
        """The plain or the mirror-averaged descriptor; for a model whose vectors all have
        length ``norm`` the mean is brought back to it (what its ``+flip`` embedder returns)."""
        if self.embedding is None:
            return None
        if not flip:
            return self.embedding
        mean = (self.embedding + self.mirrored) / 2.0
        if norm is not None:
            mean = mean * (norm / max(float(np.linalg.norm(mean)), 1e-12))
        return mean.astype(np.float32)


def _embed_main_face(pipeline: FacePipeline, path: str) -> ImageEmbedding:
    options = PipelineOptions(expect_single_face=True, embed=False, keep_crops=True)
    result = pipeline.analyze_file(path, options)
    if result.error:
        return ImageEmbedding(path, None, None, None, 0.0, result.error)
    if not result.faces:
        return ImageEmbedding(path, None, None, None, 0.0, "no face found")
    face = result.faces[0]
    plain, mirrored = pipeline.embedder.embed([face.crop, np.ascontiguousarray(face.crop[:, ::-1])])
    return ImageEmbedding(path, plain, mirrored, face.detector, face.quality, None)


def _key(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{int(st.st_mtime)}|{CACHE_FORMAT}"


class EmbeddingCache:
    def __init__(self, model_name: str, detector_name: str, file: Path | None = None) -> None:
        self.file = file or cache_dir() / "embeddings.sqlite"
        self.table = "emb_" + "".join(c if c.isalnum() else "_" for c in f"{model_name}_{detector_name}")
        self._con = sqlite3.connect(self.file)
        self._con.execute(
            f"CREATE TABLE IF NOT EXISTS {self.table} (key TEXT PRIMARY KEY, path TEXT, emb BLOB, mir BLOB, "
            "detector TEXT, quality REAL, error TEXT)"
        )

    def get(self, paths: Sequence[Path], pool: FaceWorkerPool, *, progress: bool = True) -> dict[str, ImageEmbedding]:
        """Embeddings for every path, keyed by ``str(path)`` (computed in the pool when not cached)."""
        keys = {str(p): _key(Path(p)) for p in paths}
        found: dict[str, ImageEmbedding] = {}
        by_key = {}
        rows = self._con.execute(f"SELECT key, emb, mir, detector, quality, error FROM {self.table}").fetchall()
        by_key = {r[0]: r for r in rows}
        missing = []
        for p, k in keys.items():
            r = by_key.get(k)
            if r is None:
                missing.append(p)
                continue
            emb = np.frombuffer(r[1], dtype=np.float32) if r[1] else None
            mir = np.frombuffer(r[2], dtype=np.float32) if r[2] else None
            found[p] = ImageEmbedding(p, emb, mir, r[3], r[4], r[5])
        for i, item in enumerate(pool.map(_embed_main_face, missing), 1):
            found[item.path] = item
            self._con.execute(
                f"INSERT OR REPLACE INTO {self.table} VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    keys[item.path], item.path,
                    None if item.embedding is None else item.embedding.astype(np.float32).tobytes(),
                    None if item.mirrored is None else item.mirrored.astype(np.float32).tobytes(),
                    item.detector, item.quality, item.error,
                ),
            )
            if i % 100 == 0 or i == len(missing):
                self._con.commit()
                if progress:
                    print(f"  embedded {i}/{len(missing)} images", file=sys.stderr, flush=True)
        return found
