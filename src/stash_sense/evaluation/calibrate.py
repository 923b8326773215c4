"""Fit the confidence calibration on tuning data only (never on what is reported).

Tuning protocol on ``lfw/tuning``: each identity that also exists in ``lfw/people`` puts its
first tuning photo in the gallery and the rest are known probes; strangers (identities absent
from ``lfw/people``) alternate between gallery distractors and unknown probes. The gallery is
about the size of the reported LFW one, so margins and cohort scores behave alike.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..matching import ArrayGallery, Calibration, match_features
from ..matching.calibration import fit_logistic
from .identify import Split


def tuning_split(tuning: dict[str, list[Path]], people_names: set[str]) -> Split:
    split = Split()
    strangers = sorted(n for n in tuning if n not in people_names)
    for name, images in tuning.items():
        if name in people_names:
            split.gallery[name] = images[:1]
            split.known_probes.extend((name, p) for p in images[1:])
    for i, name in enumerate(strangers):
        if i % 2 == 0:
            split.gallery[name] = tuning[name]
            split.distractor_identities += 1
        else:
            split.unknown_probes.extend((name, p) for p in tuning[name])
    return split


def _performer_distances(gallery: ArrayGallery, queries: np.ndarray, depth: int) -> list[tuple[list[int], list[float]]]:
    hits = gallery.search_performers(queries, k_faces=4 * depth, top_k=depth)
    return [([h.performer_id for h in row], [h.distance for h in row]) for row in hits]


def fit_calibration(split: Split, embeddings: dict[str, np.ndarray | None], *, model: str, target_far: float = 0.03) -> Calibration:
    names = sorted(split.gallery)
    ids = {n: i for i, n in enumerate(names)}
    vecs, labels = [], []
    for n in names:
        for p in split.gallery[n]:
            if embeddings.get(str(p)) is not None:
                vecs.append(embeddings[str(p)])
                labels.append(ids[n])
    gallery = ArrayGallery(np.stack(vecs), np.array(labels))
    cal = Calibration(model=model, weights=[0.0, 0.0, 0.0], bias=0.0, mean=[0.0] * 3, scale=[1.0] * 3)
    depth = cal.cohort_size + 1

    probes = [(n, p, True) for n, p in split.known_probes] + [(n, p, False) for n, p in split.unknown_probes]
    probes = [x for x in probes if embeddings.get(str(x[1])) is not None]
    rows = _performer_distances(gallery, np.stack([embeddings[str(p)] for _, p, _ in probes]), depth)

    # Stranger profile from the unknown probes: every gallery performer is a stranger to them.
    ranks = np.array([d[: cal.cohort_size] for (_, _, known), (_, d) in zip(probes, rows) if not known and len(d) >= cal.cohort_size])
    cal.stranger_profile = [round(float(x), 4) for x in np.median(ranks, axis=0)]

    feats, ys, top1 = [], [], []
    for (name, _, known), (pids, dists) in zip(probes, rows):
        truth = ids.get(name, -1) if known else -1
        for i in range(min(3, len(dists))):
            feats.append(match_features(dists, i, cal))
            ys.append(1.0 if pids[i] == truth else 0.0)
            if i == 0:
                top1.append((len(feats) - 1, known, pids[0] == truth))
    x, y = np.array(feats), np.array(ys)
    w, b, mean, scale = fit_logistic(x, y)
    cal.weights, cal.bias, cal.mean, cal.scale = w.tolist(), b, mean.tolist(), scale.tolist()

    probs = cal.probability(x)
    unknown_top1 = np.array([probs[i] for i, known, _ in top1 if not known])
    known_rows = [(probs[i], ok) for i, known, ok in top1 if known]

    def rates(t: float) -> tuple[float, float]:
        far = float(np.mean(unknown_top1 >= t)) if len(unknown_top1) else 0.0
        acc = float(np.mean([p >= t and ok for p, ok in known_rows])) if known_rows else 0.0
        return far, acc

    grid = np.round(np.arange(0.05, 0.96, 0.01), 2)
    feasible = [t for t in grid if rates(t)[0] <= target_far]
    cal.default_min_confidence = float(min(feasible)) if feasible else 0.95
    far, acc = rates(cal.default_min_confidence)
    cal.fitted_on = (
        f"lfw/tuning: {len(split.gallery)} gallery identities ({split.distractor_identities} strangers), "
        f"{len(split.known_probes)} known and {len(split.unknown_probes)} unknown probes"
    )
    cal.metrics = {
        "tuning_unknown_false_accept_rate": round(far, 4),
        "tuning_accepted_correct_rate": round(acc, 4),
        "tuning_top1": round(float(np.mean([ok for _, ok in known_rows])), 4),
        "target_far": target_far,
    }
    return cal
