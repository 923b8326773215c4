"""Which video files belong to which scene in the emulated Stash, and the mutations that move,
delete and merge them (``sceneMerge``, ``performerMerge``, ``deleteFiles``).

A scene starts with the file(s) the library gives it; the assignment lives in the emulator's
state database (tables ``scene_files``, ``deleted_scenes``), next to the rest of the mutable
state, so merges and deletions are applied for real and survive a restart with the same state
database. The library's video files themselves are never touched: deleting a file in the
emulator forgets it, as Stash forgets a file it deleted from disk.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from stash_sense.devtools.emulator.state import StateError, StateStore, now_rfc3339

_DDL = (
    """
    CREATE TABLE IF NOT EXISTS scene_files (
        file_id INTEGER PRIMARY KEY,
        scene_id INTEGER NOT NULL,
        position INTEGER NOT NULL,
        deleted INTEGER NOT NULL DEFAULT 0
    )
    """,
    "CREATE INDEX IF NOT EXISTS scene_files_scene ON scene_files (scene_id, position)",
)


@dataclass(frozen=True)
class MergeResult:
    destination: int
    removed: tuple[int, ...]


class SceneFileState:
    """The scene -> files assignment, in the state database of a :class:`StateStore`.

    It shares the store's connection and lock (one transaction covers a whole merge), which
    is why it reaches for the store's private transaction helper: both classes are the same
    emulator state, split in two modules.
    """

    def __init__(self, store: StateStore, initial: Mapping[int, tuple[int, int]]) -> None:
        """``initial``: ``{file_id: (scene_id, position)}`` from the library, used once to seed."""
        self.store = store
        with store._transaction() as db:  # noqa: SLF001 - see the class docstring
            for statement in _DDL:
                db.execute(statement)
            if db.execute("SELECT COUNT(*) FROM scene_files").fetchone()[0] == 0:
                db.executemany(
                    "INSERT INTO scene_files (file_id, scene_id, position) VALUES (?, ?, ?)",
                    [(fid, sid, pos) for fid, (sid, pos) in initial.items()],
                )

    def files_of(self, scene_id: int) -> list[int]:
        """The scene's live file ids, primary first."""
        return self.store._read(  # noqa: SLF001
            lambda db: [r[0] for r in db.execute(
                "SELECT file_id FROM scene_files WHERE scene_id = ? AND deleted = 0 ORDER BY position, file_id", (scene_id,)
            )]
        )

    def assignments(self) -> dict[int, list[int]]:
        """``{scene_id: [file ids, primary first]}`` for every scene with a live file."""
        rows = self.store._read(  # noqa: SLF001
            lambda db: db.execute("SELECT scene_id, file_id FROM scene_files WHERE deleted = 0 ORDER BY scene_id, position, file_id").fetchall()
        )
        out: dict[int, list[int]] = {}
        for scene_id, file_id in rows:
            out.setdefault(scene_id, []).append(file_id)
        return out

    # -- mutations ------------------------------------------------------------------------

    def delete_files(self, file_ids: Sequence[int]) -> None:
        wanted = set(file_ids)
        with self.store._transaction() as db:  # noqa: SLF001
            rows = db.execute(
                f"SELECT file_id, scene_id FROM scene_files WHERE deleted = 0 AND file_id IN ({','.join('?' * len(wanted))})",
                tuple(wanted),
            ).fetchall() if wanted else []
            missing = sorted(wanted - {r[0] for r in rows})
            if missing:
                raise StateError(f"file {', '.join(map(str, missing))} not found")
            for scene_id in {r[1] for r in rows}:
                left = db.execute(
                    "SELECT COUNT(*) FROM scene_files WHERE scene_id = ? AND deleted = 0", (scene_id,)
                ).fetchone()[0]
                removing = sum(1 for r in rows if r[1] == scene_id)
                if removing >= left:
                    raise StateError(
                        f"deleteFiles: the emulator cannot leave scene {scene_id} without a file (delete the scene instead)"
                    )
            db.executemany("UPDATE scene_files SET deleted = 1 WHERE file_id = ?", [(r[0],) for r in rows])
            db.executemany("UPDATE scenes SET updated_at = ? WHERE id = ?", [(now_rfc3339(), sid) for sid in {r[1] for r in rows}])

    def merge_scenes(self, sources: Sequence[int], destination: int) -> MergeResult:
        """Stash's ``sceneMerge``: the sources' files join the destination (after its own, so
        its primary file stays primary), then the source scenes are deleted."""
        sources = [s for s in dict.fromkeys(sources) if s != destination]
        if not sources:
            raise StateError("sceneMerge: give at least one source scene other than the destination")
        with self.store._transaction() as db:  # noqa: SLF001
            _require(db, "scenes", "scene", [destination, *sources])
            top = db.execute("SELECT COALESCE(MAX(position), -1) FROM scene_files WHERE scene_id = ?", (destination,)).fetchone()[0]
            moved = db.execute(
                f"SELECT file_id FROM scene_files WHERE deleted = 0 AND scene_id IN ({','.join('?' * len(sources))}) "
                "ORDER BY scene_id, position",
                tuple(sources),
            ).fetchall()
            db.executemany(
                "UPDATE scene_files SET scene_id = ?, position = ? WHERE file_id = ?",
                [(destination, top + 1 + i, fid) for i, (fid,) in enumerate(moved)],
            )
            for table in ("scene_urls", "scene_performers", "scene_tags", "scene_stash_ids"):
                db.executemany(f"DELETE FROM {table} WHERE scene_id = ?", [(s,) for s in sources])
            db.executemany("DELETE FROM scenes WHERE id = ?", [(s,) for s in sources])
            db.execute("UPDATE scenes SET updated_at = ? WHERE id = ?", (now_rfc3339(), destination))
        return MergeResult(destination=destination, removed=tuple(sources))

    def merge_performers(self, sources: Sequence[int], destination: int) -> MergeResult:
        """Stash's ``performerMerge``: the sources' scenes, aliases (their names included),
        URLs, tags and stash IDs go to the destination; the sources are deleted."""
        sources = [s for s in dict.fromkeys(sources) if s != destination]
        if not sources:
            raise StateError("performerMerge: give at least one source performer other than the destination")
        stamp = now_rfc3339()
        with self.store._transaction() as db:  # noqa: SLF001
            _require(db, "performers", "performer", [destination, *sources])
            marks = ",".join("?" * len(sources))
            args = tuple(sources)
            dest_name = db.execute("SELECT name FROM performers WHERE id = ?", (destination,)).fetchone()[0]
            aliases = {a for (a,) in db.execute("SELECT alias FROM performer_aliases WHERE performer_id = ?", (destination,))}
            new_aliases = [n for (n,) in db.execute(f"SELECT name FROM performers WHERE id IN ({marks})", args)]
            new_aliases += [a for (a,) in db.execute(f"SELECT alias FROM performer_aliases WHERE performer_id IN ({marks})", args)]
            for alias in dict.fromkeys(new_aliases):
                if alias.casefold() != dest_name.casefold() and alias not in aliases:
                    db.execute("INSERT INTO performer_aliases VALUES (?, ?)", (destination, alias))
                    aliases.add(alias)
            urls = {u for (u,) in db.execute("SELECT url FROM performer_urls WHERE performer_id = ?", (destination,))}
            for (url,) in db.execute(f"SELECT url FROM performer_urls WHERE performer_id IN ({marks})", args).fetchall():
                if url not in urls:
                    db.execute("INSERT INTO performer_urls VALUES (?, ?)", (destination, url))
                    urls.add(url)
            db.execute(
                f"INSERT OR IGNORE INTO performer_tags SELECT ?, tag_id FROM performer_tags WHERE performer_id IN ({marks})",
                (destination, *args),
            )
            have = {(e, s) for e, s in db.execute("SELECT endpoint, stash_id FROM performer_stash_ids WHERE performer_id = ?", (destination,))}
            for endpoint, stash_id, updated in db.execute(
                f"SELECT endpoint, stash_id, updated_at FROM performer_stash_ids WHERE performer_id IN ({marks})", args
            ).fetchall():
                if (endpoint, stash_id) not in have:
                    db.execute("INSERT INTO performer_stash_ids VALUES (?, ?, ?, ?)", (destination, endpoint, stash_id, updated))
                    have.add((endpoint, stash_id))
            db.execute(
                f"INSERT OR IGNORE INTO scene_performers (scene_id, performer_id) "
                f"SELECT scene_id, ? FROM scene_performers WHERE performer_id IN ({marks}) ORDER BY rowid",
                (destination, *args),
            )
            for table in ("scene_performers", "performer_aliases", "performer_urls", "performer_tags", "performer_stash_ids"):
                db.execute(f"DELETE FROM {table} WHERE performer_id IN ({marks})", args)
            db.execute(f"DELETE FROM performers WHERE id IN ({marks})", args)
            db.execute("UPDATE performers SET updated_at = ? WHERE id = ?", (stamp, destination))
        return MergeResult(destination=destination, removed=tuple(sources))


def _require(db: sqlite3.Connection, table: str, noun: str, ids: Sequence[int]) -> None:
    wanted = set(ids)
    found = {r[0] for r in db.execute(f"SELECT id FROM {table} WHERE id IN ({','.join('?' * len(wanted))})", tuple(wanted))}
    missing = sorted(wanted - found)
    if missing:
        raise StateError(f"{noun} {', '.join(map(str, missing))} not found")
