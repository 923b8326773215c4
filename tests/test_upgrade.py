"""Upgrades keep user data: a ``stash_sense.db`` and a face DB written by an earlier release
open in this one.

Both fixtures were written by commit e246507's own code, run from a throwaway worktree (see
tests/fixtures/upgrade/make_userdb_fixture.py and make_facedb_fixture.sh, which regenerate
them); the ``.expected.json`` is what that code read back. Opening the user DB here runs every
newer migration.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from stash_sense import __version__
from stash_sense.userdb import (
    LATEST_VERSION,
    MIGRATIONS,
    FingerprintFace,
    FingerprintStore,
    JobStore,
    NewFingerprint,
    UserDB,
)

FIXTURES = Path(__file__).parent / "fixtures" / "upgrade"
OLD_DBS = sorted(FIXTURES.glob("stash_sense-*.db"))
OLD_FACE_DB = FIXTURES / "facedb-e246507"
OLD_FACE_DB_PERFORMERS = {"Brad Pitt", "Kate Winslet", "Denzel Washington"}


def _copy(fixture: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data" / "stash_sense.db"
    target.parent.mkdir()
    shutil.copyfile(fixture, target)
    return target


def _expected(fixture: Path) -> dict:
    return json.loads(fixture.with_name(fixture.stem + ".expected.json").read_text())


def test_fixtures_are_present_and_old() -> None:
    assert OLD_DBS, f"no stash_sense-*.db fixture in {FIXTURES}"
    for fixture in OLD_DBS:
        # immutable: a look that writes nothing (no -wal/-shm files) beside the fixture in the repo
        conn = sqlite3.connect(f"file:{fixture}?immutable=1", uri=True)
        try:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == _expected(fixture)["schema_version"]
        finally:
            conn.close()


@pytest.mark.parametrize("fixture", OLD_DBS, ids=lambda p: p.stem)
def test_old_database_opens_with_all_its_fingerprints(fixture: Path, tmp_path: Path) -> None:
    expected = _expected(fixture)
    db = UserDB.open(_copy(fixture, tmp_path))
    try:
        assert db.schema_version == LATEST_VERSION
        assert db.integrity_check() == ["ok"]
        with db.reading() as conn:
            recorded = [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
        assert recorded == [m.version for m in MIGRATIONS]

        store = FingerprintStore(db)
        assert store.count() == len(expected["fingerprints"])
        for scene_id, old in expected["fingerprints"].items():
            new = store.get(scene_id)
            assert new is not None, f"scene {scene_id} lost in the upgrade"
            assert new.model_dump(mode="json") == old, f"scene {scene_id} changed in the upgrade"

        coverage = store.coverage("2026.11.01")
        assert (coverage.complete, coverage.failed) == (10, 2)
        assert coverage.by_version == {"2026.11.01": 9, "2026.10.15": 1}

        jobs = JobStore(db)
        job = jobs.get(expected["job"]["id"])
        assert job is not None and job.model_dump(mode="json") == expected["job"]
        # The stopped job resumes where it stopped, with the old work list.
        assert jobs.pending(job.id, limit=10) == expected["job_pending"] == ["13", "14"]
    finally:
        db.close()


@pytest.mark.parametrize("fixture", OLD_DBS, ids=lambda p: p.stem)
def test_upgraded_database_takes_new_fingerprints_and_reopens(fixture: Path, tmp_path: Path) -> None:
    path = _copy(fixture, tmp_path)
    db = UserDB.open(path)
    try:
        saved = FingerprintStore(db).save(
            NewFingerprint(scene_id="3", face_db_version=f"after-upgrade-{__version__}", frames_requested=60,
                           frames_analysed=60, total_faces=10, persons=1, source_kind="stash",
                           faces=[FingerprintFace(performer_id="stashdb:perf-003", name="Performer 3", face_count=10,
                                                  proportion=1.0, avg_confidence=0.95)])
        )
        assert saved.revision == 3  # twice before the upgrade, once after
        assert saved.created_at == _expected(fixture)["fingerprints"]["3"]["created_at"]
    finally:
        db.close()
    # A second start (no migration left to run) sees the same data.
    db = UserDB.open(path)
    try:
        assert db.schema_version == LATEST_VERSION
        store = FingerprintStore(db)
        assert store.count() == len(_expected(fixture)["fingerprints"])
        assert store.get("3").face_db_version == f"after-upgrade-{__version__}"
    finally:
        db.close()


def test_newer_database_is_refused_with_advice(tmp_path: Path) -> None:
    """A downgrade must not touch data it does not understand."""
    path = _copy(OLD_DBS[0], tmp_path)
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    from stash_sense.userdb import UserDBError

    with pytest.raises(UserDBError, match="newer than this Stash Sense understands"):
        UserDB.open(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM scene_fingerprints").fetchone()[0] == len(_expected(OLD_DBS[0])["fingerprints"])


def _copy_face_db(tmp_path: Path) -> Path:
    return Path(shutil.copytree(OLD_FACE_DB, tmp_path / "facedb"))


def test_old_face_db_verifies_and_opens(tmp_path: Path) -> None:
    from stash_sense.facedb import FaceDB, load_manifest, verify_db

    db_dir = _copy_face_db(tmp_path)
    report = verify_db(db_dir)
    assert report.ok, report.problems
    assert (report.faces, report.index_vectors) == (6, 6)
    manifest = load_manifest(db_dir)
    db = FaceDB.open(db_dir, expected_model=manifest.embedding.model, verify=True)
    try:
        vectors, performer_ids = db.embeddings()
        assert vectors.shape == (6, manifest.embedding.dim)
        names = {record.name for record in db.performers(set(int(i) for i in performer_ids)).values()}
        assert names == OLD_FACE_DB_PERFORMERS
    finally:
        db.close()


def test_old_face_db_identifies_a_new_photo(facedata: Path, tmp_path: Path) -> None:
    """The new pipeline and matcher against vectors the old code stored: a photo that is not in
    the DB (the fifth of Kate Winslet's; the DB holds her first two) is accepted as her."""
    import numpy as np
    from PIL import Image

    from stash_sense.recognition import Recognizer

    photos = sorted((facedata / "celeb17" / "Kate Winslet").glob("*.jpg"))
    image = np.asarray(Image.open(photos[4]).convert("RGB"))
    recognizer = Recognizer.open(_copy_face_db(tmp_path))
    try:
        faces = recognizer.identify_image(image)
    finally:
        recognizer.db.close()
    assert faces and faces[0].matches, [c.name for f in faces for c in f.candidates]
    assert faces[0].matches[0].name == "Kate Winslet"
