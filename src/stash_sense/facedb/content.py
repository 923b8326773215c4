"""What a face DB says, independent of row ids and write order, and how two DBs differ.

Two builds of the same catalogue (one resumed after a kill, one kept current by updates, one
fresh) number their rows differently; what must agree is who is in the DB (performers keyed by
their identities), their fields and aliases, and which images gave which faces.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .layout import DB_FILE

# Same image, same model: the same face, but ONNX Runtime's batching may move the last bits.
EMBEDDING_TOLERANCE = 1e-4


@dataclass(frozen=True)
class PerformerContent:
    name: str
    disambiguation: str | None
    gender: str | None
    country: str | None
    aliases: tuple[str, ...]
    faces: dict[str, np.ndarray]  # source key -> embedding


def db_content(db: Path) -> dict[tuple[str, ...], PerformerContent]:
    """Every performer of the DB in ``db`` keyed by its sorted ``endpoint#stash_id`` identities."""
    con = sqlite3.connect(f"file:{Path(db).resolve() / DB_FILE}?mode=ro", uri=True)
    try:
        out: dict[tuple[str, ...], PerformerContent] = {}
        rows = con.execute("SELECT id, name, disambiguation, gender, country FROM performers").fetchall()
        for pid, name, disambiguation, gender, country in rows:
            ids = tuple(sorted(f"{e}#{s}" for e, s in con.execute(
                "SELECT endpoint, stash_id FROM performer_ids WHERE performer_id = ?", (pid,))))
            if ids in out:
                raise ValueError(f"two performers of {db} hold {ids}")
            aliases = tuple(sorted(a for (a,) in con.execute("SELECT alias FROM aliases WHERE performer_id = ?", (pid,))))
            faces = {
                source: np.frombuffer(blob, dtype=np.float32)
                for source, blob in con.execute("SELECT source, embedding FROM faces WHERE performer_id = ?", (pid,))
            }
            out[ids] = PerformerContent(name, disambiguation, gender, country, aliases, faces)
        return out
    finally:
        con.close()


def content_differences(a: Path, b: Path, *, limit: int = 20) -> list[str]:
    """How the DBs in ``a`` and ``b`` differ (empty when they say the same), at most ``limit`` lines."""
    left, right = db_content(a), db_content(b)
    problems = [f"only in {a}: {key}" for key in sorted(set(left) - set(right))]
    problems += [f"only in {b}: {key}" for key in sorted(set(right) - set(left))]
    for key in sorted(set(left) & set(right)):
        la, rb = left[key], right[key]
        for field in ("name", "disambiguation", "gender", "country", "aliases"):
            if getattr(la, field) != getattr(rb, field):
                problems.append(f"{key}: {field} {getattr(la, field)!r} != {getattr(rb, field)!r}")
        if sorted(la.faces) != sorted(rb.faces):
            problems.append(f"{key}: faces from other images ({sorted(set(la.faces) ^ set(rb.faces))[:3]})")
            continue
        for source, vector in la.faces.items():
            if not np.allclose(vector, rb.faces[source], atol=EMBEDDING_TOLERANCE):
                problems.append(f"{key}: the face of {source} differs")
    return problems[:limit]
