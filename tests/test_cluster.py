from __future__ import annotations

import numpy as np

from stash_sense.faces.cluster import cluster_faces


def test_clusters_persons_across_frames_and_never_merges_faces_of_one_frame() -> None:
    rng = np.random.default_rng(0)
    people = rng.normal(size=(3, 128))
    people /= np.linalg.norm(people, axis=1, keepdims=True)
    vecs, frames, truth = [], [], []
    for frame in range(12):
        for p in range(3):
            vecs.append(people[p] + rng.normal(scale=0.2 / np.sqrt(128), size=128))
            frames.append(frame)
            truth.append(p)
    clusters = cluster_faces(np.array(vecs), frames, threshold=0.5)
    assert len(clusters) == 3
    for c in clusters:
        assert len({truth[i] for i in c}) == 1
        assert len({frames[i] for i in c}) == len(c)


def test_same_frame_twins_stay_apart() -> None:
    v = np.zeros((2, 128))
    v[:, 0] = 1.0
    assert len(cluster_faces(v, [0, 0], threshold=0.5)) == 2
    assert len(cluster_faces(v, [0, 1], threshold=0.5)) == 1


def test_empty() -> None:
    assert cluster_faces(np.zeros((0, 128)), [], 0.5) == []
