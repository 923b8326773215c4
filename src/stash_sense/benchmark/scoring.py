"""Scoring one identification against a test scene, and saying why each miss happened.

Counting goes through :func:`stash_sense.evaluation.scenes.score_scene`, the function
``eval scenes`` uses, so the benchmark's round-1 precision and recall are the same figures.

Failure classes, per missed performer, first that applies:

1. ``insufficient_db_coverage`` - the performer has no face in the DB (nothing to match);
2. ``not_detected`` - no person in the scene is this performer: no person cluster whose faces
   lie within :data:`PRESENCE_DISTANCE` (median) of the performer's own reference faces, and
   the engine never considered them;
3. ``insufficient_db_coverage`` - on screen, but fewer than 3 reference faces in the DB;
4. ``similar_performer_won`` - on screen, and another performer ranks above them for that
   person or took the person / the last reporting slot;
5. ``low_confidence`` - on screen and the best match for their person, but filtered out
   (distance, appearances, unique frames or score below the thresholds).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from ..evaluation.scenes import score_scene
from ..faces.cluster import cluster_faces
from ..scenes.result import CandidateResult, SceneIdentification
from .coverage import FaceDBCoverage, identity_keys, split_identity
from .models import MIN_FACES_FOR_COVERAGE, ExpectedPerformer, MatchSummary, PerformerResult, SceneResult, TestScene

# A person whose faces lie this close (median) to a performer's reference faces is taken to be
# that performer when judging whether they were on screen at all. It is the usual same-person
# tolerance of the dlib descriptor, and deliberately independent of the max_distance being
# tuned: a performer filtered out by a strict max_distance was still detected.
PRESENCE_DISTANCE = 0.6
# How many higher-ranked candidates a miss lists as "beaten by".
BEATEN_BY_LIMIT = 3


@dataclass(slots=True)
class FaceEvidence:
    """The faces behind an in-process identification: descriptors and their person clusters
    (in the order of ``result.persons``)."""

    vecs: np.ndarray
    clusters: list[list[int]]

    @classmethod
    def from_faces(cls, vecs: np.ndarray, frames: list[int], cluster_threshold: float) -> FaceEvidence:
        # The engine's own clustering, re-run: same inputs, same persons in the same order.
        return cls(np.asarray(vecs, dtype=np.float32), cluster_faces(vecs, frames, cluster_threshold))


def expected_keys(p: ExpectedPerformer) -> set[str]:
    return identity_keys(p.name, [split_identity(i) for i in p.identities])


def candidate_keys(c: CandidateResult) -> set[str]:
    return identity_keys(c.name, [(s["endpoint"], s["stash_id"]) for s in c.stash_ids])


def _summary(c: CandidateResult, coverage: FaceDBCoverage) -> MatchSummary:
    return MatchSummary(
        performer_id=c.performer_id, name=c.name, distance=c.distance, score=c.score,
        faces_in_db=coverage.face_count_for_keys(candidate_keys(c)),
    )


def error_result(scene: TestScene, message: str, elapsed: float = 0.0) -> SceneResult:
    """A scene that could not be run: recorded with its reason, left out of the metrics (as
    ``eval scenes`` leaves failed scenes out)."""
    return SceneResult(
        scene_id=scene.scene_id, resolution=scene.resolution, coverage_tier=scene.db_coverage_tier,
        expected=[p.name for p in scene.expected_performers], elapsed_s=round(elapsed, 3), error=message,
    )


def score_identification(
    scene: TestScene,
    result: SceneIdentification,
    coverage: FaceDBCoverage,
    evidence: FaceEvidence | None = None,
    elapsed: float = 0.0,
) -> SceneResult:
    expected = [(p.name, expected_keys(p)) for p in scene.expected_performers]
    reported = [(r.name, candidate_keys(r)) for r in result.performers]
    s = score_scene(expected, reported)

    # Map score_scene's name lists back onto the performers, in the order it matched them.
    fp_left = Counter(s.false_positives)
    reported_right: list[bool] = []
    for name, _ in reported:
        if fp_left[name] > 0:
            fp_left[name] -= 1
            reported_right.append(False)
        else:
            reported_right.append(True)
    tp_left = Counter(s.true_positives)
    found: list[bool] = []
    for p in scene.expected_performers:
        if tp_left[p.name] > 0:
            tp_left[p.name] -= 1
            found.append(True)
        else:
            found.append(False)

    correct = [r.score for r, ok in zip(result.performers, reported_right) if ok]
    wrong = [r.score for r, ok in zip(result.performers, reported_right) if not ok]
    all_expected_keys = set().union(*(k for _, k in expected)) if expected else set()
    cand_right = [c.score for c in result.diagnostics if candidate_keys(c) & all_expected_keys]
    cand_wrong = [c.score for c in result.diagnostics if not candidate_keys(c) & all_expected_keys]

    accepted_keys = [candidate_keys(r) for r in result.performers]
    performers = [
        _performer_result(scene, p, keys, hit, result, accepted_keys, coverage, evidence)
        for p, (_, keys), hit in zip(scene.expected_performers, expected, found)
    ]
    totals = result.totals
    return SceneResult(
        scene_id=scene.scene_id,
        resolution=scene.resolution,
        coverage_tier=scene.db_coverage_tier,
        true_positives=s.tp,
        false_positives=s.fp,
        false_negatives=s.fn,
        expected=s.expected,
        reported=s.reported,
        false_positive_matches=[_summary(r, coverage) for r, ok in zip(result.performers, reported_right) if not ok],
        missed=s.false_negatives,
        expected_in_top1=sum(1 for p in performers if p.rank == 1),
        expected_in_top3=sum(1 for p in performers if p.rank is not None and p.rank <= 3),
        correct_scores=correct,
        incorrect_scores=wrong,
        candidate_correct_scores=cand_right,
        candidate_incorrect_scores=cand_wrong,
        score_gap=round(min(correct) - max(wrong), 4) if correct and wrong else None,
        faces_detected=totals.faces_detected,
        faces_after_filter=totals.faces_after_filter,
        persons_clustered=totals.persons_clustered,
        frames_analysed=totals.frames_analysed,
        source_kind=result.source_kind,
        elapsed_s=round(elapsed, 3),
        performers=performers,
    )


def _presence(
    p: ExpectedPerformer, keys: set[str], result: SceneIdentification, coverage: FaceDBCoverage, evidence: FaceEvidence | None
) -> tuple[int | None, float | None]:
    """The person most like this performer by their own reference faces, and how close (median
    face distance). Without face evidence (a sidecar run) the persons' candidate lists stand in."""
    refs = coverage.references(p.db_performer_id)
    if refs is not None and evidence is not None and evidence.clusters and len(evidence.vecs):
        sq = (evidence.vecs**2).sum(1)[:, None] + (refs**2).sum(1)[None, :] - 2 * evidence.vecs @ refs.T
        nearest = np.sqrt(np.maximum(sq, 0.0)).min(axis=1)
        medians = [float(np.median(nearest[members])) for members in evidence.clusters]
        best = int(np.argmin(medians))
        return best, medians[best]
    best_person, best_d = None, None
    for person in result.persons:
        for c in person.candidates:
            if candidate_keys(c) & keys and (best_d is None or c.distance < best_d):
                best_person, best_d = person.person, c.distance
    return best_person, best_d


def _performer_result(
    scene: TestScene,
    p: ExpectedPerformer,
    keys: set[str],
    found: bool,
    result: SceneIdentification,
    accepted_keys: list[set[str]],
    coverage: FaceDBCoverage,
    evidence: FaceEvidence | None,
) -> PerformerResult:
    row = next((c for c in result.diagnostics if candidate_keys(c) & keys), None)
    near_person, near_d = _presence(p, keys, result, coverage, evidence)
    present = near_d is not None and near_d <= PRESENCE_DISTANCE
    detected = present or row is not None

    persons = {person.person: person for person in result.persons}
    if row is not None and row.person is not None:
        person_id = row.person
    elif present:
        person_id = near_person
    else:
        person_id = None
    person = persons.get(person_id) if person_id is not None else None

    rank = None
    mine: CandidateResult | None = None
    above: list[CandidateResult] = []
    taker: CandidateResult | None = None
    if person is not None:
        for i, c in enumerate(person.candidates):
            if candidate_keys(c) & keys:
                rank, mine = i + 1, c
                break
            above.append(c)
        # Whoever was reported for this person: linked by the cluster route, else (frequency
        # mode) the highest-ranked of its candidates that the scene reported.
        taker = person.best_match
        if taker is None:
            taker = next((c for c in person.candidates if any(candidate_keys(c) & k for k in accepted_keys)), None)
        if taker is not None and candidate_keys(taker) & keys:
            taker = None

    beaten: list[MatchSummary] = []
    best_match: MatchSummary | None = None
    if not found:
        rivals = ([taker] if taker is not None else []) + above[:BEATEN_BY_LIMIT]
        if row is not None and _lost_slot(row):
            # Rejected for a slot another (stronger) performer filled.
            rivals += [r for r in result.performers if r.score >= row.score]
        seen: set[str] = set()
        for c in rivals:
            if c.performer_id not in seen:
                seen.add(c.performer_id)
                beaten.append(_summary(c, coverage))
        if taker is not None:
            best_match = _summary(taker, coverage)
        elif above:
            best_match = _summary(above[0], coverage)

    failure, detail = None, ""
    if not found:
        if p.faces_in_db == 0:
            failure, detail = "insufficient_db_coverage", "not in the face DB"
        elif not detected:
            failure = "not_detected"
            detail = (
                f"no person within {PRESENCE_DISTANCE} of their {p.faces_in_db} reference faces"
                + (f" (nearest person at {near_d:.3f})" if near_d is not None else " (no person in the scene)")
            )
        elif p.faces_in_db < MIN_FACES_FOR_COVERAGE:
            failure, detail = "insufficient_db_coverage", f"only {p.faces_in_db} reference face(s) in the DB"
        elif beaten and (taker is not None or above or (row is not None and _lost_slot(row))):
            failure = "similar_performer_won"
            detail = "beaten by " + ", ".join(b.name for b in beaten)
        else:
            failure = "low_confidence"
            if row is not None and row.rejected_because:
                detail = "; ".join(row.rejected_because)
            else:
                d = mine.distance if mine is not None else near_d
                detail = f"no face matched within max_distance {result.params.max_distance}" + (
                    f" (distance {d:.3f})" if d is not None else ""
                )

    source = row or mine
    return PerformerResult(
        scene_id=scene.scene_id,
        performer_id=p.performer_id,
        name=p.name,
        faces_in_db=p.faces_in_db,
        found=found,
        detected=detected,
        person=person_id,
        rank=rank,
        confidence=source.confidence if source else None,
        distance=source.distance if source else None,
        score=source.score if source else None,
        presence_distance=round(near_d, 4) if near_d is not None else None,
        beaten_by=beaten,
        best_match=best_match,
        failure=failure,
        failure_detail=detail,
    )


def _lost_slot(row: CandidateResult) -> bool:
    return any("already matched" in r or r.startswith("cap:") for r in row.rejected_because)
