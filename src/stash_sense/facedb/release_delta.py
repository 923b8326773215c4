"""Row-level deltas between two versions of ``performers.db``.

A delta is a small SQLite file. For every table ``T`` of the face DB it holds ``del_T`` (the
rowids to delete) and ``put_T`` (every row, with its rowid as ``_rowid``, that is new or
changed). Applying it deletes the rowids of ``del_T`` and of ``put_T``, then inserts the rows of
``put_T``. The diff is generic, table by table and keyed by rowid (every table here is a rowid
table), so new tables or columns need no code here: only the schema must be the same on both
sides, which the delta records and checks.

The index is not in the delta: it is rebuilt from the embeddings on apply, and with the
canonical DB file (:mod:`stash_sense.facedb.canonical`) and a deterministic index build both
files come out byte-identical to the new version's.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stash_sense.facedb.canonical import replace_with_canonical
from stash_sense.facedb.errors import FaceDBCorruptError
from stash_sense.facedb.index import build_index_like
from stash_sense.facedb.layout import DB_FILE, INDEX_FILE, MANIFEST_FILE
from stash_sense.facedb.manifest import load_manifest
from stash_sense.facedb.verify import verify_db

_DELTA_META = "delta_meta"

# Columns derived from the others, left out of the diff and recomputed on apply: a face's index
# row is its rank by face id (what FaceDBWriter.finalize numbers). Deleting one early face shifts
# every later face's row; diffing the column would re-send all those embeddings.
DERIVED_RANK = {"faces": ("vector_row", "id")}


@dataclass(frozen=True)
class DeltaStats:
    deleted: dict[str, int]
    put: dict[str, int]

    @property
    def rows(self) -> int:
        return sum(self.deleted.values()) + sum(self.put.values())


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def schema_of(conn: sqlite3.Connection, db: str = "main") -> list[list[str]]:
    """``[type, name, sql]`` of every schema object, in creation order (what VACUUM INTO keeps)."""
    rows = conn.execute(
        f"SELECT type, name, COALESCE(sql, '') FROM {db}.sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY rowid"
    ).fetchall()
    return [[str(t), str(n), str(s)] for t, n, s in rows]


def _tables(schema: list[list[str]]) -> list[str]:
    return [name for kind, name, _ in schema if kind == "table"]


def _columns(conn: sqlite3.Connection, db: str, table: str) -> list[str]:
    return [str(row[1]) for row in conn.execute(f"PRAGMA {db}.table_info({_quote(table)})")]


def _non_rowid_columns(conn: sqlite3.Connection, db: str, table: str) -> list[str]:
    """The columns to insert besides the rowid: all but an ``INTEGER PRIMARY KEY`` (which *is*
    the rowid, and may not be given twice)."""
    info = conn.execute(f"PRAGMA {db}.table_info({_quote(table)})").fetchall()
    keys = [row for row in info if row[5]]
    alias = str(keys[0][1]) if len(keys) == 1 and str(keys[0][2]).upper() == "INTEGER" else None
    return [str(row[1]) for row in info if str(row[1]) != alias]


def make_delta(old_db: Path, new_db: Path, delta_file: Path) -> DeltaStats:
    """Write to ``delta_file`` what turns ``old_db`` into ``new_db`` (both opened read-only)."""
    if delta_file.exists():
        raise FileExistsError(f"{delta_file} already exists")
    conn = sqlite3.connect(delta_file, isolation_level=None)
    try:
        conn.execute("ATTACH DATABASE ? AS old", (f"{old_db.resolve().as_uri()}?mode=ro",))
        conn.execute("ATTACH DATABASE ? AS new", (f"{new_db.resolve().as_uri()}?mode=ro",))
        old_schema, new_schema = schema_of(conn, "old"), schema_of(conn, "new")
        if old_schema != new_schema:
            raise FaceDBCorruptError(
                "the two face DBs have different schemas (a newer Stash Sense wrote one of them); "
                "a delta cannot bridge that, publish a full pack"
            )
        deleted: dict[str, int] = {}
        put: dict[str, int] = {}
        conn.execute("BEGIN")
        conn.execute(f"CREATE TABLE {_DELTA_META} (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute(f"INSERT INTO {_DELTA_META} VALUES ('schema', ?)", (json.dumps(new_schema),))
        for table in _tables(new_schema):
            columns = _columns(conn, "new", table)
            cols = ", ".join(_quote(c) for c in columns)
            derived = DERIVED_RANK.get(table, (None, None))[0]
            compared = ", ".join(_quote(c) for c in columns if c != derived)
            t = _quote(table)
            conn.execute(f"CREATE TABLE {_quote('del_' + table)} (_rowid INTEGER PRIMARY KEY)")
            conn.execute(
                f"INSERT INTO {_quote('del_' + table)} SELECT rowid FROM old.{t} EXCEPT SELECT rowid FROM new.{t}"
            )
            # Only the columns' values, no constraints: the rows go back into the real table on apply.
            conn.execute(f"CREATE TABLE {_quote('put_' + table)} AS SELECT rowid AS _rowid, {cols} FROM new.{t} WHERE 0")
            conn.execute(
                f"INSERT INTO {_quote('put_' + table)} SELECT rowid, {cols} FROM new.{t} WHERE rowid IN (SELECT r FROM "
                f"(SELECT rowid AS r, {compared} FROM new.{t} EXCEPT SELECT rowid, {compared} FROM old.{t})) ORDER BY rowid"
            )
            deleted[table] = conn.execute(f"SELECT COUNT(*) FROM {_quote('del_' + table)}").fetchone()[0]
            put[table] = conn.execute(f"SELECT COUNT(*) FROM {_quote('put_' + table)}").fetchone()[0]
        conn.execute("COMMIT")
        conn.execute("DETACH DATABASE old")
        conn.execute("DETACH DATABASE new")
        # The delta travels compressed; VACUUM drops the pages the build left free.
        conn.execute("VACUUM")
    except BaseException:
        conn.close()
        delta_file.unlink(missing_ok=True)
        raise
    conn.close()
    return DeltaStats(deleted, put)


def _apply_table(conn: sqlite3.Connection, table: str) -> tuple[int, int]:
    t, d, p = _quote(table), _quote("del_" + table), _quote("put_" + table)
    derived, order_by = DERIVED_RANK.get(table, (None, None))
    columns = _non_rowid_columns(conn, "main", table)
    if derived is not None:
        # Cleared first: UNIQUE(vector_row) would trip over rows not renumbered yet.
        conn.execute(f"UPDATE main.{t} SET {_quote(derived)} = NULL")
    values = ", ".join("NULL" if c == derived else _quote(c) for c in columns)
    conn.execute(f"DELETE FROM main.{t} WHERE rowid IN (SELECT _rowid FROM delta.{d} UNION SELECT _rowid FROM delta.{p})")
    conn.execute(
        f"INSERT INTO main.{t} (rowid, {', '.join(_quote(c) for c in columns)}) SELECT _rowid, {values} FROM delta.{p} ORDER BY _rowid"
    )
    if derived is not None and order_by is not None:
        conn.execute(
            f"CREATE TEMP TABLE rank_{table} AS SELECT rowid AS r, ROW_NUMBER() OVER (ORDER BY {_quote(order_by)}) - 1 AS n FROM main.{t}"
        )
        conn.execute(f"CREATE UNIQUE INDEX temp.rank_{table}_r ON rank_{table}(r)")
        conn.execute(f"UPDATE main.{t} SET {_quote(derived)} = (SELECT n FROM temp.rank_{table} WHERE r = main.{t}.rowid)")
        conn.execute(f"DROP TABLE temp.rank_{table}")
    removed = conn.execute(f"SELECT COUNT(*) FROM delta.{d}").fetchone()[0]
    return int(removed), int(conn.execute(f"SELECT COUNT(*) FROM delta.{p}").fetchone()[0])


def apply_delta(db_file: Path, delta_file: Path) -> DeltaStats:
    """Apply ``delta_file`` to ``db_file`` in one transaction, then rewrite it canonically.

    Foreign keys stay off while rows are swapped (a changed performer is deleted and inserted
    again, which must not cascade to its faces); they are checked at the end instead.
    """
    conn = sqlite3.connect(db_file, isolation_level=None)
    try:
        conn.execute("ATTACH DATABASE ? AS delta", (f"{delta_file.resolve().as_uri()}?mode=ro",))
        try:
            recorded = json.loads(conn.execute(f"SELECT value FROM delta.{_DELTA_META} WHERE key = 'schema'").fetchone()[0])
        except (sqlite3.DatabaseError, TypeError, ValueError) as exc:
            raise FaceDBCorruptError(f"the delta in the pack is damaged ({exc})") from exc
        if recorded != schema_of(conn):
            raise FaceDBCorruptError("the installed face DB's schema differs from the one this delta was made for; install the full pack")
        deleted: dict[str, int] = {}
        put: dict[str, int] = {}
        conn.execute("BEGIN IMMEDIATE")
        for table in _tables(recorded):
            deleted[table], put[table] = _apply_table(conn, table)
        dangling = conn.execute("PRAGMA main.foreign_key_check").fetchall()
        if dangling:
            conn.execute("ROLLBACK")
            raise FaceDBCorruptError(f"applying the delta left {len(dangling)} rows without their performer; install the full pack")
        conn.execute("COMMIT")
        conn.execute("DETACH DATABASE delta")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise FaceDBCorruptError(f"the delta cannot be applied to {db_file}: {exc}") from exc
    except BaseException:
        conn.close()
        raise
    replace_with_canonical(conn, db_file)
    return DeltaStats(deleted, put)


def _rebuild_index(directory: Path) -> None:
    """``faces.index`` from the embeddings, of the kind and parameters the manifest names."""
    manifest = load_manifest(directory)
    dim = manifest.embedding.dim
    conn = sqlite3.connect(f"{(directory / DB_FILE).resolve().as_uri()}?mode=ro", uri=True)
    try:
        blobs = [row[0] for row in conn.execute("SELECT embedding FROM faces ORDER BY vector_row")]
    finally:
        conn.close()
    vectors = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dim)
    info = manifest.index
    kind, params = (info.type, info.params) if info is not None else ("faiss-flat", {})
    build_index_like(vectors, dim=dim, kind=kind, params=params).save(directory / INDEX_FILE)


def apply_delta_dir(directory: Path, delta_file: Path, manifest_file: Path) -> DeltaStats:
    """Turn the DB in ``directory`` (a staging copy of the base version) into the version whose
    ``manifest.json`` is ``manifest_file``: rows, then the index, then the manifest; then every
    file is checked against that manifest. Raises :class:`FaceDBCorruptError` if they differ."""
    stats = apply_delta(directory / DB_FILE, delta_file)
    shutil.copyfile(manifest_file, directory / MANIFEST_FILE)
    _rebuild_index(directory)
    report = verify_db(directory)
    if not report.ok:
        raise FaceDBCorruptError(
            f"applying the delta did not reproduce version {report.db_version}: " + "; ".join(report.problems[:3])
        )
    return stats
