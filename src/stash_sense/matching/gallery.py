"""Exact in-memory gallery with the face DB's performer-search interface, and the
performer-level distance both use.

Evaluations build galleries on the fly; the face DB serves the same ``search_performers``
contract from its vector index, so the matcher cannot tell them apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .types import PerformerHit

FloatArray: TypeAlias = NDArray[np.floating[Any]]
"""Face descriptors (one row each) or a single descriptor, float32 or float64."""

IdArray: TypeAlias = NDArray[np.integer[Any]]
"""Performer ids, one per descriptor row."""


def performer_centroids(vectors: FloatArray, performer_ids: IdArray) -> dict[int, FloatArray]:
    """Mean descriptor per performer: a template steadier than any single photo."""
    out: dict[int, FloatArray] = {}
    order = np.argsort(performer_ids, kind="stable")
    ids, starts = np.unique(performer_ids[order], return_index=True)
    for pid, a, b in zip(ids.tolist(), starts, list(starts[1:]) + [len(order)]):
        out[pid] = vectors[order[a:b]].mean(axis=0)
    return out


def with_centroids(query: FloatArray, hits: list[PerformerHit], centroids: Mapping[int, FloatArray]) -> list[PerformerHit]:
    """A performer's distance is the nearer of its nearest face and its centroid.

    With several photos of a performer, the centroid averages away pose and lighting and
    lands closer to a genuine query than most single photos do; with one photo the two are
    the same, so single-photo performers (and the calibration fitted on them) are unaffected.
    """
    out = []
    for h in hits:
        c = centroids.get(h.performer_id)
        d = h.distance if c is None or h.faces_in_db < 2 else min(h.distance, float(np.linalg.norm(query - c)))
        out.append(PerformerHit(h.performer_id, d, h.second_distance, h.faces_matched, h.faces_in_db))
    return sorted(out, key=lambda h: h.distance)


class ArrayGallery:
    def __init__(self, vectors: ArrayLike, performer_ids: ArrayLike) -> None:
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.performer_ids = np.asarray(performer_ids, dtype=np.int64)
        self._sq: NDArray[np.float64] = (self.vectors.astype(np.float64) ** 2).sum(axis=1)
        ids, counts = np.unique(self.performer_ids, return_counts=True)
        self.face_counts: dict[int, int] = dict(zip(ids.tolist(), counts.tolist()))
        self.centroids = performer_centroids(self.vectors, self.performer_ids)

    def __len__(self) -> int:
        return len(self.vectors)

    def distances(self, queries: ArrayLike) -> NDArray[np.float64]:
        """Euclidean distance from each query row to each gallery vector (queries x gallery)."""
        q = np.asarray(queries, dtype=np.float64)
        d2 = (q**2).sum(axis=1)[:, None] + self._sq[None, :] - 2.0 * q @ self.vectors.T.astype(np.float64)
        d: NDArray[np.float64] = np.sqrt(np.maximum(d2, 0.0))
        return d

    def search_performers(self, queries: ArrayLike, *, k_faces: int = 50, top_k: int = 5) -> list[list[PerformerHit]]:
        n = len(self.vectors)
        queries = np.atleast_2d(queries)
        out: list[list[PerformerHit]] = []
        for row in self.distances(queries):
            k = min(n, max(k_faces, top_k))
            while True:
                idx = np.argpartition(row, k - 1)[:k] if k < n else np.arange(n)
                hits = group_hits(self.performer_ids[idx], row[idx], self.face_counts)
                # Too few distinct performers among the nearest faces: widen the search.
                if len(hits) >= top_k or k >= n:
                    break
                k = min(n, k * 4)
            out.append(hits[:top_k])
        return out


def group_hits(performer_ids: IdArray, distances: FloatArray, face_counts: Mapping[int, int]) -> list[PerformerHit]:
    """Nearest face hits grouped by performer, nearest performer first."""
    order = np.argsort(distances, kind="stable")
    grouped: dict[int, list[float]] = {}
    for i in order:
        grouped.setdefault(int(performer_ids[i]), []).append(float(distances[i]))
    return [
        PerformerHit(pid, d[0], d[1] if len(d) > 1 else None, len(d), face_counts.get(pid, len(d)))
        for pid, d in grouped.items()
    ]
