"""``stash_sense.db``: migrations, WAL, fingerprints and job state (real SQLite files)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from stash_sense.scenes.params import SceneParams
from stash_sense.scenes.result import CandidateResult, SceneIdentification, SceneTotals
from stash_sense.userdb import (
    LATEST_VERSION,
    MIGRATIONS,
    FingerprintFace,
    FingerprintStore,
    JobStore,
    NewFingerprint,
    UserDB,
    UserDBError,
    fingerprint_from_result,
)


@pytest.fixture
def db(tmp_path: Path):
    user_db = UserDB.open(tmp_path / "stash_sense.db")
    yield user_db
    user_db.close()


def _fp(scene_id: str, version: str = "v1", faces: int = 10, performers: dict[str, int] | None = None) -> NewFingerprint:
    performers = performers if performers is not None else {"https://stashdb.org/graphql#a": 6}
    return NewFingerprint(
        scene_id=scene_id, face_db_version=version, frames_requested=20, frames_analysed=20, total_faces=faces, persons=len(performers),
        source_kind="video",
        faces=[FingerprintFace(performer_id=p, name=p[-1], face_count=n, proportion=n / faces, avg_confidence=0.9) for p, n in performers.items()],
    )


def test_new_database_is_migrated_wal_and_sound(tmp_path: Path) -> None:
    path = tmp_path / "state" / "stash_sense.db"
    db = UserDB.open(path)
    try:
        assert db.schema_version == LATEST_VERSION == MIGRATIONS[-1].version
        assert db.integrity_check() == ["ok"]
        with db.reading() as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
            applied = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert applied == [m.version for m in MIGRATIONS]
        assert {"scene_fingerprints", "scene_fingerprint_faces", "fingerprint_jobs", "fingerprint_job_scenes"} <= tables
    finally:
        db.close()
    # Re-opening applies nothing twice.
    again = UserDB.open(path)
    with again.reading() as conn:
        assert conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] == len(MIGRATIONS)
    again.close()


def test_migrations_continue_from_an_older_schema(tmp_path: Path) -> None:
    path = tmp_path / "stash_sense.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    for statement in MIGRATIONS[0].statements:
        conn.execute(statement)
    conn.execute("INSERT INTO schema_migrations VALUES (1, 'scene fingerprints', 'then')")
    conn.execute(
        "INSERT INTO scene_fingerprints (scene_id, status, face_db_version, created_at, updated_at) VALUES ('7', 'complete', 'v0', 'x', 'x')"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.execute("COMMIT")
    conn.close()
    db = UserDB.open(path)
    try:
        assert db.schema_version == LATEST_VERSION
        assert FingerprintStore(db).get("7").face_db_version == "v0"  # old data kept
        assert JobStore(db).latest() is None  # the new tables exist
    finally:
        db.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "stash_sense.db"
    UserDB.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 5}")
    conn.commit()
    conn.close()
    with pytest.raises(UserDBError, match="newer than this Stash Sense"):
        UserDB.open(path)


def test_a_file_that_is_not_sqlite_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "stash_sense.db"
    path.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(UserDBError, match="not a usable SQLite database"):
        UserDB.open(path)


def test_save_replaces_and_counts_revisions(db: UserDB) -> None:
    store = FingerprintStore(db)
    first = store.save(_fp("1", performers={"e#a": 6, "e#b": 3}))
    assert first.status == "complete" and first.revision == 1 and not first.stale
    assert [f.performer_id for f in first.faces] == ["e#a", "e#b"]
    second = store.save(_fp("1", version="v2", performers={"e#c": 4}))
    assert second.revision == 2 and second.face_db_version == "v2"
    assert [f.performer_id for f in second.faces] == ["e#c"]  # old faces gone
    assert second.created_at == first.created_at and second.updated_at >= first.updated_at
    assert store.get("missing") is None


def test_failure_never_replaces_a_complete_fingerprint(db: UserDB) -> None:
    store = FingerprintStore(db)
    store.save(_fp("1"))
    store.save_failure("1", "v2", "video unreachable")
    kept = store.get("1")
    assert kept.status == "complete" and kept.face_db_version == "v1" and kept.error is None
    store.save_failure("2", "v1", "no frames")
    failed = store.get("2")
    assert failed.status == "failed" and failed.error == "no frames" and failed.revision == 0
    redone = store.save(_fp("2"))
    assert redone.status == "complete" and redone.error is None and redone.revision == 1


def test_coverage_and_work_selection(db: UserDB) -> None:
    store = FingerprintStore(db)
    store.save(_fp("1", "v1"))
    store.save(_fp("2", "v2"))
    store.save(_fp("3", "v2"))
    store.save_failure("4", "v2", "boom")
    cov = store.coverage("v2")
    assert (cov.complete, cov.failed, cov.current, cov.needs_refresh) == (3, 1, 2, 1)
    assert cov.by_version == {"v1": 1, "v2": 2}
    scenes = ["1", "2", "3", "4", "5"]
    assert store.scenes_needing_work(scenes, "v2", refresh_outdated=False) == ["4", "5"]
    assert store.scenes_needing_work(scenes, "v2", refresh_outdated=True) == ["1", "4", "5"]
    assert store.mark_all_stale() == 3
    assert store.coverage("v2").needs_refresh == 3
    assert store.scenes_needing_work(scenes, "v2", refresh_outdated=True) == scenes
    store.save(_fp("2", "v2"))  # regenerating clears the mark
    assert store.coverage("v2").current == 1


def test_fingerprint_from_a_scene_result() -> None:
    performer = CandidateResult(
        performer_id="local:gallery#Brad Pitt", name="Brad Pitt", distance=0.3, confidence=0.91, score=1.1,
        appearances=6, unique_frames=5, accepted=True,
    )
    result = SceneIdentification(
        source="x", source_kind="video", face_db_version="v9", params=SceneParams(), performers=[performer], persons=[],
        diagnostics=[performer], timings={},
        totals=SceneTotals(frames_requested=20, frames_analysed=18, frame_failures=2, faces_detected=12, faces_after_filter=8,
                           persons_clustered=2, persons_considered=1),
    )
    fp = fingerprint_from_result("42", result)
    assert (fp.scene_id, fp.face_db_version, fp.frames_analysed, fp.total_faces, fp.persons) == ("42", "v9", 18, 8, 2)
    assert fp.faces == [FingerprintFace(performer_id="local:gallery#Brad Pitt", name="Brad Pitt", face_count=6, proportion=0.75, avg_confidence=0.91)]


def test_job_scenes_are_finished_once_in_the_fingerprint_transaction(db: UserDB) -> None:
    store, jobs = FingerprintStore(db), JobStore(db)
    job = jobs.create(refresh_outdated=False, num_frames=12, face_db_version="v1")
    assert job.status == "listing" and job.total == 0
    job = jobs.set_work_list(job.id, ["3", "1", "2"])
    assert (job.status, job.total, job.remaining) == ("running", 3, 3)
    assert jobs.pending(job.id, 5) == ["3", "1", "2"]  # work-list order, not id order
    store.save(_fp("3"), job_id=job.id, seconds=2.0)
    store.save(_fp("3"), job_id=job.id, seconds=2.0)  # a second save does not count the scene twice
    store.save_failure("1", "v1", "bad video", job_id=job.id, seconds=1.0)
    job = jobs.get(job.id)
    assert (job.done, job.failed, job.remaining, job.busy_seconds) == (1, 1, 1, 3.0)
    assert jobs.pending(job.id, 5) == ["2"]
    assert jobs.failures(job.id) == [("1", "bad video")]
    assert jobs.active().id == job.id
    jobs.set_status(job.id, "stopped")
    assert jobs.active() is None and jobs.latest().finished_at is not None


def test_a_failed_transaction_leaves_nothing_behind(db: UserDB) -> None:
    store, jobs = FingerprintStore(db), JobStore(db)
    job = jobs.set_work_list(jobs.create(refresh_outdated=False, num_frames=5, face_db_version="v1").id, ["1"])
    bad = _fp("1")
    # Two faces for one performer break the primary key: the whole save must roll back.
    bad.faces.append(bad.faces[0])
    with pytest.raises(sqlite3.IntegrityError):
        store.save(bad, job_id=job.id)
    assert store.get("1") is None
    assert jobs.pending(job.id) == ["1"] and jobs.get(job.id).done == 0
