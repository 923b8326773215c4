"""``/stash/...``: what the dashboard needs from Stash (scene and performer search, identity
lookup, creating a performer from stash-box) and a fresh connection check."""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from stash_sense.api.deps import Sidecar, get_sidecar
from stash_sense.api.errors import COMMON_ERRORS, bad_request, error_responses
from stash_sense.api.lookup import (
    CreateFromStashBoxRequest,
    CreateFromStashBoxResponse,
    PerformerSearchResponse,
    ResolveRequest,
    ResolveResponse,
    SceneSearchResponse,
    performer_summary,
    search_performers,
    search_scenes,
)
from stash_sense.api.schemas import StashStatus
from stash_sense.api.stash_access import stash_error
from stash_sense.app.performers import create_from_stashbox
from stash_sense.app.resolution import IdentityResolver
from stash_sense.stash import Priority, StashError

log = logging.getLogger("stash_sense.api")

router = APIRouter(prefix="/stash", tags=["stash"], responses=error_responses(*COMMON_ERRORS))


class ConnectionTest(BaseModel):
    stash: StashStatus
    elapsed_s: float


@router.get("/scenes", response_model=SceneSearchResponse, summary="Find Stash scenes by title or id", responses=error_responses(502, 503))
async def find_scenes(
    q: str = Query("", max_length=200, description="Title words, or a scene id."), sidecar: Sidecar = Depends(get_sidecar)
) -> SceneSearchResponse:
    stash = sidecar.stash.require()
    try:
        scenes = await search_scenes(stash, q)
    except StashError as exc:
        raise stash_error(exc, "searching scenes") from None
    return SceneSearchResponse(query=q, scenes=scenes)


@router.get(
    "/performers",
    response_model=PerformerSearchResponse,
    summary="Find Stash performers by name or alias",
    responses=error_responses(502, 503),
)
async def find_performers(q: str = Query("", max_length=200), sidecar: Sidecar = Depends(get_sidecar)) -> PerformerSearchResponse:
    stash = sidecar.stash.require()
    try:
        performers = await search_performers(stash, q)
    except StashError as exc:
        raise stash_error(exc, "searching performers") from None
    return PerformerSearchResponse(query=q, performers=performers)


@router.post(
    "/resolve", response_model=ResolveResponse, summary="Which Stash performer each identity names", responses=error_responses(502, 503)
)
async def resolve_identities(body: ResolveRequest, sidecar: Sidecar = Depends(get_sidecar)) -> ResolveResponse:
    """For each identity from an identification: the one Stash performer it names (this Stash's
    own id, a stash-box link, or the exact name for a folder DB), else why not and whether it
    can be created from a stash-box configured in Stash. A scene identification already carries
    these for its candidates (``resolutions``)."""
    stash = sidecar.stash.require()
    resolver = IdentityResolver(stash, priority=Priority.HIGH)
    try:
        results = [await resolver.resolve(identity) for identity in dict.fromkeys(body.identities)]
    except StashError as exc:
        raise stash_error(exc, "looking up performers") from None
    return ResolveResponse(results=results)


@router.post(
    "/performers/from-stashbox",
    response_model=CreateFromStashBoxResponse,
    summary="Create a performer from its stash-box entry (and add it to a scene)",
    responses=error_responses(400, 404, 422, 502, 503),
)
async def performer_from_stashbox(body: CreateFromStashBoxRequest, sidecar: Sidecar = Depends(get_sidecar)) -> CreateFromStashBoxResponse:
    """Name, disambiguation, aliases, portrait and the stash ID come from the stash-box that Stash
    has configured for the identity's endpoint (with Stash's key for it). A performer already
    linked to that stash ID is reused, never duplicated."""
    if not body.confirm:
        raise bad_request("set confirm: true to create the performer in Stash", error="confirmation_required")
    stash = sidecar.stash.require()
    try:
        if body.scene_id is not None:
            await stash.find_scene(body.scene_id, priority=Priority.CRITICAL)
        performer, created = await create_from_stashbox(stash, body.identity)
        after: list[str] = []
        if body.scene_id is not None:
            updated = await stash.add_performers_to_scenes([body.scene_id], [performer.id], priority=Priority.CRITICAL)
            after = next((u.performer_ids for u in updated if u.id == body.scene_id), [])
    except StashError as exc:
        raise stash_error(exc, "creating the performer") from None
    if created:
        log.info("created performer %s (%s) from stash-box", performer.id, performer.name)
    return CreateFromStashBoxResponse(
        performer=performer_summary(performer),
        created=created,
        scene_id=body.scene_id,
        scene_performer_ids=after,
    )


@router.post(
    "/test-connection",
    response_model=ConnectionTest,
    summary="Check Stash now (bypasses the cached health check)",
    responses=error_responses(503),
)
async def test_connection(sidecar: Sidecar = Depends(get_sidecar)) -> ConnectionTest:
    sidecar.stash.require()
    started = time.monotonic()
    status = await sidecar.stash.status(fresh=True)
    return ConnectionTest(stash=status, elapsed_s=round(time.monotonic() - started, 3))
