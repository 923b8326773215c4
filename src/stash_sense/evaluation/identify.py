"""Open-set identification: gallery/probe splits, top-k accuracy, false accepts of unknowns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from ..matching import ArrayGallery, Calibration, MatchParams, PerformerMatcher
from ..photos import name_key


@dataclass(slots=True)
class Split:
    gallery: dict[str, list[Path]] = field(default_factory=dict)  # identity -> gallery images
    known_probes: list[tuple[str, Path]] = field(default_factory=list)
    unknown_probes: list[tuple[str, Path]] = field(default_factory=list)
    distractor_identities: int = 0
    skipped_distractors: list[str] = field(default_factory=list)  # same person as a dataset identity


def make_split(
    dataset: dict[str, list[Path]], gallery_per_identity: int, distractors: dict[str, list[Path]] | None = None
) -> Split:
    """First K images (file-name order) of identities with more than K go to the gallery, the
    rest are probes; identities with K or fewer images are unknown probes. Distractor
    identities join the gallery (never probed), except names that clash with the dataset."""
    split = Split()
    for name, images in dataset.items():
        if len(images) > gallery_per_identity:
            split.gallery[name] = images[:gallery_per_identity]
            split.known_probes.extend((name, p) for p in images[gallery_per_identity:])
        else:
            split.unknown_probes.extend((name, p) for p in images)
    taken = {name_key(n) for n in dataset}
    for name, images in (distractors or {}).items():
        if name_key(name) in taken:
            split.skipped_distractors.append(name)
            continue
        split.gallery[name] = list(images)
        split.distractor_identities += 1
    return split


class IdentifyReport(BaseModel):
    top1: float
    top5: float
    accepted_correct_rate: float  # known probes whose top-1 is right AND accepted
    wrong_accept_rate: float  # known probes whose top-1 is wrong yet accepted
    unknown_false_accept_rate: float
    known_probes: int
    unknown_probes: int
    gallery_identities: int
    gallery_images: int
    distractor_identities: int
    skipped_distractors: list[str]
    gallery_images_without_face: int
    known_probes_without_face: int
    unknown_probes_without_face: int
    min_confidence: float
    max_distance: float
    embedding: str
    threshold_sweep: list[dict] = []


def evaluate_identification(
    split: Split,
    embeddings: dict[str, np.ndarray | None],
    calibration: Calibration,
    params: MatchParams,
    *,
    embedding_label: str,
    sweep: list[float] | None = None,
) -> IdentifyReport:
    names = sorted(split.gallery)
    ids = {n: i for i, n in enumerate(names)}
    vecs, labels, missing_gallery = [], [], 0
    for name in names:
        for p in split.gallery[name]:
            e = embeddings.get(str(p))
            if e is None:
                missing_gallery += 1
                continue
            vecs.append(e)
            labels.append(ids[name])
    if not vecs:
        raise ValueError("no gallery image produced a face embedding")
    matcher = PerformerMatcher(ArrayGallery(np.stack(vecs), np.array(labels)), calibration)

    def run(probes: list[tuple[str, Path]]) -> tuple[list[list], int, list[str]]:
        have = [(n, p) for n, p in probes if embeddings.get(str(p)) is not None]
        if not have:
            return [], len(probes), []
        cands = matcher.match(np.stack([embeddings[str(p)] for _, p in have]), MatchParams(top_k=5, max_distance=params.max_distance, min_confidence=0.0))
        return cands, len(probes) - len(have), [n for n, _ in have]

    known_c, known_missing, known_names = run(split.known_probes)
    unknown_c, unknown_missing, _ = run(split.unknown_probes)
    min_conf = calibration.default_min_confidence if params.min_confidence is None else params.min_confidence

    def rates(threshold: float) -> dict:
        nk, nu = max(1, len(split.known_probes)), max(1, len(split.unknown_probes))
        acc_ok = sum(1 for n, c in zip(known_names, known_c) if c and c[0].performer_id == ids.get(n, -1) and _ok(c[0], threshold, params))
        acc_bad = sum(1 for n, c in zip(known_names, known_c) if c and c[0].performer_id != ids.get(n, -1) and _ok(c[0], threshold, params))
        fa = sum(1 for c in unknown_c if c and _ok(c[0], threshold, params))
        return {"min_confidence": threshold, "accepted_correct_rate": acc_ok / nk, "wrong_accept_rate": acc_bad / nk, "unknown_false_accept_rate": fa / nu}

    nk = max(1, len(split.known_probes))
    top1 = sum(1 for n, c in zip(known_names, known_c) if c and c[0].performer_id == ids.get(n, -1)) / nk
    top5 = sum(1 for n, c in zip(known_names, known_c) if any(x.performer_id == ids.get(n, -1) for x in c[:5])) / nk
    at = rates(min_conf)
    return IdentifyReport(
        top1=top1,
        top5=top5,
        accepted_correct_rate=at["accepted_correct_rate"],
        wrong_accept_rate=at["wrong_accept_rate"],
        unknown_false_accept_rate=at["unknown_false_accept_rate"],
        known_probes=len(split.known_probes),
        unknown_probes=len(split.unknown_probes),
        gallery_identities=len(names),
        gallery_images=sum(len(v) for v in split.gallery.values()),
        distractor_identities=split.distractor_identities,
        skipped_distractors=split.skipped_distractors,
        gallery_images_without_face=missing_gallery,
        known_probes_without_face=known_missing,
        unknown_probes_without_face=unknown_missing,
        min_confidence=min_conf,
        max_distance=params.max_distance,
        embedding=embedding_label,
        threshold_sweep=[rates(t) for t in (sweep or [])],
    )


def _ok(c, threshold: float, params: MatchParams) -> bool:
    return c.confidence >= threshold and c.distance <= params.max_distance
