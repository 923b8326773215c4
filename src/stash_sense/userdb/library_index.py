"""The analyzers' copy of Stash's scenes: metadata, files and their perceptual hashes.

Kept in ``stash_sense.db`` so that an incremental analysis asks Stash only for the scenes that
changed since its watermark and still compares them with every other scene. Stash's 64-bit
phash is unsigned; SQLite integers are signed, so it is stored two's-complement.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from stash_sense.userdb.db import UserDB

_SIGN = 1 << 63
_WRAP = 1 << 64


def phash_to_db(value: int | None) -> int | None:
    return None if value is None else (value - _WRAP if value >= _SIGN else value)


def phash_from_db(value: int | None) -> int | None:
    return None if value is None else (value + _WRAP if value < 0 else value)


@dataclass(frozen=True)
class IndexedFile:
    file_id: str
    path: str = ""
    size: int = 0
    width: int = 0
    height: int = 0
    duration: float = 0.0
    bit_rate: int = 0
    video_codec: str = ""
    phash: int | None = None  # unsigned 64-bit

    @property
    def short_side(self) -> int:
        return min(self.width, self.height)


@dataclass(frozen=True)
class IndexedScene:
    scene_id: str
    updated_at: str
    title: str | None = None
    date: str | None = None
    studio_id: str | None = None
    performer_ids: tuple[str, ...] = ()
    stash_ids: tuple[str, ...] = ()  # "endpoint#stash_id"
    files: tuple[IndexedFile, ...] = field(default_factory=tuple)

    @property
    def duration(self) -> float:
        return self.files[0].duration if self.files else 0.0


class LibraryIndex:
    def __init__(self, db: UserDB) -> None:
        self.db = db

    def upsert(self, scenes: Iterable[IndexedScene]) -> int:
        rows, files = [], []
        ids = []
        for s in scenes:
            ids.append(s.scene_id)
            rows.append((s.scene_id, s.updated_at, s.title, s.date, s.studio_id, json.dumps(list(s.performer_ids)),
                         json.dumps(list(s.stash_ids))))
            files.extend(
                (s.scene_id, f.file_id, i, f.path, f.size, f.width, f.height, f.duration, f.bit_rate, f.video_codec,
                 phash_to_db(f.phash))
                for i, f in enumerate(s.files)
            )
        with self.db.transaction() as conn:
            conn.executemany("DELETE FROM library_scene_files WHERE scene_id = ?", [(i,) for i in ids])
            conn.executemany(
                "INSERT INTO library_scenes (scene_id, updated_at, title, date, studio_id, performer_ids, stash_ids) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (scene_id) DO UPDATE SET updated_at = excluded.updated_at, "
                "title = excluded.title, date = excluded.date, studio_id = excluded.studio_id, "
                "performer_ids = excluded.performer_ids, stash_ids = excluded.stash_ids",
                rows,
            )
            conn.executemany(
                "INSERT INTO library_scene_files (scene_id, file_id, position, path, size, width, height, duration, bit_rate, "
                "video_codec, phash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                files,
            )
        return len(rows)

    def remove(self, scene_ids: Iterable[str]) -> int:
        with self.db.transaction() as conn:
            ids = [(str(i),) for i in scene_ids]
            conn.executemany("DELETE FROM library_scene_files WHERE scene_id = ?", ids)
            conn.executemany("DELETE FROM library_scenes WHERE scene_id = ?", ids)
        return len(ids)

    def updated_at(self) -> dict[str, str]:
        """``{scene_id: updated_at}`` of every indexed scene."""
        with self.db.reading() as conn:
            return dict(conn.execute("SELECT scene_id, updated_at FROM library_scenes").fetchall())

    def count(self) -> int:
        with self.db.reading() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM library_scenes").fetchone()[0])

    def scenes(self, ids: Sequence[str] | None = None) -> list[IndexedScene]:
        """Every indexed scene (or those of ``ids``), with their files in Stash's order."""
        # Hundreds of thousands of small objects, none of them cyclic: without this the cyclic
        # collector runs over the growing heap again and again, and loading goes quadratic.
        enabled = gc.isenabled()
        gc.disable()
        try:
            return self._scenes(ids)
        finally:
            if enabled:
                gc.enable()

    def _scenes(self, ids: Sequence[str] | None) -> list[IndexedScene]:
        with self.db.reading() as conn:
            if ids is None:
                rows = conn.execute(
                    "SELECT scene_id, updated_at, title, date, studio_id, performer_ids, stash_ids FROM library_scenes"
                ).fetchall()
                file_rows = conn.execute(
                    "SELECT scene_id, file_id, path, size, width, height, duration, bit_rate, video_codec, phash "
                    "FROM library_scene_files ORDER BY scene_id, position"
                ).fetchall()
            else:
                rows, file_rows = [], []
                for sid in ids:
                    rows.extend(conn.execute(
                        "SELECT scene_id, updated_at, title, date, studio_id, performer_ids, stash_ids FROM library_scenes "
                        "WHERE scene_id = ?", (str(sid),)).fetchall())
                    file_rows.extend(conn.execute(
                        "SELECT scene_id, file_id, path, size, width, height, duration, bit_rate, video_codec, phash "
                        "FROM library_scene_files WHERE scene_id = ? ORDER BY position", (str(sid),)).fetchall())
        files: dict[str, list[IndexedFile]] = {}
        for r in file_rows:
            files.setdefault(r[0], []).append(IndexedFile(
                file_id=r[1], path=r[2], size=r[3], width=r[4], height=r[5], duration=r[6], bit_rate=r[7], video_codec=r[8],
                phash=phash_from_db(r[9]),
            ))
        return [
            IndexedScene(
                scene_id=r[0], updated_at=r[1], title=r[2], date=r[3], studio_id=r[4],
                performer_ids=tuple(json.loads(r[5])), stash_ids=tuple(json.loads(r[6])), files=tuple(files.get(r[0], ())),
            )
            for r in rows
        ]
