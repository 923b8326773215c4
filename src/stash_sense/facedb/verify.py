"""``stash-sense db verify``: check a face-DB directory against its manifest.

Verification never raises for a damaged DB; it reports every problem it finds so the user sees
the whole picture at once.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from stash_sense.facedb.errors import FaceDBError
from stash_sense.facedb.index import load_index
from stash_sense.facedb.layout import CHECKSUMMED_FILES, DB_FILE, INDEX_FILE, sha256_file
from stash_sense.facedb.manifest import Manifest, load_manifest
from stash_sense.facedb.schema import META_DIM, META_MODEL, connect_read_only, read_meta


class FileCheck(BaseModel):
    name: str
    expected_sha256: str | None
    actual_sha256: str | None
    ok: bool


class VerifyReport(BaseModel):
    directory: str
    ok: bool
    db_version: str | None = None
    files: list[FileCheck] = Field(default_factory=list)
    sqlite_integrity: str | None = None
    faces: int | None = None
    index_vectors: int | None = None
    problems: list[str] = Field(default_factory=list)


def _check_files(directory: Path, manifest: Manifest, report: VerifyReport) -> None:
    names = list(CHECKSUMMED_FILES) + sorted(set(manifest.files) - set(CHECKSUMMED_FILES))
    for name in names:
        expected = manifest.files.get(name)
        path = directory / name
        actual = sha256_file(path) if path.is_file() else None
        ok = expected is not None and actual == expected
        report.files.append(FileCheck(name=name, expected_sha256=expected, actual_sha256=actual, ok=ok))
        if expected is None:
            report.problems.append(f"{name}: the manifest records no checksum for it")
        elif actual is None:
            report.problems.append(f"{name}: file is missing")
        elif not ok:
            report.problems.append(
                f"{name}: sha256 mismatch (manifest {expected[:16]}…, file {actual[:16]}…); "
                "the file was modified or damaged after the DB was built"
            )


def _check_sqlite(directory: Path, manifest: Manifest, report: VerifyReport) -> None:
    conn = connect_read_only(directory / DB_FILE)
    try:
        integrity = [row[0] for row in conn.execute("PRAGMA integrity_check").fetchall()]
        report.sqlite_integrity = "; ".join(integrity)
        if integrity != ["ok"]:
            report.problems.append(f"{DB_FILE}: SQLite integrity check failed: {report.sqlite_integrity}")
        dangling = conn.execute("PRAGMA foreign_key_check").fetchall()
        if dangling:
            report.problems.append(f"{DB_FILE}: {len(dangling)} rows reference missing performers")
        meta = read_meta(conn)
        if meta.get(META_MODEL) != manifest.embedding.model or meta.get(META_DIM) != str(manifest.embedding.dim):
            report.problems.append(
                f"{DB_FILE} holds embeddings of {meta.get(META_MODEL)} (dim {meta.get(META_DIM)}) but the manifest "
                f"says {manifest.embedding.model} (dim {manifest.embedding.dim})"
            )
        faces, rows_min, rows_max, rows_set = conn.execute(
            "SELECT COUNT(*), MIN(vector_row), MAX(vector_row), COUNT(vector_row) FROM faces"
        ).fetchone()
        report.faces = int(faces)
        if faces and (rows_set != faces or rows_min != 0 or rows_max != faces - 1):
            report.problems.append(f"{DB_FILE}: faces.vector_row does not number the faces 0..{faces - 1}")
        performers = conn.execute("SELECT COUNT(*) FROM performers").fetchone()[0]
        if (performers, faces) != (manifest.counts.performers, manifest.counts.faces):
            report.problems.append(
                f"{DB_FILE} has {performers} performers and {faces} faces but the manifest counts "
                f"{manifest.counts.performers} and {manifest.counts.faces}"
            )
    finally:
        conn.close()


def _check_index(directory: Path, manifest: Manifest, report: VerifyReport) -> None:
    index = load_index(directory / INDEX_FILE)
    report.index_vectors = len(index)
    if index.dim != manifest.embedding.dim:
        report.problems.append(
            f"{INDEX_FILE}: vectors have dim {index.dim}, the manifest says {manifest.embedding.dim}"
        )
    if report.faces is not None and len(index) != report.faces:
        report.problems.append(f"{INDEX_FILE}: {len(index)} vectors for {report.faces} faces in {DB_FILE}")
    elif len(index) and index.dim == manifest.embedding.dim:
        # Every vector should find itself: catches an index rebuilt from other embeddings.
        probe = _first_embedding(directory)
        if probe is not None:
            distances, _ = index.search(probe[None, :], 1)
            if not distances[0, 0] <= 1e-3:
                report.problems.append(
                    f"{INDEX_FILE}: the first stored face is not in the index; it was built from other embeddings"
                )


def _first_embedding(directory: Path) -> np.ndarray | None:
    conn = connect_read_only(directory / DB_FILE)
    try:
        row = conn.execute("SELECT embedding FROM faces WHERE vector_row = 0").fetchone()
    finally:
        conn.close()
    return None if row is None else np.frombuffer(row[0], dtype=np.float32)


def verify_db(directory: Path) -> VerifyReport:
    """Recompute checksums, run SQLite's integrity check and cross-check counts and the index."""
    directory = Path(directory)
    report = VerifyReport(directory=str(directory), ok=False)
    try:
        manifest = load_manifest(directory)
    except FaceDBError as exc:
        report.problems.append(str(exc))
        return report
    report.db_version = manifest.db_version
    _check_files(directory, manifest, report)
    checksum_ok = {check.name: check.ok for check in report.files}
    for check, needs in ((_check_sqlite, DB_FILE), (_check_index, INDEX_FILE)):
        if not (directory / needs).is_file():
            continue  # already reported as missing
        if needs == INDEX_FILE and not checksum_ok.get(INDEX_FILE, False):
            # A modified index is already condemned, and loading a damaged graph is not safe.
            continue
        try:
            check(directory, manifest, report)
        except (FaceDBError, sqlite3.DatabaseError, ValueError) as exc:
            report.problems.append(f"{needs}: {exc}")
    report.ok = not report.problems
    return report
