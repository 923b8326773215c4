"""Duplicate scenes: the same video twice in Stash, as two scenes.

Candidate pairs come from inverted indexes only: scenes sharing a stash-box scene ID, files
whose phashes lie within the far distance (multi-index hashing, see
:mod:`stash_sense.recommendations.phash_index`), and scenes with the same performers whose
lengths fit a copy (equal, or one trimmed) (checked on Stash's sprite timeline, see
:mod:`stash_sense.recommendations.sprite_match`). Each candidate is then scored with every
signal (:mod:`stash_sense.recommendations.scene_scoring`), face fingerprints included.
"""

from __future__ import annotations

import time
from collections import defaultdict
from itertools import combinations
from typing import Any

import numpy as np

from stash_sense.recommendations.base import AnalysisOutcome, RunControl
from stash_sense.recommendations.phash_index import near_pairs
from stash_sense.recommendations.scene_scoring import LOGIC_VERSION, PHASH_FAR, FaceProfile, duration_verdict, score_pair
from stash_sense.recommendations.sprite_match import SpriteSource, TimelineMatch, align
from stash_sense.recommendations.scene_sync import SceneSource, sync_scenes
from stash_sense.userdb import FingerprintStore, IndexedScene, LibraryIndex, NewRecommendation

TYPE = "duplicate_scenes"
# A stash-box ID on more scenes than this is a bad match in Stash, not a duplicate group.
MAX_STASH_ID_GROUP = 20
# Scenes sharing one performer set beyond this are a series, not copies: no timeline checks.
MAX_PERFORMER_GROUP = 30


def scene_key(scene_id: str) -> tuple[int, str]:
    return (int(scene_id), "") if scene_id.isdigit() else (1 << 62, scene_id)


def pair_target(a: str, b: str) -> str:
    x, y = sorted((a, b), key=scene_key)
    return f"scenes:{x},{y}"


def scene_summary(scene: IndexedScene) -> dict[str, Any]:
    return {
        "id": scene.scene_id, "title": scene.title, "date": scene.date, "studio_id": scene.studio_id,
        "performer_ids": list(scene.performer_ids), "stash_ids": list(scene.stash_ids), "duration": round(scene.duration, 2),
        "files": [
            {"id": f.file_id, "path": f.path, "size": f.size, "width": f.width, "height": f.height, "duration": round(f.duration, 2),
             "bit_rate": f.bit_rate, "video_codec": f.video_codec, "phash": f"{f.phash:016x}" if f.phash is not None else None}
            for f in scene.files
        ],
    }


def _quality(scene: IndexedScene) -> tuple[int, int, float, int]:
    f = max(scene.files, key=lambda x: (x.short_side, x.bit_rate), default=None)
    if f is None:
        return (0, 0, 0.0, 0)
    return (f.short_side, f.bit_rate, scene.duration, -scene_key(scene.scene_id)[0])


class DuplicateScenesAnalyzer:
    type = TYPE
    logic_version = LOGIC_VERSION
    object_kind = "scene"

    def __init__(
        self, index: LibraryIndex, source: SceneSource | None, fingerprints: FingerprintStore | None = None,
        sprites: SpriteSource | None = None,
    ) -> None:
        self.index = index
        self.source = source
        self.fingerprints = fingerprints
        self.sprites = sprites

    async def analyze(self, *, since: str | None, control: RunControl) -> AnalysisOutcome:
        sync = await sync_scenes(self.source, self.index, since, control)
        control.check()
        t0 = time.monotonic()
        scenes = self.index.scenes()
        position = {s.scene_id: i for i, s in enumerate(scenes)}
        examined = sorted(set(sync.changed) | set(sync.removed), key=scene_key) if since else [s.scene_id for s in scenes]
        queried = None if since is None else {position[sid] for sid in sync.changed if sid in position}
        t_load = time.monotonic() - t0

        # Inverted index 1: perceptual hashes of every file, probed for the queried scenes' files.
        file_hash, file_scene = [], []
        for i, scene in enumerate(scenes):
            for f in scene.files:
                if f.phash is not None:
                    file_hash.append(f.phash)
                    file_scene.append(i)
        hashes = np.array(file_hash, dtype=np.uint64)
        owners = np.array(file_scene, dtype=np.int64)
        queries = None if queried is None else np.flatnonzero(np.isin(owners, np.fromiter(queried, dtype=np.int64)))
        t1 = time.monotonic()
        pairs = near_pairs(hashes, PHASH_FAR, queries) if len(hashes) and (queries is None or len(queries)) else None
        candidates: set[tuple[int, int]] = set()
        if pairs is not None and len(pairs):
            a, b = owners[pairs.left], owners[pairs.right]
            keep = a != b
            for x, y in zip(np.minimum(a[keep], b[keep]).tolist(), np.maximum(a[keep], b[keep]).tolist(), strict=True):
                candidates.add((x, y))
        t_phash = time.monotonic() - t1
        control.report(0.6, f"{len(candidates)} phash candidates")
        control.check()

        # Inverted index 2: stash-box scene IDs.
        by_stash_id: dict[str, list[int]] = defaultdict(list)
        for i, scene in enumerate(scenes):
            for sid in scene.stash_ids:
                by_stash_id[sid].append(i)
        for members in by_stash_id.values():
            if 1 < len(members) <= MAX_STASH_ID_GROUP and (queried is None or queried.intersection(members)):
                candidates.update(combinations(sorted(members), 2))

        # Inverted index 3: performer sets, for copies with a cut start (timeline evidence).
        timeline_pairs: set[tuple[int, int]] = set()
        if self.sprites is not None:
            by_cast: dict[tuple[str, ...], list[int]] = defaultdict(list)
            for i, scene in enumerate(scenes):
                if scene.performer_ids:
                    by_cast[scene.performer_ids].append(i)
            for members in by_cast.values():
                if not 1 < len(members) <= MAX_PERFORMER_GROUP or (queried is not None and not queried.intersection(members)):
                    continue
                for i, j in combinations(sorted(members), 2):
                    # "same" too: a cut of a second or two leaves the length within tolerance.
                    if (i, j) not in candidates and duration_verdict(scenes[i].duration, scenes[j].duration)[0] in ("same", "trimmed"):
                        timeline_pairs.add((i, j))
        candidates |= timeline_pairs

        t2 = time.monotonic()
        findings = []
        profiles: dict[str, FaceProfile | None] = {}
        for n, (i, j) in enumerate(sorted(candidates)):
            if n % 200 == 0:
                control.check()
                control.report(0.6 + 0.4 * n / max(1, len(candidates)), f"scoring {n} of {len(candidates)} pairs")
            a, b = scenes[i], scenes[j]
            timeline = await self._timeline(a, b) if (i, j) in timeline_pairs else None
            score = score_pair(
                a, b, faces_a=self._faces(a.scene_id, profiles), faces_b=self._faces(b.scene_id, profiles), timeline=timeline,
            )
            if not score.raised:
                continue
            keeper = max((a, b), key=_quality)
            signals = score.signals
            facts = {
                "stash_id": signals.get("stash_id", {}).get("shared"),
                "phash": signals.get("phash", {}).get("distance"),
                "duration": signals["duration"]["verdict"],
                "faces": round(signals["faces"]["similarity"], 1) if "faces" in signals else None,
                "timeline": round(signals["timeline"]["offset_s"], 1) if signals.get("timeline", {}).get("matched") else None,
                "metadata": {k: v for k, v in signals["metadata"].items() if k != "points"},
            }
            findings.append(NewRecommendation(
                type=TYPE, target=pair_target(a.scene_id, b.scene_id), confidence=score.confidence,
                evidence={
                    "scenes": [scene_summary(s) for s in sorted((a, b), key=lambda s: scene_key(s.scene_id))],
                    "signals": signals, "shares": score.shares(), "keeper": keeper.scene_id,
                },
                objects=[("scene", a.scene_id), ("scene", b.scene_id)], facts=facts,
            ))
        t_score = time.monotonic() - t2
        return AnalysisOutcome(
            findings=findings, examined=examined, total=len(scenes), candidates=len(candidates), watermark=sync.watermark,
            touching="scene", present=sync.present,
            stats={"load_s": t_load, "phash_s": t_phash, "score_s": t_score, "phash_probes": float(pairs.probed if pairs else 0)},
        )

    async def _timeline(self, a: IndexedScene, b: IndexedScene) -> TimelineMatch | None:
        assert self.sprites is not None
        ta, tb = await self.sprites.timeline(a.scene_id), await self.sprites.timeline(b.scene_id)
        if ta is None or tb is None:
            return None
        # The longer scene is A: the shorter one is it with a piece cut.
        if b.duration > a.duration:
            ta, tb = tb, ta
        step = abs(a.duration - b.duration) / 10 + 1.0
        return align(ta, tb, max_shift=abs(a.duration - b.duration) + step)

    def _faces(self, scene_id: str, cache: dict[str, FaceProfile | None]) -> FaceProfile | None:
        if self.fingerprints is None:
            return None
        if scene_id not in cache:
            fp = self.fingerprints.get(scene_id)
            cache[scene_id] = (
                FaceProfile({f.performer_id: f.proportion for f in fp.faces}) if fp is not None and fp.status == "complete" else None
            )
        return cache[scene_id]
