"""LFW-protocol face verification: same/different pairs, threshold fitted on other folds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel


@dataclass(frozen=True, slots=True)
class Pair:
    fold: int
    a: tuple[str, int]
    b: tuple[str, int]
    same: bool


def read_pairs(path: Path) -> list[Pair]:
    """LFW ``pairs.txt``: a header ``folds\\tper_fold`` then per fold ``per_fold`` same pairs
    (``name i j``) followed by ``per_fold`` different pairs (``name1 i name2 j``)."""
    lines = [ln for ln in Path(path).read_text().splitlines() if ln.strip()]
    try:
        n_folds, per_fold = (int(x) for x in lines[0].split())
    except (ValueError, IndexError) as exc:
        raise ValueError(f"{path}: first line must be '<folds> <pairs per fold>'") from exc
    pairs = []
    for k, line in enumerate(lines[1:]):
        fold = k // (2 * per_fold) + 1
        if fold > n_folds:
            break
        parts = line.split()
        if len(parts) == 3:
            pairs.append(Pair(fold, (parts[0], int(parts[1])), (parts[0], int(parts[2])), True))
        elif len(parts) == 4:
            pairs.append(Pair(fold, (parts[0], int(parts[1])), (parts[2], int(parts[3])), False))
        else:
            raise ValueError(f"{path}:{k + 2}: expected 3 or 4 fields, got {len(parts)}")
    return pairs


def parse_folds(spec: str) -> list[int]:
    """"1-2" -> [1, 2]; "1,3,5" -> [1, 3, 5]."""
    folds: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        if "-" in part:
            lo, hi = (int(x) for x in part.split("-", 1))
            folds.extend(range(lo, hi + 1))
        elif part:
            folds.append(int(part))
    if not folds:
        raise ValueError(f"no folds in {spec!r}")
    return sorted(set(folds))


def image_path(roots: Sequence[Path], name: str, index: int) -> Path | None:
    for root in roots:
        p = Path(root) / name / f"{name}_{index:04d}.jpg"
        if p.is_file():
            return p
    return None


def best_threshold(distances: np.ndarray, same: np.ndarray) -> float:
    """The distance threshold with the highest accuracy (midpoint between neighbours)."""
    order = np.argsort(distances)
    d, s = distances[order], same[order].astype(np.int64)
    # Accepting the first i pairs as "same": correct = same among them + different after them.
    correct = np.concatenate([[0], np.cumsum(s)]) + (np.sum(1 - s) - np.concatenate([[0], np.cumsum(1 - s)]))
    i = int(np.argmax(correct))
    if i == 0:
        return float(d[0] - 1e-6)
    if i == len(d):
        return float(d[-1] + 1e-6)
    return float((d[i - 1] + d[i]) / 2.0)


class VerifyReport(BaseModel):
    accuracy: float  # on every evaluated pair; a pair with an undetected face counts as wrong
    accuracy_on_detected: float
    threshold: float
    threshold_fitted_on: str
    pairs: int
    detection_failures: int  # pairs with at least one image without a usable face
    images_without_face: list[str]
    missing_images: int
    folds: list[int]
    per_fold_accuracy: dict[str, float]
    embedding: str


def evaluate_verification(
    pairs: list[Pair],
    embeddings: dict[str, np.ndarray | None],
    roots: Sequence[Path],
    folds: list[int],
    *,
    embedding_label: str,
) -> VerifyReport:
    def dist(p: Pair) -> tuple[float | None, list[str]]:
        pa, pb = image_path(roots, *p.a), image_path(roots, *p.b)
        missing = [str(x) for x, q in ((p.a, pa), (p.b, pb)) if q is None]
        if missing:
            return None, ["missing:" + m for m in missing]
        ea, eb = embeddings.get(str(pa)), embeddings.get(str(pb))
        bad = [str(q) for q, e in ((pa, ea), (pb, eb)) if e is None]
        if bad:
            return None, bad
        return float(np.linalg.norm(ea - eb)), []

    scored = [(p, *dist(p)) for p in pairs]
    evaluated = [s for s in scored if s[0].fold in folds]
    if not evaluated:
        raise ValueError(f"no pairs in folds {folds}")
    fit = [(p, d) for p, d, _ in scored if p.fold not in folds and d is not None]
    if len(fit) >= 200:
        fit_label = "folds " + ",".join(str(f) for f in sorted({p.fold for p, _ in fit}))
        thresholds = {f: best_threshold(np.array([d for _, d in fit]), np.array([p.same for p, _ in fit])) for f in folds}
    else:
        # No other folds available: leave-one-fold-out among the evaluated folds.
        fit_label = "leave-one-fold-out"
        thresholds = {}
        for f in folds:
            rest = [(p, d) for p, d, _ in evaluated if p.fold != f and d is not None]
            if not rest:
                raise ValueError("need at least two folds (or other folds in the file) to fit a threshold")
            thresholds[f] = best_threshold(np.array([d for _, d in rest]), np.array([p.same for p, _ in rest]))

    correct = correct_detected = detected = failures = missing = 0
    per_fold: dict[str, list[int]] = {}
    no_face: set[str] = set()
    for p, d, problems in evaluated:
        if d is None:
            failures += 1
            missing += sum(1 for x in problems if x.startswith("missing:"))
            no_face.update(x for x in problems if not x.startswith("missing:"))
            per_fold.setdefault(str(p.fold), []).append(0)
            continue
        ok = (d <= thresholds[p.fold]) == p.same
        correct += ok
        correct_detected += ok
        detected += 1
        per_fold.setdefault(str(p.fold), []).append(int(ok))
    return VerifyReport(
        accuracy=correct / len(evaluated),
        accuracy_on_detected=correct_detected / max(1, detected),
        threshold=float(np.mean(list(thresholds.values()))),
        threshold_fitted_on=fit_label,
        pairs=len(evaluated),
        detection_failures=failures,
        images_without_face=sorted(no_face),
        missing_images=missing,
        folds=folds,
        per_fold_accuracy={k: float(np.mean(v)) for k, v in sorted(per_fold.items())},
        embedding=embedding_label,
    )
