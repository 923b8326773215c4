"""The analyzers on small real data: a real ``stash_sense.db``, scene and performer sources that
answer like Stash (``updated_at`` filter included), every rule checked by a case that must and
a case that must not raise a recommendation."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from stash_sense.recommendations import RunControl, run_analysis
from stash_sense.recommendations.duplicate_files import DuplicateFilesAnalyzer, choose_keeper
from stash_sense.recommendations.duplicate_performers import DuplicatePerformersAnalyzer, normalise_name
from stash_sense.recommendations.duplicate_scenes import DuplicateScenesAnalyzer
from stash_sense.recommendations.phash_index import hamming, near_pairs
from stash_sense.recommendations.scene_scoring import duration_verdict
from stash_sense.stash.library_client import AnalysisPerformer
from stash_sense.userdb import (
    FingerprintFace,
    FingerprintStore,
    IndexedFile,
    IndexedScene,
    LibraryIndex,
    NewFingerprint,
    RecommendationStore,
    UserDB,
)

STASHDB = "https://stashdb.org/graphql"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def stamp(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def flip(value: int, bits: int, rng: random.Random) -> int:
    for b in rng.sample(range(64), bits):
        value ^= 1 << b
    return value


class FakeStashScenes:
    """Answers like Stash: ``updated_at > after`` at minute resolution, deleted scenes vanish."""

    def __init__(self, scenes: list[IndexedScene]) -> None:
        self.scenes = {s.scene_id: s for s in scenes}
        self.queries: list[str | None] = []

    async def changed_scenes(self, updated_after: str | None) -> AsyncIterator[IndexedScene]:
        self.queries.append(updated_after)
        after = datetime.strptime(updated_after, "%Y-%m-%d %H:%M").replace(tzinfo=UTC) if updated_after else None
        for s in self.scenes.values():
            if after is None or datetime.fromisoformat(s.updated_at.replace("Z", "+00:00")) > after:
                yield s

    async def scene_ids(self) -> set[str]:
        return set(self.scenes)

    def touch(self, scene_id: str, minutes: float, **changes: object) -> None:
        old = self.scenes[scene_id]
        self.scenes[scene_id] = IndexedScene(**{**old.__dict__, "updated_at": stamp(minutes), **changes})  # type: ignore[arg-type]


def scene(sid: int, phash: int | None, duration: float = 600.0, *, stash_id: str | None = None, performers=(), studio=None,
          date=None, width=1280, bit_rate=4_000_000, files: int = 1) -> IndexedScene:
    extra = tuple(
        IndexedFile(f"{sid}-{k}", path=f"/media/{sid}-{k}.mp4", size=100_000_000 * (k + 1), width=width // (k + 1),
                    height=720 // (k + 1), duration=duration, bit_rate=bit_rate, video_codec="h264", phash=phash)
        for k in range(1, files)
    )
    return IndexedScene(
        scene_id=str(sid), updated_at=stamp(0), title=f"Scene {sid}", date=date, studio_id=studio,
        performer_ids=tuple(performers), stash_ids=(f"{STASHDB}#{stash_id}",) if stash_id else (),
        files=(IndexedFile(f"{sid}", path=f"/media/{sid}.mp4", size=500_000_000, width=width, height=width * 9 // 16,
                           duration=duration, bit_rate=bit_rate, video_codec="h264", phash=phash), *extra),
    )


@pytest.fixture
def db(tmp_path: Path):
    database = UserDB.open(tmp_path / "stash_sense.db")
    yield database
    database.close()


def library(rng: random.Random) -> tuple[list[IndexedScene], dict[str, set[frozenset[str]]]]:
    """200 unrelated scenes plus planted cases; returns the scenes and what must / must not pair."""
    scenes = [scene(i, rng.getrandbits(64), duration=rng.uniform(300, 3000)) for i in range(1, 201)]
    base = rng.getrandbits(64)
    near = rng.getrandbits(64)
    lookalike = rng.getrandbits(64)
    scenes += [
        scene(301, base, 900.0),                          # re-encode: exact phash
        scene(302, base, 900.5, width=854),
        scene(303, near, 1200.0),                         # near phash (3 bits), same length
        scene(304, flip(near, 3, rng), 1201.0),
        scene(305, lookalike, 840.0, stash_id="aaa"),     # same stash-box scene, different hashes
        scene(306, rng.getrandbits(64), 300.0, stash_id="aaa"),
        scene(307, rng.getrandbits(64), 700.0, performers=("1", "2"), studio="9", date="2024-01-01"),  # look-alikes:
        scene(308, rng.getrandbits(64), 700.0, performers=("1", "2"), studio="9", date="2024-01-01"),  # metadata only
        scene(309, base ^ 0b1111, 60.0),                  # 4 bits from 301 but 15x shorter: a collision
    ]
    truth = {
        "pairs": {frozenset({"301", "302"}), frozenset({"303", "304"}), frozenset({"305", "306"})},
        "not": {frozenset({"307", "308"}), frozenset({"301", "309"}), frozenset({"302", "309"})},
    }
    return scenes, truth


def pairs_of(store: RecommendationStore, type_: str, status: str = "open") -> set[frozenset[str]]:
    return {frozenset(t.split(":")[1].split(",")) for t in store.targets(type_, status)}


def test_multi_index_hashing_finds_exactly_the_brute_force_pairs() -> None:
    rng = np.random.default_rng(3)
    hashes = rng.integers(0, 2**63, size=800, dtype=np.int64).astype(np.uint64) * np.uint64(2)
    for k in range(0, 800, 8):  # plant neighbours at 0..10 bits
        v = int(hashes[k])
        for b in rng.choice(64, size=k % 11, replace=False):
            v ^= 1 << int(b)
        hashes[k + 1] = np.uint64(v)
    got = near_pairs(hashes, 10)
    brute = {(i, j) for i in range(800) for j in range(i + 1, 800) if hamming(int(hashes[i]), int(hashes[j])) <= 10}
    assert set(zip(got.left.tolist(), got.right.tolist(), strict=True)) == brute and len(brute) >= 100
    assert got.probed < 800 * 800 // 4  # far fewer checks than all pairs
    blank = near_pairs(np.zeros(5, dtype=np.uint64), 10)
    assert len(blank) == 0  # all-zero hashes (black frames) never pair


def test_duration_check_tolerates_a_trimmed_intro() -> None:
    assert duration_verdict(600, 601)[0] == "same"
    assert duration_verdict(600, 540)[0] == "trimmed"
    assert duration_verdict(600, 60)[0] == "different"


def test_duplicate_scenes_raise_only_from_phash_or_stash_id(db: UserDB) -> None:
    scenes, truth = library(random.Random(7))
    fingerprints = FingerprintStore(db)
    # Identical face fingerprints on the look-alikes: faces corroborate, never raise.
    for sid in ("307", "308"):
        fingerprints.save(NewFingerprint(scene_id=sid, face_db_version="v1", faces=[
            FingerprintFace(performer_id=f"{STASHDB}#p1", face_count=10, proportion=0.6, avg_confidence=0.9),
            FingerprintFace(performer_id=f"{STASHDB}#p2", face_count=6, proportion=0.4, avg_confidence=0.9)]))
    store = RecommendationStore(db)
    analyzer = DuplicateScenesAnalyzer(LibraryIndex(db), FakeStashScenes(scenes), fingerprints)
    run = asyncio.run(run_analysis(analyzer, store))
    assert run.status == "completed" and run.mode == "full" and run.total == len(scenes) == run.examined
    found = pairs_of(store, "duplicate_scenes")
    assert found == truth["pairs"]
    assert not found & truth["not"]
    certain = store.get(store.targets("duplicate_scenes")["scenes:305,306"])
    assert certain.confidence == 1.0 and certain.evidence["shares"]["stash_id"] == 1.0
    exact = store.get(store.targets("duplicate_scenes")["scenes:301,302"])
    assert exact.evidence["signals"]["phash"]["band"] == "exact" and exact.evidence["keeper"] == "301"
    assert abs(sum(exact.evidence["shares"].values()) - 1.0) < 0.01


def test_incremental_run_examines_only_the_changed_scenes(db: UserDB) -> None:
    rng = random.Random(11)
    scenes, _ = library(rng)
    source = FakeStashScenes(scenes)
    store = RecommendationStore(db)
    analyzer = DuplicateScenesAnalyzer(LibraryIndex(db), source)
    asyncio.run(run_analysis(analyzer, store))
    changed = [str(i) for i in range(10, 20)]
    for sid in changed:
        source.touch(sid, 90 + int(sid))
    # Scene 20 becomes a re-encode of scene 10 (same phash): found by the incremental run.
    source.touch("20", 200, files=source.scenes["10"].files)
    run = asyncio.run(run_analysis(analyzer, store))
    assert run.mode == "incremental" and run.examined == 11 and run.examined_ids == [*changed, "20"]
    assert run.total == len(scenes)
    assert frozenset({"10", "20"}) in pairs_of(store, "duplicate_scenes")
    # Nothing changed: the next run looks at nothing.
    quiet = asyncio.run(run_analysis(analyzer, store))
    assert quiet.mode == "incremental" and quiet.examined == 0
    # A deleted scene's recommendation is retired.
    del source.scenes["20"]
    gone = asyncio.run(run_analysis(analyzer, store))
    assert gone.obsolete == 1 and frozenset({"10", "20"}) not in pairs_of(store, "duplicate_scenes")


def test_dismissals_survive_reruns_and_logic_version_forces_full(db: UserDB, monkeypatch: pytest.MonkeyPatch) -> None:
    scenes, _ = library(random.Random(5))
    source = FakeStashScenes(scenes)
    store = RecommendationStore(db)
    analyzer = DuplicateScenesAnalyzer(LibraryIndex(db), source)
    asyncio.run(run_analysis(analyzer, store))
    ids = store.targets("duplicate_scenes")
    store.dismiss(ids["scenes:303,304"], "soft")
    store.dismiss(ids["scenes:301,302"], "not_duplicate")
    source.touch("303", 50)
    source.touch("301", 50)
    again = asyncio.run(run_analysis(analyzer, store))
    assert again.suppressed == 2 and store.get(ids["scenes:303,304"]).status == "dismissed"
    # The evidence of 303-304 changes (another file, now an exact match): the soft dismissal ends.
    source.touch("304", 60, files=source.scenes["303"].files[:1])
    source.touch("301", 60, date="2020-01-01")
    source.touch("302", 60, date="2020-01-01")
    monkeypatch.setattr(analyzer, "logic_version", analyzer.logic_version + 1)
    full = asyncio.run(run_analysis(analyzer, store))
    assert full.mode == "full"
    assert store.get(ids["scenes:303,304"]).status == "open"
    assert store.get(ids["scenes:301,302"]).status == "dismissed"


def test_a_stopped_run_keeps_the_old_watermark(db: UserDB) -> None:
    scenes, _ = library(random.Random(1))
    store = RecommendationStore(db)
    analyzer = DuplicateScenesAnalyzer(LibraryIndex(db), FakeStashScenes(scenes))
    control = RunControl(stop_event=asyncio.Event())
    control.stop()
    run = asyncio.run(run_analysis(analyzer, store, control=control))
    assert run.status == "stopped" and store.watermark("duplicate_scenes") is None
    assert asyncio.run(run_analysis(analyzer, store)).mode == "full"


def test_duplicate_files_keeper_and_space_saved(db: UserDB) -> None:
    scenes = [scene(1, 1, files=3), scene(2, 2), scene(3, 3, files=2)]
    store = RecommendationStore(db)
    asyncio.run(run_analysis(DuplicateFilesAnalyzer(LibraryIndex(db), FakeStashScenes(scenes)), store))
    assert set(store.targets("duplicate_files")) == {"scene:1", "scene:3"}
    rec = store.get(store.targets("duplicate_files")["scene:1"])
    assert rec.evidence["keeper"] == "1" and rec.evidence["reasons"] == ["higher resolution"]
    assert rec.evidence["space_saved"] == 200_000_000 + 300_000_000
    # The user's preferred folder beats resolution.
    files = scenes[0].files
    keeper, reasons = choose_keeper(files, ["/nas/keep"])
    assert keeper.file_id == "1" and reasons == ["higher resolution"]
    moved = (files[0], IndexedFile("x", path="/nas/keep/a.mp4", width=640, height=360))
    assert choose_keeper(moved, ["/nas/keep"])[0].file_id == "x"


class FakeStashPerformers:
    def __init__(self, performers: list[AnalysisPerformer]) -> None:
        self.list = performers

    async def performers(self) -> list[AnalysisPerformer]:
        return list(self.list)


def performer(pid: int, name: str, *, stash: str | None = None, aliases=(), scenes: int = 0, disamb=None,
              updated: float = 0) -> AnalysisPerformer:
    return AnalysisPerformer(
        id=str(pid), name=name, disambiguation=disamb, alias_list=list(aliases), scene_count=scenes, updated_at=stamp(updated),
        stash_ids=[{"endpoint": STASHDB, "stash_id": stash}] if stash else [],
    )


def test_duplicate_performers_by_stash_id_name_and_alias(db: UserDB) -> None:
    assert normalise_name("  Zoë  O'Neil ") == normalise_name("zoe o neil")
    people = [
        performer(1, "Ana Lima", stash="s1", scenes=3), performer(2, "Ana Lima (old)", stash="s1", scenes=9),   # certain
        performer(3, "Zoë O'Neil"), performer(4, "zoe o neil", scenes=2),                                       # name
        performer(5, "Kim Park", aliases=["Kimmy P"]), performer(6, "Kimmy P"),                                 # alias
        performer(7, "Sam Lee", stash="x1"), performer(8, "Sam Lee", stash="x2"),   # same name, stash-box says two people
        performer(9, "Jo Ray", disamb="dancer"), performer(10, "Jo Ray", disamb="singer"),  # told apart by disambiguation
    ]
    store = RecommendationStore(db)
    run = asyncio.run(run_analysis(DuplicatePerformersAnalyzer(FakeStashPerformers(people)), store))
    assert run.status == "completed"
    targets = store.targets("duplicate_performers")
    assert set(targets) == {"performers:1,2", "performers:3,4", "performers:5,6"}
    certain = store.get(targets["performers:1,2"])
    assert certain.confidence == 1.0 and certain.evidence["keeper"] == "2"
    assert store.get(targets["performers:3,4"]).evidence["certainty"] == "likely"
    assert store.get(targets["performers:5,6"]).evidence["certainty"] == "possible"
    # Face-DB corroboration: stash IDs on two stash-boxes lead to the same face-DB identity,
    # which links two differently named performers and backs up an alias link.
    other = AnalysisPerformer(id="12", name="Mia Moreau", alias_list=["Mimi"],
                              stash_ids=[{"endpoint": "https://fansdb.cc/graphql", "stash_id": "f9"}])
    people2 = [performer(11, "Mimi", stash="m1"), other, performer(13, "Unrelated", stash="u1")]
    faces = {f"{STASHDB}#m1": 42, "https://fansdb.cc/graphql#f9": 42, f"{STASHDB}#u1": 7}
    analyzer = DuplicatePerformersAnalyzer(FakeStashPerformers(people2), face_identity=lambda i: faces.get(str(i)))
    asyncio.run(run_analysis(analyzer, store, full=True))
    rec = store.get(store.targets("duplicate_performers")["performers:11,12"])
    assert rec.evidence["kinds"] == ["face_db", "alias"] and rec.confidence == 0.9
    # That full run retired the earlier findings whose performers it no longer saw.
    assert set(store.targets("duplicate_performers", "open")) == {"performers:11,12"}


def test_sprite_timelines_line_up_only_for_the_same_video() -> None:
    from stash_sense.recommendations.sprite_match import Timeline, align

    rng = np.random.default_rng(9)
    # 81 thumbnails of a 100 s scene; B is A with its first 6 s cut (81 thumbnails of 94 s).
    shots = rng.integers(0, 2**63, size=60, dtype=np.int64).astype(np.uint64)  # one picture per 2 s shot

    def timeline(start: float, duration: float) -> Timeline:
        times = np.arange(81) * duration / 81
        return Timeline(times, shots[((start + times) / 2).astype(int)])

    a, b = timeline(0.0, 100.0), timeline(6.0, 94.0)
    match = align(a, b, max_shift=8.0)
    assert match.matched and abs(match.offset - 6.0) < 0.7 and match.overlap >= 60
    other = Timeline(a.times, rng.integers(0, 2**63, size=81, dtype=np.int64).astype(np.uint64))
    assert not align(a, other, max_shift=8.0).matched
