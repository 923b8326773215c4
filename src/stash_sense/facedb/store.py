"""Reading a finished face DB: :class:`FaceDB` is the read-only view used at serving time.

(:class:`FaceDBWriter`, which builds DBs, lives in :mod:`stash_sense.facedb.writer` and is
re-exported here.)
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

import numpy as np

from stash_sense.facedb.errors import FaceDBCorruptError, FaceDBNotFoundError, ModelMismatchError
from stash_sense.facedb.index import VectorIndex, load_index
from stash_sense.facedb.layout import CHECKSUMMED_FILES, DB_FILE, INDEX_FILE
from stash_sense.facedb.manifest import Manifest, load_manifest
from stash_sense.facedb.schema import META_DIM, META_MODEL, connect_read_only, read_meta
from stash_sense.facedb.stats import DBStats, compute_stats
from stash_sense.facedb.types import EmbeddingModelInfo, FaceHit, Identity, PerformerRecord
from stash_sense.facedb.vectors import check_unit_norm
from stash_sense.facedb.writer import FaceDBWriter
from stash_sense.matching.types import PerformerHit

__all__ = ["FaceDB", "FaceDBWriter"]

# search_performers widens its face search at most this far (HNSW cost grows with k).
_MAX_WIDENED_K = 8192


def _model_mismatch_message(directory: Path, built: EmbeddingModelInfo, running: str, running_dim: int | None) -> str:
    running_desc = running if running_dim is None else f"{running} (dim {running_dim})"
    return (
        f"face DB {directory} was built with model {built.model} (dim {built.dim}) but the running "
        f"embedder is {running_desc}; rebuild it with `stash-sense db build` using that embedder, "
        "or use a face DB built with it"
    )


_PERFORMERS_QUERY = """
SELECT p.id, p.name, p.disambiguation, p.gender, p.country, p.image_url, p.face_count,
       (SELECT json_group_array(json_array(endpoint, stash_id))
          FROM (SELECT endpoint, stash_id FROM performer_ids WHERE performer_id = p.id ORDER BY rowid)),
       (SELECT json_group_array(alias)
          FROM (SELECT alias FROM aliases WHERE performer_id = p.id ORDER BY rowid)),
       EXISTS (SELECT 1 FROM body b WHERE b.performer_id = p.id),
       EXISTS (SELECT 1 FROM tattoos t WHERE t.performer_id = p.id)
FROM performers p
WHERE p.id IN (SELECT value FROM json_each(?))
"""


class FaceDB:
    """A finished face DB opened read-only. Safe to share between threads."""

    def __init__(
        self,
        directory: Path,
        manifest: Manifest,
        conn: sqlite3.Connection,
        index: VectorIndex,
        row_face_ids: np.ndarray,
        row_performer_ids: np.ndarray,
        face_counts: dict[int, int],
    ) -> None:
        """Use :meth:`open`."""
        self.directory = directory
        self.manifest = manifest
        self._conn = conn
        self._index = index
        self._row_face_ids = row_face_ids
        self._row_performer_ids = row_performer_ids
        self._face_counts = face_counts
        self._lock = threading.Lock()

    @classmethod
    def open(
        cls,
        directory: Path,
        *,
        expected_model: str | EmbeddingModelInfo | None = None,
        verify: bool = False,
    ) -> FaceDB:
        """Open the DB in ``directory``.

        ``expected_model`` names the running embedder (or fully describes it): a DB built with a
        different model is refused with :class:`ModelMismatchError`. ``verify=True`` also checks
        every file's sha256 against the manifest first (see :func:`verify_db`).
        """
        from stash_sense.facedb.verify import verify_db

        directory = Path(directory)
        manifest = load_manifest(directory)
        built = manifest.embedding.to_model()
        if expected_model is not None:
            _check_expected_model(directory, built, expected_model)
        for name in CHECKSUMMED_FILES:
            if not (directory / name).is_file():
                raise FaceDBNotFoundError(f"face DB {directory} is incomplete: {name} is missing")
        if verify:
            report = verify_db(directory)
            if not report.ok:
                raise FaceDBCorruptError(f"face DB {directory} failed verification: " + "; ".join(report.problems))
        conn = connect_read_only(directory / DB_FILE)
        try:
            meta = read_meta(conn)
            if meta.get(META_MODEL) != built.model or meta.get(META_DIM) != str(built.dim):
                raise FaceDBCorruptError(
                    f"face DB {directory}: {DB_FILE} holds {meta.get(META_MODEL)} embeddings "
                    f"(dim {meta.get(META_DIM)}) "
                    f"but its manifest says {built.model} (dim {built.dim})"
                )
            index = load_index(directory / INDEX_FILE)
            if index.dim != built.dim:
                raise FaceDBCorruptError(
                    f"face DB {directory}: {INDEX_FILE} has dim {index.dim} but the manifest says {built.dim}"
                )
            rows = np.array(
                conn.execute("SELECT vector_row, id, performer_id FROM faces ORDER BY vector_row").fetchall(),
                dtype=np.int64,
            ).reshape(-1, 3)
            if len(rows) != len(index) or not np.array_equal(rows[:, 0], np.arange(len(rows))):
                raise FaceDBCorruptError(
                    f"face DB {directory}: {INDEX_FILE} holds {len(index)} vectors but {DB_FILE} numbers "
                    f"{len(rows)} faces differently; run `stash-sense db verify --db {directory}`"
                )
            face_counts = {int(pid): int(n) for pid, n in conn.execute("SELECT id, face_count FROM performers")}
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise FaceDBCorruptError(f"face DB {directory}: {DB_FILE} cannot be read ({exc})") from exc
        except BaseException:
            conn.close()
            raise
        return cls(directory, manifest, conn, index, rows[:, 1].copy(), rows[:, 2].copy(), face_counts)

    # -- properties ------------------------------------------------------------------------

    @property
    def version(self) -> str:
        return self.manifest.db_version

    @property
    def model(self) -> EmbeddingModelInfo:
        return self.manifest.embedding.to_model()

    @property
    def index(self) -> VectorIndex:
        return self._index

    def __len__(self) -> int:
        return len(self._index)

    def check_model(self, model: str | EmbeddingModelInfo) -> None:
        """Raise :class:`ModelMismatchError` unless ``model`` is the model this DB was built with."""
        _check_expected_model(self.directory, self.model, model)

    # -- search ----------------------------------------------------------------------------

    def _queries(self, queries: np.ndarray) -> np.ndarray:
        array = np.asarray(queries, dtype=np.float32)
        if array.ndim == 1:
            array = array[None, :]
        if array.ndim != 2:
            raise ValueError(f"queries must have shape (n, d), got {np.shape(queries)}")
        built = self.model
        if array.shape[1] != built.dim:
            raise ModelMismatchError(
                f"query embeddings have dim {array.shape[1]} but face DB {self.directory} was built with "
                f"model {built.model} (dim {built.dim}); use the same embedder or a matching face DB"
            )
        if not np.isfinite(array).all():
            raise ValueError("query embeddings contain NaN or infinite values")
        if built.normalized:
            check_unit_norm(array, "query embeddings")
        return np.ascontiguousarray(array)

    def search(self, queries: np.ndarray, k: int) -> list[list[FaceHit]]:
        """The ``k`` nearest reference faces of each query, nearest first."""
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        q = self._queries(queries)
        if len(self) == 0:
            return [[] for _ in range(len(q))]
        distances, rows = self._index.search(q, min(k, len(self)))
        return [
            [
                FaceHit(int(self._row_face_ids[r]), int(self._row_performer_ids[r]), float(d))
                for d, r in zip(drow, rrow, strict=True)
                if r >= 0
            ]
            for drow, rrow in zip(distances, rows, strict=True)
        ]

    def search_performers(
        self,
        queries: np.ndarray,
        *,
        k_faces: int = 50,
        top_k: int = 5,
    ) -> list[list[PerformerHit]]:
        """The ``top_k`` nearest performers of each query, ranked by their nearest face.

        Looks at the ``k_faces`` nearest faces; when they cover fewer than ``top_k`` distinct
        performers (one performer with many faces can fill them all) the search is widened.
        """
        if k_faces <= 0 or top_k <= 0:
            raise ValueError(f"k_faces and top_k must be positive, got {k_faces} and {top_k}")
        q = self._queries(queries)
        total = len(self)
        results: list[list[PerformerHit]] = [[] for _ in range(len(q))]
        if total == 0:
            return results
        pending = list(range(len(q)))
        k = min(k_faces, total)
        widest = min(total, max(k_faces, _MAX_WIDENED_K))
        while pending:
            distances, rows = self._index.search(q[pending], k)
            still: list[int] = []
            for j, qi in enumerate(pending):
                hits = self._group(distances[j], rows[j])
                if len(hits) < top_k and k < widest:
                    still.append(qi)
                else:
                    results[qi] = hits[:top_k]
            pending = still
            k = min(widest, k * 4)
        return results

    def _group(self, distances: np.ndarray, rows: np.ndarray) -> list[PerformerHit]:
        best: dict[int, list[float]] = {}  # performer -> [nearest, second nearest]
        matched: dict[int, int] = {}
        for d, r in zip(distances, rows, strict=True):
            if r < 0:
                continue
            pid = int(self._row_performer_ids[r])
            dist = float(d)
            entry = best.get(pid)
            if entry is None:
                best[pid] = [dist, math.inf]
                matched[pid] = 1
                continue
            matched[pid] += 1
            if dist < entry[0]:
                entry[0], entry[1] = dist, entry[0]
            elif dist < entry[1]:
                entry[1] = dist
        hits = [
            PerformerHit(
                performer_id=pid,
                distance=entry[0],
                second_distance=None if math.isinf(entry[1]) else entry[1],
                faces_matched=matched[pid],
                faces_in_db=self._face_counts.get(pid, matched[pid]),
            )
            for pid, entry in best.items()
        ]
        hits.sort(key=lambda h: (h.distance, h.performer_id))
        return hits

    # -- records ---------------------------------------------------------------------------

    def performers(self, ids: Iterable[int]) -> dict[int, PerformerRecord]:
        """Records of the given performers (unknown ids are left out), in one query."""
        wanted = sorted({int(i) for i in ids})
        if not wanted:
            return {}
        with self._lock:
            rows = self._conn.execute(_PERFORMERS_QUERY, (json.dumps(wanted),)).fetchall()
        records: dict[int, PerformerRecord] = {}
        for pid, name, disamb, gender, country, image_url, face_count, ids_json, aliases_json, body, tattoo in rows:
            records[int(pid)] = PerformerRecord(
                id=int(pid),
                name=name,
                disambiguation=disamb,
                gender=gender,
                country=country,
                image_url=image_url,
                face_count=int(face_count),
                identities=[Identity(e, s) for e, s in json.loads(ids_json)],
                aliases=list(json.loads(aliases_json)),
                has_body=bool(body),
                has_tattoo=bool(tattoo),
            )
        return records

    def performer(self, performer_id: int) -> PerformerRecord:
        record = self.performers([performer_id]).get(int(performer_id))
        if record is None:
            raise KeyError(f"no performer with id {performer_id} in face DB {self.directory}")
        return record

    def performer_id_for(self, identity: Identity) -> int | None:
        """The performer known by ``identity``, if any."""
        with self._lock:
            row = self._conn.execute(
                "SELECT performer_id FROM performer_ids WHERE endpoint = ? AND stash_id = ?",
                (identity.endpoint, identity.stash_id),
            ).fetchone()
        return None if row is None else int(row[0])

    def embeddings(self) -> tuple[np.ndarray, np.ndarray]:
        """All stored vectors ``(n, d)`` in index-row order, and the performer id of each row."""
        with self._lock:
            blobs = [row[0] for row in self._conn.execute("SELECT embedding FROM faces ORDER BY vector_row")]
        dim = self.model.dim
        vectors = (
            np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dim).copy()
            if blobs
            else np.empty((0, dim), dtype=np.float32)
        )
        return vectors, self._row_performer_ids.copy()

    def stats(self) -> DBStats:
        with self._lock:
            return compute_stats(self._conn)

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> FaceDB:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _check_expected_model(directory: Path, built: EmbeddingModelInfo, expected: str | EmbeddingModelInfo) -> None:
    if isinstance(expected, EmbeddingModelInfo):
        if (expected.model, expected.dim) != (built.model, built.dim):
            raise ModelMismatchError(_model_mismatch_message(directory, built, expected.model, expected.dim))
        if expected.preprocessing != built.preprocessing or expected.normalized != built.normalized:
            raise ModelMismatchError(
                f"face DB {directory} was built with model {built.describe()} (normalized={built.normalized}) "
                f"but the running embedder uses {expected.describe()} (normalized={expected.normalized}); "
                "rebuild the face DB with the running embedder"
            )
    elif expected != built.model:
        raise ModelMismatchError(_model_mismatch_message(directory, built, expected, None))
