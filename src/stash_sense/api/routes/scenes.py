"""``POST /identify/scene``, ``POST /identify/scene/{scene_id}/apply`` and scene thumbnails."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response

from stash_sense.api.deps import Sidecar, get_sidecar
from stash_sense.api.errors import COMMON_ERRORS, bad_request, error_responses, not_found, unprocessable, upstream
from stash_sense.api.identification import identify_scene
from stash_sense.api.media import data_url_bytes
from stash_sense.api.scene_sources import SourcePlan, plan_for_request, plan_for_scene
from stash_sense.api.schemas import (
    STASH_ID_PATTERN,
    ApplyRequest,
    ApplyResponse,
    SceneIdentifyRequest,
    SceneIdentifyResponse,
)
from stash_sense.api.stash_access import stash_error
from stash_sense.api.url_guard import UrlGuard
from stash_sense.app.performers import add_to_scene
from stash_sense.app.stash_scene import StashSceneIdentification, identify_stash_scene
from stash_sense.media import FrameSourceError
from stash_sense.scenes.params import SceneParams
from stash_sense.scenes.result import SceneIdentification
from stash_sense.stash import Priority, Scene, StashError
from stash_sense.userdb import fingerprint_from_result

log = logging.getLogger("stash_sense.api")

router = APIRouter(prefix="/identify", tags=["scenes"], responses=error_responses(*COMMON_ERRORS))

THUMBNAIL_PATH = "/identify/thumbnails/"


def _externalise_thumbnails(result: SceneIdentification, sidecar: Sidecar) -> None:
    """Replace inline data URLs by short-lived URLs served from the thumbnail cache."""
    for person in result.persons:
        if person.thumbnail:
            jpeg = data_url_bytes(person.thumbnail)
            person.thumbnail = THUMBNAIL_PATH + sidecar.thumbnails.put(jpeg) if jpeg else None
        urls = []
        for data_url in person.thumbnails:
            jpeg = data_url_bytes(data_url)
            if jpeg:
                urls.append(THUMBNAIL_PATH + sidecar.thumbnails.put(jpeg))
        person.thumbnails = urls


@router.post(
    "/scene", response_model=SceneIdentifyResponse, summary="Identify the performers in a scene",
    responses=error_responses(400, 404, 422, 502, 503, 504),
)
async def identify_scene_route(body: SceneIdentifyRequest, sidecar: Sidecar = Depends(get_sidecar)) -> SceneIdentifyResponse:
    """Frames come from a Stash scene (``scene_id``: stream, else sprites, else screenshot) or
    from ``url``. Every engine parameter can be set in ``params``. For a Stash scene, performers
    already on it get the small tagged boost (``boost_tagged``), every candidate comes back
    resolved in Stash (``resolutions``), and the fingerprint is saved unless
    ``save_fingerprint`` is false."""
    params = body.params
    if body.thumbnail_format == "none" and params.thumbnails:
        params = params.model_copy(update={"thumbnails": False})
    if body.scene_id is not None:
        found = await _identify_stash_scene(body, params, sidecar)
        result, resolutions = found.result, found.resolutions
    else:
        result, resolutions = await _identify_url(body, params, sidecar), None
    saved = False
    if body.scene_id is not None and body.save_fingerprint:
        sidecar.fingerprints.save(fingerprint_from_result(body.scene_id, result))
        saved = True
    if body.thumbnail_format == "url":
        _externalise_thumbnails(result, sidecar)
    return SceneIdentifyResponse(scene_id=body.scene_id, fingerprint_saved=saved, result=result, resolutions=resolutions)


async def _identify_stash_scene(body: SceneIdentifyRequest, params: SceneParams, sidecar: Sidecar) -> StashSceneIdentification:
    """The application's Stash-scene use case, with frames decoded in the sidecar's worker pool."""
    assert body.scene_id is not None
    stash = sidecar.stash.require()

    async def run(scene: Scene, scene_params: SceneParams) -> SceneIdentification:
        plan = plan_for_scene(sidecar.stash, scene, kind=body.source, timeout=sidecar.settings.fetch_timeout_s, video_mode=body.video_mode)
        if not any((plan.video, plan.sprite_vtt, plan.screenshot)):
            raise unprocessable(f"scene {body.scene_id} has no stream, sprite or screenshot in Stash", error="no_frames")
        await stash.limiter.acquire(Priority.HIGH)  # opening Stash's video is a Stash request too
        async with sidecar.face_db.lease() as recognizer:
            return await sidecar.work.run(
                identify_scene, recognizer, plan, scene_params, priority=Priority.HIGH, what="scene identification"
            )

    try:
        return await identify_stash_scene(stash, body.scene_id, params, run, boost_tagged=body.boost_tagged, priority=Priority.HIGH)
    except StashError as exc:
        raise stash_error(exc, f"identifying scene {body.scene_id}") from None
    except FrameSourceError as exc:
        raise upstream(f"no usable frames from Stash for scene {body.scene_id}: {exc}", error="stash_media") from None


async def _identify_url(body: SceneIdentifyRequest, params: SceneParams, sidecar: Sidecar) -> SceneIdentification:
    settings = sidecar.settings
    guard = UrlGuard.from_settings(settings)
    # Fail fast with a clear message; the plan's fetches are guarded again, connection by
    # connection and redirect by redirect, so a second DNS answer cannot get past this.
    for name, spec in (
        ("url", body.url),
        ("sprite_vtt", body.sprite_vtt),
        ("sprite_image", body.sprite_image),
        ("screenshot", body.screenshot),
    ):
        if spec and "://" in spec and spec.split("://", 1)[0].lower() in ("http", "https"):
            await guard.check(spec, name)
    plan: SourcePlan = plan_for_request(
        sidecar.stash,
        url=body.url or "",
        sprite_vtt=body.sprite_vtt,
        sprite_image=body.sprite_image,
        screenshot=body.screenshot,
        kind=body.source,
        roots=settings.media_roots,
        timeout=settings.fetch_timeout_s,
        video_mode=body.video_mode,
        guard=guard,
    )
    try:
        async with sidecar.face_db.lease() as recognizer:
            return await sidecar.work.run(identify_scene, recognizer, plan, params, priority=Priority.HIGH, what="scene identification")
    except FrameSourceError as exc:
        raise unprocessable(f"no usable frames: {exc}", error="no_frames") from None


@router.get(
    "/thumbnails/{token}",
    summary="A person thumbnail from a scene identification",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, **error_responses(404)},
)
async def thumbnail(token: str = Path(max_length=64), sidecar: Sidecar = Depends(get_sidecar)) -> Response:
    jpeg = sidecar.thumbnails.get(token)
    if jpeg is None:
        raise not_found("no such thumbnail (they expire an hour after the identification)")
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


@router.post(
    "/scene/{scene_id}/apply",
    response_model=ApplyResponse,
    summary="Add chosen performers to the scene in Stash",
    responses=error_responses(400, 404, 422, 502, 503),
)
async def apply_to_scene(
    body: ApplyRequest, scene_id: str = Path(pattern=STASH_ID_PATTERN), sidecar: Sidecar = Depends(get_sidecar)
) -> ApplyResponse:
    """Adds performers (Stash ids, or identities from an identification) to the scene, keeping
    the ones already there. Needs ``confirm: true``; nothing changes unless every performer
    resolves to exactly one Stash performer."""
    if not body.confirm:
        raise bad_request("set confirm: true to change the scene in Stash", error="confirmation_required")
    stash = sidecar.stash.require()
    try:
        update = await add_to_scene(stash, scene_id, body.performer_ids, body.identities, priority=Priority.CRITICAL)
    except StashError as exc:
        raise stash_error(exc, f"updating scene {scene_id}") from None
    log.info("scene %s: added performers %s", scene_id, ", ".join(p.performer_id for p in update.added))
    return ApplyResponse(
        scene_id=update.scene_id,
        added=update.added,
        scene_performer_ids=update.scene_performer_ids,
    )
