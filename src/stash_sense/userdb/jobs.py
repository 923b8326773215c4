"""Persistent state of bulk fingerprint jobs: one row per job plus its fixed work list.

A job survives a restart because everything needed to continue it is here: its parameters,
its list of scenes, and which of them are finished. A scene is marked finished in the same
transaction that saves its fingerprint (see :meth:`FingerprintStore.save`), so after a crash a
scene is either fingerprinted and done, or neither.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel

from stash_sense.userdb.db import UserDB, utc_now

JobStatus = Literal["listing", "running", "stopped", "completed", "failed"]
#: Statuses of a job that should be running: resumed when the sidecar starts.
ACTIVE_STATUSES: tuple[str, ...] = ("listing", "running")


class JobRecord(BaseModel):
    id: int
    status: JobStatus
    refresh_outdated: bool
    num_frames: int
    face_db_version: str | None
    total: int
    done: int
    failed: int
    busy_seconds: float
    error: str | None
    created_at: str
    updated_at: str
    finished_at: str | None

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.done - self.failed)


_COLUMNS = (
    "id, status, refresh_outdated, num_frames, face_db_version, total, done, failed, busy_seconds, "
    "error, created_at, updated_at, finished_at"
)


def _record(row: sqlite3.Row | tuple) -> JobRecord:
    keys = [c.strip() for c in _COLUMNS.split(",")]
    data = dict(zip(keys, row, strict=True))
    data["refresh_outdated"] = bool(data["refresh_outdated"])
    return JobRecord(**data)


def mark_scene(
    conn: sqlite3.Connection, job_id: int, scene_id: str, state: Literal["done", "failed"], seconds: float, error: str | None = None
) -> bool:
    """Mark a pending scene of a job finished (inside the caller's transaction).

    Returns False, changing nothing, when the scene is not pending in that job: a scene is
    counted at most once however often this is called.
    """
    cur = conn.execute(
        "UPDATE fingerprint_job_scenes SET state = ?, error = ? WHERE job_id = ? AND scene_id = ? AND state = 'pending'",
        (state, error, job_id, scene_id),
    )
    if cur.rowcount != 1:
        return False
    column = "done" if state == "done" else "failed"
    conn.execute(
        f"UPDATE fingerprint_jobs SET {column} = {column} + 1, busy_seconds = busy_seconds + ?, updated_at = ? WHERE id = ?",
        (max(0.0, float(seconds)), utc_now(), job_id),
    )
    return True


class JobStore:
    """Bulk fingerprint jobs in ``stash_sense.db``."""

    def __init__(self, db: UserDB) -> None:
        self.db = db

    def create(self, *, refresh_outdated: bool, num_frames: int, face_db_version: str | None) -> JobRecord:
        """A new job in status ``listing`` (its work list is not fixed yet)."""
        now = utc_now()
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO fingerprint_jobs (status, refresh_outdated, num_frames, face_db_version, created_at, updated_at) "
                "VALUES ('listing', ?, ?, ?, ?, ?)",
                (int(refresh_outdated), int(num_frames), face_db_version, now, now),
            )
            job_id = int(cur.lastrowid)
        return self.get(job_id)  # type: ignore[return-value]

    def set_work_list(self, job_id: int, scene_ids: Sequence[str]) -> JobRecord:
        """Fix the job's scenes (in order) and start it; replaces a list from an interrupted listing."""
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM fingerprint_job_scenes WHERE job_id = ?", (job_id,))
            conn.executemany(
                "INSERT OR IGNORE INTO fingerprint_job_scenes (job_id, position, scene_id) VALUES (?, ?, ?)",
                [(job_id, i, str(sid)) for i, sid in enumerate(scene_ids)],
            )
            total = conn.execute("SELECT COUNT(*) FROM fingerprint_job_scenes WHERE job_id = ?", (job_id,)).fetchone()[0]
            conn.execute(
                "UPDATE fingerprint_jobs SET status = 'running', total = ?, done = 0, failed = 0, updated_at = ? WHERE id = ?",
                (int(total), utc_now(), job_id),
            )
        return self.get(job_id)  # type: ignore[return-value]

    def pending(self, job_id: int, limit: int = 1) -> list[str]:
        """The next unfinished scenes of the job, in work-list order."""
        with self.db.reading() as conn:
            rows = conn.execute(
                "SELECT scene_id FROM fingerprint_job_scenes WHERE job_id = ? AND state = 'pending' ORDER BY position LIMIT ?",
                (job_id, int(limit)),
            ).fetchall()
        return [str(r[0]) for r in rows]

    def mark_failed(self, job_id: int, scene_id: str, seconds: float, error: str) -> bool:
        """Record that a scene could not be fingerprinted in this job (it will not be retried by it)."""
        with self.db.transaction() as conn:
            return mark_scene(conn, job_id, scene_id, "failed", seconds, error)

    def set_status(self, job_id: int, status: JobStatus, error: str | None = None) -> JobRecord:
        now = utc_now()
        finished = now if status in ("completed", "failed", "stopped") else None
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE fingerprint_jobs SET status = ?, error = ?, updated_at = ?, finished_at = ? WHERE id = ?",
                (status, error, now, finished, job_id),
            )
        return self.get(job_id)  # type: ignore[return-value]

    def get(self, job_id: int) -> JobRecord | None:
        with self.db.reading() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM fingerprint_jobs WHERE id = ?", (job_id,)).fetchone()
        return _record(row) if row else None

    def latest(self) -> JobRecord | None:
        with self.db.reading() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM fingerprint_jobs ORDER BY id DESC LIMIT 1").fetchone()
        return _record(row) if row else None

    def active(self) -> JobRecord | None:
        """The job that was running when the sidecar last stopped, if any (to resume it)."""
        with self.db.reading() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM fingerprint_jobs WHERE status IN ('listing', 'running') ORDER BY id DESC LIMIT 1"
            ).fetchone()
        return _record(row) if row else None

    def failures(self, job_id: int, limit: int = 20) -> list[tuple[str, str]]:
        """``(scene_id, error)`` of the job's failed scenes, first failures first."""
        with self.db.reading() as conn:
            rows = conn.execute(
                "SELECT scene_id, COALESCE(error, '') FROM fingerprint_job_scenes WHERE job_id = ? AND state = 'failed' "
                "ORDER BY position LIMIT ?",
                (job_id, int(limit)),
            ).fetchall()
        return [(str(a), str(b)) for a, b in rows]
