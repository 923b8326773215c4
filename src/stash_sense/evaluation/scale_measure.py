"""Measured figures of the gallery-scale evaluation: galleries, probes and impostor distances."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ..matching import ArrayGallery, Calibration, MatchParams, PerformerMatcher
from .impostor_tail import Floats
from .open_set_model import Replay

Embeddings = Mapping[str, np.ndarray | None]
_CHUNK = 256  # probes per distance block: bounds the (probes x faces) matrix


@dataclass(slots=True)
class Gallery:
    names: list[str]  # identity keys, index = performer id
    index: dict[str, int]
    array: ArrayGallery
    matcher: PerformerMatcher
    faces_per_identity: NDArray[np.int64]
    missing_faces: int  # gallery photos without an embedding

    def __len__(self) -> int:
        return len(self.names)


def build_gallery(identities: Mapping[str, list[Path]], embeddings: Embeddings, calibration: Calibration) -> Gallery:
    names = sorted(k for k, photos in identities.items() if any(embeddings.get(str(p)) is not None for p in photos))
    index = {n: i for i, n in enumerate(names)}
    vectors, labels, missing = [], [], 0
    for name in sorted(identities):
        for photo in identities[name]:
            vec = embeddings.get(str(photo))
            if vec is None:
                missing += 1
                continue
            vectors.append(vec)
            labels.append(index[name])
    if not vectors:
        raise ValueError("no gallery photo produced a face embedding")
    array = ArrayGallery(np.stack(vectors), np.array(labels))
    counts = np.bincount(np.array(labels), minlength=len(names)).astype(np.int64)
    return Gallery(names, index, array, PerformerMatcher(array, calibration), counts, missing)


def score_probes(gallery: Gallery, probes: list[tuple[str, Path]], embeddings: Embeddings, max_distance: float) -> Replay:
    """The top candidate of each probe: confidence, distance and whether it is the probe's own
    identity. A probe without a face is a rejected one (never right, never a false accept)."""
    confidence = np.zeros(len(probes))
    distance = np.full(len(probes), np.inf)
    correct = np.zeros(len(probes), dtype=bool)
    have = [i for i, (_, p) in enumerate(probes) if embeddings.get(str(p)) is not None]
    if have:
        queries = np.stack([np.asarray(embeddings[str(probes[i][1])]) for i in have])
        params = MatchParams(top_k=1, max_distance=max_distance, min_confidence=0.0)
        for i, cands in zip(have, gallery.matcher.match(queries, params)):
            top = cands[0]
            confidence[i], distance[i] = top.confidence, top.distance
            correct[i] = top.performer_id == gallery.index.get(probes[i][0], -1)
    return Replay(confidence, distance, correct)


def performer_distances(gallery: Gallery, queries: np.ndarray) -> tuple[Floats, Floats]:
    """(probes x identities) distances: to each identity's nearest face, and the distance the
    matcher reports for it (the nearer of that face and the identity's centroid, for identities
    with two or more faces)."""
    ids = gallery.array.performer_ids
    order = np.argsort(ids, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(ids[order]) != 0])
    centroids = np.stack([gallery.array.centroids[i] for i in range(len(gallery))]).astype(np.float64)
    multi = gallery.faces_per_identity >= 2
    faces, reported = [], []
    for lo in range(0, len(queries), _CHUNK):
        q = np.asarray(queries[lo : lo + _CHUNK], dtype=np.float64)
        face = np.minimum.reduceat(gallery.array.distances(q)[:, order], starts, axis=1)
        to_centroid = np.sqrt(np.maximum((q**2).sum(1)[:, None] + (centroids**2).sum(1)[None, :] - 2.0 * q @ centroids.T, 0.0))
        faces.append(face)
        reported.append(np.where(multi[None, :], np.minimum(face, to_centroid), face))
    return np.concatenate(faces), np.concatenate(reported)


def probe_vectors(probes: list[tuple[str, Path]], embeddings: Embeddings) -> tuple[np.ndarray, list[str]]:
    """The embeddings of the probes that have one, and their identity keys."""
    have = [(k, embeddings[str(p)]) for k, p in probes if embeddings.get(str(p)) is not None]
    if not have:
        return np.zeros((0, 0)), []
    return np.stack([np.asarray(v) for _, v in have]), [k for k, _ in have]


def genuine_distances(gallery: Gallery, probes: list[tuple[str, Path]], embeddings: Embeddings) -> tuple[Floats, Floats]:
    """Each known probe's (face, reported) distance to its own identity."""
    vectors, keys = probe_vectors([(k, p) for k, p in probes if k in gallery.index], embeddings)
    if not keys:
        return np.zeros(0), np.zeros(0)
    face, reported = performer_distances(gallery, vectors)
    cols = np.array([gallery.index[k] for k in keys])
    rows = np.arange(len(keys))
    return face[rows, cols], reported[rows, cols]
