"""Synthetic face-DB data for the face-DB tests: clustered unit vectors, no ML models.

Each performer gets a random unit "identity" direction; their faces are that direction plus
Gaussian noise, re-normalised. With ``spread=0.5`` faces of one performer lie about 0.5-0.7
apart and different performers about 1.4 apart, roughly like dlib descriptors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stash_sense.facedb import EmbeddingModelInfo, FaceDBWriter, Identity, Manifest

STASHDB = "https://stashdb.org/graphql"
MODEL = EmbeddingModelInfo(model="test-embedder-v1", dim=64, preprocessing="test-chip-112", normalized=True)
DETECTOR = "test-detector"


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    return (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)


def clustered_vectors(
    rng: np.random.Generator, face_counts: list[int], dim: int, spread: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(centers (P, d), vectors (sum(face_counts), d), performer index per vector)``."""
    centers = unit_rows(rng.standard_normal((len(face_counts), dim)))
    owner = np.repeat(np.arange(len(face_counts)), face_counts)
    noise = rng.standard_normal((len(owner), dim)) * spread / np.sqrt(dim)
    return centers, unit_rows(centers[owner] + noise), owner


@dataclass
class SyntheticDB:
    directory: Path
    manifest: Manifest
    centers: np.ndarray
    vectors: np.ndarray  # in insertion order (== face id order)
    owner: np.ndarray  # index into face_counts for each vector
    performer_ids: list[int]  # DB id of performer i
    face_ids: list[int]  # DB id of vector j
    face_counts: list[int]


def build_synthetic_db(
    directory: Path,
    face_counts: list[int],
    *,
    seed: int = 7,
    model: EmbeddingModelInfo = MODEL,
    sources: tuple[str, ...] = ("synthetic",),
) -> SyntheticDB:
    """Write and finalize a DB where performer ``i`` has ``face_counts[i]`` faces.

    Each performer is one source (``"performer-i"``); face qualities decrease with the face's
    position so the "best faces" of a performer are its first ones.
    """
    rng = np.random.default_rng(seed)
    centers, vectors, owner = clustered_vectors(rng, face_counts, model.dim)
    performer_ids: list[int] = []
    face_ids: list[int] = []
    with FaceDBWriter(directory, model, DETECTOR) as writer:
        start = 0
        for i, count in enumerate(face_counts):
            pid = writer.upsert_performer(
                Identity(STASHDB, f"uuid-{i:04d}"), f"Performer {i}", aliases=[f"P{i}"], gender="FEMALE"
            )
            performer_ids.append(pid)
            for j in range(count):
                face_ids.append(
                    writer.add_face(
                        pid,
                        vectors[start + j],
                        source=f"/photos/{i}/{j}.jpg",
                        quality=1.0 - j / (count + 1),
                        detector=DETECTOR,
                        box=[10, 20, 100, 100],
                        extra={"yaw": float(j)},
                    )
                )
            start += count
            writer.mark_source_done(f"performer-{i}")
        manifest = writer.finalize(sources=list(sources), calibration={"kind": "test", "scale": 2.0})
    return SyntheticDB(directory, manifest, centers, vectors, owner, performer_ids, face_ids, list(face_counts))


def sha256_tree(directory: Path) -> dict[str, str]:
    """sha256 of every file under ``directory`` by relative path."""
    import hashlib

    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }
