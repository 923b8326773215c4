"""File names of a face-DB directory and small file helpers (checksums, atomic writes)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

DB_FILE = "performers.db"
INDEX_FILE = "faces.index"
MANIFEST_FILE = "manifest.json"

# Files whose checksums the manifest records; the manifest itself is the root of trust.
CHECKSUMMED_FILES = (DB_FILE, INDEX_FILE)

# SQLite side files that exist only while a writer has the DB open.
SQLITE_SIDE_SUFFIXES = ("-wal", "-shm", "-journal")


def sha256_file(path: Path, *, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the new one.

    The bytes go to a temporary file in the same directory (same filesystem, so the rename is
    atomic), are fsynced, and then replace the target.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
