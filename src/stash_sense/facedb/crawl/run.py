"""``db build --from-stashbox URL --all-performers`` and ``db update --from-stashbox URL``.

A crawl lists every performer first (a page per transaction), then stores them a batch at a
time: images download on the bridge loop while the face pipeline works on the batch before,
and each performer's faces commit in one transaction with its listing entry removed. Killed at
any point, the same command continues: listed pages are not listed again, stored performers
are not stored again, and images downloaded but not yet committed come from the journal's cache.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel
from rich.progress import TaskID

from ...faces.pipeline import FacePipeline
from ...faces.types import ImageFaces
from ...matching.calibration import load_default_calibration
from ...stash.media import StashBridge
from ...stash.models import StashBoxImage, StashBoxPerformer, normalize_endpoint
from ...stash.ratelimit import Priority
from ...stash.stashbox import StashBoxClient
from ..build_common import build_embedder, model_info, progress_bar
from ..manifest import Manifest, load_manifest
from ..sources.context import BuildContext, fetch_skip_reason, prefetch_batches
from ..writer import FaceDBWriter
from . import listing, tables
from .client import DEFAULT_CRAWL_REQUESTS_PER_MINUTE, crawl_client
from .journal import CrawlJournal
from .links import LinkReport, link_performers
from .lock import endpoint_lock
from .reconcile import image_key, needed_images, remove_identity, store_performer

DEFAULT_IMAGES_PER_PERFORMER = 3
# Width asked of the image server: a face needs ~150 px; full-size uploads can be several MB.
IMAGE_WIDTH = 800
# Performers whose images download while the previous batch is embedded.
_BATCH = 8


class CrawlReport(BaseModel):
    """A crawl's figures, summed over every run of it (resumes included)."""

    out: str
    endpoint: str
    db_version: str
    performers: int
    performers_with_faces: int
    faces: int
    images_per_performer: int
    images_downloaded: int
    images_downloaded_twice: int
    requests: int
    throttled_429: int
    throttled_after_slowdown: int  # 429s to requests sent after the first 429 had slowed the crawl
    seconds: float
    runs_seconds_now: float
    links: LinkReport | None = None  # performers linked to other stash-boxes crawled into the same DB


@dataclass
class _Job:
    performer: StashBoxPerformer
    chosen: list[StashBoxImage]
    to_fetch: list[StashBoxImage]  # chosen images not stored yet


@dataclass
class CrawlSession:
    writer: FaceDBWriter
    ctx: BuildContext
    box: StashBoxClient
    journal: CrawlJournal
    endpoint: str
    state: tables.CrawlState


def sources_line(endpoint: str) -> str:
    return f"stash-box-all:{endpoint}"


def crawl_stashbox(
    endpoint: str,
    out: Path,
    *,
    api_key: str | None,
    images_per_performer: int = DEFAULT_IMAGES_PER_PERFORMER,
    requests_per_minute: float = DEFAULT_CRAWL_REQUESTS_PER_MINUTE,
    progress: bool = True,
    workers: int | None = None,
    embedder: str | None = None,
    page_size: int = listing.PAGE_SIZE,
) -> CrawlReport:
    """Crawl every performer of the stash-box at ``endpoint`` into the face DB ``out`` (or resume).
    ``page_size`` is the listing's page (stash-box's largest by default)."""
    started = time.monotonic()
    if images_per_performer < 1:
        raise ValueError(f"images per performer must be at least 1, got {images_per_performer}")
    ep = normalize_endpoint(endpoint)
    out = Path(out)
    with endpoint_lock(ep):
        pipeline = FacePipeline(embedder=build_embedder(embedder, out))
        with StashBridge() as bridge, FaceDBWriter(out, model_info(pipeline), pipeline.info.detector) as writer:
            tables.ensure_tables(writer.connection)
            state = _start_state(writer, ep, images_per_performer, page_size)
            journal = CrawlJournal(out, ep)
            box = crawl_client(endpoint, journal, requests_per_minute, api_key)
            try:
                with progress_bar(None, progress) as bar:
                    session = CrawlSession(writer, BuildContext(writer, bridge, pipeline, bar, workers), box, journal, ep, state)
                    if state.phase == "listing":
                        _list_everything(session)
                    if state.phase == "storing":
                        _store_listed(session)
                if state.phase != "done":
                    state.phase = "done"
                    state.crawl = state.crawl.plus(journal.totals())
                    tables.save_state(writer.connection, ep, state)
                    writer.commit()
                links = link_step(writer)
                manifest = finalize_crawl(writer, [ep])
            finally:
                bridge.run(box.aclose())
                journal.close()
            journal.remove()  # its totals are in the DB now
            return _report(writer, manifest, out, ep, state, started).model_copy(update={"links": links})


def _start_state(writer: FaceDBWriter, endpoint: str, images: int, page_size: int) -> tables.CrawlState:
    state = tables.load_state(writer.connection, endpoint)
    if state is None:
        state = tables.CrawlState(images_per_performer=images, image_width=IMAGE_WIDTH, per_page=page_size)
        tables.save_state(writer.connection, endpoint, state)
        writer.commit()
    elif state.images_per_performer != images:
        raise ValueError(
            f"this DB's crawl of {endpoint} keeps {state.images_per_performer} images per performer; "
            f"resume it with --stashbox-images {state.images_per_performer} (a DB keeps one number per endpoint)"
        )
    return state


def _list_everything(s: CrawlSession) -> None:
    """Queue every performer, a page per transaction; list again if the catalogue changed meanwhile."""
    state = s.state
    task = s.ctx.progress.add_task("listing performers", total=None)
    if not state.first_pass_done:
        _first_pass(s, task)
    if state.shifted:
        _relist_until_stable(s)
    state.phase = "storing"
    tables.save_state(s.writer.connection, s.endpoint, state)
    s.writer.commit()


def _first_pass(s: CrawlSession, task: TaskID) -> None:
    conn, state = s.writer.connection, s.state
    while True:
        page = s.ctx.bridge.run(listing.page(s.box, state.next_page, per_page=state.per_page))
        performers = [p.model_copy(update={"endpoint": s.endpoint}) for p in page.performers]
        tables.add_listed(conn, s.endpoint, performers, (state.next_page - 1) * state.per_page)
        for performer in performers:
            state.high_water = listing.later(state.high_water, performer.updated)
        if state.first_count is None:
            state.first_count = page.count
        state.shifted = state.shifted or page.count != state.first_count
        state.listed = page.count
        state.next_page += 1
        tables.save_state(conn, s.endpoint, state)
        s.writer.commit()
        pages = max(1, -(-page.count // state.per_page))
        s.ctx.progress.update(task, total=pages, completed=min(pages, state.next_page - 1))
        if not performers or (state.next_page - 1) * state.per_page >= page.count:
            break
    state.first_pass_done = True
    tables.save_state(conn, s.endpoint, state)
    s.writer.commit()


def _relist_until_stable(s: CrawlSession, attempts: int = 3) -> None:
    """Performers deleted, merged or added while we listed slide the pages under us: one can be
    missed and a gone one queued. List everything again (a few dozen pages) until one whole pass
    sees the same catalogue size on every page; that pass is the truth: the queue takes its
    entries and drops what it did not list."""
    conn, state = s.writer.connection, s.state
    for _ in range(attempts):
        seen: dict[str, StashBoxPerformer] = {}
        counts: set[int] = set()
        number = 1
        while True:
            page = s.ctx.bridge.run(listing.page(s.box, number, per_page=state.per_page))
            counts.add(page.count)
            for performer in page.performers:
                seen[performer.id] = performer.model_copy(update={"endpoint": s.endpoint})
            if not page.performers or number * state.per_page >= page.count:
                break
            number += 1
        if len(counts) == 1 and len(seen) == counts.pop():
            break
    visited = tables.visited(conn, s.endpoint)
    queued = {p.id for p in tables.listed_performers(conn, s.endpoint)}
    tables.add_listed(conn, s.endpoint, [p for i, p in seen.items() if i not in visited], 0, replace=True)
    for stash_id in queued - set(seen):
        tables.unlist(conn, s.endpoint, stash_id)
    for stash_id in set(visited) - set(seen):
        remove_identity(s.writer, s.endpoint, stash_id)
    for performer in seen.values():
        state.high_water = listing.later(state.high_water, performer.updated)
    state.listed = len(seen)
    state.shifted = False
    tables.save_state(conn, s.endpoint, state)
    s.writer.commit()


def _store_listed(s: CrawlSession) -> None:
    performers = tables.listed_performers(s.writer.connection, s.endpoint)
    done = s.writer.connection.execute(
        "SELECT COUNT(*) FROM stashbox_performers WHERE endpoint = ?", (s.endpoint,)
    ).fetchone()[0]
    task = s.ctx.progress.add_task("stash-box performers", total=len(performers) + done, completed=done)
    store_performers(s, performers, lambda: s.ctx.progress.advance(task))


def store_performers(s: CrawlSession, performers: list[StashBoxPerformer], advance: object = None) -> int:
    """Download what the performers' chosen images still need, find their faces and store them.
    Returns the number of images downloaded (or read back from the journal's cache)."""
    jobs = []
    for performer in performers:
        chosen, to_fetch = needed_images(s.writer, performer, s.state.images_per_performer)
        jobs.append(_Job(performer, chosen, to_fetch))
    fetched = 0

    async def fetch(job: _Job) -> dict[str, bytes | BaseException]:
        import asyncio

        async def one(image: StashBoxImage) -> bytes:
            key = image_key(s.endpoint, image.id)
            cached = s.journal.cached_image(key)
            if cached is not None:
                return cached
            data = await s.box.fetch_image(image, size=s.state.image_width, priority=Priority.LOW)
            s.journal.save_image(key, data)
            return data

        got = await asyncio.gather(*(one(image) for image in job.to_fetch), return_exceptions=True)
        return {image_key(s.endpoint, image.id): data for image, data in zip(job.to_fetch, got)}

    for batch in prefetch_batches(s.ctx.bridge, jobs, fetch, _BATCH):
        # The batch's images are analysed together, so the worker pool spreads them over every core.
        results: dict[str, ImageFaces | str] = {}
        good: list[tuple[str, bytes]] = []
        for _, downloaded in batch:
            if isinstance(downloaded, BaseException):
                raise downloaded
            for key, data in downloaded.items():
                if isinstance(data, BaseException):
                    results[key] = fetch_skip_reason(data)  # raises when it is the server's fault: resume later
                else:
                    good.append((key, data))
        for (key, _), faces in zip(good, s.ctx.analyze_images([(data, key) for key, data in good])):
            results[key] = faces
        for job, _ in batch:
            store_performer(s.writer, job.performer, job.chosen, results)
            tables.unlist(s.writer.connection, s.endpoint, job.performer.id)
            s.writer.commit()
            if callable(advance):
                advance()
        s.journal.forget_images([key for key, _ in good])
        fetched += len(good)
    return fetched


def link_step(writer: FaceDBWriter) -> LinkReport | None:
    """Link performers across the stash-boxes crawled into this DB (none with a single one)."""
    conn = writer.connection
    if len(tables.crawled_endpoints(conn)) < 2:
        return None
    stranger = load_default_calibration(writer.model.model).stranger_profile[0]
    if not conn.in_transaction:
        conn.execute("BEGIN IMMEDIATE")
    report = link_performers(conn, dim=writer.model.dim, stranger_distance=stranger)
    writer.commit()
    return report


def finalize_crawl(writer: FaceDBWriter, endpoints: list[str]) -> Manifest:
    previous: list[str] = []
    if (writer.directory / "manifest.json").is_file():
        try:
            previous = list(load_manifest(writer.directory).sources)
        except Exception:  # noqa: BLE001 - a damaged manifest is rewritten; its history is lost
            previous = []
    sources = list(dict.fromkeys([*previous, *(sources_line(e) for e in endpoints)]))
    calibration = load_default_calibration(writer.model.model).to_dict()
    return writer.finalize(sources=sources, calibration=calibration)


def _report(writer: FaceDBWriter, manifest: Manifest, out: Path, endpoint: str, state: tables.CrawlState,
            started: float) -> CrawlReport:
    conn = writer.connection
    performers, with_faces, faces = conn.execute(
        """SELECT COUNT(DISTINCT i.performer_id),
                  COUNT(DISTINCT f.performer_id),
                  COUNT(DISTINCT f.id)
           FROM performer_ids i LEFT JOIN faces f ON f.performer_id = i.performer_id
           WHERE i.endpoint = ?""",
        (endpoint,),
    ).fetchone()
    totals = state.crawl
    return CrawlReport(
        out=str(out), endpoint=endpoint, db_version=manifest.db_version, performers=performers,
        performers_with_faces=with_faces, faces=faces, images_per_performer=state.images_per_performer,
        images_downloaded=totals.images_downloaded, images_downloaded_twice=totals.images_downloaded_twice,
        requests=totals.requests, throttled_429=totals.throttled_429,
        throttled_after_slowdown=totals.throttled_after_slowdown, seconds=totals.seconds,
        runs_seconds_now=round(time.monotonic() - started, 2),
    )
