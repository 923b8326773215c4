"""Exact in-memory gallery with the face DB's performer-search interface.

Evaluations build galleries on the fly; the face DB serves the same ``search_performers``
contract from its vector index, so the matcher cannot tell them apart.
"""

from __future__ import annotations

import numpy as np

from ..facedb.types import PerformerHit


class ArrayGallery:
    def __init__(self, vectors: np.ndarray, performer_ids: np.ndarray) -> None:
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.performer_ids = np.asarray(performer_ids, dtype=np.int64)
        self._sq = (self.vectors.astype(np.float64) ** 2).sum(axis=1)
        ids, counts = np.unique(self.performer_ids, return_counts=True)
        self.face_counts = dict(zip(ids.tolist(), counts.tolist()))

    def __len__(self) -> int:
        return len(self.vectors)

    def distances(self, queries: np.ndarray) -> np.ndarray:
        q = np.asarray(queries, dtype=np.float64)
        d2 = (q**2).sum(axis=1)[:, None] + self._sq[None, :] - 2.0 * q @ self.vectors.T.astype(np.float64)
        return np.sqrt(np.maximum(d2, 0.0))

    def search_performers(self, queries: np.ndarray, *, k_faces: int = 50, top_k: int = 5) -> list[list[PerformerHit]]:
        n = len(self.vectors)
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


def group_hits(performer_ids: np.ndarray, distances: np.ndarray, face_counts: dict[int, int]) -> list[PerformerHit]:
    """Nearest face hits grouped by performer, nearest performer first."""
    order = np.argsort(distances, kind="stable")
    grouped: dict[int, list[float]] = {}
    for i in order:
        grouped.setdefault(int(performer_ids[i]), []).append(float(distances[i]))
    return [
        PerformerHit(pid, d[0], d[1] if len(d) > 1 else None, len(d), face_counts.get(pid, len(d)))
        for pid, d in grouped.items()
    ]
