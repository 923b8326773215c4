"""``/database/links``: performers linked across stash-boxes in the face DB, with the evidence
for each link, and undoing one (a new DB version, hot-swapped in)."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Depends

from stash_sense.api.deps import Sidecar, get_sidecar
from stash_sense.api.errors import COMMON_ERRORS, bad_request, error_responses, not_found, unprocessable
from stash_sense.api.schemas import LinksResponse, PerformerLinkOut, UnlinkRequest, UnlinkResponse
from stash_sense.facedb.crawl.edits import read_links, unlink_identity

router = APIRouter(prefix="/database", tags=["database"], responses=error_responses(*COMMON_ERRORS))


@router.get("/links", response_model=LinksResponse, summary="Performers linked across stash-boxes", responses=error_responses(503))
async def links(sidecar: Sidecar = Depends(get_sidecar)) -> LinksResponse:
    async with sidecar.face_db.lease(models=False) as recognizer:
        found = await anyio.to_thread.run_sync(read_links, recognizer.db.directory)
        return LinksResponse(
            db_version=recognizer.db.version,
            links=[
                PerformerLinkOut(name=x.name, a=x.a, b=x.b, kind=x.evidence.kind, distance=x.evidence.distance, names=x.evidence.names)
                for x in found
            ],
        )


@router.post(
    "/links/unlink", response_model=UnlinkResponse, summary="Undo a cross-stash-box link",
    responses=error_responses(400, 404, 409, 422),
)
async def unlink(body: UnlinkRequest, sidecar: Sidecar = Depends(get_sidecar)) -> UnlinkResponse:
    """Splits the identity (with its stash-box's faces) back into its own performer in a new face-DB
    version, which is then swapped in; the two are never linked again. Identifications keep
    running on the DB in service meanwhile."""
    if not body.confirm:
        raise bad_request("set confirm: true to undo the link", error="confirmation_required")
    if "#" not in body.identity:
        raise bad_request("identity must be '<stash-box GraphQL URL>#<stash_id>'", error="invalid_identity")
    try:
        result = await anyio.to_thread.run_sync(unlink_identity, sidecar.face_db.directory, body.identity)
    except KeyError:
        raise not_found(f"no performer of the face DB holds {body.identity}") from None
    except ValueError as exc:
        raise unprocessable(str(exc), error="not_linked") from None
    await sidecar.face_db.reload(sidecar.face_db.directory)
    return UnlinkResponse(
        split=result["split"], kept=result["from"], previous_version=result["previous_version"], db_version=result["db_version"]
    )
