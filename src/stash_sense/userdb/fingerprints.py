"""Scene fingerprints: which performers appear in a scene, how often, and with which face DB.

Saved by every scene identification and by the bulk job. A fingerprint made with another
face-DB version than the loaded one "needs refresh"; the bulk job can redo those.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from stash_sense.userdb.db import UserDB, utc_now
from stash_sense.userdb.jobs import mark_scene

if TYPE_CHECKING:
    from stash_sense.scenes.result import SceneIdentification


class FingerprintFace(BaseModel):
    performer_id: str = Field(description="Endpoint-qualified performer identity from the face DB.")
    name: str = ""
    face_count: int = Field(ge=0, description="Faces in the scene matched to this performer.")
    proportion: float = Field(ge=0.0, le=1.0, description="Share of the scene's usable faces that are this performer.")
    avg_confidence: float = Field(description="Calibrated confidence of the match.")


class NewFingerprint(BaseModel):
    """What a scene identification contributes; the store adds status, revision and timestamps."""

    scene_id: str
    face_db_version: str
    frames_requested: int = 0
    frames_analysed: int = 0
    total_faces: int = 0
    persons: int = 0
    source_kind: str | None = None
    faces: list[FingerprintFace] = Field(default_factory=list)


class SceneFingerprint(NewFingerprint):
    status: Literal["complete", "failed"]
    error: str | None = None
    stale: bool = False
    revision: int = Field(description="How many times this scene's fingerprint has been generated.")
    created_at: str
    updated_at: str


class FingerprintCoverage(BaseModel):
    complete: int = Field(description="Scenes with a usable fingerprint (any face-DB version).")
    failed: int = Field(description="Scenes whose only attempt failed.")
    current: int = Field(description="Complete fingerprints made with the current face DB and not marked for refresh.")
    needs_refresh: int = Field(description="Complete fingerprints made with another face-DB version, or marked for refresh.")
    by_version: dict[str, int] = Field(description="Complete fingerprints per face-DB version.")


def fingerprint_from_result(scene_id: str, result: SceneIdentification) -> NewFingerprint:
    """The fingerprint of one scene identification: its accepted performers with their share of faces."""
    totals = result.totals
    usable = max(0, int(totals.faces_after_filter))
    faces = []
    for performer in result.performers:
        count = int(performer.appearances)
        faces.append(
            FingerprintFace(
                performer_id=performer.performer_id,
                name=performer.name,
                face_count=count,
                proportion=round(min(1.0, count / usable), 4) if usable else 0.0,
                avg_confidence=round(float(performer.confidence), 4),
            )
        )
    return NewFingerprint(
        scene_id=str(scene_id),
        face_db_version=result.face_db_version,
        frames_requested=totals.frames_requested,
        frames_analysed=totals.frames_analysed,
        total_faces=usable,
        persons=totals.persons_clustered,
        source_kind=result.source_kind,
        faces=faces,
    )


_COLUMNS = (
    "scene_id, status, face_db_version, frames_requested, frames_analysed, total_faces, persons, source_kind, "
    "error, stale, revision, created_at, updated_at"
)


class FingerprintStore:
    """Reads and writes ``scene_fingerprints`` / ``scene_fingerprint_faces``."""

    def __init__(self, db: UserDB) -> None:
        self.db = db

    def save(self, fp: NewFingerprint, *, job_id: int | None = None, seconds: float = 0.0) -> SceneFingerprint:
        """Store a complete fingerprint, replacing the scene's previous one.

        With ``job_id`` the scene is marked done in that job in the same transaction, so a
        crash can never leave a saved fingerprint whose job still thinks it is to do.
        """
        now = utc_now()
        with self.db.transaction() as conn:
            conn.execute(
                f"""
                INSERT INTO scene_fingerprints ({_COLUMNS})
                VALUES (?, 'complete', ?, ?, ?, ?, ?, ?, NULL, 0, 1, ?, ?)
                ON CONFLICT (scene_id) DO UPDATE SET
                    status = 'complete', face_db_version = excluded.face_db_version,
                    frames_requested = excluded.frames_requested, frames_analysed = excluded.frames_analysed,
                    total_faces = excluded.total_faces, persons = excluded.persons,
                    source_kind = excluded.source_kind, error = NULL, stale = 0,
                    revision = scene_fingerprints.revision + 1, updated_at = excluded.updated_at
                """,
                (fp.scene_id, fp.face_db_version, fp.frames_requested, fp.frames_analysed, fp.total_faces, fp.persons,
                 fp.source_kind, now, now),
            )
            conn.execute("DELETE FROM scene_fingerprint_faces WHERE scene_id = ?", (fp.scene_id,))
            conn.executemany(
                "INSERT INTO scene_fingerprint_faces (scene_id, performer_id, name, face_count, proportion, avg_confidence) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(fp.scene_id, f.performer_id, f.name, f.face_count, f.proportion, f.avg_confidence) for f in fp.faces],
            )
            if job_id is not None:
                mark_scene(conn, job_id, fp.scene_id, "done", seconds)
        return self.get(fp.scene_id)  # type: ignore[return-value]

    def save_failure(
        self, scene_id: str, face_db_version: str, error: str, *, job_id: int | None = None, seconds: float = 0.0
    ) -> None:
        """Record that a scene could not be fingerprinted.

        A failure never replaces a complete fingerprint: an old good fingerprint is worth more
        than none when, say, Stash's video is briefly unreachable.
        """
        now = utc_now()
        with self.db.transaction() as conn:
            conn.execute(
                f"""
                INSERT INTO scene_fingerprints ({_COLUMNS})
                VALUES (?, 'failed', ?, 0, 0, 0, 0, NULL, ?, 0, 0, ?, ?)
                ON CONFLICT (scene_id) DO UPDATE SET
                    face_db_version = excluded.face_db_version, error = excluded.error, updated_at = excluded.updated_at
                WHERE scene_fingerprints.status = 'failed'
                """,
                (str(scene_id), face_db_version, error[:2000], now, now),
            )
            if job_id is not None:
                mark_scene(conn, job_id, str(scene_id), "failed", seconds, error[:2000])

    def get(self, scene_id: str) -> SceneFingerprint | None:
        with self.db.reading() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM scene_fingerprints WHERE scene_id = ?", (str(scene_id),)).fetchone()
            if row is None:
                return None
            faces = conn.execute(
                "SELECT performer_id, name, face_count, proportion, avg_confidence FROM scene_fingerprint_faces "
                "WHERE scene_id = ? ORDER BY face_count DESC, performer_id",
                (str(scene_id),),
            ).fetchall()
        keys = [c.strip() for c in _COLUMNS.split(",")]
        data = dict(zip(keys, row, strict=True))
        data["stale"] = bool(data["stale"])
        data["faces"] = [
            FingerprintFace(performer_id=a, name=b, face_count=c, proportion=d, avg_confidence=e) for a, b, c, d, e in faces
        ]
        return SceneFingerprint(**data)

    def coverage(self, current_version: str | None) -> FingerprintCoverage:
        """Counts for the status endpoint; with no current version nothing counts as current."""
        with self.db.reading() as conn:
            rows = conn.execute(
                "SELECT status, face_db_version, stale, COUNT(*) FROM scene_fingerprints GROUP BY status, face_db_version, stale"
            ).fetchall()
        complete = failed = current = 0
        by_version: Counter[str] = Counter()
        for status, version, stale, count in rows:
            if status == "failed":
                failed += count
                continue
            complete += count
            by_version[version] += count
            if current_version is not None and version == current_version and not stale:
                current += count
        return FingerprintCoverage(
            complete=complete, failed=failed, current=current, needs_refresh=complete - current, by_version=dict(by_version)
        )

    def scenes_needing_work(self, scene_ids: Iterable[str], current_version: str | None, *, refresh_outdated: bool) -> list[str]:
        """Of ``scene_ids`` (order kept), those without a complete fingerprint, plus, with
        ``refresh_outdated``, those whose fingerprint needs refresh."""
        with self.db.reading() as conn:
            known = {
                str(sid): (status, version, bool(stale))
                for sid, status, version, stale in conn.execute(
                    "SELECT scene_id, status, face_db_version, stale FROM scene_fingerprints"
                )
            }
        pending = []
        for sid in scene_ids:
            entry = known.get(str(sid))
            if entry is None or entry[0] != "complete":
                pending.append(str(sid))
            elif refresh_outdated and (entry[2] or (current_version is not None and entry[1] != current_version)):
                pending.append(str(sid))
        return pending

    def mark_all_stale(self) -> int:
        """Flag every complete fingerprint for refresh (``refresh-all``); returns how many."""
        with self.db.transaction() as conn:
            cur = conn.execute("UPDATE scene_fingerprints SET stale = 1, updated_at = ? WHERE status = 'complete'", (utc_now(),))
            return int(cur.rowcount)

    def count(self) -> int:
        with self.db.reading() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM scene_fingerprints").fetchone()[0])
