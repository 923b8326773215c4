"""Scene identification: sample frames, find and embed faces, group them into persons, and
decide which performers are in the scene.

Matching happens at the performer level in three modes: ``frequency`` (per-face votes
aggregated over the scene), ``cluster`` (each person cluster's mean descriptor matched once)
and ``hybrid`` (both, boosted where they agree). Every filter the result applies is recorded
per candidate, so the benchmark can say why a performer was missed.
"""

from __future__ import annotations

import time
from collections import defaultdict
from concurrent.futures import Future
from dataclasses import dataclass

import cv2
import numpy as np

from ..faces.cluster import cluster_faces
from ..faces.parallel import FaceWorkerPool, shared_pool
from ..faces.pipeline import PipelineOptions
from ..faces.types import Face
from ..media.base import FrameFailure, FrameSource, sampling_timestamps
from ..recognition import Recognizer
from .decision import FaceRef, assign_to_persons, gather_evidence, person_results, score_candidates
from .params import SceneParams
from .result import SceneIdentification, SceneTotals

# Frames are pulled a few at a time so that 60 4K frames never sit in memory together.
_FRAME_CHUNK = 6
# Faces per embedding job: small enough to keep both workers busy while frames are still
# being decoded, large enough that the inter-process round trip is negligible.
_EMBED_BATCH = 12


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
    def __init__(self, recognizer: Recognizer, pool: FaceWorkerPool | None = None) -> None:
        self.recognizer = recognizer
        self._pool = pool

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

        options = PipelineOptions(
            min_face_size=p.min_face_size, min_detector_score=p.min_face_confidence, min_quality=p.min_face_quality,
            video_frame=True, embed=False, keep_crops=True,
        )
        for frame in self._frames(source, p, timings):
            analysed += 1
            found = pipe.find_faces(frame.image, options)  # the pipeline's one detect -> align path
            timings["detect"] += found.detect_s
            timings["align"] += found.align_s
            detected += found.detected
            faces.extend(_SceneFace(frame.index, frame.timestamp, face) for face in found.faces)
            if len(faces) - batch_start >= _EMBED_BATCH:
                flush()
        flush()
        t = time.perf_counter()
        vecs = np.zeros((len(faces), pipe.embedder.dim), dtype=np.float32)
        for first, result in pending:
            arr = result.result() if isinstance(result, Future) else result
            vecs[first : first + len(arr)] = arr
        pipe.attach([f.face for f in faces], vecs)
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
        """Evidence from both routes, one scored candidate per performer, one performer per
        person (the steps are in :mod:`.decision`)."""
        rec = self.recognizer
        min_conf = rec.calibration.default_min_confidence if p.min_confidence is None else p.min_confidence
        refs = [FaceRef(f.frame, f.timestamp, f.face.quality, f.thumbnail) for f in faces]
        evidence = gather_evidence(rec.matcher, p, vecs, refs, clusters)
        rows = score_candidates(evidence, evidence.best_cluster_picks(), rec.label, p, min_conf)
        final = assign_to_persons(rows, len(evidence.considered), p)
        persons = person_results(p, refs, clusters, evidence, rows, rec.label)
        totals = SceneTotals(
            frames_requested=p.num_frames, frames_analysed=0, frame_failures=0, faces_detected=0,
            faces_after_filter=len(faces), persons_clustered=len(clusters), persons_considered=len(evidence.considered),
        )
        diagnostics = sorted(rows.values(), key=lambda r: (r.accepted, r.score), reverse=True)
        return SceneIdentification(
            source=source, source_kind=source_kind, face_db_version=rec.db.version,
            params=p, performers=final, persons=persons, diagnostics=diagnostics, totals=totals, timings={},
        )
