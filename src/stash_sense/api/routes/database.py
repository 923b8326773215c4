"""``/database/info``, ``/database/reload`` (face-DB hot swap) and ``/database/update`` (install a
newer release from ``STASH_SENSE_FACE_DB_SOURCE``)."""

from __future__ import annotations

from pathlib import Path

import anyio
from fastapi import APIRouter, Depends

from stash_sense.api.deps import Sidecar, get_sidecar
from stash_sense.api.errors import COMMON_ERRORS, bad_request, error_responses
from stash_sense.api.schemas import DatabaseInfo, ReloadRequest, ReloadResponse, UpdateCheck, UpdateProgress, UpdateRequest

router = APIRouter(prefix="/database", tags=["database"], responses=error_responses(*COMMON_ERRORS))


@router.get("/info", response_model=DatabaseInfo, summary="The loaded face DB", responses=error_responses(503))
async def database_info(sidecar: Sidecar = Depends(get_sidecar)) -> DatabaseInfo:
    async with sidecar.face_db.lease(models=False) as recognizer:
        db = recognizer.db
        stats = await anyio.to_thread.run_sync(db.stats)
        m = db.manifest
        return DatabaseInfo(
            directory=str(db.directory), db_version=m.db_version, created_at=m.created_at, performers=m.counts.performers,
            faces=m.counts.faces, performers_with_faces=m.counts.performers_with_faces, embedding_model=m.embedding.model,
            embedding_dim=m.embedding.dim, detector=m.detector, sources=list(m.sources), index=m.index.type if m.index else None,
            face_count_buckets={name: share.count for name, share in stats.buckets.items()},
        )


@router.post(
    "/reload", response_model=ReloadResponse, summary="Verify and hot-swap the face DB",
    responses=error_responses(400, 409, 422),
)
async def reload_database(body: ReloadRequest, sidecar: Sidecar = Depends(get_sidecar)) -> ReloadResponse:
    """Checks the DB's checksums, SQLite integrity and index, then swaps it in atomically.

    Identifications keep running on the DB in service until the new one is open; later ones use
    the new one. When verification fails the current DB stays in use (422).
    """
    if not body.confirm:
        raise bad_request("set confirm: true to swap the face DB", error="confirmation_required")
    target = None
    if body.path is not None:
        if "\x00" in body.path or not body.path.strip():
            raise bad_request("path must be a directory path", error="invalid_path")
        target = Path(body.path).expanduser()
    return await sidecar.face_db.reload(target)


@router.get("/update", response_model=UpdateCheck, summary="Is a newer face DB offered?")
async def check_update(sidecar: Sidecar = Depends(get_sidecar)) -> UpdateCheck:
    """Reads only the small ``.manifest.json`` beside the configured pack: the version offered, whether
    it is a delta that applies to the installed version, and its size. An unreachable source is
    reported in ``error`` (status 200); the update job's state is in ``job``."""
    return await sidecar.db_update.check()


@router.post(
    "/update", response_model=UpdateProgress, status_code=202, summary="Download, verify and install the offered face DB",
    responses=error_responses(400, 409, 502),
)
async def start_update(body: UpdateRequest, sidecar: Sidecar = Depends(get_sidecar)) -> UpdateProgress:
    """Starts the update job; follow it with ``GET /database/update/status``.

    The pack is downloaded, checked against its sha256, unpacked (a delta is applied) and every
    file verified before the new version is published and hot-swapped in; identifications keep
    running on the old DB meanwhile. Any failure leaves (or puts back) the old DB in service.
    """
    if not body.confirm:
        raise bad_request("set confirm: true to update the face DB", error="confirmation_required")
    return await sidecar.db_update.start()


@router.get("/update/status", response_model=UpdateProgress, summary="Progress of the face-DB update job")
async def update_status(sidecar: Sidecar = Depends(get_sidecar)) -> UpdateProgress:
    return sidecar.db_update.progress()
