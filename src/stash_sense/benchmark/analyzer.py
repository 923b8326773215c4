"""Aggregate figures over scene results: metrics with breakdowns, failure patterns, score
distributions, the max_distance curve and what ``db optimize --min-faces N`` would do."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..evaluation.scenes import TIERS
from .models import (
    COVERAGE_TIERS,
    FACE_BUCKETS,
    FAILURE_CLASSES,
    AggregateMetrics,
    Breakdown,
    BenchmarkState,
    ComboResult,
    RoundState,
    SceneResult,
    face_bucket,
)


def _ratio(a: int, b: int, empty: float) -> float:
    return a / b if b else empty


def _breakdown(scenes: int, performers: int, tp: int, fp: int, fn: int) -> Breakdown:
    # Same conventions as precision_recall(): an empty denominator counts as perfect.
    return Breakdown(
        scenes=scenes, performers=performers, true_positives=tp, false_positives=fp, false_negatives=fn,
        accuracy=round(_ratio(tp, tp + fn, 1.0), 6), precision=round(_ratio(tp, tp + fp, 1.0), 6),
    )


def aggregate(results: Iterable[SceneResult]) -> AggregateMetrics:
    """Metrics over scene results; scenes that failed are counted apart and left out."""
    results = list(results)
    ok = [r for r in results if r.error is None]
    tp = sum(r.true_positives for r in ok)
    fp = sum(r.false_positives for r in ok)
    fn = sum(r.false_negatives for r in ok)
    precision = _ratio(tp, tp + fp, 1.0)
    recall = _ratio(tp, tp + fn, 1.0)
    performers = [p for r in ok for p in r.performers]

    def by(key, order: Sequence[str]) -> dict[str, Breakdown]:
        out = {}
        for value in order:
            group = [r for r in ok if key(r) == value]
            if group:
                out[value] = _breakdown(
                    len(group), sum(len(r.performers) for r in group), sum(r.true_positives for r in group),
                    sum(r.false_positives for r in group), sum(r.false_negatives for r in group),
                )
        return out

    tiers = [*TIERS, *sorted({r.resolution for r in ok} - set(TIERS))]
    face_counts: dict[str, Breakdown] = {}
    for bucket in FACE_BUCKETS:
        group = [p for p in performers if p.face_bucket == bucket]
        # A wrong report is charged to the bucket of the performer wrongly reported.
        wrong = sum(
            1 for r in ok for m in r.false_positive_matches if m.faces_in_db is not None and face_bucket(m.faces_in_db) == bucket
        )
        if group or wrong:
            found = sum(1 for p in group if p.found)
            face_counts[bucket] = _breakdown(
                len({p.scene_id for p in group}), len(group), found, wrong, len(group) - found
            )
    failures = Counter(p.failure for p in performers if p.failure)
    return AggregateMetrics(
        scenes=len(ok),
        errors=len(results) - len(ok),
        true_positives=tp,
        false_positives=fp,
        false_negatives=fn,
        accuracy=round(recall, 6),
        precision=round(precision, 6),
        f1=round(2 * precision * recall / (precision + recall), 6) if precision + recall else 0.0,
        false_positives_per_scene=round(fp / len(ok), 6) if ok else 0.0,
        top1_rate=round(_ratio(sum(1 for p in performers if p.rank == 1), len(performers), 0.0), 6),
        top3_rate=round(_ratio(sum(1 for p in performers if p.rank is not None and p.rank <= 3), len(performers), 0.0), 6),
        by_resolution=by(lambda r: r.resolution, tiers),
        by_coverage=by(lambda r: r.coverage_tier, COVERAGE_TIERS),
        by_face_count=face_counts,
        failures={c: failures.get(c, 0) for c in FAILURE_CLASSES},
        seconds_per_scene=round(float(np.mean([r.elapsed_s for r in ok])), 3) if ok else 0.0,
    )


def round_results(rnd: RoundState, combo: ComboResult) -> list[SceneResult]:
    """A combination's results in the round's scene order."""
    return [combo.scene_results[s] for s in rnd.scene_ids if s in combo.scene_results]


def baseline_round(state: BenchmarkState) -> RoundState | None:
    """The first round that ran (round 1 unless the run started later)."""
    done = [r for r in state.rounds if r.status in ("done", "running") and r.combos]
    return min(done, key=lambda r: r.number) if done else None


@dataclass(frozen=True)
class OptimizeEffect:
    min_faces: int
    performers_removed: int  # expected performers in the DB with fewer faces than the threshold
    precision: float
    accuracy: float
    true_positives: int
    false_positives: int
    false_negatives: int


def optimize_effect(results: Sequence[SceneResult], min_faces: int) -> OptimizeEffect:
    """Estimated precision/recall after ``db optimize --min-faces N``, from per-performer results.

    Performers with fewer faces leave the DB: those that were found become misses, and wrong
    reports of such performers disappear. Everything else is assumed unchanged (a performer
    that lost to a removed look-alike might now be found: the estimate is conservative).
    """
    ok = [r for r in results if r.error is None]
    tp = fp = fn = 0
    removed = set()
    for r in ok:
        for p in r.performers:
            if p.faces_in_db < min_faces:
                if p.faces_in_db > 0:  # the ones with none are not in the DB already
                    removed.add(p.performer_id)
                fn += 1
            elif p.found:
                tp += 1
            else:
                fn += 1
        fp += sum(1 for m in r.false_positive_matches if m.faces_in_db is None or m.faces_in_db >= min_faces)
    return OptimizeEffect(
        min_faces=min_faces, performers_removed=len(removed), precision=round(_ratio(tp, tp + fp, 1.0), 6),
        accuracy=round(_ratio(tp, tp + fn, 1.0), 6), true_positives=tp, false_positives=fp, false_negatives=fn,
    )


def distance_curve(state: BenchmarkState) -> list[tuple[float, float, float]]:
    """(max_distance, precision, recall) from the distance rounds: the combinations that differ
    from their round's reference in max_distance alone (plus the references themselves), on
    the latest round's scenes where a distance appears twice."""
    points: dict[float, tuple[float, float]] = {}
    for rnd in state.rounds:
        if rnd.name not in ("distance", "distance-fine") or rnd.status != "done":
            continue
        for combo in rnd.combos:
            changed = set(combo.params.changed_from(rnd.reference))
            if changed <= {"max_distance"} and combo.metrics is not None:
                points[combo.params.max_distance] = (combo.metrics.precision, combo.metrics.accuracy)
    return [(d, p, r) for d, (p, r) in sorted(points.items())]


def score_distributions(results: Sequence[SceneResult]) -> dict[str, list[float]]:
    ok = [r for r in results if r.error is None]
    return {
        "reported_correct": [s for r in ok for s in r.correct_scores],
        "reported_incorrect": [s for r in ok for s in r.incorrect_scores],
        "candidates_correct": [s for r in ok for s in r.candidate_correct_scores],
        "candidates_incorrect": [s for r in ok for s in r.candidate_incorrect_scores],
    }


def describe_scores(values: Sequence[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    a = np.asarray(values, dtype=float)
    return {
        "n": len(a), "mean": round(float(a.mean()), 4), "median": round(float(np.median(a)), 4),
        "min": round(float(a.min()), 4), "max": round(float(a.max()), 4),
    }


def failure_examples(results: Sequence[SceneResult], limit: int = 5) -> dict[str, list[str]]:
    """A few concrete misses per failure class, for the report."""
    out: dict[str, list[str]] = {c: [] for c in FAILURE_CLASSES}
    for r in results:
        for p in r.performers:
            if p.failure and len(out[p.failure]) < limit:
                out[p.failure].append(f"scene {r.scene_id}: {p.name} ({p.failure_detail})")
    return out
