"""Stage 2 (optional): several images per performer from a stash-box (StashDB, FansDB, ...).

Only performers of the user's own Stash that are linked to that stash-box are fetched; their
faces go to the DB performer holding that identity. Stash keeps one image per performer,
stash-box several: this is what lifts most performers out of the one-face bucket.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

from pydantic import BaseModel

from ...stash.client import StashClient
from ...stash.errors import StashNotFoundError
from ...stash.models import Performer, StashBoxPerformer, normalize_endpoint, stash_id_for
from ...stash.ratelimit import Priority
from ...stash.stashbox import StashBoxClient
from ..errors import IdentityConflictError
from ..types import Identity
from .context import BuildContext, fetch_skip_reason, prefetch_batches
from .stash_performers import IDENTITY_CONFLICT, upsert_stash_performer

# Performers (each with several images) downloaded ahead of the face pipeline.
_BATCH = 4
# Width asked of the stash-box image server: a face needs ~150 px, full-size uploads can be
# several MB; this keeps faces sharp at a fraction of the transfer.
IMAGE_WIDTH = 800
PERFORMER_KEY = "stash-box:"
IMAGE_KEY = "stash-box-image:"


class StashBoxBuildReport(BaseModel):
    endpoint: str
    performers_linked: int
    performers_fetched_now: int
    images_processed_now: int
    faces_added_now: int
    skipped_now: dict[str, int]


@dataclass
class _Fetched:
    performer: StashBoxPerformer | None = None
    images: list[tuple[str, str, bytes | BaseException]] = field(default_factory=list)  # (key, image id, data)
    missing: bool = False


def add_stashbox_images(
    ctx: BuildContext,
    stash: StashClient,
    box: StashBoxClient,
    performers: list[Performer],
    db_ids: dict[str, int],
    *,
    images_per_performer: int,
) -> StashBoxBuildReport:
    """Add up to ``images_per_performer`` stash-box images to each linked performer.

    ``db_ids`` (Stash performer id -> DB performer id) is extended with performers that had no
    Stash image but are linked, since stash-box faces now give them a place in the DB.
    """
    endpoint = normalize_endpoint(box.endpoint)
    done_images = {
        row[0]
        for row in ctx.writer.connection.execute(
            "SELECT source_key FROM sources_done WHERE source_key LIKE ?", (f"{IMAGE_KEY}{endpoint}#%",)
        )
    }
    skipped: Counter[str] = Counter()
    pending: list[tuple[int, str, str]] = []  # (DB performer id, stash-box id, performer key)
    linked = 0
    for performer in performers:
        sid = stash_id_for(performer.stash_ids, endpoint)
        if sid is None:
            continue
        linked += 1
        key = f"{PERFORMER_KEY}{Identity(endpoint, sid.stash_id.strip())}"
        if ctx.writer.is_source_done(key):
            continue
        pid = db_ids.get(performer.id)
        if pid is None:
            try:
                pid = upsert_stash_performer(ctx, stash, performer)
            except IdentityConflictError:
                skipped[IDENTITY_CONFLICT] += 1
                continue
            db_ids[performer.id] = pid
        pending.append((pid, sid.stash_id.strip(), key))
    ctx.writer.commit()

    async def fetch(job: tuple[int, str, str]) -> _Fetched:
        _, box_id, key = job
        try:
            found = await box.find_performer(box_id, priority=Priority.LOW)
        except StashNotFoundError:
            return _Fetched(missing=True)
        if found.deleted or found.merged_into_id:
            return _Fetched(performer=found)
        chosen = box.best_images(found, images_per_performer)
        image_keys = [f"{IMAGE_KEY}{endpoint}#{box_id}/{image.id}" for image in chosen]
        wanted = [(k, image) for k, image in zip(image_keys, chosen) if k not in done_images]
        data = await asyncio.gather(
            *(box.fetch_image(image, size=IMAGE_WIDTH, priority=Priority.LOW) for _, image in wanted),
            return_exceptions=True,
        )
        return _Fetched(performer=found, images=[(k, image.id, d) for (k, image), d in zip(wanted, data)])

    fetched_now = processed = added = 0
    task = ctx.progress.add_task("stash-box performers", total=len(pending))
    for batch in prefetch_batches(ctx.bridge, pending, fetch, _BATCH):
        for (pid, box_id, key), outcome in batch:
            if isinstance(outcome, BaseException):
                raise outcome  # the stash-box itself failed (unreachable, bad key): stop, resume later
            fetched_now += 1
            if outcome.missing:
                ctx.writer.mark_source_done(key, "skipped", "not found on the stash-box")
                skipped["performer not found on the stash-box"] += 1
                continue
            assert outcome.performer is not None
            if outcome.performer.deleted or outcome.performer.merged_into_id:
                reason = "performer deleted or merged on the stash-box"
                ctx.writer.mark_source_done(key, "skipped", reason)
                skipped[reason] += 1
                continue
            good = []
            for image_key, image_id, data in outcome.images:
                if isinstance(data, BaseException):
                    reason = fetch_skip_reason(data)
                    ctx.writer.mark_source_done(image_key, "skipped", reason)
                    skipped[reason] += 1
                else:
                    good.append((image_key, image_id, data))
            results = ctx.analyze_images([(data, f"stash-box image {image_id}") for _, image_id, data in good])
            for (image_key, image_id, _), result in zip(good, results):
                reason = ctx.store_image(pid, image_key, result, {"stashbox_image_id": image_id})
                if reason is None:
                    added += 1
                else:
                    skipped[reason] += 1
            processed += len(outcome.images)
            ctx.writer.mark_source_done(key)
        ctx.progress.advance(task, len(batch))
    return StashBoxBuildReport(
        endpoint=box.endpoint,
        performers_linked=linked,
        performers_fetched_now=fetched_now,
        images_processed_now=processed,
        faces_added_now=added,
        skipped_now=dict(skipped),
    )
