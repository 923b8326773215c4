"""The crawl's own tables in ``performers.db``.

``stashbox_performers`` is what the stash-box said about each performer at its last visit
(``updated`` time, chosen image ids, merged ids, the whole entry): ``db update`` compares the listing with it to
fetch only what changed. ``stashbox_listing`` holds the performers a crawl has listed but not
yet stored (the listing is done first, a page per transaction, so a resumed crawl neither
re-lists nor skips). ``stashbox_crawls`` says where each endpoint's crawl stands and the totals of
its finished runs. ``performer_links`` records why two endpoints' identities are one DB
performer (:mod:`.links`), and ``performer_link_blocks`` the pairs a user split apart, which are
never linked again.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Literal

from pydantic import BaseModel, Field

from ...stash.models import StashBoxPerformer

CRAWL_SCHEMA = """
CREATE TABLE IF NOT EXISTS stashbox_crawls (
    endpoint TEXT PRIMARY KEY,
    data     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS stashbox_listing (
    endpoint TEXT NOT NULL,
    stash_id TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    data     TEXT NOT NULL,
    PRIMARY KEY (endpoint, stash_id)
);
CREATE TABLE IF NOT EXISTS stashbox_performers (
    endpoint   TEXT NOT NULL,
    stash_id   TEXT NOT NULL,
    updated    TEXT,
    images     TEXT NOT NULL,
    merged_ids TEXT NOT NULL,
    data       TEXT NOT NULL,
    PRIMARY KEY (endpoint, stash_id)
);
CREATE TABLE IF NOT EXISTS performer_links (
    endpoint_a TEXT NOT NULL,
    stash_id_a TEXT NOT NULL,
    endpoint_b TEXT NOT NULL,
    stash_id_b TEXT NOT NULL,
    evidence   TEXT NOT NULL,
    PRIMARY KEY (endpoint_a, stash_id_a, endpoint_b, stash_id_b)
);
CREATE TABLE IF NOT EXISTS performer_link_blocks (
    endpoint_a TEXT NOT NULL,
    stash_id_a TEXT NOT NULL,
    endpoint_b TEXT NOT NULL,
    stash_id_b TEXT NOT NULL,
    PRIMARY KEY (endpoint_a, stash_id_a, endpoint_b, stash_id_b)
);
"""


class RunTotals(BaseModel):
    """Counts summed over runs (a resumed crawl adds each run's)."""

    requests: int = 0
    throttled_429: int = 0
    throttled_after_slowdown: int = 0
    images_downloaded: int = 0
    images_downloaded_twice: int = 0
    seconds: float = 0.0

    def plus(self, other: RunTotals) -> RunTotals:
        summed = {name: getattr(self, name) + getattr(other, name) for name in type(self).model_fields}
        return RunTotals(**{**summed, "seconds": round(summed["seconds"], 2)})


class CrawlState(BaseModel):
    """Where the crawl of one endpoint stands."""

    phase: Literal["listing", "storing", "done"] = "listing"
    next_page: int = 1
    per_page: int = 100
    listed: int = 0
    first_count: int | None = None  # the catalogue's size on the listing's first page
    first_pass_done: bool = False
    shifted: bool = False  # the catalogue changed while we listed: pages may have slid
    images_per_performer: int = 3
    image_width: int = 800
    high_water: str | None = None  # the latest ``updated`` time seen: ``db update`` starts after it
    crawl: RunTotals = Field(default_factory=RunTotals)  # the finished crawl's runs
    updates: int = 0


def ensure_tables(conn: sqlite3.Connection) -> None:
    conn.executescript(CRAWL_SCHEMA)


def load_state(conn: sqlite3.Connection, endpoint: str) -> CrawlState | None:
    row = conn.execute("SELECT data FROM stashbox_crawls WHERE endpoint = ?", (endpoint,)).fetchone()
    return None if row is None else CrawlState.model_validate_json(row[0])


def save_state(conn: sqlite3.Connection, endpoint: str, state: CrawlState) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO stashbox_crawls(endpoint, data) VALUES (?, ?)", (endpoint, state.model_dump_json())
    )


def crawled_endpoints(conn: sqlite3.Connection) -> list[str]:
    try:
        return [row[0] for row in conn.execute("SELECT endpoint FROM stashbox_crawls ORDER BY endpoint")]
    except sqlite3.OperationalError:
        return []  # a DB that was never crawled has no crawl tables


def add_listed(
    conn: sqlite3.Connection, endpoint: str, performers: list[StashBoxPerformer], first_seq: int, *, replace: bool = False
) -> int:
    """Queue listed performers (``replace``: a later listing's entry wins); returns the rows written."""
    before = conn.total_changes
    verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
    conn.executemany(
        f"{verb} INTO stashbox_listing(endpoint, stash_id, seq, data) VALUES (?, ?, ?, ?)",
        [(endpoint, p.id, first_seq + i, p.model_dump_json()) for i, p in enumerate(performers)],
    )
    return conn.total_changes - before


def listed_performers(conn: sqlite3.Connection, endpoint: str) -> list[StashBoxPerformer]:
    return [
        StashBoxPerformer.model_validate_json(row[0])
        for row in conn.execute("SELECT data FROM stashbox_listing WHERE endpoint = ? ORDER BY seq", (endpoint,))
    ]


def unlist(conn: sqlite3.Connection, endpoint: str, stash_id: str) -> None:
    conn.execute("DELETE FROM stashbox_listing WHERE endpoint = ? AND stash_id = ?", (endpoint, stash_id))


def record_visit(conn: sqlite3.Connection, performer: StashBoxPerformer, image_ids: list[str]) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO stashbox_performers(endpoint, stash_id, updated, images, merged_ids, data) VALUES (?, ?, ?, ?, ?, ?)",
        (performer.endpoint, performer.id, performer.updated, json.dumps(image_ids), json.dumps(sorted(performer.merged_ids)),
         performer.model_dump_json()),
    )


def forget_visit(conn: sqlite3.Connection, endpoint: str, stash_id: str) -> None:
    conn.execute("DELETE FROM stashbox_performers WHERE endpoint = ? AND stash_id = ?", (endpoint, stash_id))


def visits(conn: sqlite3.Connection) -> list[StashBoxPerformer]:
    """What every crawled endpoint said about each performer at the last visit."""
    return [StashBoxPerformer.model_validate_json(row[0]) for row in conn.execute("SELECT data FROM stashbox_performers")]


def visited(conn: sqlite3.Connection, endpoint: str) -> dict[str, str | None]:
    """Stash id -> ``updated`` of every performer stored from ``endpoint``."""
    return dict(conn.execute("SELECT stash_id, updated FROM stashbox_performers WHERE endpoint = ?", (endpoint,)).fetchall())
