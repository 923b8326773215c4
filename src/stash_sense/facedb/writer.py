"""Building (or resuming the build of) a face-DB directory.

Performers, their endpoint-qualified identities, aliases and face embeddings go into SQLite as
they are produced; :meth:`FaceDBWriter.finalize` then builds the vector index from those
embeddings and writes the manifest. Builds are resumable per *source* (an image, a stash-box
performer, ...): the faces of a source and its "done" mark are committed in one transaction, so
a crash never leaves half a source behind.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from stash_sense.facedb.canonical import replace_with_canonical
from stash_sense.facedb.errors import FaceDBCorruptError, IdentityConflictError, ModelMismatchError
from stash_sense.facedb.index import DEFAULT_HNSW_THRESHOLD, build_index
from stash_sense.facedb.layout import DB_FILE, INDEX_FILE, MANIFEST_FILE, SQLITE_SIDE_SUFFIXES, sha256_file
from stash_sense.facedb.manifest import (
    Counts,
    EmbeddingInfo,
    IndexInfo,
    Manifest,
    hash_content,
    load_manifest,
    make_db_version,
    manifest_content,
    utc_now,
    utc_now_iso,
    write_manifest,
)
from stash_sense.facedb.schema import (
    META_CREATED_AT,
    META_DETECTOR,
    META_DIM,
    META_MODEL,
    META_NORMALIZED,
    META_PREPROCESSING,
    META_SCHEMA_VERSION,
    SCHEMA,
    SCHEMA_VERSION,
    check_schema_version,
    read_meta,
)
from stash_sense.facedb.types import EmbeddingModelInfo, Identity
from stash_sense.facedb.vectors import check_unit_norm

log = logging.getLogger(__name__)


class FaceDBWriter:
    """Builds or resumes a face-DB directory.

    Writes happen in one open transaction that is committed by :meth:`mark_source_done`,
    :meth:`commit`, :meth:`finalize` and a clean exit from the ``with`` block; an exception in
    the ``with`` block rolls back the uncommitted work (the partial source is redone on resume).
    """

    def __init__(
        self,
        directory: Path,
        model: EmbeddingModelInfo,
        detector: str,
        *,
        resume: bool = True,
    ) -> None:
        """Open ``directory`` for writing, creating it if needed.

        With ``resume=True`` an existing DB is continued (it must have been built with the same
        embedding model, else :class:`ModelMismatchError`). With ``resume=False`` the DB files in
        the directory (and only those) are deleted and the build starts over.
        """
        if not detector:
            raise ValueError("detector name must not be empty")
        self.directory = Path(directory)
        self.model = model
        self.detector = detector
        self._closed = False
        self.directory.mkdir(parents=True, exist_ok=True)
        db_path = self.directory / DB_FILE
        if not resume:
            self._remove_db_files()
        existed = db_path.exists()
        self._conn = self._connect()
        try:
            if existed:
                self._check_existing()
            else:
                self._create()
            self._next_row = self._max_vector_row() + 1
        except BaseException:
            self._conn.close()
            raise

    # -- setup -----------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        db_path = self.directory / DB_FILE
        try:
            conn = sqlite3.connect(db_path.resolve().as_uri(), uri=True, isolation_level=None, timeout=30)
        except sqlite3.DatabaseError as exc:
            raise FaceDBCorruptError(f"cannot open {db_path} for writing: {exc}") from exc
        self._wal = False
        try:
            conn.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            conn.close()
            raise
        return conn

    def _remove_db_files(self) -> None:
        for name in (DB_FILE, INDEX_FILE, MANIFEST_FILE):
            (self.directory / name).unlink(missing_ok=True)
        for suffix in SQLITE_SIDE_SUFFIXES:
            (self.directory / f"{DB_FILE}{suffix}").unlink(missing_ok=True)

    def _create(self) -> None:
        self._use_wal()
        self._conn.executescript(SCHEMA)
        meta = {
            META_SCHEMA_VERSION: str(SCHEMA_VERSION),
            META_MODEL: self.model.model,
            META_DIM: str(self.model.dim),
            META_PREPROCESSING: self.model.preprocessing,
            META_NORMALIZED: "1" if self.model.normalized else "0",
            META_DETECTOR: self.detector,
            META_CREATED_AT: utc_now_iso(),
        }
        self._conn.execute("BEGIN")
        self._conn.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", meta.items())
        self._conn.execute("COMMIT")

    def _check_existing(self) -> None:
        db_path = self.directory / DB_FILE
        try:
            meta = read_meta(self._conn)
        except sqlite3.DatabaseError as exc:
            raise FaceDBCorruptError(f"{db_path} is not a face DB that can be resumed ({exc})") from exc
        check_schema_version(db_path, meta.get(META_SCHEMA_VERSION))
        stored = (meta.get(META_MODEL), meta.get(META_DIM), meta.get(META_PREPROCESSING), meta.get(META_NORMALIZED))
        wanted = (
            self.model.model,
            str(self.model.dim),
            self.model.preprocessing,
            "1" if self.model.normalized else "0",
        )
        if stored != wanted:
            raise ModelMismatchError(
                f"cannot resume face DB {self.directory}: it was built with model {stored[0]} (dim {stored[1]}, "
                f"preprocessing {stored[2]!r}, normalized={stored[3] == '1'}) but this build uses "
                f"{self.model.describe()} (normalized={self.model.normalized}); build into a new directory "
                "or start over (resume=False / --no-resume)"
            )
        if meta.get(META_DETECTOR) != self.detector:
            log.warning(
                "face DB %s was started with detector %s; continuing with %s",
                self.directory,
                meta.get(META_DETECTOR),
                self.detector,
            )
            self._begin()
            self._conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (META_DETECTOR, self.detector))

    def _use_wal(self) -> None:
        # WAL makes the many small per-source commits cheap; finalize() switches back to a
        # single self-contained file for distribution.
        if not self._wal:
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._wal = True

    def _begin(self) -> None:
        self._require_open()
        if not self._conn.in_transaction:
            self._use_wal()
            self._conn.execute("BEGIN IMMEDIATE")

    def _require_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"face DB writer for {self.directory} is closed")

    def _max_vector_row(self) -> int:
        value = self._conn.execute("SELECT MAX(vector_row) FROM faces").fetchone()[0]
        return -1 if value is None else int(value)

    @property
    def connection(self) -> sqlite3.Connection:
        """The underlying SQLite connection, for bulk operations inside this package."""
        return self._conn

    # -- performers ----------------------------------------------------------------------

    def _performer_for(self, identity: Identity) -> int | None:
        row = self._conn.execute(
            "SELECT performer_id FROM performer_ids WHERE endpoint = ? AND stash_id = ?",
            (identity.endpoint, identity.stash_id),
        ).fetchone()
        return None if row is None else int(row[0])

    def upsert_performer(
        self,
        identity: Identity,
        name: str,
        *,
        disambiguation: str | None = None,
        gender: str | None = None,
        country: str | None = None,
        image_url: str | None = None,
        aliases: Iterable[str] = (),
        extra_identities: Iterable[Identity] = (),
    ) -> int:
        """Insert the performer known by ``identity`` (or any of ``extra_identities``), or update it.

        Updates overwrite the name (the old one becomes an alias) and every other field that is
        given (``None`` keeps the stored value), and add identities and aliases. Returns the performer id. Raises
        :class:`IdentityConflictError` when the identities belong to different performers.
        """
        name = (name or "").strip()
        if not name:
            raise ValueError(f"performer {identity} needs a non-empty name")
        identities = [identity, *extra_identities]
        found = {pid for pid in (self._performer_for(i) for i in identities) if pid is not None}
        if len(found) > 1:
            raise IdentityConflictError(
                f"identities {', '.join(str(i) for i in identities)} belong to different performers "
                f"(ids {sorted(found)}); merge them before adding"
            )
        self._begin()
        now = utc_now_iso()
        renamed_from: str | None = None
        if found:
            performer_id = found.pop()
            (old_name,) = self._conn.execute("SELECT name FROM performers WHERE id = ?", (performer_id,)).fetchone()
            # A renamed performer stays findable under the old name.
            renamed_from = old_name if old_name != name else None
            # updated_at moves only when a field does: a re-run that changes nothing leaves the
            # row (and so the DB file and the next delta pack) as it was.
            self._conn.execute(
                """UPDATE performers SET name = ?, disambiguation = COALESCE(?, disambiguation),
                   gender = COALESCE(?, gender), country = COALESCE(?, country),
                   image_url = COALESCE(?, image_url), updated_at = ?
                   WHERE id = ? AND (name IS NOT ? OR disambiguation IS NOT COALESCE(?, disambiguation)
                       OR gender IS NOT COALESCE(?, gender) OR country IS NOT COALESCE(?, country)
                       OR image_url IS NOT COALESCE(?, image_url))""",
                (name, disambiguation, gender, country, image_url, now, performer_id,
                 name, disambiguation, gender, country, image_url),
            )
        else:
            cursor = self._conn.execute(
                """INSERT INTO performers(name, disambiguation, gender, country, image_url, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?)""",
                (name, disambiguation, gender, country, image_url, now, now),
            )
            performer_id = int(cursor.lastrowid)  # type: ignore[arg-type]
        self._conn.executemany(
            "INSERT OR IGNORE INTO performer_ids(performer_id, endpoint, stash_id) VALUES (?, ?, ?)",
            [(performer_id, i.endpoint, i.stash_id) for i in identities],
        )
        candidates = [renamed_from, *aliases]
        clean_aliases = dict.fromkeys(a.strip() for a in candidates if a and a.strip() and a.strip() != name)
        self._conn.executemany(
            "INSERT OR IGNORE INTO aliases(performer_id, alias) VALUES (?, ?)",
            [(performer_id, alias) for alias in clean_aliases],
        )
        return performer_id

    def _set_json(self, table: str, performer_id: int, data: dict[str, Any]) -> None:
        payload = json.dumps(data, allow_nan=False, sort_keys=True)
        self._begin()
        self._require_performer(performer_id)
        self._conn.execute(f"INSERT OR REPLACE INTO {table}(performer_id, data) VALUES (?, ?)", (performer_id, payload))

    def set_body(self, performer_id: int, data: dict[str, Any]) -> None:
        """Store body measurements/proportions for a performer (JSON object)."""
        self._set_json("body", performer_id, data)

    def set_tattoos(self, performer_id: int, data: dict[str, Any]) -> None:
        """Store tattoo data for a performer (JSON object)."""
        self._set_json("tattoos", performer_id, data)

    def _require_performer(self, performer_id: int) -> None:
        if self._conn.execute("SELECT 1 FROM performers WHERE id = ?", (performer_id,)).fetchone() is None:
            raise KeyError(f"no performer with id {performer_id} in {self.directory}")

    def face_count(self, performer_id: int) -> int:
        """Faces stored so far for a performer (including uncommitted ones of this session)."""
        row = self._conn.execute("SELECT face_count FROM performers WHERE id = ?", (performer_id,)).fetchone()
        if row is None:
            raise KeyError(f"no performer with id {performer_id} in {self.directory}")
        return int(row[0])

    # -- faces ---------------------------------------------------------------------------

    def add_face(
        self,
        performer_id: int,
        embedding: np.ndarray,
        *,
        source: str,
        quality: float,
        detector: str,
        box: Sequence[int] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> int:
        """Add one reference face; returns its face id."""
        vector = np.asarray(embedding, dtype=np.float32)
        if vector.ndim == 2 and vector.shape[0] == 1:
            vector = vector[0]
        if vector.ndim != 1 or vector.shape[0] != self.model.dim:
            raise ModelMismatchError(
                f"embedding of shape {np.shape(embedding)} cannot go into face DB {self.directory}, "
                f"which stores {self.model.describe()}"
            )
        if not np.isfinite(vector).all():
            raise ValueError(f"embedding from {source} contains NaN or infinite values")
        if self.model.normalized:
            check_unit_norm(vector[None, :], f"embedding from {source}")
        if not source:
            raise ValueError("face source must not be empty")
        quality = float(quality)
        if not math.isfinite(quality):
            raise ValueError(f"face quality must be a finite number, got {quality}")
        box_json = None if box is None else json.dumps([int(v) for v in box])
        try:
            extra_json = None if extra is None else json.dumps(extra, allow_nan=False, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"face extra data from {source} is not JSON-serialisable: {exc}") from exc
        self._begin()
        updated = self._conn.execute(
            "UPDATE performers SET face_count = face_count + 1 WHERE id = ?", (performer_id,)
        ).rowcount
        if updated == 0:
            raise KeyError(f"no performer with id {performer_id} in {self.directory}")
        cursor = self._conn.execute(
            """INSERT INTO faces(performer_id, vector_row, embedding, source, quality, detector, box, extra, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                performer_id,
                self._next_row,
                vector.tobytes(),
                source,
                quality,
                detector or self.detector,
                box_json,
                extra_json,
                utc_now_iso(),
            ),
        )
        self._next_row += 1
        return int(cursor.lastrowid)  # type: ignore[arg-type]

    def performer_embeddings(self, performer_id: int) -> np.ndarray:
        """The embeddings stored so far for a performer, ``(n, d)`` (e.g. to skip duplicate photos)."""
        blobs = [
            row[0]
            for row in self._conn.execute(
                "SELECT embedding FROM faces WHERE performer_id = ? ORDER BY id", (performer_id,)
            )
        ]
        if not blobs:
            return np.empty((0, self.model.dim), dtype=np.float32)
        return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), self.model.dim).copy()

    def cap_faces_per_performer(self, cap: int) -> int:
        """Keep only each performer's ``cap`` best faces (highest quality, then oldest); commit.

        Returns how many faces were removed. The vector rows are renumbered by :meth:`finalize`.
        """
        if cap < 1:
            raise ValueError(f"cap must be >= 1, got {cap}")
        self._begin()
        removed = self._conn.execute(
            """DELETE FROM faces WHERE id IN (
                   SELECT id FROM (
                       SELECT id, ROW_NUMBER() OVER (PARTITION BY performer_id ORDER BY quality DESC, id) AS face_rank
                       FROM faces)
                   WHERE face_rank > ?)""",
            (cap,),
        ).rowcount
        if removed:
            self._conn.execute(
                """UPDATE performers
                   SET face_count = (SELECT COUNT(*) FROM faces f WHERE f.performer_id = performers.id)
                   WHERE face_count > ?""",
                (cap,),
            )
        self.commit()
        return int(removed)

    # -- resumable sources -----------------------------------------------------------------

    def is_source_done(self, key: str) -> bool:
        row = self._conn.execute("SELECT 1 FROM sources_done WHERE source_key = ?", (key,)).fetchone()
        return row is not None

    def mark_source_done(self, key: str, status: str = "ok", reason: str | None = None) -> None:
        """Record ``key`` as processed and commit it together with everything added since the last commit."""
        if not key:
            raise ValueError("source key must not be empty")
        if not status:
            raise ValueError("source status must not be empty")
        self._begin()
        self._conn.execute(
            "INSERT OR REPLACE INTO sources_done(source_key, status, reason, at) VALUES (?, ?, ?, ?)",
            (key, status, reason, utc_now_iso()),
        )
        self.commit()

    def source_outcomes(self) -> dict[str, int]:
        """How many sources ended how: ``{"ok": 812, "skipped: no face found": 37, ...}``."""
        rows = self._conn.execute(
            "SELECT status, reason, COUNT(*) FROM sources_done GROUP BY status, reason ORDER BY status, reason"
        ).fetchall()
        return {(status if reason is None else f"{status}: {reason}"): int(n) for status, reason, n in rows}

    # -- transactions ----------------------------------------------------------------------

    def commit(self) -> None:
        self._require_open()
        if self._conn.in_transaction:
            self._conn.execute("COMMIT")

    def rollback(self) -> None:
        """Discard everything added since the last commit (e.g. a source that failed half-way)."""
        self._require_open()
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")
        self._next_row = self._max_vector_row() + 1

    def close(self) -> None:
        """Commit pending work and close. Use :meth:`rollback` first to discard it instead."""
        if self._closed:
            return
        try:
            self.commit()
        finally:
            self._conn.close()
            self._closed = True

    def __enter__(self) -> FaceDBWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._closed:
            return
        if exc_type is not None:
            self.rollback()
        self.close()

    # -- finalize --------------------------------------------------------------------------

    def _sync_face_counts(self) -> None:
        stale = self._conn.execute(
            """SELECT COUNT(*) FROM performers p
               WHERE p.face_count != (SELECT COUNT(*) FROM faces f WHERE f.performer_id = p.id)"""
        ).fetchone()[0]
        if stale:
            self._begin()
            self._conn.execute(
                "UPDATE performers SET face_count = (SELECT COUNT(*) FROM faces f WHERE f.performer_id = performers.id)"
            )
            self.commit()

    def _number_vector_rows(self) -> None:
        """Make ``faces.vector_row`` number the faces 0..n-1 in face-id order (if it does not already)."""
        total, low, high, assigned = self._conn.execute(
            "SELECT COUNT(*), MIN(vector_row), MAX(vector_row), COUNT(vector_row) FROM faces"
        ).fetchone()
        if total == 0 or (assigned == total and low == 0 and high == total - 1):
            return
        ids = [row[0] for row in self._conn.execute("SELECT id FROM faces ORDER BY id")]
        self._begin()
        # Clear first: UNIQUE(vector_row) is checked row by row during an UPDATE.
        self._conn.execute("UPDATE faces SET vector_row = NULL")
        self._conn.executemany("UPDATE faces SET vector_row = ? WHERE id = ?", list(enumerate(ids)))
        self.commit()
        self._next_row = len(ids)

    def _close_wal(self) -> None:
        """Fold the WAL into ``performers.db`` so the DB is one self-contained, checksummable file."""
        mode = self._conn.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() == "wal":
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.execute("PRAGMA journal_mode = DELETE")
        self._wal = False

    def _canonicalize(self) -> None:
        """Rewrite ``performers.db`` in its canonical form, so the same content always has the
        same sha256 and a delta pack applied elsewhere reproduces this very file."""
        replace_with_canonical(self._conn, self.directory / DB_FILE)
        self._conn = self._connect()

    def _load_embeddings(self) -> np.ndarray:
        blobs = [row[0] for row in self._conn.execute("SELECT embedding FROM faces ORDER BY vector_row")]
        if not blobs:
            return np.empty((0, self.model.dim), dtype=np.float32)
        return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), self.model.dim)

    def _counts(self) -> Counts:
        performers, faces, with_faces = self._conn.execute(
            """SELECT (SELECT COUNT(*) FROM performers), (SELECT COUNT(*) FROM faces),
                      (SELECT COUNT(DISTINCT performer_id) FROM faces)"""
        ).fetchone()
        return Counts(performers=performers, faces=faces, performers_with_faces=with_faces)

    def finalize(
        self,
        *,
        sources: list[str],
        calibration: dict[str, Any] | None = None,
        hnsw_threshold: int = DEFAULT_HNSW_THRESHOLD,
        optimized_from: dict[str, Any] | None = None,
    ) -> Manifest:
        """Commit, build ``faces.index`` from the stored embeddings and write ``manifest.json``.

        Idempotent: when nothing changed since the last finalize the existing manifest (and its
        ``db_version``) is returned untouched; when only ``sources``/``calibration`` changed the
        index is reused and a new manifest written. The writer stays usable afterwards.
        """
        self._require_open()
        calibration = dict(calibration or {})
        try:
            json.dumps(calibration, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"calibration must be JSON-serialisable: {exc}") from exc
        self.commit()
        self._sync_face_counts()
        self._number_vector_rows()
        self._close_wal()
        self._canonicalize()

        db_path, index_path = self.directory / DB_FILE, self.directory / INDEX_FILE
        db_sha = sha256_file(db_path)
        previous = self._previous_manifest()
        index_info: IndexInfo
        if (
            previous is not None
            and previous.index is not None
            and previous.files.get(DB_FILE) == db_sha
            and index_path.is_file()
            and previous.files.get(INDEX_FILE) == sha256_file(index_path)
        ):
            index_info = previous.index  # same embeddings: the same index, no need to build it again
        else:
            index = build_index(self._load_embeddings(), dim=self.model.dim, hnsw_threshold=hnsw_threshold)
            index.save(index_path)
            index_info = IndexInfo(type=index.kind, params=index.params)
        files = {DB_FILE: db_sha, INDEX_FILE: sha256_file(index_path)}
        content = {
            "files": files,
            "embedding": EmbeddingInfo.from_model(self.model).model_dump(),
            "detector": self.detector,
            "sources": list(sources),
            "calibration": calibration,
            "optimized_from": optimized_from,
        }
        content_hash = hash_content(content)
        if previous is not None and hash_content(manifest_content(previous)) == content_hash:
            return previous
        created = utc_now()
        manifest = Manifest(
            db_version=make_db_version(created, content_hash),
            created_at=created.isoformat().replace("+00:00", "Z"),
            counts=self._counts(),
            embedding=EmbeddingInfo.from_model(self.model),
            detector=self.detector,
            sources=list(sources),
            calibration=calibration,
            files=files,
            index=index_info,
            optimized_from=optimized_from,
        )
        write_manifest(self.directory, manifest)
        log.info("face DB %s finalized: version %s, %s", self.directory, manifest.db_version, manifest.counts)
        return manifest

    def _previous_manifest(self) -> Manifest | None:
        if not (self.directory / MANIFEST_FILE).is_file():
            return None
        try:
            return load_manifest(self.directory)
        except Exception:  # a damaged old manifest is simply replaced
            log.warning("replacing unreadable manifest in %s", self.directory)
            return None
