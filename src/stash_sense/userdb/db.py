"""Opening ``stash_sense.db``: WAL journal, foreign keys, migrations, one connection per process.

WAL with ``synchronous=NORMAL`` keeps every committed transaction through a process crash
(SIGKILL included); only a power cut may lose the last few commits, never corrupt the file.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from stash_sense.userdb.errors import UserDBError
from stash_sense.userdb.migrations import apply_migrations, schema_version

USER_DB_FILE = "stash_sense.db"

__all__ = ["USER_DB_FILE", "UserDB", "UserDBError", "utc_now"]


def utc_now() -> str:
    """Timestamps are stored as ISO 8601 UTC text: sortable and readable in any SQLite shell."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class UserDB:
    """The open user-state database. Safe to share between threads (calls are serialised)."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        """Use :meth:`open`."""
        self.path = path
        self._conn = conn
        # One connection, one lock: statements are tiny, and sqlite3 connections must not be
        # used by two threads at once.
        self._lock = threading.RLock()

    @classmethod
    def open(cls, path: Path) -> UserDB:
        """Open (creating it if needed) and migrate the database at ``path``."""
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserDBError(f"cannot create the data directory {path.parent}: {exc.strerror or exc}") from exc
        try:
            conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise UserDBError(f"cannot open {path}: {exc}") from exc
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise UserDBError(f"{path}: SQLite refused WAL mode (got {mode!r}); is it on a network share?")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA busy_timeout = 30000")
            apply_migrations(conn, str(path))
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise UserDBError(f"{path} is not a usable SQLite database ({exc}); move it aside to start afresh") from exc
        except BaseException:
            conn.close()
            raise
        return cls(path, conn)

    @property
    def schema_version(self) -> int:
        with self._lock:
            return schema_version(self._conn)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection for reads (one consistent snapshot per statement)."""
        with self._lock:
            yield self._conn

    def integrity_check(self) -> list[str]:
        """SQLite's ``PRAGMA integrity_check`` rows: ``["ok"]`` when the file is sound."""
        with self._lock:
            return [str(row[0]) for row in self._conn.execute("PRAGMA integrity_check").fetchall()]

    def close(self) -> None:
        with self._lock:
            try:
                # Fold the WAL back so the file is self-contained after a clean shutdown.
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass
            self._conn.close()
