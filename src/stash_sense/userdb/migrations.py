"""Versioned schema migrations of ``stash_sense.db``.

The schema version is SQLite's ``user_version``; each migration runs in one transaction that
also bumps it, so a crash mid-migration leaves the previous version intact. Migrations are
append-only: a released one is never edited, a change is a new migration.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from stash_sense.userdb.errors import UserDBError


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "scene fingerprints",
        (
            """
            CREATE TABLE schema_migrations (
                version INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                applied_at TEXT NOT NULL
            )
            """,
            # One row per Stash scene: the latest fingerprint, or why it could not be made.
            # ``revision`` counts how many times it was (re)generated; ``stale`` marks a
            # fingerprint the user asked to redo even though its face-DB version is current.
            """
            CREATE TABLE scene_fingerprints (
                scene_id TEXT PRIMARY KEY,
                status TEXT NOT NULL CHECK (status IN ('complete', 'failed')),
                face_db_version TEXT NOT NULL,
                frames_requested INTEGER NOT NULL DEFAULT 0,
                frames_analysed INTEGER NOT NULL DEFAULT 0,
                total_faces INTEGER NOT NULL DEFAULT 0,
                persons INTEGER NOT NULL DEFAULT 0,
                source_kind TEXT,
                error TEXT,
                stale INTEGER NOT NULL DEFAULT 0,
                revision INTEGER NOT NULL DEFAULT 1,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL
            )
            """,
            "CREATE INDEX scene_fingerprints_version ON scene_fingerprints (face_db_version, status)",
            """
            CREATE TABLE scene_fingerprint_faces (
                scene_id TEXT NOT NULL REFERENCES scene_fingerprints (scene_id) ON DELETE CASCADE,
                performer_id TEXT NOT NULL,
                name TEXT NOT NULL DEFAULT '',
                face_count INTEGER NOT NULL CHECK (face_count >= 0),
                proportion REAL NOT NULL CHECK (proportion >= 0 AND proportion <= 1),
                avg_confidence REAL NOT NULL,
                PRIMARY KEY (scene_id, performer_id)
            )
            """,
            "CREATE INDEX scene_fingerprint_faces_performer ON scene_fingerprint_faces (performer_id)",
        ),
    ),
    Migration(
        2,
        "bulk fingerprint jobs",
        (
            """
            CREATE TABLE fingerprint_jobs (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                status TEXT NOT NULL
                    CHECK (status IN ('listing', 'running', 'stopped', 'completed', 'failed')),
                refresh_outdated INTEGER NOT NULL,
                num_frames INTEGER NOT NULL,
                face_db_version TEXT,
                total INTEGER NOT NULL DEFAULT 0,
                done INTEGER NOT NULL DEFAULT 0,
                failed INTEGER NOT NULL DEFAULT 0,
                busy_seconds REAL NOT NULL DEFAULT 0,
                error TEXT,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                finished_at TEXT
            )
            """,
            # The job's work list, fixed when the job starts: resuming after a crash continues
            # this list instead of asking Stash again, so a finished scene is never redone.
            """
            CREATE TABLE fingerprint_job_scenes (
                job_id INTEGER NOT NULL REFERENCES fingerprint_jobs (id) ON DELETE CASCADE,
                position INTEGER NOT NULL,
                scene_id TEXT NOT NULL,
                state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
                error TEXT,
                PRIMARY KEY (job_id, scene_id)
            )
            """,
            "CREATE INDEX fingerprint_job_scenes_todo ON fingerprint_job_scenes (job_id, state, position)",
        ),
    ),
    Migration(
        3,
        "recommendations",
        (
            # One row per analyzer run; ``examined`` counts the library items the run looked
            # at (only the changed ones in an incremental run), ``total`` the items known.
            """
            CREATE TABLE analysis_runs (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                type TEXT NOT NULL,
                mode TEXT NOT NULL CHECK (mode IN ('full', 'incremental')),
                status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'stopped', 'failed')),
                logic_version INTEGER NOT NULL,
                total INTEGER NOT NULL DEFAULT 0,
                examined INTEGER NOT NULL DEFAULT 0,
                candidates INTEGER NOT NULL DEFAULT 0,
                raised INTEGER NOT NULL DEFAULT 0,
                updated INTEGER NOT NULL DEFAULT 0,
                suppressed INTEGER NOT NULL DEFAULT 0,
                obsolete INTEGER NOT NULL DEFAULT 0,
                progress REAL NOT NULL DEFAULT 0,
                examined_ids TEXT,
                error TEXT,
                started_at TEXT NOT NULL,
                finished_at TEXT
            )
            """,
            "CREATE INDEX analysis_runs_type ON analysis_runs (type, id)",
            # One recommendation per (type, target): a re-run updates it instead of adding another.
            # ``target`` is a canonical key such as ``scenes:12,40``; ``evidence_hash`` is
            # what a soft dismissal compares to decide whether the evidence changed.
            """
            CREATE TABLE recommendations (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                type TEXT NOT NULL,
                target TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('open', 'dismissed', 'resolved', 'obsolete')),
                confidence REAL NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
                evidence TEXT NOT NULL,
                evidence_hash TEXT NOT NULL,
                run_id INTEGER REFERENCES analysis_runs (id) ON DELETE SET NULL,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                resolved_at TEXT,
                resolution TEXT,
                UNIQUE (type, target)
            )
            """,
            "CREATE INDEX recommendations_list ON recommendations (type, status, confidence)",
            # Which Stash objects a recommendation is about: an incremental run re-examines
            # exactly the recommendations that touch a changed object.
            """
            CREATE TABLE recommendation_objects (
                recommendation_id INTEGER NOT NULL REFERENCES recommendations (id) ON DELETE CASCADE,
                kind TEXT NOT NULL,
                object_id TEXT NOT NULL,
                PRIMARY KEY (recommendation_id, kind, object_id)
            )
            """,
            "CREATE INDEX recommendation_objects_by_object ON recommendation_objects (kind, object_id)",
            # Dismissals outlive the recommendation rows: "not a duplicate" is remembered for ever,
            # a soft dismissal until the evidence hash changes.
            """
            CREATE TABLE dismissals (
                type TEXT NOT NULL,
                target TEXT NOT NULL,
                kind TEXT NOT NULL CHECK (kind IN ('soft', 'permanent', 'not_duplicate')),
                evidence_hash TEXT NOT NULL,
                reason TEXT,
                created_at TEXT NOT NULL,
                PRIMARY KEY (type, target)
            )
            """,
            # Where each analyzer got to, and with which version of its logic: a new logic
            # version forces the next run to be a full one.
            """
            CREATE TABLE analyzer_watermarks (
                type TEXT PRIMARY KEY,
                logic_version INTEGER NOT NULL,
                watermark TEXT,
                last_run_id INTEGER,
                updated_at TEXT NOT NULL
            )
            """,
            # Every action that changed Stash: what, when, and the ids before and after.
            """
            CREATE TABLE recommendation_actions (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                recommendation_id INTEGER REFERENCES recommendations (id) ON DELETE SET NULL,
                action TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
                detail TEXT NOT NULL,
                error TEXT,
                created_at TEXT NOT NULL
            )
            """,
            # The analyzers' copy of what they need from Stash's scenes, so an incremental run
            # fetches only the scenes changed since the watermark and compares them with all.
            """
            CREATE TABLE library_scenes (
                scene_id TEXT PRIMARY KEY,
                updated_at TEXT NOT NULL,
                title TEXT,
                date TEXT,
                studio_id TEXT,
                performer_ids TEXT NOT NULL DEFAULT '[]',
                stash_ids TEXT NOT NULL DEFAULT '[]'
            )
            """,
            """
            CREATE TABLE library_scene_files (
                scene_id TEXT NOT NULL REFERENCES library_scenes (scene_id) ON DELETE CASCADE,
                file_id TEXT NOT NULL,
                position INTEGER NOT NULL,
                path TEXT NOT NULL DEFAULT '',
                size INTEGER NOT NULL DEFAULT 0,
                width INTEGER NOT NULL DEFAULT 0,
                height INTEGER NOT NULL DEFAULT 0,
                duration REAL NOT NULL DEFAULT 0,
                bit_rate INTEGER NOT NULL DEFAULT 0,
                video_codec TEXT NOT NULL DEFAULT '',
                phash INTEGER,
                PRIMARY KEY (scene_id, file_id)
            )
            """,
        ),
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def apply_migrations(conn: sqlite3.Connection, path: str) -> list[int]:
    """Bring the schema up to :data:`LATEST_VERSION`; returns the versions applied now.

    ``conn`` must be in autocommit mode (``isolation_level=None``): each migration opens its
    own ``BEGIN IMMEDIATE`` so two processes starting at once cannot both apply it.
    """
    applied: list[int] = []
    for migration in MIGRATIONS:
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = schema_version(conn)
            if current > LATEST_VERSION:
                raise UserDBError(
                    f"{path} has schema version {current}, newer than this Stash Sense understands "
                    f"({LATEST_VERSION}); upgrade Stash Sense or point STASH_SENSE_DATA_DIR elsewhere"
                )
            if current >= migration.version:
                conn.execute("ROLLBACK")
                continue
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, datetime.now(UTC).isoformat(timespec="seconds")),
            )
            # PRAGMA does not take parameters; the value is our own integer.
            conn.execute(f"PRAGMA user_version = {int(migration.version)}")
            conn.execute("COMMIT")
            applied.append(migration.version)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return applied
