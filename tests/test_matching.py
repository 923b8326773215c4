"""Performer-level matching and calibrated confidence (no models: real maths on known data)."""

from __future__ import annotations

import numpy as np

from stash_sense.matching import ArrayGallery, MatchParams, PerformerMatcher, load_default_calibration, match_features
from stash_sense.matching.calibration import fit_logistic


def _gallery(rng: np.random.Generator, performers: int, faces: int, spread: float = 0.1) -> tuple[ArrayGallery, np.ndarray]:
    centres = rng.normal(size=(performers, 128)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vecs = np.repeat(centres, faces, axis=0) + rng.normal(scale=spread / np.sqrt(128), size=(performers * faces, 128))
    labels = np.repeat(np.arange(performers), faces)
    return ArrayGallery(vecs.astype(np.float32), labels), centres


def test_search_performers_groups_faces_by_performer_and_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    gallery, centres = _gallery(rng, 40, 3)
    queries = centres[:5] + rng.normal(scale=0.01, size=(5, 128)).astype(np.float32)
    hits = gallery.search_performers(queries, k_faces=6, top_k=5)
    full = gallery.distances(queries)
    for q, row in enumerate(hits):
        assert row[0].performer_id == q
        assert len({h.performer_id for h in row}) == len(row) == 5
        for h in row:
            mine = full[q][gallery.performer_ids == h.performer_id]
            assert np.isclose(h.distance, mine.min(), atol=1e-5)
            assert h.faces_in_db == 3
        assert [h.distance for h in row] == sorted(h.distance for h in row)


def test_search_widens_when_one_performer_owns_all_nearest_faces() -> None:
    rng = np.random.default_rng(1)
    gallery, centres = _gallery(rng, 3, 30, spread=0.01)
    hits = gallery.search_performers(centres[:1], k_faces=5, top_k=3)[0]
    assert [h.performer_id for h in hits][0] == 0 and len(hits) == 3


def test_confidence_is_high_for_clear_matches_and_low_for_strangers_whatever_the_db_size() -> None:
    cal = load_default_calibration("dlib-resnet-v1")
    # A tiny DB: the other performers are far away. The stranger profile keeps the confidence
    # of a borderline match from being inflated by that emptiness.
    tiny_close = cal.probability(np.array([match_features([0.38, 0.85, 0.9], 0, cal)]))[0]
    tiny_border = cal.probability(np.array([match_features([0.58, 0.85, 0.9], 0, cal)]))[0]
    big_list = [0.38] + list(np.linspace(0.55, 0.7, 40))
    big_close = cal.probability(np.array([match_features(big_list, 0, cal)]))[0]
    assert tiny_close > 0.8 and big_close > 0.8
    assert tiny_border < cal.default_min_confidence
    # Monotonic: a farther best match is never more confident.
    probs = [cal.probability(np.array([match_features([d] + big_list[1:], 0, cal)]))[0] for d in np.linspace(0.3, 0.7, 9)]
    assert all(a >= b for a, b in zip(probs, probs[1:]))


def test_matcher_rejects_with_reasons() -> None:
    rng = np.random.default_rng(2)
    gallery, centres = _gallery(rng, 20, 2)
    cal = load_default_calibration("dlib-resnet-v1")
    matcher = PerformerMatcher(gallery, cal)
    far = rng.normal(size=(1, 128)).astype(np.float32)
    far = far / np.linalg.norm(far) * 0.3
    out = matcher.match(np.vstack([centres[3:4], far]), MatchParams(top_k=3, max_distance=0.6))
    assert out[0][0].performer_id == 3 and out[0][0].accepted
    assert not any(c.accepted for c in out[1])
    assert all(c.rejected_because for c in out[1])


def test_fit_logistic_separates_classes() -> None:
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(0.4, 0.05, 500), rng.normal(0.8, 0.05, 500)])[:, None]
    y = np.concatenate([np.ones(500), np.zeros(500)])
    w, b, mean, scale = fit_logistic(x, y)
    p = 1 / (1 + np.exp(-(((x - mean) / scale) @ w + b)))
    assert ((p > 0.5) == (y == 1)).mean() > 0.99
