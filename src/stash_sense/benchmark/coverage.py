"""What the face DB knows about the performers a benchmark expects.

Stash performers are found in the face DB by identity first (endpoint-qualified, endpoints
compared in canonical form) and by name second, because DBs built from folders of labelled
photos know performers only by their folder name. The same DB also supplies each expected
performer's reference faces, by which the failure analysis decides whether a performer was on
screen at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import numpy as np

from ..evaluation.scenes import performer_keys
from ..facedb import FaceDB, PerformerRecord
from ..facedb.layout import DB_FILE
from ..facedb.schema import connect_read_only
from ..stash.models import PerformerRef, normalize_endpoint


def canonical_identity(endpoint: str, stash_id: str) -> str:
    """``<endpoint>#<stash_id>`` with http(s) endpoints in canonical form (local namespaces as-is)."""
    try:
        endpoint = normalize_endpoint(endpoint)
    except ValueError:
        pass
    return f"{endpoint}#{stash_id}"


def identity_keys(name: str | None, identities: Iterable[tuple[str, str]]) -> set[str]:
    """The scoring keys of a performer: :func:`performer_keys` (which ``eval scenes`` uses),
    plus the canonical form of each identity so that endpoint spelling never splits a match."""
    pairs = list(identities)
    keys = performer_keys(name=name, stash_ids=[{"endpoint": e, "stash_id": s} for e, s in pairs])
    keys |= {canonical_identity(e, s) for e, s in pairs}
    return keys


def split_identity(text: str) -> tuple[str, str]:
    endpoint, sep, stash_id = text.partition("#")
    if not sep or not endpoint or not stash_id:
        raise ValueError(f"not an endpoint-qualified identity: {text!r}")
    return endpoint, stash_id


class FaceDBCoverage:
    """Face counts, body/tattoo flags and reference faces of performers, by Stash performer."""

    def __init__(self, db: FaceDB) -> None:
        self.db = db
        conn = connect_read_only(db.directory / DB_FILE)
        try:
            ids = [int(r[0]) for r in conn.execute("SELECT id FROM performers ORDER BY id")]
        finally:
            conn.close()
        self.records: dict[int, PerformerRecord] = db.performers(ids) if ids else {}
        self._by_identity: dict[str, int] = {}
        by_name: dict[str, set[int]] = defaultdict(set)
        for pid, rec in self.records.items():
            for ident in rec.identities:
                self._by_identity[canonical_identity(ident.endpoint, ident.stash_id)] = pid
            by_name[rec.name.casefold()].add(pid)
        # A name shared by two DB performers identifies neither.
        self._by_name = {name: next(iter(pids)) for name, pids in by_name.items() if len(pids) == 1}
        self._references: dict[int, np.ndarray | None] = {}

    def find(self, performer: PerformerRef) -> PerformerRecord | None:
        """The face-DB performer behind a Stash performer, if any."""
        for sid in performer.stash_ids:
            pid = self._by_identity.get(canonical_identity(sid.endpoint, sid.stash_id))
            if pid is not None:
                return self.records[pid]
        pid = self._by_name.get(performer.name.casefold())
        return self.records[pid] if pid is not None else None

    def face_count(self, db_performer_id: int) -> int:
        rec = self.records.get(db_performer_id)
        return rec.face_count if rec else 0

    def face_count_for_keys(self, keys: set[str]) -> int | None:
        """Faces in the DB of a reported performer, found by its scoring keys."""
        for key in keys:
            if key.startswith("name:"):
                continue
            pid = self._by_identity.get(key)
            if pid is not None:
                return self.records[pid].face_count
        for key in keys:
            if key.startswith("name:"):
                pid = self._by_name.get(key[5:])
                if pid is not None:
                    return self.records[pid].face_count
        return None

    def references(self, db_performer_id: int | None) -> np.ndarray | None:
        """The performer's reference descriptors ``(n, d)``; None when they have none."""
        if db_performer_id is None:
            return None
        pid = int(db_performer_id)
        if pid not in self._references:
            conn = connect_read_only(self.db.directory / DB_FILE)
            try:
                blobs = [r[0] for r in conn.execute(
                    "SELECT embedding FROM faces WHERE performer_id = ? ORDER BY vector_row", (pid,)
                )]
            finally:
                conn.close()
            dim = self.db.model.dim
            self._references[pid] = (
                np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dim).copy() if blobs else None
            )
        return self._references[pid]

    def stats(self) -> dict[str, float | int]:
        """Face-DB wide figures the report's recommendations quote."""
        counts = [rec.face_count for rec in self.records.values()]
        total = len(counts)
        one = sum(1 for n in counts if n == 1)
        return {
            "performers": total,
            "faces": int(sum(counts)),
            "one_face": one,
            "one_face_share": one / total if total else 0.0,
            "under_three": sum(1 for n in counts if n < 3),
            "body": sum(1 for rec in self.records.values() if rec.has_body),
            "tattoo": sum(1 for rec in self.records.values() if rec.has_tattoo),
        }
