"""Build a face DB from the user's Stash: performer images, optionally stash-box images and
faces from scenes tagged with exactly one performer.

Stages, in order (later ones need the reference faces of earlier ones):

1. every Stash performer with a real image (:mod:`.sources.stash_performers`);
2. ``stashbox_endpoint``: several images per linked performer from that stash-box
   (:mod:`.sources.stashbox`);
3. ``enrich_from_scenes``: faces from one-performer scenes that surely are that performer
   (:mod:`.sources.stash_scenes`).

Resumable like the folder build: each performer image, stash-box performer and image, and
scene is a source recorded as done together with its faces, so re-running skips finished work
(and a second run with another stage adds to the same DB). Every request goes through the Stash
(or stash-box) rate limiter at LOW priority, so interactive use of the sidecar stays responsive.
"""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import BaseModel

from ..faces.pipeline import FacePipeline
from ..matching.calibration import load_default_calibration
from ..stash.client import StashClient
from ..stash.errors import StashError
from ..stash.media import StashBridge
from ..stash.models import Performer, StashBoxConfig, normalize_endpoint
from ..stash.ratelimit import Priority
from ..stash.stashbox import StashBoxClient
from .build_common import build_embedder, face_counts, model_info, progress_bar
from .manifest import load_manifest
from .sources.context import BuildContext
from .sources.stash_performers import IDENTITY_CONFLICT, NO_IMAGE, PerformerStage, add_performer_images
from .sources import stash_scenes
from .sources.stash_scenes import EnrichParams, SceneEnrichReport
from .sources.stashbox import StashBoxBuildReport, add_stashbox_images
from .writer import FaceDBWriter

DEFAULT_STASHBOX_IMAGES = 5
# Listing a whole library: fewer, larger pages cost Stash less than many small ones.
BULK_PAGE = 250


class StashBuildError(ValueError):
    """The build cannot start as asked (e.g. no key for the stash-box); the message says what to do."""


class StashBuildReport(BaseModel):
    out: str
    db_version: str
    stash_url: str
    performers_in_stash: int
    performers: int  # in the DB
    performers_with_faces: int
    performers_without_faces: list[str]
    faces: int
    performers_skipped: dict[str, int]  # Stash performers left out of the DB, by reason
    performers_without_image: list[str]
    identity_conflicts: list[str]
    images_processed_now: int
    images_skipped_now: dict[str, int]
    sources_seen: int
    sources_skipped: dict[str, int]
    stashbox: StashBoxBuildReport | None = None
    scenes: SceneEnrichReport | None = None
    elapsed_s: float


def build_from_stash(
    url: str,
    out: Path,
    *,
    api_key: str | None = None,
    stashbox_endpoint: str | None = None,
    stashbox_api_key: str | None = None,
    stashbox_images: int = DEFAULT_STASHBOX_IMAGES,
    enrich_from_scenes: bool = False,
    enrich: EnrichParams = EnrichParams(),
    max_faces_per_performer: int | None = None,
    progress: bool = True,
    workers: int | None = None,
    embedder: str | None = None,
) -> StashBuildReport:
    """Build (or resume building) the face DB in ``out`` from the Stash at ``url``.

    ``stashbox_endpoint`` (its GraphQL URL) adds up to ``stashbox_images`` images per performer
    linked to it; its key is ``stashbox_api_key``, else the one configured in Stash.
    ``enrich_from_scenes`` adds faces from one-performer scenes. Raises
    :class:`~stash_sense.stash.StashError` subclasses (unreachable, 401, ...) with messages
    free of the key, and :class:`StashBuildError` for a request that cannot be served.
    """
    start = time.monotonic()
    if stashbox_images < 1:
        raise StashBuildError(f"stash-box images per performer must be at least 1, got {stashbox_images}")
    out = Path(out)
    pipeline = FacePipeline(embedder=build_embedder(embedder, out))
    model = model_info(pipeline)
    with StashBridge() as bridge:
        stash = StashClient(url, api_key)
        box: StashBoxClient | None = None
        try:
            # A cheap first call, so a wrong URL or key fails before the DB directory is touched.
            bridge.run(stash.version(priority=Priority.HIGH))
            if stashbox_endpoint:
                box = bridge.run(_stashbox_client(stash, stashbox_endpoint, stashbox_api_key))
            performers = bridge.run(_all_performers(stash))
            with FaceDBWriter(out, model, pipeline.info.detector, resume=True) as writer, progress_bar(
                None, progress
            ) as bar:
                ctx = BuildContext(writer, bridge, pipeline, bar, workers)
                stage = add_performer_images(ctx, stash, performers)
                box_report = None
                if box is not None:
                    box_report = add_stashbox_images(
                        ctx, stash, box, performers, stage.db_ids, images_per_performer=stashbox_images
                    )
                scenes_report = None
                if enrich_from_scenes:
                    scenes_report = stash_scenes.enrich_from_scenes(ctx, stash, stage.db_ids, enrich)
                if max_faces_per_performer:
                    writer.cap_faces_per_performer(max_faces_per_performer)
                sources = _sources(out, stash, box, enrich_from_scenes)
                calibration = load_default_calibration(model.model).to_dict()
                manifest = writer.finalize(sources=sources, calibration=calibration)
                outcomes = writer.source_outcomes()
                counts = face_counts(writer)
        finally:
            bridge.run(stash.aclose())
            if box is not None:
                bridge.run(box.aclose())
    return StashBuildReport(
        out=str(out),
        db_version=manifest.db_version,
        stash_url=stash.url,
        performers_in_stash=stage.in_stash,
        performers=len(counts.faces),
        performers_with_faces=counts.with_faces,
        performers_without_faces=counts.without_faces(),
        faces=counts.total,
        performers_skipped=_performers_skipped(stage),
        performers_without_image=_left_out(stage),
        identity_conflicts=stage.conflicts,
        images_processed_now=stage.images_processed_now,
        images_skipped_now=dict(stage.skipped_now),
        sources_seen=sum(outcomes.values()),
        sources_skipped={k: v for k, v in outcomes.items() if k != "ok"},
        stashbox=box_report,
        scenes=scenes_report,
        elapsed_s=round(time.monotonic() - start, 2),
    )


async def _all_performers(stash: StashClient) -> list[Performer]:
    return [p async for p in stash.find_performers(per_page=BULK_PAGE, priority=Priority.LOW)]


async def _stashbox_client(stash: StashClient, endpoint: str, api_key: str | None) -> StashBoxClient:
    """A client for ``endpoint`` with the user's key, else the key and rate budget Stash has for it."""
    try:
        wanted = normalize_endpoint(endpoint)
    except ValueError as exc:
        raise StashBuildError(f"--from-stashbox: {exc}") from None
    configured: StashBoxConfig | None = None
    for box in await stash.stash_box_configs(priority=Priority.HIGH):
        try:
            if normalize_endpoint(box.endpoint) == wanted:
                configured = box
                break
        except ValueError:
            continue
    if api_key:
        rate = configured.requests_per_minute if configured else 240
        return StashBoxClient(endpoint, api_key, max_requests_per_minute=rate)
    if configured is not None and configured.api_key.get_secret_value():
        return StashBoxClient.from_config(configured)
    raise StashBuildError(
        f"no API key for stash-box {endpoint}: pass --stashbox-api-key, or add the key to that stash-box "
        f"in Stash (Settings > Metadata Providers), where this build reads it from"
    )


def _sources(out: Path, stash: StashClient, box: StashBoxClient | None, scenes: bool) -> list[str]:
    """What the DB was built from, accumulated over every build into this directory."""
    previous: list[str] = []
    if (out / "manifest.json").is_file():
        try:
            previous = list(load_manifest(out).sources)
        except Exception:  # a damaged manifest is rewritten by finalize; its history is lost
            previous = []
    now = [f"stash:{stash.url}"]
    if box is not None:
        now.append(f"stash-box:{box.endpoint}")
    if scenes:
        now.append(f"stash-scenes:{stash.url}")
    return list(dict.fromkeys([*previous, *now]))


def _left_out(stage: PerformerStage) -> list[str]:
    """Performers without a Stash image that no later stage gave a place in the DB."""
    return sorted(name for sid, name in stage.without_image.items() if sid not in stage.db_ids)


def _performers_skipped(stage: PerformerStage) -> dict[str, int]:
    skipped = {NO_IMAGE: len(_left_out(stage)), IDENTITY_CONFLICT: len(stage.conflicts)}
    return {k: v for k, v in skipped.items() if v}


__all__ = ["StashBuildError", "StashBuildReport", "StashError", "build_from_stash"]
