"""Match query embeddings to performers: ranked candidates with calibrated confidence."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .calibration import Calibration
from .gallery import FloatArray, with_centroids
from .types import PerformerHit


class PerformerSearch(Protocol):
    """What the matcher searches: an :class:`~.gallery.ArrayGallery` or a face DB."""

    def search_performers(self, queries: FloatArray, *, k_faces: int = 50, top_k: int = 5) -> list[list[PerformerHit]]: ...


@dataclass(frozen=True, slots=True)
class MatchParams:
    top_k: int = 5
    max_distance: float = 0.6  # hard ceiling, whatever the confidence
    min_confidence: float | None = None  # None: the calibration's default operating point


@dataclass(slots=True)
class Candidate:
    performer_id: int
    distance: float
    confidence: float
    margin: float  # distance to the best *other* performer minus this one's (> 0 for the leader)
    cohort_z: float
    faces_in_db: int
    accepted: bool
    rejected_because: str | None = None


def match_features(distances: list[float], index: int, cal: Calibration) -> tuple[float, float, float]:
    """(distance, margin, cohort_z) for candidate ``index`` among a query's performer distances.

    The cohort is the query's nearest *other* performers merged with the calibration's stranger
    profile; margin is the gap to the nearest of them, cohort_z how far the candidate stands
    out from them in their own spread.
    """
    d = distances[index]
    others = sorted(distances[:index] + distances[index + 1 :] + list(cal.stranger_profile))[: cal.cohort_size]
    cohort = np.asarray(others, dtype=np.float64)
    sigma = max(float(cohort.std()), 0.02)
    return d, others[0] - d, (float(cohort.mean()) - d) / sigma


class PerformerMatcher:
    """Ranks performers for each query and decides which are accepted."""

    def __init__(
        self, gallery: PerformerSearch, calibration: Calibration, centroids: Mapping[int, FloatArray] | None = None
    ) -> None:
        self.gallery = gallery
        self.calibration = calibration
        # An ArrayGallery carries its performers' centroids; a face DB's come from the caller.
        self.centroids: Mapping[int, FloatArray] | None = centroids if centroids is not None else getattr(gallery, "centroids", None)

    def match(self, queries: FloatArray, params: MatchParams = MatchParams()) -> list[list[Candidate]]:
        cal = self.calibration
        min_conf = cal.default_min_confidence if params.min_confidence is None else params.min_confidence
        depth = max(params.top_k, cal.cohort_size + 1)
        results: list[list[Candidate]] = []
        queries = np.atleast_2d(queries)
        centroids = self.centroids
        for query, hits in zip(queries, self.gallery.search_performers(queries, k_faces=max(50, 4 * depth), top_k=depth)):
            if centroids is not None:
                hits = with_centroids(query, hits, centroids)
            dists = [h.distance for h in hits]
            feats = np.array([match_features(dists, i, cal) for i in range(len(hits))]) if hits else np.zeros((0, 3))
            probs = cal.probability(feats) if len(hits) else np.zeros(0)
            cands: list[Candidate] = []
            for i, hit in enumerate(hits[: params.top_k]):
                d, margin, z = feats[i]
                reason = None
                if d > params.max_distance:
                    reason = f"distance {d:.3f} > max_distance {params.max_distance:.3f}"
                elif probs[i] < min_conf:
                    reason = f"confidence {probs[i]:.2f} < min_confidence {min_conf:.2f}"
                cands.append(
                    Candidate(hit.performer_id, float(d), float(probs[i]), float(margin), float(z), hit.faces_in_db, reason is None, reason)
                )
            results.append(cands)
        return results
