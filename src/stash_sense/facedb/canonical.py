"""Canonical, byte-reproducible ``performers.db`` files.

A delta pack is applied on the client and the result must have exactly the sha256 the new
version's manifest records. Two SQLite files with the same rows are rarely the same bytes: page
layout follows the history of inserts and deletes, and the header carries counters (file change
counter, schema cookie) and the version of the SQLite library that wrote it last. So every
finished DB is written in one canonical form: ``VACUUM INTO`` a fresh file (tables and indexes
rebuilt in rowid/key order from the same schema text, no free pages), then the history-dependent
header fields set to fixed values. Same logical content in, same bytes out, whatever the path.
"""

from __future__ import annotations

import os
import sqlite3
import struct
from pathlib import Path

# Header offsets (https://www.sqlite.org/fileformat.html#the_database_header).
_WRITE_VERSION, _READ_VERSION = 18, 19  # 1 = rollback journal, 2 = WAL
_CHANGE_COUNTER = 24
_SCHEMA_COOKIE = 40
_VERSION_VALID_FOR = 92  # must equal the change counter for the in-header page count to be trusted
_SQLITE_VERSION = 96  # informational: the library that last wrote the file
# Written instead of the local library's version, so packs made and applied with different
# SQLite releases still agree. (SQLite reads this field for nothing but diagnostics.)
CANONICAL_SQLITE_VERSION = 3_040_000


def _normalize_header(path: Path) -> None:
    with path.open("r+b") as handle:
        header = bytearray(handle.read(100))
        if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
            raise ValueError(f"{path} is not an SQLite database")
        header[_WRITE_VERSION] = header[_READ_VERSION] = 1
        struct.pack_into(">I", header, _CHANGE_COUNTER, 1)
        struct.pack_into(">I", header, _SCHEMA_COOKIE, 1)
        struct.pack_into(">I", header, _VERSION_VALID_FOR, 1)
        struct.pack_into(">I", header, _SQLITE_VERSION, CANONICAL_SQLITE_VERSION)
        handle.seek(0)
        handle.write(header)
        handle.flush()
        os.fsync(handle.fileno())


def vacuum_into(conn: sqlite3.Connection, dest: Path) -> None:
    """Write the canonical copy of ``conn``'s main database to ``dest`` (which must not exist).

    ``conn`` must have no open transaction and, if it was in WAL mode, be checkpointed: the copy
    is a self-contained file in rollback-journal mode.
    """
    if dest.exists():
        raise FileExistsError(f"{dest} already exists")
    conn.execute("VACUUM INTO ?", (str(dest),))
    _normalize_header(dest)


def replace_with_canonical(conn: sqlite3.Connection, db_file: Path) -> None:
    """Replace ``db_file`` with the canonical copy of it, read through ``conn`` (its only open
    connection, with no transaction open and no WAL), which is closed: reopen the new file."""
    tmp = db_file.with_name(f".{db_file.name}.canonical")
    tmp.unlink(missing_ok=True)
    try:
        vacuum_into(conn, tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    conn.close()
    os.replace(tmp, db_file)
