"""``db update DB --from-stashbox URL``: bring a crawled DB up to what the stash-box says now.

Only what changed since the last crawl is fetched: the listing is read newest-``updated``
first until it reaches the last visit's time (new, edited and merge-target performers all
carry a fresh ``updated``). Deleted performers leave the listing silently, so the catalogue's
size tells whether any went: when it is smaller than new minus merged predicts, one cheap sweep
of ids (no images, no details) finds which. The work happens on a staged copy of the installed
version, published as a new version only when finished: the old one stays readable until the
sidecar has swapped.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from pydantic import BaseModel

from ...faces.pipeline import FacePipeline
from ...stash.media import StashBridge
from ...stash.models import normalize_endpoint
from ...stash.stashbox import StashBoxClient
from .. import versions
from ..build_common import build_embedder, model_info, progress_bar
from ..layout import DB_FILE
from ..manifest import load_manifest
from ..schema import connect_read_only
from ..sources.context import BuildContext
from ..writer import FaceDBWriter
from . import listing, tables
from .client import DEFAULT_CRAWL_REQUESTS_PER_MINUTE, crawl_client
from .journal import CrawlJournal
from .lock import endpoint_lock
from .reconcile import remove_identity
from .links import LinkReport
from .run import CrawlSession, finalize_crawl, link_step, store_performers


class EndpointUpdate(BaseModel):
    endpoint: str
    performers_added: int
    performers_edited: int
    performers_deleted: int
    performers_merged_away: int
    images_downloaded: int
    pages_listed: int
    id_sweep: bool
    requests: int
    throttled_429: int
    throttled_after_slowdown: int
    seconds: float


class UpdateReport(BaseModel):
    db: str
    previous_version: str
    db_version: str
    changed: bool
    endpoints: list[EndpointUpdate]
    links: LinkReport | None = None


def update_from_stashbox(
    db: Path,
    endpoints: list[str] | None = None,
    *,
    api_key: str | None,
    requests_per_minute: float = DEFAULT_CRAWL_REQUESTS_PER_MINUTE,
    progress: bool = True,
    workers: int | None = None,
) -> UpdateReport:
    """Update every crawled endpoint of ``db`` (or just ``endpoints``); publishes a new version."""
    db = Path(db)
    installed = versions.current_dir(db)
    old = load_manifest(installed)
    probe = connect_read_only(installed / DB_FILE)
    try:
        crawled = tables.crawled_endpoints(probe)
    finally:
        probe.close()
    wanted = [normalize_endpoint(e) for e in endpoints] if endpoints else crawled
    if not wanted:
        raise ValueError(f"{db} holds no stash-box crawl: build one with `db build --from-stashbox URL --all-performers --out {db}`")
    staged = versions.stage(db)
    try:
        pipeline = FacePipeline(embedder=build_embedder(old.embedding.model, staged))
        results = []
        with StashBridge() as bridge, FaceDBWriter(staged, model_info(pipeline), pipeline.info.detector) as writer:
            tables.ensure_tables(writer.connection)
            with progress_bar(None, progress) as bar:
                ctx = BuildContext(writer, bridge, pipeline, bar, workers)
                for endpoint in wanted:
                    results.append(_update_endpoint(ctx, writer, endpoint, api_key, requests_per_minute))
            links = link_step(writer)
            manifest = finalize_crawl(writer, wanted)
        shutil.rmtree(staged / ".crawl", ignore_errors=True)
        changed = manifest.db_version != old.db_version
        if changed:
            versions.publish(db, staged)
        else:
            versions.discard(staged)
    except BaseException:
        versions.discard(staged)
        raise
    return UpdateReport(db=str(db), previous_version=old.db_version, db_version=manifest.db_version, changed=changed, endpoints=results, links=links)


def _update_endpoint(ctx: BuildContext, writer: FaceDBWriter, endpoint: str, api_key: str | None, rpm: float) -> EndpointUpdate:
    conn = writer.connection
    state = tables.load_state(conn, endpoint)
    if state is None or state.phase != "done":
        raise ValueError(
            f"no finished crawl of {endpoint} in this DB: run `db build --from-stashbox {endpoint} --all-performers` "
            "into it first (re-running an interrupted crawl finishes it)"
        )
    with endpoint_lock(endpoint):
        started = time.monotonic()
        journal = CrawlJournal(writer.directory, endpoint, kind="update")
        box = crawl_client(endpoint, journal, rpm, api_key)
        try:
            known = tables.visited(conn, endpoint)
            changed, count, pages = ctx.bridge.run(listing.changed_since(box, state.high_water, endpoint))
            changed = [p for p in changed if p.id not in known or known[p.id] != p.updated]
            added = [p for p in changed if p.id not in known]
            merged_away = {m for p in changed for m in p.merged_ids if m in known}
            deleted: list[str] = []
            sweep = count < len(known) + len(added) - len(merged_away)
            if sweep:
                listed = ctx.bridge.run(_collect_ids(box))
                deleted = sorted(i for i in known if i not in listed and i not in merged_away)
            task = ctx.progress.add_task(f"updating {endpoint}", total=len(changed) + len(deleted))
            session = CrawlSession(writer, ctx, box, journal, endpoint, state)
            images = store_performers(session, changed, lambda: ctx.progress.advance(task))
            for stash_id in deleted:
                remove_identity(writer, endpoint, stash_id)
                writer.commit()
                ctx.progress.advance(task)
            for performer in changed:
                state.high_water = listing.later(state.high_water, performer.updated)
            state.updates += 1
            tables.save_state(conn, endpoint, state)
            writer.commit()
        finally:
            ctx.bridge.run(box.aclose())
            journal.close()
        totals = journal.totals()
        journal.remove()
    return EndpointUpdate(
        endpoint=endpoint, performers_added=len(added), performers_edited=len(changed) - len(added),
        performers_deleted=len(deleted), performers_merged_away=len(merged_away), images_downloaded=images,
        pages_listed=pages, id_sweep=sweep, requests=totals.requests, throttled_429=totals.throttled_429,
        throttled_after_slowdown=totals.throttled_after_slowdown,
        seconds=round(time.monotonic() - started, 2),
    )


async def _collect_ids(box: StashBoxClient) -> set[str]:
    ids: set[str] = set()
    async for chunk in listing.all_ids(box):
        ids.update(chunk)
    return ids
