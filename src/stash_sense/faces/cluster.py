"""Group a scene's faces into persons.

Average-linkage agglomerative clustering on descriptor distance, with one constraint the
geometry gives for free: two faces in the same frame are two different people. A scene has a
few hundred faces at most, so the full distance matrix is cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray


def cluster_faces(embeddings: NDArray[np.floating[Any]], frame_ids: Sequence[int], threshold: float) -> list[list[int]]:
    """Clusters as lists of face indices, largest first."""
    n = len(embeddings)
    if n == 0:
        return []
    x = np.asarray(embeddings, dtype=np.float64)
    sq = (x**2).sum(axis=1)
    dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0))
    frames = np.asarray(frame_ids)
    clusters: list[list[int]] = [[i] for i in range(n)]
    # Cluster-level sums of distances make average linkage an O(1) update per merge.
    sums = dist.copy()
    sizes = np.ones(n)
    alive = np.ones(n, dtype=bool)
    frame_sets = [{int(frames[i])} for i in range(n)]
    big = np.inf
    linkage = sums / np.outer(sizes, sizes)
    np.fill_diagonal(linkage, big)
    for i in range(n):
        for j in range(i + 1, n):
            if frames[i] == frames[j]:
                linkage[i, j] = linkage[j, i] = big
    while True:
        flat = int(np.argmin(linkage))
        a, b = divmod(flat, n)
        if not np.isfinite(linkage[a, b]) or linkage[a, b] > threshold:
            break
        # Merge b into a.
        clusters[a].extend(clusters[b])
        clusters[b] = []
        frame_sets[a] |= frame_sets[b]
        sums[a, :] += sums[b, :]
        sums[:, a] += sums[:, b]
        sizes[a] += sizes[b]
        alive[b] = False
        linkage[b, :] = big
        linkage[:, b] = big
        for k in np.flatnonzero(alive):
            if k == a:
                continue
            if frame_sets[a] & frame_sets[k]:
                value = big
            else:
                value = sums[a, k] / (sizes[a] * sizes[k])
            linkage[a, k] = linkage[k, a] = value
        linkage[a, a] = big
    return sorted((c for c in clusters if c), key=len, reverse=True)
