"""Face-DB storage layer: writer, reader, index, resume, optimize, stats, verify."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from facedb_helpers import (
    DETECTOR,
    MODEL,
    STASHDB,
    build_synthetic_db,
    clustered_vectors,
    sha256_tree,
    unit_rows,
)
from stash_sense.facedb import (
    BUCKETS,
    EmbeddingModelInfo,
    FaceDB,
    FaceDBCorruptError,
    FaceDBExistsError,
    FaceDBNotFoundError,
    FaceDBWriter,
    FaissIndex,
    Identity,
    IdentityConflictError,
    ModelMismatchError,
    NumpyIndex,
    UnsupportedFormatError,
    bucket_for,
    build_index,
    load_index,
    local_endpoint,
    optimize_db,
    stats_for_directory,
    verify_db,
)
from stash_sense.facedb.index import DEFAULT_HNSW_THRESHOLD

# Face counts covering every stats bucket: 0, 1, 2-3, 4-5, 6-10, 11+.
FACE_COUNTS = [0, 1, 1, 2, 3, 4, 5, 6, 8, 10, 11, 14, 0, 3]


def brute_force(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Euclidean distance matrix (queries x vectors), independent of the code under test."""
    return np.linalg.norm(queries[:, None, :].astype(np.float64) - vectors[None, :, :], axis=2)


@pytest.fixture()
def synthetic(tmp_path: Path):
    return build_synthetic_db(tmp_path / "full", FACE_COUNTS)


# -- identities ----------------------------------------------------------------------------


def test_identity_text_round_trip_and_validation() -> None:
    identity = Identity(STASHDB, "a#b")
    assert str(identity) == f"{STASHDB}#a#b"
    assert Identity.parse(str(identity)) == identity
    folder = Identity(local_endpoint("photos/#1 100%"), "Jane")
    assert folder.endpoint == "local:photos/%231 100%25"
    assert Identity.parse(str(folder)) == folder
    with pytest.raises(ValueError):
        Identity("", "x")
    with pytest.raises(ValueError):
        Identity(STASHDB, " ")
    with pytest.raises(ValueError):
        Identity("local:a#b", "x")
    with pytest.raises(ValueError):
        Identity.parse("no-separator")


# -- round trip ----------------------------------------------------------------------------


def test_round_trip_search_matches_brute_force(synthetic) -> None:
    rng = np.random.default_rng(1)
    queries = unit_rows(synthetic.centers + rng.standard_normal(synthetic.centers.shape) * 0.3 / 8)
    expected = brute_force(synthetic.vectors, queries)
    with FaceDB.open(synthetic.directory, expected_model=MODEL.model) as db:
        assert len(db) == sum(FACE_COUNTS)
        hits = db.search(queries, k=5)
    face_to_vector = {fid: j for j, fid in enumerate(synthetic.face_ids)}
    for qi, row in enumerate(hits):
        assert len(row) == 5
        order = np.argsort(expected[qi], kind="stable")[:5]
        assert [face_to_vector[h.face_id] for h in row] == list(order)
        for hit in row:
            j = face_to_vector[hit.face_id]
            assert hit.distance == pytest.approx(expected[qi, j], abs=1e-4)
            assert hit.performer_id == synthetic.performer_ids[synthetic.owner[j]]


def test_every_stored_face_finds_itself(synthetic) -> None:
    with FaceDB.open(synthetic.directory) as db:
        vectors, owners = db.embeddings()
        hits = db.search(vectors, k=1)
    np.testing.assert_array_equal(vectors, synthetic.vectors)
    np.testing.assert_array_equal(owners, [synthetic.performer_ids[o] for o in synthetic.owner])
    assert [row[0].face_id for row in hits] == synthetic.face_ids
    assert all(row[0].distance < 1e-3 for row in hits)


def test_manifest_describes_the_files(synthetic) -> None:
    manifest = synthetic.manifest
    raw = json.loads((synthetic.directory / "manifest.json").read_text())
    assert raw["format_version"] == 1
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{12}", raw["db_version"])
    assert raw["counts"] == {
        "performers": len(FACE_COUNTS),
        "faces": sum(FACE_COUNTS),
        "performers_with_faces": sum(1 for n in FACE_COUNTS if n),
    }
    assert raw["embedding"] == {
        "model": MODEL.model,
        "dim": MODEL.dim,
        "preprocessing": MODEL.preprocessing,
        "metric": "euclidean",
        "normalized": True,
    }
    assert raw["detector"] == DETECTOR
    assert raw["sources"] == ["synthetic"]
    assert raw["calibration"] == {"kind": "test", "scale": 2.0}
    for name in ("performers.db", "faces.index"):
        assert raw["files"][name] == hashlib.sha256((synthetic.directory / name).read_bytes()).hexdigest()
    assert raw["index"]["type"] == "faiss-flat"
    # Only the three distributable files remain: no WAL side files, no temporaries.
    assert sorted(p.name for p in synthetic.directory.iterdir()) == ["faces.index", "manifest.json", "performers.db"]
    assert manifest.db_version == raw["db_version"]


def test_finalize_is_idempotent_and_versions_follow_content(synthetic) -> None:
    before = sha256_tree(synthetic.directory)
    with FaceDBWriter(synthetic.directory, MODEL, DETECTOR) as writer:
        again = writer.finalize(sources=["synthetic"], calibration={"kind": "test", "scale": 2.0})
        assert again.db_version == synthetic.manifest.db_version
        assert sha256_tree(synthetic.directory) == before
        relabelled = writer.finalize(sources=["synthetic", "more"], calibration={"kind": "test", "scale": 2.0})
        assert relabelled.db_version != again.db_version
        assert relabelled.files == again.files  # same data, same files
        pid = writer.upsert_performer(Identity(STASHDB, "uuid-new"), "Newcomer")
        writer.add_face(pid, synthetic.vectors[0], source="/new.jpg", quality=0.9, detector=DETECTOR)
        grown = writer.finalize(sources=["synthetic", "more"])
    assert grown.db_version != relabelled.db_version
    assert grown.counts.faces == sum(FACE_COUNTS) + 1
    assert grown.counts.performers == len(FACE_COUNTS) + 1
    with FaceDB.open(synthetic.directory, verify=True) as db:
        assert db.version == grown.db_version
        assert len(db) == sum(FACE_COUNTS) + 1


def test_empty_db_round_trip(tmp_path: Path) -> None:
    with FaceDBWriter(tmp_path / "empty", MODEL, DETECTOR) as writer:
        writer.upsert_performer(Identity(STASHDB, "x"), "No Faces")
        manifest = writer.finalize(sources=[])
    assert manifest.counts.faces == 0
    with FaceDB.open(tmp_path / "empty") as db:
        query = unit_rows(np.ones((1, MODEL.dim)))
        assert db.search(query, k=3) == [[]]
        assert db.search_performers(query) == [[]]
    assert verify_db(tmp_path / "empty").ok


# -- performers ----------------------------------------------------------------------------


def test_upsert_merges_identities_fields_and_aliases(tmp_path: Path) -> None:
    tpdb = Identity("https://theporndb.net/graphql", "tp-1")
    with FaceDBWriter(tmp_path / "db", MODEL, DETECTOR) as writer:
        first = writer.upsert_performer(Identity(STASHDB, "s-1"), "Jane", country="FR", aliases=["J", "Jane", " "])
        # Known by its extra identity: updates the same performer, adds the new identity.
        second = writer.upsert_performer(
            tpdb, "Jane Doe", extra_identities=[Identity(STASHDB, "s-1")], gender="FEMALE", aliases=["JD", "J"]
        )
        assert second == first
        other = writer.upsert_performer(Identity(STASHDB, "s-2"), "Other")
        with pytest.raises(IdentityConflictError):
            writer.upsert_performer(tpdb, "Clash", extra_identities=[Identity(STASHDB, "s-2")])
        writer.set_body(first, {"shoulder_hip": 1.3})
        writer.set_tattoos(other, {"present": True})
        with pytest.raises(KeyError):
            writer.set_body(999, {})
        writer.finalize(sources=[])
    with FaceDB.open(tmp_path / "db") as db:
        records = db.performers([first, other, 12345])
        assert set(records) == {first, other}
        jane = records[first]
        assert (jane.name, jane.country, jane.gender) == ("Jane Doe", "FR", "FEMALE")
        assert jane.identities == [Identity(STASHDB, "s-1"), tpdb]
        assert jane.primary_identity == Identity(STASHDB, "s-1")
        assert jane.aliases == ["J", "Jane", "JD"]  # "Jane" was an alias before the rename
        assert (jane.has_body, jane.has_tattoo) == (True, False)
        assert (records[other].has_body, records[other].has_tattoo) == (False, True)
        assert db.performer_id_for(tpdb) == first
        assert db.performer_id_for(Identity("https://fansdb.cc/graphql", "s-1")) is None
        with pytest.raises(KeyError):
            db.performer(12345)


# -- index ---------------------------------------------------------------------------------


def test_numpy_and_faiss_flat_agree_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    _, vectors, _ = clustered_vectors(rng, [20] * 100, 64)
    picks = rng.choice(len(vectors), 50, replace=False)
    queries = unit_rows(vectors[picks] + rng.standard_normal((50, 64)) * 0.2 / 8)
    exact = NumpyIndex(64)
    exact.add(vectors)
    flat = build_index(vectors)
    assert flat.kind == "faiss-flat"
    d_np, r_np = exact.search(queries, 10)
    d_fa, r_fa = flat.search(queries, 10)
    expected = brute_force(vectors, queries)
    truth = np.sort(expected, axis=1)[:, :10]
    for distances, rows in ((d_np, r_np), (d_fa, r_fa)):
        # Both return true nearest neighbours, nearest first, with true Euclidean distances.
        np.testing.assert_allclose(distances, truth, atol=1e-4)
        np.testing.assert_allclose(np.take_along_axis(expected, rows, axis=1), truth, atol=1e-4)
    assert np.mean(r_np == r_fa) >= 0.99  # only exact ties may be ordered differently
    for index, name in ((exact, "np.index"), (flat, "flat.index")):
        index.save(tmp_path / name)
        loaded = load_index(tmp_path / name)
        assert (loaded.kind, len(loaded), loaded.dim) == (index.kind, len(index), 64)
        np.testing.assert_array_equal(loaded.search(queries, 10)[1], r_np)


def test_search_beyond_index_size_pads_with_minus_one() -> None:
    vectors = unit_rows(np.random.default_rng(0).standard_normal((3, 8)))
    for index in (NumpyIndex(8), FaissIndex.flat(8)):
        index.add(vectors)
        distances, rows = index.search(vectors[:1], 5)
        assert rows.shape == (1, 5) and rows.dtype == np.int64
        assert sorted(rows[0, :3].tolist()) == [0, 1, 2] and rows[0, 0] == 0
        assert rows[0, 3:].tolist() == [-1, -1]
        assert np.isinf(distances[0, 3:]).all()
        with pytest.raises(ValueError):
            index.search(vectors[:, :4], 1)


@pytest.fixture(scope="module")
def hnsw_data():
    rng = np.random.default_rng(11)
    dim = 64  # 128-d builds take twice as long for the same graph
    _, vectors, _ = clustered_vectors(rng, [10] * (DEFAULT_HNSW_THRESHOLD // 10 + 10), dim)
    picks = rng.choice(len(vectors), 300, replace=False)
    queries = unit_rows(vectors[picks] + rng.standard_normal((300, dim)) * 0.3 / np.sqrt(dim))
    return vectors, queries, build_index(vectors)


def test_hnsw_above_threshold_has_high_recall(hnsw_data, tmp_path: Path) -> None:
    vectors, queries, index = hnsw_data
    assert index.kind == "faiss-hnsw"
    assert index.params["M"] == 32 and index.params["efConstruction"] == 200 and index.params["efSearch"] >= 128
    exact = NumpyIndex(vectors.shape[1])
    exact.add(vectors)
    k = 10
    _, truth = exact.search(queries, k)
    distances, rows = index.search(queries, k)
    recall = np.mean([len(set(a) & set(b)) / k for a, b in zip(rows, truth, strict=True)])
    assert recall >= 0.99
    np.testing.assert_allclose(distances[:, 0], np.linalg.norm(vectors[rows[:, 0]] - queries, axis=1), atol=1e-4)
    index.save(tmp_path / "h.index")
    loaded = load_index(tmp_path / "h.index")
    assert loaded.kind == "faiss-hnsw" and loaded.params["efSearch"] >= 128
    np.testing.assert_array_equal(loaded.search(queries[:20], k)[1], rows[:20])


def test_unreadable_index_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "bad.index").write_bytes(b"not an index at all")
    with pytest.raises(FaceDBCorruptError, match="cannot be read"):
        load_index(tmp_path / "bad.index")
    with pytest.raises(FaceDBNotFoundError):
        load_index(tmp_path / "missing.index")


# -- performer-level search ----------------------------------------------------------------


def test_search_performers_groups_and_widens(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    dim = MODEL.dim
    query = unit_rows(rng.standard_normal((1, dim)))
    # Performer 0 has 80 faces hugging the query: its faces alone fill the first 50 results.
    close = unit_rows(query + rng.standard_normal((80, dim)) * 0.05 / np.sqrt(dim))
    others = [
        unit_rows(query + rng.standard_normal((n, dim)) * s / np.sqrt(dim))
        for n, s in ((3, 4.0), (4, 6.0), (2, 8.0), (5, 9.0), (6, 12.0), (1, 14.0))
    ]
    groups = [close, *others]
    with FaceDBWriter(tmp_path / "db", MODEL, DETECTOR) as writer:
        ids = []
        for i, vectors in enumerate(groups):
            pid = writer.upsert_performer(Identity(STASHDB, f"p{i}"), f"P{i}")
            ids.append(pid)
            for j, v in enumerate(vectors):
                writer.add_face(pid, v, source=f"{i}/{j}", quality=0.5, detector=DETECTOR)
        writer.finalize(sources=[])
    all_vectors = np.concatenate(groups)
    owner = np.repeat(ids, [len(g) for g in groups])
    dist = brute_force(all_vectors, query)[0]
    with FaceDB.open(tmp_path / "db") as db:
        [hits] = db.search_performers(query, k_faces=50, top_k=5)
        [narrow] = db.search_performers(query, k_faces=200, top_k=2)
    assert len(hits) == 5
    assert hits[0].performer_id == ids[0]
    assert [h.distance for h in hits] == sorted(h.distance for h in hits)
    for hit in hits:
        mine = np.sort(dist[owner == hit.performer_id])
        assert hit.distance == pytest.approx(mine[0], abs=1e-4)
        if hit.second_distance is None:
            assert hit.faces_matched == 1
        else:
            assert hit.second_distance == pytest.approx(mine[1], abs=1e-4)
        assert hit.faces_in_db == len(mine)
    # After widening, performer 0's faces are all among those searched.
    assert hits[0].faces_matched == 80
    expected_top = sorted(set(ids), key=lambda pid: dist[owner == pid].min())[:5]
    assert [h.performer_id for h in hits] == expected_top
    assert [h.performer_id for h in narrow] == expected_top[:2]


# -- resume --------------------------------------------------------------------------------


def _add_source(writer: FaceDBWriter, key: str, vectors: np.ndarray) -> int:
    pid = writer.upsert_performer(Identity(STASHDB, key), key.title())
    for j, v in enumerate(vectors):
        writer.add_face(pid, v, source=f"{key}/{j}.jpg", quality=0.5, detector=DETECTOR)
    return pid


def test_source_and_its_faces_commit_together(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    _, vectors, _ = clustered_vectors(rng, [3, 3], MODEL.dim)
    directory = tmp_path / "db"
    with FaceDBWriter(directory, MODEL, DETECTOR) as writer:
        _add_source(writer, "alpha", vectors[:3])
        observer = sqlite3.connect(directory / "performers.db")
        assert observer.execute("SELECT COUNT(*) FROM faces").fetchone()[0] == 0  # not visible yet
        writer.mark_source_done("alpha")
        assert observer.execute("SELECT COUNT(*) FROM faces").fetchone()[0] == 3
        _add_source(writer, "beta", vectors[3:])
        writer.rollback()  # beta failed half-way: nothing of it stays
        assert writer.face_count(1) == 3
        writer.mark_source_done("beta", "failed", "decoder error")
        writer.mark_source_done("gamma", "skipped", "no face found")
        writer.mark_source_done("delta", "skipped", "no face found")
        assert writer.source_outcomes() == {"failed: decoder error": 1, "skipped: no face found": 2, "ok": 1}
        observer.close()
        manifest = writer.finalize(sources=[])
    assert manifest.counts.faces == 3 and manifest.counts.performers == 1


def test_exception_in_with_block_rolls_back_the_open_source(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    _, vectors, _ = clustered_vectors(rng, [2, 2], MODEL.dim)
    directory = tmp_path / "db"
    with pytest.raises(RuntimeError), FaceDBWriter(directory, MODEL, DETECTOR) as writer:
        _add_source(writer, "alpha", vectors[:2])
        writer.mark_source_done("alpha")
        _add_source(writer, "beta", vectors[2:])
        raise RuntimeError("boom")
    with FaceDBWriter(directory, MODEL, DETECTOR) as writer:
        assert writer.is_source_done("alpha") and not writer.is_source_done("beta")
        manifest = writer.finalize(sources=[])
    assert (manifest.counts.performers, manifest.counts.faces) == (1, 2)


_CRASHING_BUILD = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    sys.path.insert(0, sys.argv[2])
    from facedb_helpers import DETECTOR, MODEL, STASHDB, unit_rows
    from stash_sense.facedb import FaceDBWriter, Identity

    writer = FaceDBWriter(sys.argv[1], MODEL, DETECTOR)
    rng = np.random.default_rng(0)
    for key in ("s0", "s1", "s2", "s3"):
        if writer.is_source_done(key):
            continue
        pid = writer.upsert_performer(Identity(STASHDB, key), key)
        for j in range(4):
            writer.add_face(pid, unit_rows(rng.standard_normal((1, MODEL.dim)))[0], source=f"{key}/{j}",
                            quality=0.5, detector=DETECTOR)
        if key == "s2" and sys.argv[3] == "crash":
            os._exit(3)  # killed half-way through s2: nothing committed for it
        writer.mark_source_done(key)
    writer.finalize(sources=["crash-test"])
    writer.close()
    """
)


def test_resume_after_crash_redoes_the_uncommitted_source(tmp_path: Path) -> None:
    script = tmp_path / "build.py"
    script.write_text(_CRASHING_BUILD)
    directory = tmp_path / "db"
    tests_dir = str(Path(__file__).parent)
    crashed = subprocess.run([sys.executable, str(script), str(directory), tests_dir, "crash"], capture_output=True)
    assert crashed.returncode == 3, crashed.stderr.decode()
    with FaceDBWriter(directory, MODEL, DETECTOR) as writer:
        assert [writer.is_source_done(k) for k in ("s0", "s1", "s2", "s3")] == [True, True, False, False]
        counts = writer.connection.execute("SELECT COUNT(*), COUNT(DISTINCT performer_id) FROM faces").fetchone()
        assert counts == (8, 2)
    resumed = subprocess.run([sys.executable, str(script), str(directory), tests_dir, "run"], capture_output=True)
    assert resumed.returncode == 0, resumed.stderr.decode()
    with FaceDB.open(directory, verify=True) as db:
        assert db.manifest.counts.faces == 16 and db.manifest.counts.performers == 4
        assert all(db.performer(pid).face_count == 4 for pid in range(1, 5))


# -- model mismatch ------------------------------------------------------------------------


def test_model_mismatch_is_refused_everywhere(synthetic, tmp_path: Path) -> None:
    other = EmbeddingModelInfo("other-embedder", 512, "arcface-112")
    with pytest.raises(ModelMismatchError, match="built with model test-embedder-v1"):
        FaceDBWriter(synthetic.directory, other, DETECTOR)
    with pytest.raises(ModelMismatchError) as info:
        FaceDB.open(synthetic.directory, expected_model=other)
    message = str(info.value)
    assert "test-embedder-v1 (dim 64)" in message and "other-embedder (dim 512)" in message and "rebuild" in message
    with pytest.raises(ModelMismatchError, match="other-embedder"):
        FaceDB.open(synthetic.directory, expected_model="other-embedder")
    same_name_other_prep = EmbeddingModelInfo(MODEL.model, MODEL.dim, "different-crop")
    with pytest.raises(ModelMismatchError, match="different-crop"):
        FaceDB.open(synthetic.directory, expected_model=same_name_other_prep)
    with FaceDB.open(synthetic.directory, expected_model=MODEL) as db:
        with pytest.raises(ModelMismatchError, match="dim 512"):
            db.search(unit_rows(np.ones((2, 512))), k=1)
        with pytest.raises(ValueError, match="normalised"):
            db.search(np.ones((1, MODEL.dim), dtype=np.float32), k=1)
        with pytest.raises(ValueError, match="NaN"):
            db.search(np.full((1, MODEL.dim), np.nan, dtype=np.float32), k=1)
    with FaceDBWriter(tmp_path / "w", MODEL, DETECTOR) as writer:
        pid = writer.upsert_performer(Identity(STASHDB, "x"), "X")
        with pytest.raises(ModelMismatchError):
            writer.add_face(pid, unit_rows(np.ones((1, 128)))[0], source="a", quality=1, detector=DETECTOR)
        with pytest.raises(ValueError, match="normalised"):
            writer.add_face(pid, np.ones(MODEL.dim), source="a", quality=1, detector=DETECTOR)
        with pytest.raises(KeyError):
            writer.add_face(999, unit_rows(np.ones((1, MODEL.dim)))[0], source="a", quality=1, detector=DETECTOR)


def test_start_over_discards_the_old_build(synthetic) -> None:
    other = EmbeddingModelInfo("other-embedder", 32, "x")
    with FaceDBWriter(synthetic.directory, other, DETECTOR, resume=False) as writer:
        assert not writer.is_source_done("performer-0")
        manifest = writer.finalize(sources=[])
    assert manifest.counts.performers == 0 and manifest.embedding.model == "other-embedder"


# -- optimize ------------------------------------------------------------------------------


def test_optimize_filters_at_export_and_keeps_the_source(synthetic, tmp_path: Path) -> None:
    before = sha256_tree(synthetic.directory)
    for min_faces in (3, 6):
        out = tmp_path / f"min{min_faces}"
        manifest = optimize_db(synthetic.directory, out, min_faces=min_faces)
        kept = [i for i, n in enumerate(FACE_COUNTS) if n >= min_faces]
        assert manifest.counts.performers == len(kept)
        assert manifest.counts.faces == sum(FACE_COUNTS[i] for i in kept)
        assert manifest.sources == ["synthetic"] and manifest.calibration == {"kind": "test", "scale": 2.0}
        assert manifest.optimized_from == {
            "db_version": synthetic.manifest.db_version,
            "min_faces": min_faces,
            "max_faces_per_performer": None,
            "performers_before": len(FACE_COUNTS),
            "faces_before": sum(FACE_COUNTS),
        }
        assert verify_db(out).ok
        with FaceDB.open(out) as db:
            kept_ids = {synthetic.performer_ids[i] for i in kept}
            assert set(db.performers(synthetic.performer_ids)) == kept_ids  # ids are preserved
            vectors, owners = db.embeddings()
            assert set(owners.tolist()) == kept_ids
            hits = db.search(vectors, k=1)
            assert all(row[0].distance < 1e-3 for row in hits)
            record = db.performer(synthetic.performer_ids[kept[0]])
            assert record.identities == [Identity(STASHDB, f"uuid-{kept[0]:04d}")]
            assert record.aliases == [f"P{kept[0]}"]
        assert sha256_tree(synthetic.directory) == before


def test_optimize_caps_faces_by_quality(synthetic, tmp_path: Path) -> None:
    manifest = optimize_db(synthetic.directory, tmp_path / "cap", min_faces=4, max_faces_per_performer=5)
    kept = [i for i, n in enumerate(FACE_COUNTS) if n >= 4]
    assert manifest.counts.faces == sum(min(FACE_COUNTS[i], 5) for i in kept)
    with FaceDB.open(tmp_path / "cap") as db:
        vectors, owners = db.embeddings()
    start = np.concatenate([[0], np.cumsum(FACE_COUNTS)])
    for i in kept:
        # Qualities fall with the position in the source, so the first five faces survive.
        mine = vectors[owners == synthetic.performer_ids[i]]
        np.testing.assert_array_equal(mine, synthetic.vectors[start[i] : start[i] + min(FACE_COUNTS[i], 5)])


def test_optimize_refuses_unsafe_outputs(synthetic, tmp_path: Path) -> None:
    with pytest.raises(FaceDBExistsError, match="into itself"):
        optimize_db(synthetic.directory, synthetic.directory, min_faces=2)
    with pytest.raises(FaceDBExistsError, match="inside the source"):
        optimize_db(synthetic.directory, synthetic.directory / "sub", min_faces=2)
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("keep me")
    with pytest.raises(FaceDBExistsError, match="not empty"):
        optimize_db(synthetic.directory, stranger, min_faces=2)
    with pytest.raises(FaceDBExistsError, match="not a face DB"):
        optimize_db(synthetic.directory, stranger, min_faces=2, overwrite=True)
    assert (stranger / "notes.txt").read_text() == "keep me"
    out = tmp_path / "out"
    optimize_db(synthetic.directory, out, min_faces=2)
    with pytest.raises(FaceDBExistsError):
        optimize_db(synthetic.directory, out, min_faces=10)
    replaced = optimize_db(synthetic.directory, out, min_faces=10, overwrite=True)
    assert replaced.counts.performers == sum(1 for n in FACE_COUNTS if n >= 10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "out", "stranger"]  # no staging leftovers


def test_optimize_refuses_a_damaged_source(synthetic, tmp_path: Path) -> None:
    _flip_byte(synthetic.directory / "faces.index")
    with pytest.raises(FaceDBCorruptError, match=r"faces\.index: sha256 mismatch"):
        optimize_db(synthetic.directory, tmp_path / "out", min_faces=1)
    assert not (tmp_path / "out").exists()


# -- stats ---------------------------------------------------------------------------------


def test_bucket_boundaries() -> None:
    assert [bucket_for(n) for n in (0, 1, 2, 3, 4, 5, 6, 10, 11, 500)] == [
        "0",
        "1",
        "2-3",
        "2-3",
        "4-5",
        "4-5",
        "6-10",
        "6-10",
        "11+",
        "11+",
    ]
    with pytest.raises(ValueError):
        bucket_for(-1)


def test_stats_on_a_known_distribution(synthetic) -> None:
    # FACE_COUNTS = [0, 1, 1, 2, 3, 4, 5, 6, 8, 10, 11, 14, 0, 3]
    expected_counts = {"0": 2, "1": 2, "2-3": 3, "4-5": 2, "6-10": 3, "11+": 2}
    with FaceDB.open(synthetic.directory) as db:
        stats = db.stats()
    assert stats == stats_for_directory(synthetic.directory)
    assert list(stats.buckets) == list(BUCKETS)
    assert {k: v.count for k, v in stats.buckets.items()} == expected_counts
    assert {k: v.percent for k, v in stats.buckets.items()} == {
        "0": 14.29,
        "1": 14.29,
        "2-3": 21.43,
        "4-5": 14.29,
        "6-10": 21.43,
        "11+": 14.29,
    }
    assert (stats.performers, stats.faces, stats.performers_with_faces) == (14, 68, 12)
    assert stats.mean_faces_per_performer == pytest.approx(68 / 14, abs=0.005)
    assert stats.body.count == 0 and stats.tattoos.percent == 0.0


def test_stats_coverage_and_unfinished_builds(tmp_path: Path) -> None:
    directory = tmp_path / "db"
    writer = FaceDBWriter(directory, MODEL, DETECTOR)
    ids = [writer.upsert_performer(Identity(STASHDB, f"p{i}"), f"P{i}") for i in range(8)]
    for pid in ids[:2]:
        writer.set_body(pid, {"leg_torso": 1.1})
    writer.set_tattoos(ids[0], {"present": True})
    writer.mark_source_done("all")
    # No manifest yet: stats still work on the committed part of the build.
    stats = stats_for_directory(directory)
    writer.close()
    assert (stats.body.count, stats.body.percent) == (2, 25.0)
    assert (stats.tattoos.count, stats.tattoos.percent) == (1, 12.5)
    assert stats.buckets["0"].count == 8 and stats.buckets["0"].percent == 100.0


# -- verify and open errors ----------------------------------------------------------------


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_verify_passes_on_a_fresh_db(synthetic) -> None:
    report = verify_db(synthetic.directory)
    assert report.ok and not report.problems
    assert report.sqlite_integrity == "ok"
    assert report.faces == report.index_vectors == sum(FACE_COUNTS)
    assert [f.name for f in report.files if f.ok] == ["performers.db", "faces.index"]


@pytest.mark.parametrize("name", ["performers.db", "faces.index"])
def test_verify_catches_a_tampered_file(synthetic, name: str) -> None:
    _flip_byte(synthetic.directory / name)
    report = verify_db(synthetic.directory)
    assert not report.ok
    assert any(p.startswith(f"{name}: sha256 mismatch") for p in report.problems)
    assert [f.ok for f in report.files if f.name == name] == [False]
    with pytest.raises(FaceDBCorruptError, match="failed verification"):
        FaceDB.open(synthetic.directory, verify=True)


def test_verify_reports_missing_files_and_bad_manifests(synthetic, tmp_path: Path) -> None:
    (synthetic.directory / "faces.index").unlink()
    report = verify_db(synthetic.directory)
    assert not report.ok and "faces.index: file is missing" in report.problems
    with pytest.raises(FaceDBNotFoundError, match=r"faces\.index is missing"):
        FaceDB.open(synthetic.directory)
    (synthetic.directory / "manifest.json").write_text("{ not json")
    assert "not valid JSON" in verify_db(synthetic.directory).problems[0]
    with pytest.raises(FaceDBCorruptError, match="not valid JSON"):
        FaceDB.open(synthetic.directory)
    (synthetic.directory / "manifest.json").write_text(json.dumps({"format_version": 1, "db_version": "x"}))
    with pytest.raises(FaceDBCorruptError, match="not a valid face-DB manifest"):
        FaceDB.open(synthetic.directory)
    (synthetic.directory / "manifest.json").write_text(json.dumps({"format_version": 99}))
    with pytest.raises(UnsupportedFormatError, match="upgrade"):
        FaceDB.open(synthetic.directory)
    with pytest.raises(FaceDBNotFoundError, match="directory not found"):
        FaceDB.open(tmp_path / "nowhere")
    assert not verify_db(tmp_path / "nowhere").ok
    (tmp_path / "half").mkdir()
    with pytest.raises(FaceDBNotFoundError, match="not a finished face DB"):
        FaceDB.open(tmp_path / "half")


def test_open_detects_index_and_db_disagreeing(synthetic, tmp_path: Path) -> None:
    # An index from another DB, with its checksum "fixed" in the manifest: only the cross-check catches it.
    other = build_synthetic_db(tmp_path / "other", [2, 2], seed=99)
    (synthetic.directory / "faces.index").write_bytes((other.directory / "faces.index").read_bytes())
    with pytest.raises(FaceDBCorruptError, match="4 vectors"):
        FaceDB.open(synthetic.directory)
    manifest = json.loads((synthetic.directory / "manifest.json").read_text())
    manifest["files"]["faces.index"] = hashlib.sha256((synthetic.directory / "faces.index").read_bytes()).hexdigest()
    (synthetic.directory / "manifest.json").write_text(json.dumps(manifest))
    report = verify_db(synthetic.directory)
    assert not report.ok and any("4 vectors for 68 faces" in p for p in report.problems)


def test_writer_caps_faces_and_exposes_stored_embeddings(synthetic) -> None:
    start = np.concatenate([[0], np.cumsum(FACE_COUNTS)])
    with FaceDBWriter(synthetic.directory, MODEL, DETECTOR) as writer:
        i = FACE_COUNTS.index(14)
        pid = synthetic.performer_ids[i]
        np.testing.assert_array_equal(writer.performer_embeddings(pid), synthetic.vectors[start[i] : start[i + 1]])
        assert writer.performer_embeddings(synthetic.performer_ids[0]).shape == (0, MODEL.dim)
        removed = writer.cap_faces_per_performer(4)
        assert removed == sum(max(0, n - 4) for n in FACE_COUNTS)
        assert [writer.face_count(p) for p in synthetic.performer_ids] == [min(n, 4) for n in FACE_COUNTS]
        # The best (first, highest-quality) faces are the ones kept.
        np.testing.assert_array_equal(writer.performer_embeddings(pid), synthetic.vectors[start[i] : start[i] + 4])
        manifest = writer.finalize(sources=["synthetic"])
    assert manifest.counts.faces == sum(min(n, 4) for n in FACE_COUNTS)
    assert verify_db(synthetic.directory).ok
    with FaceDB.open(synthetic.directory) as db:
        vectors, _ = db.embeddings()
        assert all(row[0].distance < 1e-3 for row in db.search(vectors, k=1))
