"""Scene identification: sample frames, find and embed faces, group them into persons, and
decide which performers are in the scene.

Matching happens at the performer level in three modes: ``frequency`` (per-face votes
aggregated over the scene), ``cluster`` (each person cluster's mean descriptor matched once)
and ``hybrid`` (both, boosted where they agree). Every filter the result applies is recorded
per candidate, so the benchmark can say why a performer was missed.
"""

from __future__ import annotations

import base64
import time
from collections import defaultdict
from concurrent.futures import Future
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..faces.detect import BlazeFaceDetector, CascadeDetector, FaceDetector
from ..faces.parallel import FaceWorkerPool, shared_pool
from ..faces.types import Face
from ..matching import Candidate, MatchParams
from ..recognition import Recognizer
from .cluster import cluster_faces
from .params import SceneParams
from .result import CandidateResult, PersonResult, SceneIdentification, SceneTotals
from .sources.base import FrameFailure, FrameSource, sampling_timestamps

# Frames are pulled a few at a time so that 60 4K frames never sit in memory together.
_FRAME_CHUNK = 6
# Faces per embedding job: small enough to keep both workers busy while frames are still
# being decoded, large enough that the inter-process round trip is negligible.
_EMBED_BATCH = 12
# Face crops per person from distinct frames, so a reviewer sees more than one pose.
_FRAME_THUMBNAILS = 4


@dataclass(slots=True)
class _SceneFace:
    frame: int
    timestamp: float
    face: Face
    thumbnail: bytes | None = None  # JPEG of the aligned chip


def _jpeg(chip: np.ndarray | None) -> bytes | None:
    if chip is None:
        return None
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(chip, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    return buf.tobytes() if ok else None


@dataclass(slots=True)
class _Evidence:
    """What one performer has going for it, from one route (cluster or frequency)."""

    performer_id: int
    distance: float
    confidence: float
    appearances: int
    frames: set[int] = field(default_factory=set)
    person: int | None = None


@dataclass(slots=True)
class SceneFaces:
    """One scene's analysed faces (see :meth:`SceneEngine.analyse`), ready for :meth:`SceneEngine.decide`."""

    source: str  # the frame source's description
    source_kind: str
    faces: list[_SceneFace]
    vecs: np.ndarray  # (len(faces), dim) descriptors, row i for faces[i]
    faces_detected: int  # before the size/quality filters
    frames_analysed: int
    frame_failures: list[FrameFailure]
    timings: dict[str, float]  # seconds per analysis stage
    seconds: float  # analysis wall time


class SceneEngine:
    def __init__(self, recognizer: Recognizer, pool: FaceWorkerPool | None = None, detector: FaceDetector | None = None) -> None:
        self.recognizer = recognizer
        self._pool = pool
        # No HOG fallback in scenes: it costs ~100x BlazeFace on every frame without a face,
        # and a performer who matters appears in many frames anyway.
        self.detector = detector or CascadeDetector(
            [BlazeFaceDetector(full_range=True, min_confidence=0.3), BlazeFaceDetector(full_range=False, min_confidence=0.3)]
        )

    @property
    def pool(self) -> FaceWorkerPool:
        if self._pool is None:
            self._pool = shared_pool(embedder=self.recognizer.pipeline.embedder.model_name)
        return self._pool

    # -- stages ------------------------------------------------------------------------------

    def _frames(self, source: FrameSource, p: SceneParams, timings: dict[str, float]):
        start = time.perf_counter()
        if hasattr(source, "frames_at") and getattr(source, "duration", 0) > 0:
            times = sampling_timestamps(source.duration, p.num_frames, p.start_offset_pct, p.end_offset_pct)
            failures: list = []
            seen: set[float] = set()
            index = 0
            for i in range(0, len(times), _FRAME_CHUNK):
                chunk = source.frames_at(times[i : i + _FRAME_CHUNK])
                failures.extend(source.failures)
                timings["decode"] += time.perf_counter() - start
                for frame in chunk:
                    if frame is None or frame.timestamp in seen:
                        continue
                    seen.add(frame.timestamp)
                    frame.index = index
                    index += 1
                    yield frame
                start = time.perf_counter()
            source.failures = failures
        else:
            frames = source.sample(p.num_frames, p.start_offset_pct, p.end_offset_pct)
            timings["decode"] += time.perf_counter() - start
            yield from frames

    def _detect_and_embed(
        self, source: FrameSource, p: SceneParams, timings: dict[str, float]
    ) -> tuple[list[_SceneFace], np.ndarray, int, int]:
        """Decode, detect and align frame by frame; aligned chips go to the embedding workers
        as soon as a batch is ready, so embedding overlaps decoding and detection."""
        pipe = self.recognizer.pipeline
        use_pool = self.pool.workers > 1
        faces: list[_SceneFace] = []
        pending: list[tuple[int, Future | np.ndarray]] = []  # (first face index, vectors)
        batch_start = 0
        detected = analysed = 0
        if use_pool:
            self.pool.warm()

        def flush() -> None:
            nonlocal batch_start
            chips = [f.face.crop for f in faces[batch_start:]]
            if chips:
                pending.append((batch_start, self.pool.submit_chips(chips) if use_pool else pipe.embedder.embed(chips)))
            for f in faces[batch_start:]:
                f.thumbnail = _jpeg(f.face.crop)
                f.face.crop = None  # 67 KB each; the JPEG thumbnail is all later stages need
            batch_start = len(faces)

        for frame in self._frames(source, p, timings):
            analysed += 1
            t = time.perf_counter()
            image = np.ascontiguousarray(frame.image)
            found = [d for d in self.detector.detect(image) if d.score >= p.min_face_confidence]
            detected += len(found)
            usable = sorted((d for d in found if min(d.box.w, d.box.h) >= p.min_face_size), key=lambda d: -d.box.area)
            timings["detect"] += time.perf_counter() - t
            t = time.perf_counter()
            for d in usable:
                face = pipe.align(image, d)
                if face.quality >= p.min_face_quality:
                    faces.append(_SceneFace(frame.index, frame.timestamp, face))
            timings["align"] += time.perf_counter() - t
            if len(faces) - batch_start >= _EMBED_BATCH:
                flush()
        flush()
        t = time.perf_counter()
        vecs = np.zeros((len(faces), pipe.embedder.dim), dtype=np.float32)
        for first, result in pending:
            arr = result.result() if isinstance(result, Future) else result
            vecs[first : first + len(arr)] = arr
        for f, v in zip(faces, vecs):
            f.face.embedding = v
        timings["embed_wait"] += time.perf_counter() - t
        return faces, vecs, detected, analysed

    # -- the whole scene ---------------------------------------------------------------------

    def identify(self, source: FrameSource, params: SceneParams | None = None) -> SceneIdentification:
        return self.identify_with_faces(source, params)[0]

    def identify_with_faces(
        self, source: FrameSource, params: SceneParams | None = None
    ) -> tuple[SceneIdentification, list[tuple[int, np.ndarray]]]:
        """The identification plus every matched face as (frame index, embedding), for
        evaluations that compare other matching rules on exactly the same faces."""
        p = params or SceneParams()
        scene = self.analyse(source, p)
        result = self.decide(scene, p)
        return result, [(f.frame, scene.vecs[i]) for i, f in enumerate(scene.faces)]

    def analyse(self, source: FrameSource, params: SceneParams | None = None) -> SceneFaces:
        """The expensive half of :meth:`identify`: decode, detect, align and embed.

        Depends only on the frame-sampling and face-filter parameters (``num_frames``, the
        offsets, ``min_face_size``, ``min_face_confidence``, ``min_face_quality``), so callers
        that try many decision parameters on one scene (the benchmark) analyse it once and
        call :meth:`decide` for each.
        """
        p = params or SceneParams()
        timings: dict[str, float] = defaultdict(float)
        start = time.perf_counter()
        faces, vecs, detected, analysed = self._detect_and_embed(source, p, timings)
        return SceneFaces(
            source=source.describe(), source_kind=getattr(source, "kind", "unknown"), faces=faces, vecs=vecs,
            faces_detected=detected, frames_analysed=analysed,
            frame_failures=list(getattr(source, "failures", []) or []), timings=dict(timings),
            seconds=time.perf_counter() - start,
        )

    def decide(self, scene: SceneFaces, params: SceneParams | None = None) -> SceneIdentification:
        """The cheap half of :meth:`identify`: cluster the analysed faces into persons, match
        them and apply the filters. ``params``' sampling and face-filter fields are not applied
        again (they shaped ``scene`` already)."""
        p = (params or SceneParams()).for_embedder(self.recognizer.pipeline.embedder.model_name)
        timings = defaultdict(float, scene.timings)
        start = time.perf_counter()
        faces, vecs = scene.faces, scene.vecs

        t = time.perf_counter()
        clusters = cluster_faces(vecs, [f.frame for f in faces], p.cluster_threshold)
        timings["cluster"] += time.perf_counter() - t

        t = time.perf_counter()
        result = self._decide(scene.source, scene.source_kind, p, faces, vecs, clusters)
        timings["match"] += time.perf_counter() - t
        timings["total"] = scene.seconds + time.perf_counter() - start
        result.timings = {k: round(v, 4) for k, v in timings.items()}
        result.totals = SceneTotals(
            frames_requested=p.num_frames,
            frames_analysed=scene.frames_analysed,
            frame_failures=len(scene.frame_failures),
            faces_detected=scene.faces_detected,
            faces_after_filter=len(faces),
            persons_clustered=len(clusters),
            persons_considered=result.totals.persons_considered,
        )
        result.frame_failures = [f"{f.timestamp:.2f}s: {f.reason}" for f in scene.frame_failures]
        return result

    def _decide(
        self, source: str, source_kind: str, p: SceneParams, faces: list[_SceneFace], vecs: np.ndarray,
        clusters: list[list[int]],
    ) -> SceneIdentification:
        rec = self.recognizer
        min_conf = rec.calibration.default_min_confidence if p.min_confidence is None else p.min_confidence
        search = MatchParams(top_k=p.top_k, max_distance=p.max_distance, min_confidence=0.0)
        per_face: list[list[Candidate]] = rec.matcher.match(vecs, search) if len(vecs) else []

        # Frequency route: each face votes for its nearest performer within max_distance.
        freq: dict[int, _Evidence] = {}
        for i, cands in enumerate(per_face):
            if not cands or cands[0].distance > p.max_distance:
                continue
            c = cands[0]
            ev = freq.setdefault(c.performer_id, _Evidence(c.performer_id, c.distance, 0.0, 0))
            ev.appearances += 1
            ev.frames.add(faces[i].frame)
            ev.distance = min(ev.distance, c.distance)
            ev.confidence += c.confidence
        for ev in freq.values():
            ev.confidence /= ev.appearances

        # Cluster route: a person's quality-weighted mean descriptor is matched once.
        considered = [ci for ci, members in enumerate(clusters) if len(members) >= p.min_appearances]
        cluster_cands: dict[int, list[_Evidence]] = {}
        if clusters:
            centroids = []
            for members in clusters:
                w = np.array([max(faces[m].face.quality, 0.05) for m in members])
                centroids.append((vecs[members] * w[:, None]).sum(axis=0) / w.sum())
            for ci, cands in enumerate(rec.matcher.match(np.stack(centroids), search)):
                members = clusters[ci]
                evs = []
                for c in cands:
                    hits = [m for m in members if any(x.performer_id == c.performer_id and x.distance <= p.max_distance for x in per_face[m])]
                    evs.append(_Evidence(c.performer_id, c.distance, c.confidence, len(hits), {faces[m].frame for m in hits}, ci))
                cluster_cands[ci] = evs

        # Combine the routes per the matching mode into one scored candidate per performer.
        tagged = set(p.tagged_performers)
        rows: dict[int, CandidateResult] = {}
        use_cluster = p.matching_mode in ("cluster", "hybrid")
        use_freq = p.matching_mode in ("frequency", "hybrid")
        best_cluster_of: dict[int, _Evidence] = {}
        for ci, evs in cluster_cands.items():
            for rank, ev in enumerate(evs):
                prev = best_cluster_of.get(ev.performer_id)
                # A performer's cluster evidence is the person where it ranks best, then scores best.
                key = (rank == 0, ev.confidence)
                if prev is None or key > prev[0]:
                    best_cluster_of[ev.performer_id] = (key, ev)
        ids = set()
        if use_cluster:
            ids |= {pid for pid, (key, _) in best_cluster_of.items() if key[0]}
        if use_freq:
            ids |= set(freq)
        describe = rec.describe(list(ids | {pid for pid, _ in best_cluster_of.items()}))
        for pid in ids:
            cev = best_cluster_of.get(pid, (None, None))[1] if use_cluster else None
            cev = cev if cev is not None and best_cluster_of[pid][0][0] else None
            fev = freq.get(pid) if use_freq else None
            found_by = [name for name, ev in (("cluster", cev), ("frequency", fev)) if ev is not None]
            base = cev if cev is not None else fev
            confidence = base.confidence
            score = confidence
            if p.matching_mode == "hybrid" and cev is not None and fev is not None:
                score += p.hybrid_boost
            ident, name, stash_ids = describe.get(pid, (f"facedb#{pid}", "?", []))
            if ident in tagged:
                score += p.tagged_boost
            appearances = max(ev.appearances for ev in (cev, fev) if ev is not None)
            frames = set().union(*(ev.frames for ev in (cev, fev) if ev is not None))
            distance = min(ev.distance for ev in (cev, fev) if ev is not None)
            reasons = []
            if distance > p.max_distance:
                reasons.append(f"distance {distance:.3f} > max_distance {p.max_distance}")
            if appearances < p.min_appearances:
                reasons.append(f"appearances {appearances} < min_appearances {p.min_appearances}")
            if len(frames) < p.min_unique_frames:
                reasons.append(f"unique frames {len(frames)} < min_unique_frames {p.min_unique_frames}")
            if score < min_conf:
                reasons.append(f"score {score:.2f} < min_confidence {min_conf:.2f}")
            rows[pid] = CandidateResult(
                performer_id=ident, name=name, stash_ids=stash_ids, distance=round(distance, 4),
                confidence=round(confidence, 4), score=round(min(score, 1.0 + p.hybrid_boost + p.tagged_boost), 4),
                appearances=appearances, unique_frames=len(frames), person=cev.person if cev else None,
                found_by=found_by, accepted=not reasons, rejected_because=reasons,
            )

        # One performer per person, one person per performer, no more performers than persons.
        accepted = sorted((r for r in rows.values() if r.accepted), key=lambda r: (r.score, r.appearances), reverse=True)
        taken_persons: set[int] = set()
        final: list[CandidateResult] = []
        cap = len(considered) if p.cap_by_clusters else None
        for r in accepted:
            if r.person is not None and r.person in taken_persons:
                r.accepted = False
                r.rejected_because.append(f"person {r.person} already matched to a stronger performer")
                continue
            if cap is not None and len(final) >= cap:
                r.accepted = False
                r.rejected_because.append(f"cap: only {cap} person cluster(s) with >= {p.min_appearances} faces")
                continue
            if r.person is not None:
                taken_persons.add(r.person)
            final.append(r)

        persons = self._persons(p, faces, clusters, cluster_cands, describe | rec.describe([e.performer_id for evs in cluster_cands.values() for e in evs]), rows, min_conf)
        totals = SceneTotals(
            frames_requested=p.num_frames, frames_analysed=0, frame_failures=0, faces_detected=0,
            faces_after_filter=len(faces), persons_clustered=len(clusters), persons_considered=len(considered),
        )
        diagnostics = sorted(rows.values(), key=lambda r: (r.accepted, r.score), reverse=True)
        return SceneIdentification(
            source=source, source_kind=source_kind, face_db_version=rec.db.version,
            params=p, performers=final, persons=persons, diagnostics=diagnostics, totals=totals, timings={},
        )

    def _persons(self, p, faces, clusters, cluster_cands, describe, rows, min_conf) -> list[PersonResult]:
        persons = []
        for ci, members in enumerate(clusters):
            cands = []
            for ev in cluster_cands.get(ci, []):
                ident, name, stash_ids = describe.get(ev.performer_id, (f"facedb#{ev.performer_id}", "?", []))
                row = rows.get(ev.performer_id)
                accepted = bool(row and row.accepted and row.person == ci)
                cands.append(
                    CandidateResult(
                        performer_id=ident, name=name, stash_ids=stash_ids, distance=round(ev.distance, 4),
                        confidence=round(ev.confidence, 4), score=row.score if row and row.person == ci else round(ev.confidence, 4),
                        appearances=ev.appearances, unique_frames=len(ev.frames), person=ci, found_by=["cluster"],
                        accepted=accepted, rejected_because=[] if accepted else (row.rejected_because if row and row.person == ci else ["not this person's top match"] if ev is not cluster_cands[ci][0] else []),
                    )
                )
            best = next((c for c in cands if c.accepted), None)
            thumb = None
            frame_thumbs: list[str] = []
            if p.thumbnails:
                jpeg = faces[max(members, key=lambda m: faces[m].face.quality)].thumbnail
                if jpeg:
                    thumb = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
                frame_thumbs = _frame_thumbnails([faces[m] for m in members])
            frames = sorted({faces[m].frame for m in members})
            persons.append(
                PersonResult(
                    person=ci, faces=len(members), frames=frames,
                    timestamps=sorted({round(faces[m].timestamp, 3) for m in members}),
                    thumbnail=thumb, thumbnails=frame_thumbs, best_match=best, candidates=cands,
                )
            )
        return persons


def _frame_thumbnails(members: list[_SceneFace]) -> list[str]:
    """The best crop of up to ``_FRAME_THUMBNAILS`` frames spread over the person's appearances,
    in time order."""
    best: dict[int, _SceneFace] = {}
    for f in members:
        if f.thumbnail and (f.frame not in best or f.face.quality > best[f.frame].face.quality):
            best[f.frame] = f
    frames = sorted(best)
    if len(frames) > _FRAME_THUMBNAILS:
        step = (len(frames) - 1) / (_FRAME_THUMBNAILS - 1)
        frames = [frames[round(i * step)] for i in range(_FRAME_THUMBNAILS)]
    return ["data:image/jpeg;base64," + base64.b64encode(best[i].thumbnail or b"").decode() for i in frames]
