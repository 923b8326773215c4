"""One stash-box performer into the face DB, so that the DB always says what the stash-box says.

The DB performer that holds a stash-box identity gets exactly the stash-box's fields (name,
disambiguation, aliases, gender, country), the identities of every performer merged into it,
and the faces of its chosen images: the ``images_per_performer`` largest, as the listing gives
them. Faces of images no longer chosen go. Because the result depends only on what the
stash-box says now, never on the order of visits, a crawl resumed after a kill and a DB kept
current with ``db update`` both end equal to a fresh crawl. A performer linked across
stash-boxes takes its fields from the endpoint it was first stored from; the others add their
identities and faces.

Faces are keyed by the image's stash-box id (global on its endpoint), so an image that moves to
another performer with a merge is never downloaded again: its face moves with it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from ...faces.types import ImageFaces
from ...stash.models import StashBoxImage, StashBoxPerformer
from ...stash.stashbox import StashBoxClient
from ..build_common import skip_reason
from ..types import Identity
from ..writer import FaceDBWriter
from . import tables

IMAGE_KEY = "stash-box-crawl:"


def image_key(endpoint: str, image_id: str) -> str:
    return f"{IMAGE_KEY}{endpoint}#{image_id}"


def chosen_images(performer: StashBoxPerformer, limit: int) -> list[StashBoxImage]:
    """The images whose faces the DB keeps: the largest first, stash-box's order on ties."""
    return StashBoxClient.best_images(performer, limit)


@dataclass
class StoreOutcome:
    faces_added: int = 0
    faces_removed: int = 0
    images_skipped: int = 0
    merged: int = 0


def _begin(conn: sqlite3.Connection) -> None:
    if not conn.in_transaction:
        conn.execute("BEGIN IMMEDIATE")


def _performer_of(conn: sqlite3.Connection, identity: Identity) -> int | None:
    row = conn.execute(
        "SELECT performer_id FROM performer_ids WHERE endpoint = ? AND stash_id = ?", (identity.endpoint, identity.stash_id)
    ).fetchone()
    return None if row is None else int(row[0])


def _write_fields(conn: sqlite3.Connection, pid: int | None, performer: StashBoxPerformer, image_url: str | None) -> int:
    """Insert or overwrite the performer's fields; returns its DB id."""
    from ..manifest import utc_now_iso

    now = utc_now_iso()
    fields = (performer.name.strip(), performer.disambiguation or None, performer.gender, performer.country, image_url)
    if pid is None:
        cursor = conn.execute(
            """INSERT INTO performers(name, disambiguation, gender, country, image_url, created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?)""",
            (*fields, now, now),
        )
        pid = int(cursor.lastrowid)  # type: ignore[arg-type]
    else:
        current = conn.execute(
            "SELECT name, disambiguation, gender, country, image_url FROM performers WHERE id = ?", (pid,)
        ).fetchone()
        if tuple(current) != fields:
            conn.execute(
                """UPDATE performers SET name = ?, disambiguation = ?, gender = ?, country = ?, image_url = ?,
                   updated_at = ? WHERE id = ?""",
                (*fields, now, pid),
            )
    wanted = sorted({a.strip() for a in performer.aliases if a.strip() and a.strip() != fields[0]})
    have = sorted(row[0] for row in conn.execute("SELECT alias FROM aliases WHERE performer_id = ?", (pid,)))
    if have != wanted:
        conn.execute("DELETE FROM aliases WHERE performer_id = ?", (pid,))
        conn.executemany("INSERT INTO aliases(performer_id, alias) VALUES (?, ?)", [(pid, a) for a in wanted])
    return pid


def primary_endpoint(conn: sqlite3.Connection, pid: int) -> str | None:
    """The endpoint whose entry gives a performer its fields: the one it was first stored from.
    A performer linked across stash-boxes keeps one name; the others add identities and faces."""
    row = conn.execute("SELECT endpoint FROM performer_ids WHERE performer_id = ? ORDER BY rowid LIMIT 1", (pid,)).fetchone()
    return None if row is None else str(row[0])


def absorb(conn: sqlite3.Connection, target: int, other: int) -> None:
    """Move ``other``'s identities and faces to ``target`` and drop ``other`` (a stash-box merge, or
    a link across stash-boxes)."""
    conn.execute("UPDATE OR IGNORE performer_ids SET performer_id = ? WHERE performer_id = ?", (target, other))
    conn.execute("UPDATE faces SET performer_id = ? WHERE performer_id = ?", (target, other))
    conn.execute("DELETE FROM performers WHERE id = ?", (other,))


def _drop_faces(conn: sqlite3.Connection, pid: int, endpoint: str, keep: set[str]) -> int:
    """Remove this endpoint's crawled faces of ``pid`` whose image is not in ``keep``; and forget the images."""
    prefix = f"{IMAGE_KEY}{endpoint}#"
    stale = [
        (face_id, source)
        for face_id, source in conn.execute(
            "SELECT id, source FROM faces WHERE performer_id = ? AND substr(source, 1, ?) = ?", (pid, len(prefix), prefix)
        )
        if source not in keep
    ]
    conn.executemany("DELETE FROM faces WHERE id = ?", [(face_id,) for face_id, _ in stale])
    conn.executemany("DELETE FROM sources_done WHERE source_key = ?", [(source,) for _, source in stale])
    return len(stale)


def _mark_done(conn: sqlite3.Connection, key: str, reason: str | None) -> None:
    # As FaceDBWriter.mark_source_done, without its commit: a performer is one transaction.
    from ..manifest import utc_now_iso

    conn.execute(
        "INSERT OR REPLACE INTO sources_done(source_key, status, reason, at) VALUES (?, ?, ?, ?)",
        (key, "ok" if reason is None else "skipped", reason, utc_now_iso()),
    )


def store_performer(
    writer: FaceDBWriter,
    performer: StashBoxPerformer,
    chosen: list[StashBoxImage],
    results: dict[str, ImageFaces | str],
) -> StoreOutcome:
    """Make the DB hold ``performer`` as the stash-box has it; ``results`` has the faces of the
    chosen images that were not stored before (by image key), or why an image could not be
    downloaded. Runs in the writer's transaction; the caller commits."""
    conn = writer.connection
    _begin(conn)
    endpoint = performer.endpoint
    outcome = StoreOutcome()
    identities = [Identity(endpoint, performer.id), *(Identity(endpoint, m) for m in sorted(performer.merged_ids))]
    holders = [pid for pid in dict.fromkeys(_performer_of(conn, i) for i in identities) if pid is not None]
    pid = holders[0] if holders else None
    for other in holders[1:]:
        absorb(conn, holders[0], other)
        outcome.merged += 1
    if pid is None or primary_endpoint(conn, pid) == endpoint:
        pid = _write_fields(conn, pid, performer, chosen[0].url if chosen else None)
    conn.executemany(
        "INSERT OR IGNORE INTO performer_ids(performer_id, endpoint, stash_id) VALUES (?, ?, ?)",
        [(pid, i.endpoint, i.stash_id) for i in identities],
    )
    keys = {image_key(endpoint, image.id) for image in chosen}
    outcome.faces_removed = _drop_faces(conn, pid, endpoint, keys)
    for image in chosen:
        key = image_key(endpoint, image.id)
        result = results.get(key)
        if result is None:
            continue  # stored at an earlier visit (possibly under a performer since merged into this one)
        reason = result if isinstance(result, str) else skip_reason(result)
        if reason is None and not isinstance(result, str):
            face = result.faces[0]
            writer.add_face(
                pid, face.embedding, source=key, quality=face.quality, detector=face.detector, box=face.box.as_list(),
                extra={"quality_parts": face.quality_parts, "stashbox_image_id": image.id, "image_url": image.url},
            )
            outcome.faces_added += 1
        else:
            outcome.images_skipped += 1
        _mark_done(conn, key, reason)
    tables.record_visit(conn, performer, [image.id for image in chosen])
    for merged in performer.merged_ids:
        tables.forget_visit(conn, endpoint, merged)
    return outcome


def remove_identity(writer: FaceDBWriter, endpoint: str, stash_id: str) -> bool:
    """The stash-box deleted this performer: its identity and this endpoint's faces of it go, and the
    DB performer too when no other identity holds it. Returns whether anything was there."""
    conn = writer.connection
    _begin(conn)
    pid = _performer_of(conn, Identity(endpoint, stash_id))
    tables.forget_visit(conn, endpoint, stash_id)
    if pid is None:
        return False
    conn.execute("DELETE FROM performer_ids WHERE endpoint = ? AND stash_id = ?", (endpoint, stash_id))
    left = {row[0] for row in conn.execute("SELECT endpoint FROM performer_ids WHERE performer_id = ?", (pid,))}
    if endpoint not in left:
        _drop_faces(conn, pid, endpoint, set())  # faces another endpoint gave it stay
    if not left:
        conn.execute("DELETE FROM performers WHERE id = ?", (pid,))
    return True


def needed_images(writer: FaceDBWriter, performer: StashBoxPerformer, limit: int) -> tuple[list[StashBoxImage], list[StashBoxImage]]:
    """``(chosen, to_fetch)``: the chosen images, and those of them not stored yet."""
    chosen = chosen_images(performer, limit)
    to_fetch = [image for image in chosen if not writer.is_source_done(image_key(performer.endpoint, image.id))]
    return chosen, to_fetch
