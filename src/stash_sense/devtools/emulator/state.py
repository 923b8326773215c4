"""The emulated Stash's mutable state, kept in SQLite.

The sample library is the starting point and is never written to: on first use the store
copies its performers and scenes (with their ground-truth performer links and stash IDs) into
the state database, and every mutation the emulator accepts changes only that database. A
state database made for one library refuses to serve another.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from stash_sense.devtools.emulator.library import EmulatorLibrary

STASHDB_ENDPOINT = "https://stashdb.org/graphql"
_SCHEMA_VERSION = "1"

_T = TypeVar("_T")

_DDL = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE performers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    disambiguation TEXT,
    gender TEXT,
    country TEXT,
    details TEXT,
    favorite INTEGER NOT NULL DEFAULT 0,
    image_file TEXT,
    image_blob BLOB,
    extra TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE performer_aliases (performer_id INTEGER NOT NULL REFERENCES performers(id), alias TEXT NOT NULL);
CREATE TABLE performer_urls (performer_id INTEGER NOT NULL REFERENCES performers(id), url TEXT NOT NULL);
CREATE TABLE performer_tags (
    performer_id INTEGER NOT NULL REFERENCES performers(id),
    tag_id INTEGER NOT NULL REFERENCES tags(id),
    PRIMARY KEY (performer_id, tag_id)
);
CREATE TABLE performer_stash_ids (
    performer_id INTEGER NOT NULL REFERENCES performers(id),
    endpoint TEXT NOT NULL,
    stash_id TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE tags (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    description TEXT,
    favorite INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE tag_aliases (tag_id INTEGER NOT NULL REFERENCES tags(id), alias TEXT NOT NULL);
CREATE TABLE scenes (
    id INTEGER PRIMARY KEY,
    title TEXT,
    code TEXT,
    details TEXT,
    director TEXT,
    date TEXT,
    organized INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE scene_urls (scene_id INTEGER NOT NULL REFERENCES scenes(id), url TEXT NOT NULL);
-- rowid order is insertion order: Stash lists a scene's performers in the order they were added.
CREATE TABLE scene_performers (
    scene_id INTEGER NOT NULL REFERENCES scenes(id),
    performer_id INTEGER NOT NULL REFERENCES performers(id),
    PRIMARY KEY (scene_id, performer_id)
);
CREATE TABLE scene_tags (
    scene_id INTEGER NOT NULL REFERENCES scenes(id),
    tag_id INTEGER NOT NULL REFERENCES tags(id),
    PRIMARY KEY (scene_id, tag_id)
);
CREATE TABLE scene_stash_ids (
    scene_id INTEGER NOT NULL REFERENCES scenes(id),
    endpoint TEXT NOT NULL,
    stash_id TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE plugin_config (plugin_id TEXT PRIMARY KEY, config TEXT NOT NULL);
"""
# Stash's own configuration values that the emulator keeps (UI settings, plugin package
# sources, disabled plugins), as JSON by key.
_CONFIG_DDL = "CREATE TABLE IF NOT EXISTS config (key TEXT PRIMARY KEY, value TEXT NOT NULL)"


class StateError(ValueError):
    """A mutation that Stash would reject (unknown id, duplicate name, ...)."""


def now_rfc3339() -> str:
    """Stash's ``Time`` format (RFC 3339, whole seconds)."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _rfc3339_from_epoch(seconds: float) -> str:
    return datetime.fromtimestamp(int(seconds), UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class StashIdRecord:
    endpoint: str
    stash_id: str
    updated_at: str


@dataclass
class SceneRecord:
    id: int
    title: str | None
    code: str | None
    details: str | None
    director: str | None
    date: str | None
    organized: bool
    created_at: str
    updated_at: str
    urls: list[str] = field(default_factory=list)
    performer_ids: list[int] = field(default_factory=list)
    tag_ids: list[int] = field(default_factory=list)
    stash_ids: list[StashIdRecord] = field(default_factory=list)


@dataclass
class PerformerRecord:
    id: int
    name: str
    disambiguation: str | None
    gender: str | None
    country: str | None
    details: str | None
    favorite: bool
    has_image: bool
    created_at: str
    updated_at: str
    alias_list: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    tag_ids: list[int] = field(default_factory=list)
    stash_ids: list[StashIdRecord] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # other PerformerCreateInput fields, as given


@dataclass
class TagRecord:
    id: int
    name: str
    description: str | None
    favorite: bool
    created_at: str
    updated_at: str
    aliases: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PerformerImage:
    """Where a performer's image comes from: a library file or bytes stored by a mutation."""

    file: Path | None = None
    data: bytes | None = None


class StateStore:
    """Thread-safe access to the state database (one connection, one lock)."""

    def __init__(self, path: Path, library: EmulatorLibrary, *, performers_without_image: Collection[int] = ()):
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not path.exists() or path.stat().st_size == 0
        without_image = set(performers_without_image)
        unknown = without_image - {p.id for p in library.performers}
        if unknown:
            raise StateError(f"performers_without_image lists ids not in the library: {sorted(unknown)}")
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA foreign_keys = ON")
        if fresh:
            self._seed(library)
        else:
            self._check_library(library)
        with self._lock:
            # Added after the first state databases were written: made on open, for those too.
            self._db.execute(_CONFIG_DDL)
        self._set_library_images(library, without_image)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- set-up ---------------------------------------------------------------------------

    def _seed(self, library: EmulatorLibrary) -> None:
        created = _rfc3339_from_epoch((library.root / "library.json").stat().st_mtime)
        with self._lock:
            # executescript commits on its own, so the tables are made before the transaction.
            self._db.executescript(_DDL)
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [("schema_version", _SCHEMA_VERSION), ("library_root", str(library.root))],
            )
            for performer in library.performers:
                db.execute(
                    "INSERT INTO performers (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
                    (performer.id, performer.name, created, created),
                )
                if performer.stash_id:
                    db.execute(
                        "INSERT INTO performer_stash_ids VALUES (?, ?, ?, ?)",
                        (performer.id, STASHDB_ENDPOINT, performer.stash_id, created),
                    )
            for scene in library.scenes:
                stamp = _rfc3339_from_epoch(scene.file.stat().st_mtime)
                db.execute(
                    "INSERT INTO scenes (id, title, created_at, updated_at) VALUES (?, ?, ?, ?)",
                    (scene.id, scene.title or None, stamp, stamp),
                )
                db.executemany(
                    "INSERT INTO scene_performers (scene_id, performer_id) VALUES (?, ?)",
                    [(scene.id, pid) for pid in dict.fromkeys(scene.performer_ids)],
                )
                if scene.stash_id:
                    db.execute(
                        "INSERT INTO scene_stash_ids VALUES (?, ?, ?, ?)",
                        (scene.id, STASHDB_ENDPOINT, scene.stash_id, stamp),
                    )

    def _check_library(self, library: EmulatorLibrary) -> None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'library_root'").fetchone()
        if row is None:
            raise StateError(f"{self.path} is not an emulator state database")
        if row[0] != str(library.root):
            raise StateError(f"{self.path} holds the state of library {row[0]}, not {library.root}")

    def _set_library_images(self, library: EmulatorLibrary, without_image: set[int]) -> None:
        """A library performer's Stash image is their first gallery photo, unless this run
        serves them without one; decided afresh on every start, also for a reused state DB."""
        rows = [
            (None if p.id in without_image or not p.images else str(p.images[0]), p.id) for p in library.performers
        ]
        with self._transaction() as db:
            db.executemany("UPDATE performers SET image_file = ? WHERE id = ?", rows)

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db, self._lock)

    def _read(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        with self._lock:
            return fn(self._db)

    # -- reads ----------------------------------------------------------------------------

    def scenes(self, ids: Iterable[int] | None = None) -> list[SceneRecord]:
        return self._read(lambda db: _load_scenes(db, ids))

    def scene(self, scene_id: int) -> SceneRecord | None:
        found = self.scenes([scene_id])
        return found[0] if found else None

    def performers(self, ids: Iterable[int] | None = None) -> list[PerformerRecord]:
        return self._read(lambda db: _load_performers(db, ids))

    def performer(self, performer_id: int) -> PerformerRecord | None:
        found = self.performers([performer_id])
        return found[0] if found else None

    def tags(self, ids: Iterable[int] | None = None) -> list[TagRecord]:
        return self._read(lambda db: _load_tags(db, ids))

    def tag(self, tag_id: int) -> TagRecord | None:
        found = self.tags([tag_id])
        return found[0] if found else None

    def performer_image(self, performer_id: int) -> PerformerImage | None:
        row = self._read(
            lambda db: db.execute(
                "SELECT image_file, image_blob FROM performers WHERE id = ?", (performer_id,)
            ).fetchone()
        )
        if row is None or (row[0] is None and row[1] is None):
            return None
        return PerformerImage(file=Path(row[0]) if row[0] else None, data=row[1])

    def scene_counts(self, column: str) -> dict[int, int]:
        """Scenes per performer (``performer_id``) or per tag (``tag_id``)."""
        table = {"performer_id": "scene_performers", "tag_id": "scene_tags"}[column]
        rows = self._read(lambda db: db.execute(f"SELECT {column}, COUNT(*) FROM {table} GROUP BY {column}").fetchall())
        return dict(rows)

    def performer_count_by_tag(self) -> dict[int, int]:
        rows = self._read(lambda db: db.execute("SELECT tag_id, COUNT(*) FROM performer_tags GROUP BY tag_id").fetchall())
        return dict(rows)

    def get_config(self, key: str, default: Any = None) -> Any:
        row = self._read(lambda db: db.execute("SELECT value FROM config WHERE key = ?", (key,)).fetchone())
        return default if row is None else json.loads(row[0])

    def set_config(self, key: str, value: Any) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO config VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, json.dumps(value)),
            )

    def plugin_configs(self) -> dict[str, Any]:
        rows = self._read(lambda db: db.execute("SELECT plugin_id, config FROM plugin_config").fetchall())
        return {plugin_id: json.loads(config) for plugin_id, config in rows}

    # -- writes ---------------------------------------------------------------------------

    def update_scene(
        self,
        scene_id: int,
        *,
        columns: dict[str, Any],
        urls: Sequence[str] | None = None,
        performers: tuple[str, Sequence[int]] | None = None,
        tags: tuple[str, Sequence[int]] | None = None,
        stash_ids: Sequence[tuple[str, str, str | None]] | None = None,
    ) -> None:
        """Apply one scene's changes; ``performers``/``tags`` are ``(mode, ids)`` with mode
        SET, ADD or REMOVE (``sceneUpdate`` always sends SET)."""
        self.update_scenes([scene_id], columns=columns, urls=urls, performers=performers, tags=tags, stash_ids=stash_ids)

    def update_scenes(
        self,
        scene_ids: Sequence[int],
        *,
        columns: dict[str, Any],
        urls: Sequence[str] | None = None,
        performers: tuple[str, Sequence[int]] | None = None,
        tags: tuple[str, Sequence[int]] | None = None,
        stash_ids: Sequence[tuple[str, str, str | None]] | None = None,
    ) -> None:
        stamp = now_rfc3339()
        with self._transaction() as db:
            _require_ids(db, "scenes", "scene", scene_ids)
            if performers is not None:
                _require_ids(db, "performers", "performer", performers[1])
            if tags is not None:
                _require_ids(db, "tags", "tag", tags[1])
            for scene_id in dict.fromkeys(scene_ids):
                assignments = {**columns, "updated_at": stamp}
                db.execute(
                    f"UPDATE scenes SET {', '.join(f'{name} = ?' for name in assignments)} WHERE id = ?",
                    (*assignments.values(), scene_id),
                )
                if urls is not None:
                    db.execute("DELETE FROM scene_urls WHERE scene_id = ?", (scene_id,))
                    db.executemany("INSERT INTO scene_urls VALUES (?, ?)", [(scene_id, u) for u in urls])
                if performers is not None:
                    _apply_links(db, "scene_performers", "performer_id", scene_id, *performers)
                if tags is not None:
                    _apply_links(db, "scene_tags", "tag_id", scene_id, *tags)
                if stash_ids is not None:
                    db.execute("DELETE FROM scene_stash_ids WHERE scene_id = ?", (scene_id,))
                    db.executemany(
                        "INSERT INTO scene_stash_ids VALUES (?, ?, ?, ?)",
                        [(scene_id, endpoint, sid, updated or stamp) for endpoint, sid, updated in stash_ids],
                    )

    def create_performer(
        self,
        *,
        name: str,
        disambiguation: str | None = None,
        gender: str | None = None,
        country: str | None = None,
        details: str | None = None,
        favorite: bool = False,
        alias_list: Sequence[str] = (),
        urls: Sequence[str] = (),
        tag_ids: Sequence[int] = (),
        stash_ids: Sequence[tuple[str, str, str | None]] = (),
        image: bytes | None = None,
        extra: dict[str, Any] | None = None,
    ) -> int:
        if not name.strip():
            raise StateError("performer name must not be empty")
        stamp = now_rfc3339()
        with self._transaction() as db:
            clash = db.execute(
                "SELECT id FROM performers WHERE name = ? COLLATE NOCASE AND COALESCE(disambiguation, '') = ?",
                (name, disambiguation or ""),
            ).fetchone()
            if clash is not None:
                suffix = f" ({disambiguation})" if disambiguation else ""
                raise StateError(f"performer with name '{name}{suffix}' already exists (id {clash[0]})")
            _require_ids(db, "tags", "tag", tag_ids)
            cursor = db.execute(
                "INSERT INTO performers (name, disambiguation, gender, country, details, favorite, image_blob,"
                " extra, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name, disambiguation or None, gender, country, details, int(favorite), image,
                    json.dumps(extra or {}), stamp, stamp,
                ),
            )
            performer_id = int(cursor.lastrowid or 0)
            db.executemany("INSERT INTO performer_aliases VALUES (?, ?)", [(performer_id, a) for a in alias_list])
            db.executemany("INSERT INTO performer_urls VALUES (?, ?)", [(performer_id, u) for u in urls])
            db.executemany("INSERT INTO performer_tags VALUES (?, ?)", [(performer_id, t) for t in dict.fromkeys(tag_ids)])
            db.executemany(
                "INSERT INTO performer_stash_ids VALUES (?, ?, ?, ?)",
                [(performer_id, endpoint, sid, updated or stamp) for endpoint, sid, updated in stash_ids],
            )
        return performer_id

    def create_tag(
        self, *, name: str, description: str | None = None, aliases: Sequence[str] = (), favorite: bool = False
    ) -> int:
        if not name.strip():
            raise StateError("tag name must not be empty")
        stamp = now_rfc3339()
        with self._transaction() as db:
            clash = db.execute("SELECT id FROM tags WHERE name = ? COLLATE NOCASE", (name,)).fetchone()
            if clash is not None:
                raise StateError(f"tag with name '{name}' already exists (id {clash[0]})")
            cursor = db.execute(
                "INSERT INTO tags (name, description, favorite, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                (name, description, int(favorite), stamp, stamp),
            )
            tag_id = int(cursor.lastrowid or 0)
            db.executemany("INSERT INTO tag_aliases VALUES (?, ?)", [(tag_id, a) for a in aliases])
        return tag_id

    def set_plugin_config(self, plugin_id: str, config: dict[str, Any]) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO plugin_config VALUES (?, ?) ON CONFLICT(plugin_id) DO UPDATE SET config = excluded.config",
                (plugin_id, json.dumps(config)),
            )


class _Transaction:
    """``with`` block holding the store lock around BEGIN ... COMMIT/ROLLBACK."""

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock):
        self._db = db
        self._lock = lock

    def __enter__(self) -> sqlite3.Connection:
        self._lock.acquire()
        self._db.execute("BEGIN IMMEDIATE")
        return self._db

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            self._db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self._lock.release()


def _require_ids(db: sqlite3.Connection, table: str, noun: str, ids: Iterable[int]) -> None:
    wanted = set(ids)
    if not wanted:
        return
    marks = ",".join("?" * len(wanted))
    found = {row[0] for row in db.execute(f"SELECT id FROM {table} WHERE id IN ({marks})", tuple(wanted))}
    missing = sorted(wanted - found)
    if missing:
        raise StateError(f"{noun} {', '.join(map(str, missing))} not found")


def _apply_links(db: sqlite3.Connection, table: str, column: str, scene_id: int, mode: str, ids: Sequence[int]) -> None:
    if mode == "SET":
        db.execute(f"DELETE FROM {table} WHERE scene_id = ?", (scene_id,))
    if mode == "REMOVE":
        db.executemany(f"DELETE FROM {table} WHERE scene_id = ? AND {column} = ?", [(scene_id, i) for i in ids])
        return
    if mode not in ("SET", "ADD"):
        raise StateError(f"unknown BulkUpdateIdMode {mode!r}")
    # ADD appends without duplicates, as Stash's bulk update does.
    db.executemany(
        f"INSERT OR IGNORE INTO {table} (scene_id, {column}) VALUES (?, ?)",
        [(scene_id, i) for i in dict.fromkeys(ids)],
    )


def _in_clause(column: str, ids: Iterable[int] | None) -> tuple[str, tuple[int, ...]]:
    if ids is None:
        return "", ()
    values = tuple(int(i) for i in ids)
    if not values:
        return " WHERE 0", ()
    return f" WHERE {column} IN ({','.join('?' * len(values))})", values


def _grouped(db: sqlite3.Connection, sql: str, args: tuple[int, ...]) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    for row in db.execute(sql, args):
        out.setdefault(row[0], []).append(row[1] if len(row) == 2 else row[1:])
    return out


def _load_scenes(db: sqlite3.Connection, ids: Iterable[int] | None) -> list[SceneRecord]:
    where, args = _in_clause("id", ids)
    link_where, _ = _in_clause("scene_id", ids)
    rows = db.execute(
        "SELECT id, title, code, details, director, date, organized, created_at, updated_at"
        f" FROM scenes{where} ORDER BY id",
        args,
    ).fetchall()
    urls = _grouped(db, f"SELECT scene_id, url FROM scene_urls{link_where} ORDER BY rowid", args)
    performers = _grouped(db, f"SELECT scene_id, performer_id FROM scene_performers{link_where} ORDER BY rowid", args)
    tags = _grouped(
        db,
        "SELECT st.scene_id, st.tag_id FROM scene_tags st JOIN tags t ON t.id = st.tag_id"
        f"{link_where.replace('scene_id', 'st.scene_id')} ORDER BY t.name COLLATE NOCASE",
        args,
    )
    stash_ids = _grouped(
        db, f"SELECT scene_id, endpoint, stash_id, updated_at FROM scene_stash_ids{link_where} ORDER BY rowid", args
    )
    return [
        SceneRecord(
            id=r[0], title=r[1], code=r[2], details=r[3], director=r[4], date=r[5], organized=bool(r[6]),
            created_at=r[7], updated_at=r[8],
            urls=urls.get(r[0], []),
            performer_ids=performers.get(r[0], []),
            tag_ids=tags.get(r[0], []),
            stash_ids=[StashIdRecord(*s) for s in stash_ids.get(r[0], [])],
        )
        for r in rows
    ]


def _load_performers(db: sqlite3.Connection, ids: Iterable[int] | None) -> list[PerformerRecord]:
    where, args = _in_clause("id", ids)
    link_where, _ = _in_clause("performer_id", ids)
    rows = db.execute(
        "SELECT id, name, disambiguation, gender, country, details, favorite,"
        " image_file IS NOT NULL OR image_blob IS NOT NULL, created_at, updated_at, extra"
        f" FROM performers{where} ORDER BY id",
        args,
    ).fetchall()
    aliases = _grouped(db, f"SELECT performer_id, alias FROM performer_aliases{link_where} ORDER BY rowid", args)
    urls = _grouped(db, f"SELECT performer_id, url FROM performer_urls{link_where} ORDER BY rowid", args)
    tags = _grouped(db, f"SELECT performer_id, tag_id FROM performer_tags{link_where} ORDER BY rowid", args)
    stash_ids = _grouped(
        db,
        f"SELECT performer_id, endpoint, stash_id, updated_at FROM performer_stash_ids{link_where} ORDER BY rowid",
        args,
    )
    return [
        PerformerRecord(
            id=r[0], name=r[1], disambiguation=r[2], gender=r[3], country=r[4], details=r[5],
            favorite=bool(r[6]), has_image=bool(r[7]), created_at=r[8], updated_at=r[9], extra=json.loads(r[10]),
            alias_list=aliases.get(r[0], []),
            urls=urls.get(r[0], []),
            tag_ids=tags.get(r[0], []),
            stash_ids=[StashIdRecord(*s) for s in stash_ids.get(r[0], [])],
        )
        for r in rows
    ]


def _load_tags(db: sqlite3.Connection, ids: Iterable[int] | None) -> list[TagRecord]:
    where, args = _in_clause("id", ids)
    link_where, _ = _in_clause("tag_id", ids)
    rows = db.execute(
        f"SELECT id, name, description, favorite, created_at, updated_at FROM tags{where} ORDER BY id", args
    ).fetchall()
    aliases = _grouped(db, f"SELECT tag_id, alias FROM tag_aliases{link_where} ORDER BY rowid", args)
    return [
        TagRecord(
            id=r[0], name=r[1], description=r[2], favorite=bool(r[3]), created_at=r[4], updated_at=r[5],
            aliases=aliases.get(r[0], []),
        )
        for r in rows
    ]
