"""Face-count distribution and coverage figures of a face DB (``stash-sense db stats``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pydantic import BaseModel

from stash_sense.facedb.errors import FaceDBNotFoundError
from stash_sense.facedb.layout import DB_FILE
from stash_sense.facedb.schema import connect_read_only

# Face-count buckets, in display order. Performers with few reference faces are the ones that
# get misidentified, so the low end is finely split.
BUCKETS: tuple[str, ...] = ("0", "1", "2-3", "4-5", "6-10", "11+")


class Share(BaseModel):
    """A number of performers and its share of all performers, in percent (2 decimals)."""

    count: int
    percent: float


class DBStats(BaseModel):
    performers: int
    faces: int
    performers_with_faces: int
    mean_faces_per_performer: float
    buckets: dict[str, Share]
    body: Share
    tattoos: Share


def bucket_for(face_count: int) -> str:
    if face_count < 0:
        raise ValueError(f"face count cannot be negative: {face_count}")
    if face_count <= 1:
        return str(face_count)
    if face_count <= 3:
        return "2-3"
    if face_count <= 5:
        return "4-5"
    if face_count <= 10:
        return "6-10"
    return "11+"


def _share(count: int, total: int) -> Share:
    return Share(count=count, percent=round(100.0 * count / total, 2) if total else 0.0)


def compute_stats(conn: sqlite3.Connection) -> DBStats:
    """Statistics from an open ``performers.db`` connection.

    Counts faces from the ``faces`` table itself rather than the cached ``face_count`` column so
    the figures are right for an unfinished build too.
    """
    per_performer = conn.execute(
        "SELECT (SELECT COUNT(*) FROM faces f WHERE f.performer_id = p.id) FROM performers p"
    ).fetchall()
    counts = {bucket: 0 for bucket in BUCKETS}
    for (n,) in per_performer:
        counts[bucket_for(int(n))] += 1
    performers = len(per_performer)
    faces = int(conn.execute("SELECT COUNT(*) FROM faces").fetchone()[0])
    with_faces = performers - counts["0"]
    body = int(conn.execute("SELECT COUNT(*) FROM body").fetchone()[0])
    tattoos = int(conn.execute("SELECT COUNT(*) FROM tattoos").fetchone()[0])
    return DBStats(
        performers=performers,
        faces=faces,
        performers_with_faces=with_faces,
        mean_faces_per_performer=round(faces / performers, 2) if performers else 0.0,
        buckets={bucket: _share(counts[bucket], performers) for bucket in BUCKETS},
        body=_share(body, performers),
        tattoos=_share(tattoos, performers),
    )


def stats_for_directory(directory: Path) -> DBStats:
    """Statistics of the DB in ``directory``; needs only ``performers.db`` (works mid-build)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FaceDBNotFoundError(f"face DB directory not found: {directory}")
    conn = connect_read_only(directory / DB_FILE)
    try:
        return compute_stats(conn)
    finally:
        conn.close()
