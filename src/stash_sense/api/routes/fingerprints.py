"""Bulk scene fingerprints: coverage, and the background job that fills it in."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from stash_sense.api.deps import Sidecar, get_sidecar
from stash_sense.api.errors import COMMON_ERRORS, bad_request, error_responses
from stash_sense.api.schemas import FingerprintStatus, GenerateRequest, JobProgress, RefreshAllResponse
from stash_sense.stash import Priority, StashError

router = APIRouter(prefix="/recommendations/fingerprints", tags=["fingerprints"], responses=error_responses(*COMMON_ERRORS))


@router.get("/status", response_model=FingerprintStatus, summary="Fingerprint coverage of the Stash library")
async def fingerprint_status(sidecar: Sidecar = Depends(get_sidecar)) -> FingerprintStatus:
    """Answers from the local database even when Stash is down (then ``total_scenes`` is null)."""
    version = sidecar.face_db.current_version()
    coverage = sidecar.fingerprints.coverage(version)
    total: int | None = None
    stash_error: str | None = None
    if sidecar.stash.client is None:
        stash_error = "Stash is not configured (set STASH_URL)"
    else:
        try:
            total = await sidecar.stash.client.count_scenes(priority=Priority.NORMAL)
        except StashError as exc:
            stash_error = str(exc)
    return FingerprintStatus(
        face_db_version=version, total_scenes=total, fingerprinted=coverage.complete,
        coverage=round(min(1.0, coverage.complete / total), 4) if total else (None if total is None else 0.0),
        needs_refresh=coverage.needs_refresh, failed=coverage.failed, details=coverage, stash_error=stash_error,
        job=sidecar.jobs.progress(),
    )


@router.post(
    "/generate", response_model=JobProgress, summary="Start the bulk fingerprint job",
    responses=error_responses(409, 422, 503),
)
async def generate(body: GenerateRequest, sidecar: Sidecar = Depends(get_sidecar)) -> JobProgress:
    """Fingerprints every scene that has none (and, with ``refresh_outdated``, those made with
    another face-DB version) at low priority. Scenes already done are skipped, so starting
    again after a stop continues where it left off."""
    return await sidecar.jobs.start(refresh_outdated=body.refresh_outdated, num_frames=body.num_frames)


@router.get("/progress", response_model=JobProgress, summary="Progress and ETA of the bulk job")
async def progress(sidecar: Sidecar = Depends(get_sidecar)) -> JobProgress:
    return sidecar.jobs.progress()


@router.post("/stop", response_model=JobProgress, summary="Stop the bulk job after the current scene")
async def stop(sidecar: Sidecar = Depends(get_sidecar)) -> JobProgress:
    return await sidecar.jobs.stop()


@router.post(
    "/refresh-all", response_model=RefreshAllResponse, summary="Redo every fingerprint (needs confirm=true)",
    responses=error_responses(400, 409, 503),
)
async def refresh_all(
    confirm: bool = Query(False, description="Must be true: every existing fingerprint will be regenerated."),
    sidecar: Sidecar = Depends(get_sidecar),
) -> RefreshAllResponse:
    if not confirm:
        raise bad_request("add ?confirm=true to regenerate every fingerprint", error="confirmation_required")
    marked, job = await sidecar.jobs.refresh_all()
    return RefreshAllResponse(marked_for_refresh=marked, job=job)
