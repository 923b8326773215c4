"""``eval scenes``: the engine on a rendered sample library, beside a naive baseline.

The baseline is what a plain pipeline does: every face in every sampled frame is matched to
its nearest DB face, and any match within 0.6 (the ``face_recognition`` library's default
tolerance) counts as a performer in the scene. It runs on exactly the faces the engine found,
in the same run, so the comparison isolates the matching logic.
"""

from __future__ import annotations

import resource
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from ..media.base import FrameSourceError
from ..media.video import VideoFrameSource
from ..scenes.engine import SceneEngine
from ..scenes.params import SceneParams
from .scenes import TIERS, performer_keys, precision_recall, resolution_tier, score_scene

STASHDB = "https://stashdb.org/graphql"
BASELINE_TOLERANCE = 0.6


class SceneRow(BaseModel):
    scene_id: str
    tier: str
    width: int
    height: int
    expected: list[str]
    reported: list[str]
    false_positives: list[str]
    false_negatives: list[str]
    baseline_reported: list[str]
    baseline_false_positives: list[str]
    baseline_false_negatives: list[str]
    seconds: float
    faces: int
    persons: int
    rss_mb: float
    error: str | None = None


class SceneEvalReport(BaseModel):
    precision: float
    recall: float
    false_positives_per_scene: float
    scenes: int
    errors: int
    seconds_per_scene: float
    by_tier: dict[str, dict]
    baseline: dict
    baseline_by_tier: dict[str, dict]
    peak_rss_mb: float
    rss_first_mb: float
    rss_last_mb: float
    params: dict
    face_db_version: str
    rows: list[SceneRow]


def _rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def evaluate_scenes(library, engine: SceneEngine, params: SceneParams, *, scene_ids: list[str] | None = None, progress: bool = True) -> SceneEvalReport:
    db = engine.recognizer.db
    scenes = [s for s in library.scenes if scene_ids is None or s.id in set(scene_ids)]
    if scene_ids is not None:
        missing = set(scene_ids) - {s.id for s in scenes}
        if missing:
            raise ValueError(f"unknown scene id(s): {', '.join(sorted(missing))}")
    by_id = {p.id: p for p in library.performers}
    rows: list[SceneRow] = []
    ours, base = [], []
    ours_tier, base_tier = defaultdict(list), defaultdict(list)
    for n, scene in enumerate(scenes, 1):
        expected = [(r.name, performer_keys(name=r.name, stash_ids=[f"{STASHDB}#{by_id[r.id].stash_id}"])) for r in scene.performers]
        tier = resolution_tier(scene.width, scene.height)
        start = time.perf_counter()
        try:
            with VideoFrameSource(library.scene_path(scene), mode="fast") as source:
                result, faces = engine.identify_with_faces(source, params)
        except FrameSourceError as exc:
            rows.append(SceneRow(scene_id=scene.id, tier=tier, width=scene.width, height=scene.height, expected=[n for n, _ in expected],
                                 reported=[], false_positives=[], false_negatives=[n for n, _ in expected], baseline_reported=[],
                                 baseline_false_positives=[], baseline_false_negatives=[], seconds=0.0, faces=0, persons=0,
                                 rss_mb=_rss_mb(), error=str(exc)))
            continue
        seconds = time.perf_counter() - start
        reported = [(r.name, performer_keys(name=r.name, stash_ids=r.stash_ids)) for r in result.performers]
        s = score_scene(expected, reported)
        b = score_scene(expected, _baseline(engine, faces))
        ours.append(s)
        base.append(b)
        ours_tier[tier].append(s)
        base_tier[tier].append(b)
        rows.append(
            SceneRow(
                scene_id=scene.id, tier=tier, width=scene.width, height=scene.height, expected=s.expected, reported=s.reported,
                false_positives=s.false_positives, false_negatives=s.false_negatives, baseline_reported=b.reported,
                baseline_false_positives=b.false_positives, baseline_false_negatives=b.false_negatives,
                seconds=round(seconds, 3), faces=result.totals.faces_after_filter, persons=result.totals.persons_clustered,
                rss_mb=round(_rss_mb(), 1),
            )
        )
        if progress:
            pr = precision_recall(ours)
            print(
                f"  [{n}/{len(scenes)}] scene {scene.id} {tier}: {s.tp} TP {s.fp} FP {s.fn} FN in {seconds:.1f}s "
                f"(running precision {pr['precision']:.3f} recall {pr['recall']:.3f})",
                file=sys.stderr, flush=True,
            )
    overall = precision_recall(ours)
    ok_rows = [r for r in rows if r.error is None]
    return SceneEvalReport(
        precision=overall["precision"], recall=overall["recall"], false_positives_per_scene=overall["false_positives_per_scene"],
        scenes=len(rows), errors=sum(1 for r in rows if r.error),
        seconds_per_scene=float(np.mean([r.seconds for r in ok_rows])) if ok_rows else 0.0,
        by_tier={t: precision_recall(ours_tier[t]) for t in TIERS if ours_tier[t]},
        baseline=precision_recall(base), baseline_by_tier={t: precision_recall(base_tier[t]) for t in TIERS if base_tier[t]},
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        rss_first_mb=ok_rows[0].rss_mb if ok_rows else 0.0, rss_last_mb=ok_rows[-1].rss_mb if ok_rows else 0.0,
        # The parameters as the engine applied them (an unset max_distance becomes the embedder's).
        params=params.for_embedder(engine.recognizer.pipeline.embedder.model_name).model_dump(), face_db_version=db.version, rows=rows,
    )


def _baseline(engine: SceneEngine, faces: list[tuple[int, np.ndarray]]) -> list[tuple[str, set[str]]]:
    if not faces:
        return []
    hits = engine.recognizer.db.search(np.stack([v for _, v in faces]), 1)
    ids = sorted({h[0].performer_id for h in hits if h and h[0].distance <= BASELINE_TOLERANCE})
    info = engine.recognizer.describe(ids)
    return [(info[i].name, performer_keys(name=info[i].name, stash_ids=info[i].stash_ids)) for i in ids if i in info]
