"""User edits of a crawled DB that publish a new version: undoing a cross-stash-box link."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import versions
from ..layout import DB_FILE
from ..manifest import load_manifest
from ..schema import connect_read_only
from ..types import Identity
from ..writer import FaceDBWriter
from . import links
from .run import finalize_crawl
from .tables import crawled_endpoints


def read_links(db: Path) -> list[links.PerformerLink]:
    """Every cross-stash-box link of the installed version, with its evidence."""
    conn = connect_read_only(versions.current_dir(Path(db)) / DB_FILE)
    try:
        return links.list_links(conn)
    finally:
        conn.close()


def unlink_identity(db: Path, identity: str) -> dict[str, Any]:
    """Split ``identity`` from the performer it was linked into; publishes a new version."""
    parsed = Identity.parse(identity)
    db = Path(db)
    manifest = load_manifest(versions.current_dir(db))
    staged = versions.stage(db)
    try:
        with FaceDBWriter(staged, manifest.embedding.to_model(), manifest.detector) as writer:
            conn = writer.connection
            conn.execute("BEGIN IMMEDIATE")
            result = links.unlink(conn, parsed)
            writer.commit()
            new = finalize_crawl(writer, crawled_endpoints(conn))
        versions.publish(db, staged)
    except BaseException:
        versions.discard(staged)
        raise
    return {**result, "db_version": new.db_version, "previous_version": manifest.db_version}
