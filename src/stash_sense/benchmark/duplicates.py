"""``bench duplicates``: the duplicate-scene analyzer at library scale.

A synthetic library (scene metadata, file phashes, face fingerprints) is written straight into
a fresh ``stash_sense.db`` and the analyzer runs a full pass over it, storing its findings as
in production. Planted among random scenes: re-encodes (phash within a few bits, same length),
trimmed copies (a few more bits, 80-95% of the length), stash-box ID twins and look-alike
series scenes (same performers and studio, other video). The run must find the planted pairs
and nothing from the look-alikes, and its time is measured at several sizes for the curve.
"""

from __future__ import annotations

import asyncio
import gc
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

from pydantic import BaseModel, Field

from stash_sense.recommendations.base import run_analysis
from stash_sense.recommendations.duplicate_scenes import DuplicateScenesAnalyzer, pair_target
from stash_sense.userdb import FingerprintStore, IndexedFile, IndexedScene, LibraryIndex, RecommendationStore, UserDB
from stash_sense.userdb.db import utc_now

STASHDB = "https://stashdb.org/graphql"
PLANTED_SHARE = 0.02  # of the scenes: each planted case adds one scene
CURVE_SIZES = (5_000, 10_000, 20_000, 30_000, 40_000, 50_000)


class CurvePoint(BaseModel):
    scenes: int
    seconds: float
    candidates: int
    found: int


class DuplicatesBenchReport(BaseModel):
    scenes: int
    seconds: float = Field(description="Full analyzer run at --scenes (index load, candidates, scoring, storing).")
    build_seconds: float = Field(description="Writing the synthetic library into the stores (not part of `seconds`).")
    peak_rss_mb: float = Field(description="Peak resident memory of this process over the whole benchmark.")
    candidates: int
    planted: int
    found_planted: int
    recall: float
    false_positives: int = Field(description="Raised pairs that are not planted duplicates.")
    lookalikes_raised: int
    curve: list[list[float]] = Field(description="[scenes, seconds] from 5k to --scenes.")
    curve_detail: list[CurvePoint]
    seconds_per_1k: list[float]
    python: str


def _flip(value: int, bits: int, rng: random.Random) -> int:
    for b in rng.sample(range(64), bits):
        value ^= 1 << b
    return value


def build_synthetic(db: UserDB, n: int, seed: int = 0) -> tuple[set[str], set[str]]:
    """Write ``n`` scenes into the stores; returns (planted duplicate targets, look-alike targets)."""
    rng = random.Random(seed)
    scenes: list[IndexedScene] = []
    planted: set[str] = set()
    lookalikes: set[str] = set()
    stamp = utc_now()
    performers = [str(i) for i in range(1, max(50, n // 20))]
    studios = [str(i) for i in range(1, max(10, n // 200))]

    def new_scene(sid: int, phash: int, duration: float, width: int = 1920, **kw: object) -> IndexedScene:
        return IndexedScene(
            scene_id=str(sid), updated_at=stamp, title=f"Scene {sid}",
            files=(IndexedFile(file_id=str(sid), path=f"/library/{sid}.mp4", size=int(duration * 600_000), width=width,
                               height=width * 9 // 16, duration=duration, bit_rate=4_800_000, video_codec="h264", phash=phash),),
            **kw,  # type: ignore[arg-type]
        )

    n_planted = int(n * PLANTED_SHARE)
    base_count = n - n_planted
    for sid in range(1, base_count + 1):
        scenes.append(new_scene(
            sid, rng.getrandbits(64), rng.uniform(300, 3600), performer_ids=tuple(sorted(rng.sample(performers, 2))),
            studio_id=rng.choice(studios), date=f"20{rng.randint(10, 25)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}",
        ))
    next_id = base_count + 1
    # Each original is used once, so one planted case never overwrites another.
    for k, position in enumerate(rng.sample(range(base_count), n_planted)):
        original = scenes[position]
        f = original.files[0]
        case = k % 4
        if case == 0:  # re-encode at another resolution: phash within 0-3 bits, same length
            copy = new_scene(next_id, _flip(f.phash or 0, rng.randint(0, 3), rng), f.duration + rng.uniform(-1, 1), width=1280,
                             performer_ids=original.performer_ids, studio_id=original.studio_id, date=original.date)
            planted.add(pair_target(original.scene_id, copy.scene_id))
        elif case == 1:  # cut intro: a few more bits, 80-95% of the length
            copy = new_scene(next_id, _flip(f.phash or 0, rng.randint(3, 7), rng), f.duration * rng.uniform(0.8, 0.95),
                             performer_ids=original.performer_ids, studio_id=original.studio_id, date=original.date)
            planted.add(pair_target(original.scene_id, copy.scene_id))
        elif case == 2:  # the same stash-box scene, phashes unrelated
            sid_text = f"{STASHDB}#{next_id:08x}-bench"
            scenes[position] = IndexedScene(**{**original.__dict__, "stash_ids": (sid_text,)})
            copy = new_scene(next_id, rng.getrandbits(64), f.duration, stash_ids=(sid_text,))
            planted.add(pair_target(original.scene_id, copy.scene_id))
        else:  # look-alike: same performers, studio and date, another video
            copy = new_scene(next_id, rng.getrandbits(64), f.duration, performer_ids=original.performer_ids,
                             studio_id=original.studio_id, date=original.date)
            lookalikes.add(pair_target(original.scene_id, copy.scene_id))
        scenes.append(copy)
        next_id += 1
    LibraryIndex(db).upsert(scenes)
    # Face fingerprints for every scene, written in bulk as the bulk job would leave them.
    now = utc_now()
    with db.transaction() as conn:
        conn.executemany(
            "INSERT INTO scene_fingerprints (scene_id, status, face_db_version, total_faces, created_at, updated_at) "
            "VALUES (?, 'complete', 'bench', 20, ?, ?)",
            [(s.scene_id, now, now) for s in scenes],
        )
        conn.executemany(
            "INSERT INTO scene_fingerprint_faces (scene_id, performer_id, face_count, proportion, avg_confidence) "
            "VALUES (?, ?, ?, ?, 0.9)",
            [(s.scene_id, f"{STASHDB}#p{p}", 10, 0.5) for s in scenes for p in s.performer_ids],
        )
    return planted, lookalikes


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / 1024 / (1024 if sys.platform == "darwin" else 1), 1)


def _one(n: int, seed: int, workdir: Path) -> tuple[float, float, int, set[str], set[str], set[str]]:
    db = UserDB.open(workdir / f"bench-{n}.db")
    try:
        t0 = time.perf_counter()
        planted, lookalikes = build_synthetic(db, n, seed)
        build = time.perf_counter() - t0
        gc.collect()
        store = RecommendationStore(db)
        analyzer = DuplicateScenesAnalyzer(LibraryIndex(db), None, FingerprintStore(db))
        t1 = time.perf_counter()
        run = asyncio.run(run_analysis(analyzer, store, full=True))
        seconds = time.perf_counter() - t1
        found = set(store.targets("duplicate_scenes", "open"))
        return seconds, build, run.candidates, found, planted, lookalikes
    finally:
        db.close()


def measure_duplicates(scenes: int = 50_000, *, seed: int = 0, curve: bool = True) -> DuplicatesBenchReport:
    sizes = [s for s in CURVE_SIZES if s < scenes] + [scenes] if curve else [scenes]
    points: list[CurvePoint] = []
    with tempfile.TemporaryDirectory(prefix="stash-sense-bench-dup-") as tmp:
        result = None
        for n in sizes:
            seconds, build, candidates, found, planted, lookalikes = _one(n, seed, Path(tmp))
            points.append(CurvePoint(scenes=n, seconds=round(seconds, 3), candidates=candidates, found=len(found)))
            for leftover in Path(tmp).glob(f"bench-{n}.db*"):
                leftover.unlink()
            if n == scenes:
                result = (seconds, build, candidates, found, planted, lookalikes)
    assert result is not None
    seconds, build, candidates, found, planted, lookalikes = result
    return DuplicatesBenchReport(
        scenes=scenes, seconds=round(seconds, 3), build_seconds=round(build, 2), peak_rss_mb=_peak_rss_mb(),
        candidates=candidates, planted=len(planted), found_planted=len(found & planted),
        recall=round(len(found & planted) / len(planted), 4) if planted else 1.0,
        false_positives=len(found - planted), lookalikes_raised=len(found & lookalikes),
        curve=[[p.scenes, p.seconds] for p in points], curve_detail=points,
        seconds_per_1k=[round(p.seconds / (p.scenes / 1000), 4) for p in points],
        python=sys.version.split()[0],
    )
