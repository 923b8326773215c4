"""One performer across stash-boxes: link the identities that several endpoints hold of one person.

Two kinds of evidence link two endpoints' performers into one DB performer:

- **cross-reference**: one stash-box's entry lists the other's performer page among its URLs
  (``https://fansdb.cc/performers/<id>`` on a StashDB performer). The boxes' own word; it is
  refused only when both have faces and the faces say these are two people.
- **face + name**: their names agree (a name or alias of one is a name or alias of the other,
  compared case- and accent-blind) AND their closest faces are nearer than strangers ever are
  (a fraction of the model's nearest-stranger distance), AND each is the other's best such
  candidate. Never by name alone: two different people share names.

Every link is recorded with its evidence (``performer_links``) and can be undone
(:func:`unlink`), which also blocks the pair for good, so a wrong link never sticks silently.
"""

from __future__ import annotations

import sqlite3
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel

from ...stash.models import StashBoxPerformer
from ..types import Identity
from . import tables
from .reconcile import IMAGE_KEY, absorb

# Linked by faces only when closer than this share of the distance to a face's nearest stranger.
FACE_LINK_SHARE = 0.9
# A cross-reference is refused when the faces are farther apart than strangers usually are.
FACE_CONTRADICTION_SHARE = 1.15


class LinkEvidence(BaseModel):
    kind: str  # "cross-reference" or "face+name"
    distance: float | None = None  # closest face pair, when both have faces
    names: list[str] = []  # the agreeing names (face+name) or the URL (cross-reference)


class PerformerLink(BaseModel):
    a: str  # endpoint#stash_id
    b: str
    evidence: LinkEvidence
    name: str = ""  # the DB performer holding both


class LinkReport(BaseModel):
    linked_now: int
    by_cross_reference: int
    by_face_and_name: int
    refused_cross_references: list[str]
    links_total: int


def name_key(name: str) -> str:
    """Case-, accent- and punctuation-blind form of a name."""
    folded = unicodedata.normalize("NFKD", name.casefold())
    letters = "".join(c if c.isalnum() else " " for c in folded if not unicodedata.combining(c))
    return " ".join(letters.split())


def _names(performer: StashBoxPerformer) -> set[str]:
    return {k for k in (name_key(n) for n in [performer.name, *performer.aliases]) if k}


@dataclass
class _Entry:
    performer: StashBoxPerformer
    identity: Identity

    @property
    def key(self) -> str:
        return str(self.identity)


def _holder(conn: sqlite3.Connection, identity: Identity) -> int | None:
    row = conn.execute(
        "SELECT performer_id FROM performer_ids WHERE endpoint = ? AND stash_id = ?", (identity.endpoint, identity.stash_id)
    ).fetchone()
    return None if row is None else int(row[0])


def _faces(conn: sqlite3.Connection, identity: Identity, dim: int) -> np.ndarray:
    """The faces this endpoint gave the performer holding ``identity``."""
    pid = _holder(conn, identity)
    prefix = f"{IMAGE_KEY}{identity.endpoint}#"
    blobs = [
        blob for (blob,) in conn.execute(
            "SELECT embedding FROM faces WHERE performer_id = ? AND substr(source, 1, ?) = ?", (pid, len(prefix), prefix)
        )
    ]
    return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dim) if blobs else np.empty((0, dim), np.float32)


def _closest(a: np.ndarray, b: np.ndarray) -> float | None:
    if not len(a) or not len(b):
        return None
    d = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)
    return float(d.min())


def _blocked(conn: sqlite3.Connection) -> set[tuple[str, str]]:
    pairs = set()
    for ea, ia, eb, ib in conn.execute("SELECT endpoint_a, stash_id_a, endpoint_b, stash_id_b FROM performer_link_blocks"):
        a, b = f"{ea}#{ia}", f"{eb}#{ib}"
        pairs |= {(a, b), (b, a)}
    return pairs


def _page_url(endpoint: str, stash_id: str) -> str:
    base = endpoint[: -len("/graphql")] if endpoint.endswith("/graphql") else endpoint
    return f"{base}/performers/{stash_id}".casefold()


def link_performers(conn: sqlite3.Connection, *, dim: int, stranger_distance: float) -> LinkReport:
    """Link what the evidence allows among every crawled endpoint of the DB; the caller commits."""
    entries = [_Entry(p, Identity(p.endpoint, p.id)) for p in tables.visits(conn)]
    blocked = _blocked(conn)
    report = LinkReport(linked_now=0, by_cross_reference=0, by_face_and_name=0, refused_cross_references=[], links_total=0)
    if len({e.identity.endpoint for e in entries}) < 2:
        report.links_total = _count(conn)
        return report
    faces = {e.key: _faces(conn, e.identity, dim) for e in entries}
    by_page = {_page_url(e.identity.endpoint, e.identity.stash_id): e for e in entries}
    for entry in entries:
        for url in entry.performer.urls:
            other = by_page.get(url.url.strip().rstrip("/").casefold())
            if other is None or other.identity.endpoint == entry.identity.endpoint or (entry.key, other.key) in blocked:
                continue
            distance = _closest(faces[entry.key], faces[other.key])
            if distance is not None and distance > stranger_distance * FACE_CONTRADICTION_SHARE:
                report.refused_cross_references.append(f"{entry.key} -> {other.key}: faces {distance:.3f} apart")
                continue
            if _link(conn, entry, other, LinkEvidence(kind="cross-reference", distance=distance, names=[url.url])):
                report.by_cross_reference += 1
    for a, b, distance, shared in _face_name_pairs(conn, entries, faces, blocked, stranger_distance * FACE_LINK_SHARE):
        if _link(conn, a, b, LinkEvidence(kind="face+name", distance=round(distance, 4), names=sorted(shared))):
            report.by_face_and_name += 1
    report.linked_now = report.by_cross_reference + report.by_face_and_name
    report.links_total = _count(conn)
    return report


def _face_name_pairs(
    conn: sqlite3.Connection, entries: list[_Entry], faces: dict[str, np.ndarray], blocked: set[tuple[str, str]], limit: float
) -> list[tuple[_Entry, _Entry, float, set[str]]]:
    """Pairs on different endpoints whose names agree and whose faces are mutual best matches under ``limit``."""
    by_name: dict[str, list[_Entry]] = defaultdict(list)
    for entry in entries:
        for key in _names(entry.performer):
            by_name[key].append(entry)
    best: dict[tuple[str, str], tuple[float, _Entry]] = {}  # (identity, other endpoint) -> best candidate
    candidates: dict[tuple[str, str], tuple[_Entry, _Entry, float, set[str]]] = {}
    for group in by_name.values():
        for a in group:
            for b in group:
                if a.identity.endpoint >= b.identity.endpoint or (a.key, b.key) in blocked or (a.key, b.key) in candidates:
                    continue
                distance = _closest(faces[a.key], faces[b.key])
                if distance is None or distance > limit:
                    continue
                shared = _names(a.performer) & _names(b.performer)
                candidates[(a.key, b.key)] = (a, b, distance, shared)
                for one, other in ((a, b), (b, a)):
                    slot = (one.key, other.identity.endpoint)
                    if slot not in best or distance < best[slot][0]:
                        best[slot] = (distance, other)
    return [
        (a, b, d, shared)
        for (a, b, d, shared) in sorted(candidates.values(), key=lambda c: c[2])
        if best[(a.key, b.identity.endpoint)][1] is b and best[(b.key, a.identity.endpoint)][1] is a
    ]


def _link(conn: sqlite3.Connection, a: _Entry, b: _Entry, evidence: LinkEvidence) -> bool:
    """Make one DB performer hold both identities; False when they already are one."""
    pa, pb = _holder(conn, a.identity), _holder(conn, b.identity)
    if pa is None or pb is None or pa == pb:
        return False
    if any(e == b.identity.endpoint for (e,) in conn.execute("SELECT endpoint FROM performer_ids WHERE performer_id = ?", (pa,))):
        return False  # one DB performer never holds two performers of one stash-box (that is a stash-box merge)
    keep, other = (pa, pb) if _first_row(conn, pa) < _first_row(conn, pb) else (pb, pa)
    absorb(conn, keep, other)
    first, second = sorted([a.identity, b.identity], key=str)
    conn.execute(
        "INSERT OR REPLACE INTO performer_links VALUES (?, ?, ?, ?, ?)",
        (first.endpoint, first.stash_id, second.endpoint, second.stash_id, evidence.model_dump_json()),
    )
    return True


def _first_row(conn: sqlite3.Connection, pid: int) -> int:
    return int(conn.execute("SELECT MIN(rowid) FROM performer_ids WHERE performer_id = ?", (pid,)).fetchone()[0])


def _count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM performer_links").fetchone()[0])


def list_links(conn: sqlite3.Connection) -> list[PerformerLink]:
    try:
        rows = conn.execute("SELECT endpoint_a, stash_id_a, endpoint_b, stash_id_b, evidence FROM performer_links ORDER BY 1, 2").fetchall()
    except sqlite3.OperationalError:
        return []  # never crawled
    names = dict(conn.execute(
        "SELECT i.endpoint || '#' || i.stash_id, p.name FROM performer_ids i JOIN performers p ON p.id = i.performer_id"
    ).fetchall())
    return [
        PerformerLink(a=f"{ea}#{ia}", b=f"{eb}#{ib}", evidence=LinkEvidence.model_validate_json(ev), name=names.get(f"{ea}#{ia}", ""))
        for ea, ia, eb, ib, ev in rows
    ]


def unlink(conn: sqlite3.Connection, identity: Identity) -> dict[str, Any]:
    """Split ``identity`` (with its endpoint's faces and merged ids) back into its own DB performer,
    and never link it to the performer's other identities again. The caller commits."""
    pid = _holder(conn, identity)
    if pid is None:
        raise KeyError(f"no performer holds {identity}")
    rows = conn.execute("SELECT endpoint, stash_id FROM performer_ids WHERE performer_id = ?", (pid,)).fetchall()
    moving = [Identity(e, s) for e, s in rows if e == identity.endpoint]
    staying = [Identity(e, s) for e, s in rows if e != identity.endpoint]
    if not staying:
        raise ValueError(f"{identity} is not linked to another stash-box's performer")
    entry = conn.execute(
        "SELECT data FROM stashbox_performers WHERE endpoint = ? AND stash_id = ?", (identity.endpoint, identity.stash_id)
    ).fetchone()
    performer = StashBoxPerformer.model_validate_json(entry[0]) if entry else None
    name = performer.name if performer else identity.stash_id
    from ..manifest import utc_now_iso

    now = utc_now_iso()
    new = int(conn.execute(
        """INSERT INTO performers(name, disambiguation, gender, country, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)""",
        (name, performer.disambiguation if performer else None, performer.gender if performer else None,
         performer.country if performer else None, now, now),
    ).lastrowid or 0)
    if performer is not None:
        conn.executemany("INSERT OR IGNORE INTO aliases(performer_id, alias) VALUES (?, ?)",
                         [(new, a) for a in performer.aliases if a.strip() and a != name])
    conn.executemany("UPDATE performer_ids SET performer_id = ? WHERE endpoint = ? AND stash_id = ?",
                     [(new, i.endpoint, i.stash_id) for i in moving])
    prefix = f"{IMAGE_KEY}{identity.endpoint}#"
    conn.execute("UPDATE faces SET performer_id = ? WHERE performer_id = ? AND substr(source, 1, ?) = ?", (new, pid, len(prefix), prefix))
    for m in moving:
        for s in staying:
            first, second = sorted([m, s], key=str)
            conn.execute("DELETE FROM performer_links WHERE endpoint_a = ? AND stash_id_a = ? AND endpoint_b = ? AND stash_id_b = ?",
                         (first.endpoint, first.stash_id, second.endpoint, second.stash_id))
            conn.execute("INSERT OR IGNORE INTO performer_link_blocks VALUES (?, ?, ?, ?)",
                         (first.endpoint, first.stash_id, second.endpoint, second.stash_id))
    return {"split": [str(i) for i in moving], "from": [str(i) for i in staying], "new_performer_id": new}
