"""The recommendation tables of ``stash_sense.db``: migration from older files, one row per
target, dismissal semantics, runs, watermarks and recorded actions (real SQLite files)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from stash_sense.userdb import (
    LATEST_VERSION,
    MIGRATIONS,
    FingerprintStore,
    IndexedFile,
    IndexedScene,
    LibraryIndex,
    NewRecommendation,
    RecommendationStore,
    RunCounts,
    UserDB,
)


def _finding(target: str = "scenes:1,2", confidence: float = 0.9, distance: int = 2) -> NewRecommendation:
    return NewRecommendation(
        type="duplicate_scenes", target=target, confidence=confidence,
        evidence={"phash_distance": distance}, objects=[("scene", t) for t in target.split(":")[1].split(",")],
    )


@pytest.fixture
def store(tmp_path: Path):
    db = UserDB.open(tmp_path / "stash_sense.db")
    yield RecommendationStore(db)
    db.close()


def _record(store: RecommendationStore, *findings: NewRecommendation) -> RunCounts:
    run = store.start_run("duplicate_scenes", "full", 1)
    counts = RunCounts()
    store.upsert_many(findings, run.id, counts)
    store.finish_run(run.id, "completed", counts)
    return counts


def test_a_version_2_database_upgrades_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "stash_sense.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    for migration in MIGRATIONS[:2]:
        for statement in migration.statements:
            conn.execute(statement)
    conn.execute("INSERT INTO schema_migrations VALUES (1, 'scene fingerprints', 'then'), (2, 'bulk fingerprint jobs', 'then')")
    conn.execute(
        "INSERT INTO scene_fingerprints (scene_id, status, face_db_version, created_at, updated_at) VALUES ('9', 'complete', 'v1', 'x', 'x')"
    )
    conn.execute("PRAGMA user_version = 2")
    conn.execute("COMMIT")
    conn.close()
    db = UserDB.open(path)
    try:
        assert db.schema_version == LATEST_VERSION >= 3
        assert FingerprintStore(db).get("9").face_db_version == "v1"
        store = RecommendationStore(db)
        assert store.counts() == {} and store.runs() == []
        assert db.integrity_check() == ["ok"]
    finally:
        db.close()


def test_one_recommendation_per_target_updated_by_reruns(store: RecommendationStore) -> None:
    first = _record(store, _finding(distance=2))
    assert (first.raised, first.updated) == (1, 0)
    again = _record(store, _finding(distance=2))
    assert (again.raised, again.updated, again.unchanged) == (0, 0, 1)
    changed = _record(store, _finding(distance=5, confidence=0.7))
    assert changed.updated == 1
    items, total = store.list(type="duplicate_scenes")
    assert total == 1 and items[0].evidence == {"phash_distance": 5} and items[0].confidence == 0.7


def test_soft_dismissal_holds_until_the_evidence_changes(store: RecommendationStore) -> None:
    _record(store, _finding(distance=2))
    rec_id = store.targets("duplicate_scenes")["scenes:1,2"]
    dismissed = store.dismiss(rec_id, "soft", "same scene, other cut")
    assert dismissed.status == "dismissed" and dismissed.dismissal == "soft"
    same = _record(store, _finding(distance=2))
    assert same.suppressed == 1 and store.get(rec_id).status == "dismissed"
    changed = _record(store, _finding(distance=0))
    assert changed.raised == 1
    back = store.get(rec_id)
    assert back.status == "open" and back.dismissal is None and back.evidence == {"phash_distance": 0}


@pytest.mark.parametrize("kind", ["permanent", "not_duplicate"])
def test_permanent_and_not_a_duplicate_hold_for_ever(store: RecommendationStore, kind: str) -> None:
    _record(store, _finding(distance=3))
    rec_id = store.targets("duplicate_scenes")["scenes:1,2"]
    store.dismiss(rec_id, kind)  # type: ignore[arg-type]
    for distance in (3, 0, 9):
        counts = _record(store, _finding(distance=distance))
        assert counts.suppressed == 1 and counts.raised == 0
    assert store.get(rec_id).status == "dismissed" and store.get(rec_id).dismissal == kind


def test_full_and_incremental_retirement(store: RecommendationStore) -> None:
    _record(store, _finding("scenes:1,2"), _finding("scenes:3,4"), _finding("scenes:5,6"))
    # An incremental run that examined scene 3 only and did not find 3-4 again retires 3-4 only.
    run = store.start_run("duplicate_scenes", "incremental", 1)
    counts = RunCounts()
    store.upsert_many([], run.id, counts)
    assert store.retire_missing("duplicate_scenes", counts.seen_targets, touching=("scene", ["3"])) == 1
    open_targets = set(store.targets("duplicate_scenes", "open"))
    assert open_targets == {"scenes:1,2", "scenes:5,6"}
    # A full run retires everything it did not see.
    assert store.retire_missing("duplicate_scenes", {"scenes:1,2"}) == 1
    assert set(store.targets("duplicate_scenes", "open")) == {"scenes:1,2"}


def test_paging_filters_and_counts(store: RecommendationStore) -> None:
    _record(store, *[_finding(f"scenes:{i},{i + 100}", confidence=0.5 + i / 100) for i in range(1, 31)])
    page, total = store.list(type="duplicate_scenes", status="open", min_confidence=0.6, page=2, per_page=7)
    assert total == 21 and len(page) == 7
    assert [r.confidence for r in page] == sorted((r.confidence for r in page), reverse=True)
    assert all(r.confidence >= 0.6 for r in page)
    assert store.counts() == {"duplicate_scenes": {"open": 30}}


def test_runs_watermarks_and_actions(store: RecommendationStore) -> None:
    run = store.start_run("duplicate_scenes", "incremental", 3)
    store.set_progress(run.id, progress=0.5, total=100, examined=10)
    done = store.finish_run(run.id, "completed", RunCounts(candidates=4), examined_ids=["10", "2"])
    assert (done.status, done.total, done.examined, done.candidates, done.progress) == ("completed", 100, 10, 4, 1.0)
    assert done.examined_ids == ["2", "10"]
    store.set_watermark("duplicate_scenes", 3, "2026-01-01T00:00:00Z", run.id)
    mark = store.watermark("duplicate_scenes")
    assert mark.logic_version == 3 and mark.last_run_id == run.id
    action = store.record_action(None, "merge_scenes", "done", {"before": ["1", "2"], "after": ["1"]})
    assert store.actions()[0] == action and action.detail["after"] == ["1"]
    stuck = store.start_run("duplicate_performers", "full", 1)
    assert store.interrupt_running() == 1 and store.run(stuck.id).status == "stopped"


def test_library_index_round_trip_with_high_bit_phash(tmp_path: Path) -> None:
    db = UserDB.open(tmp_path / "stash_sense.db")
    try:
        index = LibraryIndex(db)
        high = (1 << 64) - 3
        scene = IndexedScene(
            scene_id="5", updated_at="t1", performer_ids=("1",), stash_ids=("https://stashdb.org/graphql#abc",),
            files=(IndexedFile("f1", width=1280, height=720, duration=60.0, phash=high), IndexedFile("f2", phash=None)),
        )
        index.upsert([scene])
        assert index.scenes() == [scene]
        index.upsert([IndexedScene(scene_id="5", updated_at="t2")])
        assert index.scenes(["5"])[0].files == () and index.updated_at() == {"5": "t2"}
        index.remove(["5"])
        assert index.count() == 0
    finally:
        db.close()
