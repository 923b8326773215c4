"""Stage 3 (optional): faces from the user's own scenes, for performers with few images.

Only scenes tagged with exactly one performer are used, and even there the video may show
other people (partners who are not tagged, extras, anyone): a face is added only when it is
unmistakably the tagged performer. The rules, all conservative:

- the scene's good faces (size, quality) are grouped into persons (two faces in one frame
  are two people); only the person whose faces are closest to the performer's *reference*
  faces (Stash and stash-box images, never earlier scene faces, so errors cannot snowball)
  is considered, and only if that person's median distance is within ``max_distance``;
- each kept face must itself be within ``max_distance`` of the references and closer to them
  than to any other performer's references;
- the person must be matched in at least ``min_frames`` frames;
- near-duplicates (same shot, same pose) are dropped and at most ``max_faces_per_scene`` of the
  best-quality faces are kept.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel

from ...faces.cluster import cluster_faces
from ...faces.pipeline import PipelineOptions
from ...faces.types import Face
from ...media.base import Frame, FrameSourceError
from ...stash.client import StashClient
from ...stash.media import SceneMediaError, open_scene_frames
from ...stash.models import Scene
from ...stash.ratelimit import Priority
from .context import BuildContext

SCENE_KEY = "stash-scene:"
# Stash's own filter for "tagged with exactly one performer".
ONE_PERFORMER_FILTER = {"performer_count": {"value": 1, "modifier": "EQUALS"}}


@dataclass(frozen=True, slots=True)
class EnrichParams:
    num_frames: int = 12
    max_distance: float = 0.5  # well inside dlib's 0.6 same-person tolerance
    min_quality: float = 0.35
    min_face_size: int = 48
    min_detector_score: float = 0.5
    min_frames: int = 2
    max_faces_per_scene: int = 5
    # Sampled frames of one shot give nearly the same face; only a new pose or light is worth a row.
    duplicate_distance: float = 0.12
    cluster_threshold: float = 0.5


@dataclass(frozen=True, slots=True)
class Selection:
    """Which of a scene's faces to add (indices, best first), and why none when empty."""

    chosen: list[int]
    rejected: int  # faces that were not the tagged performer (or not surely)
    reason: str | None = None


def min_distances(queries: np.ndarray, refs: np.ndarray) -> np.ndarray:
    """Each query's distance to its nearest reference (``inf`` with no references)."""
    if len(refs) == 0:
        return np.full(len(queries), np.inf)
    q = np.asarray(queries, dtype=np.float64)
    r = np.asarray(refs, dtype=np.float64)
    sq = (q**2).sum(1)[:, None] + (r**2).sum(1)[None, :] - 2.0 * q @ r.T
    return np.sqrt(np.maximum(sq, 0.0)).min(axis=1)


def select_scene_faces(
    vectors: np.ndarray,
    frames: list[int],
    qualities: list[float],
    own_refs: np.ndarray,
    other_refs: np.ndarray,
    existing: np.ndarray,
    params: EnrichParams = EnrichParams(),
) -> Selection:
    """The faces of a one-performer scene that are surely that performer (see module docstring)."""
    n = len(vectors)
    if n == 0:
        return Selection([], 0, "no usable face")
    if len(own_refs) == 0:
        return Selection([], n, "tagged performer has no reference face")
    d_own = min_distances(vectors, own_refs)
    d_other = min_distances(vectors, other_refs)
    persons = cluster_faces(vectors, frames, params.cluster_threshold)
    best = min(persons, key=lambda members: float(np.median(d_own[members])))
    if float(np.median(d_own[best])) > params.max_distance:
        return Selection([], n, "no face matches the tagged performer")
    matching = [i for i in best if d_own[i] <= params.max_distance and d_own[i] < d_other[i]]
    if len({frames[i] for i in matching}) < params.min_frames:
        return Selection([], n, f"tagged performer matched in fewer than {params.min_frames} frames")
    kept: list[int] = []
    seen = [np.asarray(v) for v in existing]
    for i in sorted(matching, key=lambda i: (-qualities[i], d_own[i])):
        if len(kept) >= params.max_faces_per_scene:
            break
        if any(float(np.linalg.norm(vectors[i] - v)) < params.duplicate_distance for v in seen):
            continue
        kept.append(i)
        seen.append(vectors[i])
    reason = None if kept else "only faces the DB already has"
    return Selection(kept, n - len(matching), reason)


class SceneEnrichReport(BaseModel):
    scenes_with_one_performer: int
    scenes_done_before: int
    scenes_processed_now: int
    scenes_with_faces_added_now: int
    faces_added_now: int
    faces_rejected_now: int  # other people, or faces not surely the tagged performer
    scenes_skipped_now: dict[str, int]  # recorded as done: re-runs skip them
    scenes_not_processed: dict[str, int]  # not recorded: a later build tries them again


def _reference_faces(ctx: BuildContext) -> tuple[np.ndarray, np.ndarray]:
    """Every trusted face (not from a scene) and its DB performer id."""
    dim = ctx.writer.model.dim
    rows = ctx.writer.connection.execute(
        "SELECT performer_id, embedding FROM faces WHERE source NOT LIKE ? ORDER BY id", (f"{SCENE_KEY}%",)
    ).fetchall()
    if not rows:
        return np.empty((0, dim), np.float32), np.empty(0, np.int64)
    owners = np.array([r[0] for r in rows], dtype=np.int64)
    vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim)
    return vectors, owners


def _scene_faces(ctx: BuildContext, frames: list[Frame], params: EnrichParams) -> list[tuple[int, float, Face]]:
    """Good-quality faces of the frames, embedded: ``(frame index, timestamp, face)``."""
    pipe = ctx.pipeline
    options = PipelineOptions(
        min_face_size=params.min_face_size, min_detector_score=params.min_detector_score, min_quality=params.min_quality,
        embed=False, keep_crops=True,
    )
    found: list[tuple[int, float, Face]] = []
    for frame in frames:
        found.extend((frame.index, frame.timestamp, face) for face in pipe.find_faces(frame.image, options).faces)
    faces = [face for _, _, face in found]
    if ctx.use_pool(len(faces)):
        pipe.attach(faces, ctx.pool.embed_chips([face.crop for face in faces], pipe.embedder.dim))
    else:
        pipe.embed_faces(faces)
    for face in faces:
        face.crop = None
    return found


def enrich_from_scenes(
    ctx: BuildContext,
    stash: StashClient,
    db_ids: dict[str, int],
    params: EnrichParams = EnrichParams(),
) -> SceneEnrichReport:
    """Add faces of one-performer scenes to their performer (``db_ids``: Stash id -> DB id)."""

    async def one_performer_scenes() -> list[Scene]:
        return [s async for s in stash.find_scenes(ONE_PERFORMER_FILTER, per_page=250, priority=Priority.LOW)]

    scenes = ctx.bridge.run(one_performer_scenes())
    refs, owners = _reference_faces(ctx)
    done_before = processed = with_faces = added = rejected = 0
    skipped: Counter[str] = Counter()
    not_processed: Counter[str] = Counter()
    task = ctx.progress.add_task("one-performer scenes", total=len(scenes))
    for scene in scenes:
        ctx.progress.advance(task)
        key = f"{SCENE_KEY}{stash.url}/scene/{scene.id}"
        if ctx.writer.is_source_done(key):
            done_before += 1
            continue
        if len(scene.performers) != 1:
            not_processed["not tagged with exactly one performer"] += 1
            continue
        pid = db_ids.get(scene.performers[0].id)
        own = refs[owners == pid] if pid is not None else refs[:0]
        if len(own) == 0:
            not_processed["tagged performer has no reference face"] += 1
            continue
        try:
            with open_scene_frames(ctx.bridge, stash, scene, priority=Priority.LOW, video_mode="fast") as source:
                frames = source.sample(params.num_frames)
        except SceneMediaError:
            not_processed["no usable media"] += 1
            continue
        except FrameSourceError:
            not_processed["frames could not be decoded"] += 1
            continue
        faces = _scene_faces(ctx, frames, params)
        vectors = np.stack([f.embedding for _, _, f in faces]) if faces else np.empty((0, refs.shape[1]), np.float32)
        selection = select_scene_faces(
            vectors,
            [index for index, _, _ in faces],
            [f.quality for _, _, f in faces],
            own,
            refs[owners != pid],
            np.asarray(ctx.known_faces(pid)).reshape(-1, refs.shape[1]),
            params,
        )
        for i in selection.chosen:
            index, timestamp, face = faces[i]
            ctx.add_face(
                pid, face.embedding, source=key, quality=face.quality, detector=face.detector,
                box=face.box.as_list(),
                extra={"quality_parts": face.quality_parts, "stash_scene_id": scene.id, "timestamp": round(timestamp, 3)},
            )
        processed += 1
        added += len(selection.chosen)
        rejected += selection.rejected
        with_faces += bool(selection.chosen)
        if selection.reason is not None:
            skipped[selection.reason] += 1
        ctx.writer.mark_source_done(key, "ok" if selection.chosen else "skipped", selection.reason)
    return SceneEnrichReport(
        scenes_with_one_performer=len(scenes),
        scenes_done_before=done_before,
        scenes_processed_now=processed,
        scenes_with_faces_added_now=with_faces,
        faces_added_now=added,
        faces_rejected_now=rejected,
        scenes_skipped_now=dict(skipped),
        scenes_not_processed=dict(not_processed),
    )
