"""``/database/info`` and ``/database/reload`` (face-DB hot swap)."""

from __future__ import annotations

from pathlib import Path

import anyio
from fastapi import APIRouter, Depends

from stash_sense.api.deps import Sidecar, get_sidecar
from stash_sense.api.errors import COMMON_ERRORS, bad_request, error_responses
from stash_sense.api.schemas import DatabaseInfo, ReloadRequest, ReloadResponse

router = APIRouter(prefix="/database", tags=["database"], responses=error_responses(*COMMON_ERRORS))


@router.get("/info", response_model=DatabaseInfo, summary="The loaded face DB", responses=error_responses(503))
async def database_info(sidecar: Sidecar = Depends(get_sidecar)) -> DatabaseInfo:
    async with sidecar.face_db.lease(models=False, during_swap=True) as recognizer:
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

    Identification requests made during the swap get 503 with ``Retry-After``; all other
    endpoints keep working. When verification fails the current DB stays in use (422).
    """
    if not body.confirm:
        raise bad_request("set confirm: true to swap the face DB", error="confirmation_required")
    target = None
    if body.path is not None:
        if "\x00" in body.path or not body.path.strip():
            raise bad_request("path must be a directory path", error="invalid_path")
        target = Path(body.path).expanduser()
    return await sidecar.face_db.reload(target)
