"""SQLite schema of ``performers.db`` and connection helpers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from stash_sense.facedb.errors import FaceDBCorruptError, FaceDBNotFoundError, UnsupportedFormatError

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS performers (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL,
    disambiguation TEXT,
    gender         TEXT,
    country        TEXT,
    image_url      TEXT,
    face_count     INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS performer_ids (
    performer_id INTEGER NOT NULL REFERENCES performers(id) ON DELETE CASCADE,
    endpoint     TEXT NOT NULL,
    stash_id     TEXT NOT NULL,
    UNIQUE (endpoint, stash_id)
);
CREATE INDEX IF NOT EXISTS performer_ids_performer ON performer_ids(performer_id);
CREATE TABLE IF NOT EXISTS aliases (
    performer_id INTEGER NOT NULL REFERENCES performers(id) ON DELETE CASCADE,
    alias        TEXT NOT NULL,
    UNIQUE (performer_id, alias)
);
CREATE TABLE IF NOT EXISTS faces (
    id           INTEGER PRIMARY KEY,
    performer_id INTEGER NOT NULL REFERENCES performers(id) ON DELETE CASCADE,
    vector_row   INTEGER UNIQUE,
    embedding    BLOB NOT NULL,
    source       TEXT NOT NULL,
    quality      REAL NOT NULL,
    detector     TEXT NOT NULL,
    box          TEXT,
    extra        TEXT,
    created_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS faces_performer ON faces(performer_id);
CREATE TABLE IF NOT EXISTS sources_done (
    source_key TEXT PRIMARY KEY,
    status     TEXT NOT NULL,
    reason     TEXT,
    at         TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS body (
    performer_id INTEGER PRIMARY KEY REFERENCES performers(id) ON DELETE CASCADE,
    data         TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tattoos (
    performer_id INTEGER PRIMARY KEY REFERENCES performers(id) ON DELETE CASCADE,
    data         TEXT NOT NULL
);
"""

# Keys of the meta table.
META_SCHEMA_VERSION = "schema_version"
META_MODEL = "embedding_model"
META_DIM = "embedding_dim"
META_PREPROCESSING = "embedding_preprocessing"
META_NORMALIZED = "embedding_normalized"
META_DETECTOR = "detector"
META_CREATED_AT = "created_at"


def connect_read_only(path: Path) -> sqlite3.Connection:
    """Open ``performers.db`` read-only; the serving side never writes to a distributed DB."""
    if not path.is_file():
        raise FaceDBNotFoundError(f"face DB file not found: {path}")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
        conn.execute("PRAGMA query_only = ON")
        version = read_meta(conn).get(META_SCHEMA_VERSION)
    except sqlite3.DatabaseError as exc:
        raise FaceDBCorruptError(f"{path} is not a readable face DB ({exc})") from exc
    check_schema_version(path, version)
    return conn


def read_meta(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM meta").fetchall())


def check_schema_version(path: Path, version: str | None) -> None:
    if version is None:
        raise FaceDBCorruptError(f"{path} has no schema version; it is not a Stash Sense face DB")
    try:
        number = int(version)
    except ValueError as exc:
        raise FaceDBCorruptError(f"{path} has an invalid schema version {version!r}") from exc
    if number > SCHEMA_VERSION:
        raise UnsupportedFormatError(
            f"{path} uses schema version {number}, but this Stash Sense reads up to {SCHEMA_VERSION}; "
            "upgrade Stash Sense"
        )
