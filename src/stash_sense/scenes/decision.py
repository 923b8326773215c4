"""Who is in a scene, decided from its analysed faces in named steps.

Two levels decide, each once. The matcher decides per query whether a performer is within
``max_distance`` (asked with no confidence floor: one face is weak evidence, and the floor
applies to the scene's score, after its boosts). The scene decides presence from that
evidence, gathered by two routes:

* frequency: each face votes for its nearest performer, if the matcher accepted it;
* cluster: each person cluster's quality-weighted mean descriptor is matched once, and counts
  the member faces the matcher accepted for the same performer.

:func:`score_candidates` combines the routes per the matching mode into one scored, filtered
candidate per performer; :func:`assign_to_persons` keeps one performer per person and no more
performers than persons; :func:`person_results` shapes each person's row.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..matching import Candidate, MatchParams, PerformerMatcher
from ..recognition import PerformerLabel
from .params import SceneParams
from .result import CandidateResult, PersonResult

# Face crops per person from distinct frames, so a reviewer sees more than one pose.
FRAME_THUMBNAILS = 4

Labeller = Callable[[int], PerformerLabel]


@dataclass(frozen=True, slots=True)
class FaceRef:
    """What the decision needs of one analysed face."""

    frame: int
    timestamp: float
    quality: float
    thumbnail: bytes | None = None  # JPEG of the aligned chip


@dataclass(slots=True)
class Evidence:
    """What one performer has going for it, from one route (cluster or frequency)."""

    performer_id: int
    distance: float
    confidence: float
    appearances: int
    frames: set[int] = field(default_factory=set)
    person: int | None = None


@dataclass(frozen=True, slots=True)
class ClusterPick:
    """A performer's best cluster evidence: the person where it ranks best, then scores best."""

    top: bool  # the performer is that person's top candidate
    evidence: Evidence

    def beats(self, other: ClusterPick | None) -> bool:
        return other is None or (self.top, self.evidence.confidence) > (other.top, other.evidence.confidence)


@dataclass(frozen=True, slots=True)
class SceneEvidence:
    """Both routes' evidence for one scene."""

    frequency: dict[int, Evidence]  # performer -> votes
    clusters: dict[int, list[Evidence]]  # person -> ranked candidates
    considered: list[int]  # persons with at least min_appearances faces

    def best_cluster_picks(self) -> dict[int, ClusterPick]:
        picks: dict[int, ClusterPick] = {}
        for evidences in self.clusters.values():
            for rank, ev in enumerate(evidences):
                pick = ClusterPick(rank == 0, ev)
                if pick.beats(picks.get(ev.performer_id)):
                    picks[ev.performer_id] = pick
        return picks


def frequency_votes(per_face: Sequence[Sequence[Candidate]], faces: Sequence[FaceRef]) -> dict[int, Evidence]:
    """Each face's vote for its nearest performer, when the matcher accepted it."""
    votes: dict[int, Evidence] = {}
    for i, candidates in enumerate(per_face):
        if not candidates or not candidates[0].accepted:
            continue
        c = candidates[0]
        ev = votes.setdefault(c.performer_id, Evidence(c.performer_id, c.distance, 0.0, 0))
        ev.appearances += 1
        ev.frames.add(faces[i].frame)
        ev.distance = min(ev.distance, c.distance)
        ev.confidence += c.confidence
    for ev in votes.values():
        ev.confidence /= ev.appearances
    return votes


def cluster_evidence(
    matcher: PerformerMatcher, search: MatchParams, vecs: np.ndarray, faces: Sequence[FaceRef], clusters: Sequence[Sequence[int]],
    per_face: Sequence[Sequence[Candidate]],
) -> dict[int, list[Evidence]]:
    """Each person's mean descriptor matched once; a candidate's appearances are the member
    faces the matcher accepted for the same performer."""
    if not clusters:
        return {}
    centroids = []
    for members in clusters:
        weights = np.array([max(faces[m].quality, 0.05) for m in members])
        centroids.append((vecs[list(members)] * weights[:, None]).sum(axis=0) / weights.sum())
    out: dict[int, list[Evidence]] = {}
    for ci, candidates in enumerate(matcher.match(np.stack(centroids), search)):
        members = clusters[ci]
        evidences = []
        for c in candidates:
            hits = [m for m in members if any(x.performer_id == c.performer_id and x.accepted for x in per_face[m])]
            evidences.append(Evidence(c.performer_id, c.distance, c.confidence, len(hits), {faces[m].frame for m in hits}, ci))
        out[ci] = evidences
    return out


def gather_evidence(
    matcher: PerformerMatcher, p: SceneParams, vecs: np.ndarray, faces: Sequence[FaceRef], clusters: Sequence[Sequence[int]],
) -> SceneEvidence:
    search = MatchParams(top_k=p.top_k, max_distance=p.max_distance, min_confidence=0.0)
    per_face = matcher.match(vecs, search) if len(vecs) else []
    return SceneEvidence(
        frequency=frequency_votes(per_face, faces),
        clusters=cluster_evidence(matcher, search, vecs, faces, clusters, per_face),
        considered=[ci for ci, members in enumerate(clusters) if len(members) >= p.min_appearances],
    )


def _rejections(p: SceneParams, distance: float, appearances: int, unique_frames: int, score: float, min_conf: float) -> list[str]:
    reasons = []
    if distance > p.max_distance:
        reasons.append(f"distance {distance:.3f} > max_distance {p.max_distance}")
    if appearances < p.min_appearances:
        reasons.append(f"appearances {appearances} < min_appearances {p.min_appearances}")
    if unique_frames < p.min_unique_frames:
        reasons.append(f"unique frames {unique_frames} < min_unique_frames {p.min_unique_frames}")
    if score < min_conf:
        reasons.append(f"score {score:.2f} < min_confidence {min_conf:.2f}")
    return reasons


def score_candidate(cev: Evidence | None, fev: Evidence | None, label: PerformerLabel, p: SceneParams, min_conf: float) -> CandidateResult:
    """One performer's candidate from its cluster and/or frequency evidence (at least one)."""
    evidences = [ev for ev in (cev, fev) if ev is not None]
    base = evidences[0]
    score = base.confidence
    if p.matching_mode == "hybrid" and cev is not None and fev is not None:
        score += p.hybrid_boost  # both routes agree
    if label.identity in set(p.tagged_performers):
        score += p.tagged_boost
    appearances = max(ev.appearances for ev in evidences)
    frames: set[int] = set().union(*(ev.frames for ev in evidences))
    distance = min(ev.distance for ev in evidences)
    reasons = _rejections(p, distance, appearances, len(frames), score, min_conf)
    return CandidateResult(
        performer_id=label.identity, name=label.name, stash_ids=label.stash_ids, distance=round(distance, 4),
        confidence=round(base.confidence, 4), score=round(min(score, 1.0 + p.hybrid_boost + p.tagged_boost), 4),
        appearances=appearances, unique_frames=len(frames), person=cev.person if cev else None,
        found_by=[name for name, ev in (("cluster", cev), ("frequency", fev)) if ev is not None],
        accepted=not reasons, rejected_because=reasons,
    )


def score_candidates(evidence: SceneEvidence, picks: Mapping[int, ClusterPick], label: Labeller, p: SceneParams,
                     min_conf: float) -> dict[int, CandidateResult]:
    """One scored candidate per performer the matching mode's routes put forward."""
    use_cluster = p.matching_mode in ("cluster", "hybrid")
    use_freq = p.matching_mode in ("frequency", "hybrid")
    ids: set[int] = set()
    if use_cluster:
        ids |= {pid for pid, pick in picks.items() if pick.top}
    if use_freq:
        ids |= set(evidence.frequency)
    rows: dict[int, CandidateResult] = {}
    for pid in ids:
        pick = picks.get(pid) if use_cluster else None
        cev = pick.evidence if pick is not None and pick.top else None
        fev = evidence.frequency.get(pid) if use_freq else None
        rows[pid] = score_candidate(cev, fev, label(pid), p, min_conf)
    return rows


def assign_to_persons(rows: Mapping[int, CandidateResult], considered: int, p: SceneParams) -> list[CandidateResult]:
    """The accepted performers, strongest first: one performer per person, and (with
    ``cap_by_clusters``) no more performers than persons with enough faces."""
    accepted = sorted((r for r in rows.values() if r.accepted), key=lambda r: (r.score, r.appearances), reverse=True)
    taken: set[int] = set()
    final: list[CandidateResult] = []
    cap = considered if p.cap_by_clusters else None
    for r in accepted:
        if r.person is not None and r.person in taken:
            r.accepted = False
            r.rejected_because.append(f"person {r.person} already matched to a stronger performer")
            continue
        if cap is not None and len(final) >= cap:
            r.accepted = False
            r.rejected_because.append(f"cap: only {cap} person cluster(s) with >= {p.min_appearances} faces")
            continue
        if r.person is not None:
            taken.add(r.person)
        final.append(r)
    return final


def _person_candidate(ev: Evidence, top: Evidence, person: int, row: CandidateResult | None, label: PerformerLabel) -> CandidateResult:
    mine = row is not None and row.person == person  # the scene's verdict was made on this person
    accepted = bool(mine and row is not None and row.accepted)
    if accepted:
        why: list[str] = []
    elif mine and row is not None:
        why = row.rejected_because
    else:
        why = ["not this person's top match"] if ev is not top else []
    return CandidateResult(
        performer_id=label.identity, name=label.name, stash_ids=label.stash_ids, distance=round(ev.distance, 4),
        confidence=round(ev.confidence, 4), score=row.score if mine and row is not None else round(ev.confidence, 4),
        appearances=ev.appearances, unique_frames=len(ev.frames), person=person, found_by=["cluster"],
        accepted=accepted, rejected_because=why,
    )


def person_results(
    p: SceneParams, faces: Sequence[FaceRef], clusters: Sequence[Sequence[int]], evidence: SceneEvidence,
    rows: Mapping[int, CandidateResult], label: Labeller,
) -> list[PersonResult]:
    persons = []
    for ci, members in enumerate(clusters):
        evidences = evidence.clusters.get(ci, [])
        cands = [_person_candidate(ev, evidences[0], ci, rows.get(ev.performer_id), label(ev.performer_id)) for ev in evidences]
        thumb = None
        frame_thumbs: list[str] = []
        if p.thumbnails:
            jpeg = faces[max(members, key=lambda m: faces[m].quality)].thumbnail
            if jpeg:
                thumb = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
            frame_thumbs = frame_thumbnails([faces[m] for m in members])
        persons.append(
            PersonResult(
                person=ci, faces=len(members), frames=sorted({faces[m].frame for m in members}),
                timestamps=sorted({round(faces[m].timestamp, 3) for m in members}),
                thumbnail=thumb, thumbnails=frame_thumbs, best_match=next((c for c in cands if c.accepted), None), candidates=cands,
            )
        )
    return persons


def frame_thumbnails(members: Sequence[FaceRef]) -> list[str]:
    """The best crop of up to ``FRAME_THUMBNAILS`` frames spread over the person's appearances,
    in time order."""
    best: dict[int, FaceRef] = {}
    for f in members:
        if f.thumbnail and (f.frame not in best or f.quality > best[f.frame].quality):
            best[f.frame] = f
    frames = sorted(best)
    if len(frames) > FRAME_THUMBNAILS:
        step = (len(frames) - 1) / (FRAME_THUMBNAILS - 1)
        frames = [frames[round(i * step)] for i in range(FRAME_THUMBNAILS)]
    return ["data:image/jpeg;base64," + base64.b64encode(best[i].thumbnail or b"").decode() for i in frames]
