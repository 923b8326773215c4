"""``/health``, ``/health/rate-limiter`` and ``/capabilities``."""

from __future__ import annotations

import platform
import time

from fastapi import APIRouter, Depends

from stash_sense import __version__
from stash_sense.api.deps import Sidecar, get_sidecar
from stash_sense.api.errors import COMMON_ERRORS, error_responses
from stash_sense.api.schemas import (
    Capabilities,
    Features,
    HealthResponse,
    Limits,
    ModelsInfo,
    RateLimiterResponse,
    Signals,
    WorkStatus,
)
from stash_sense.stash.ratelimit import registry

public = APIRouter(tags=["health"])
router = APIRouter(tags=["health"], responses=error_responses(*COMMON_ERRORS))


@public.get("/health", response_model=HealthResponse, summary="Liveness and readiness (no API key needed)")
async def health(sidecar: Sidecar = Depends(get_sidecar)) -> HealthResponse:
    """Always 200 while the process serves; ``status`` says whether everything is usable."""
    db = sidecar.face_db.status()
    stash = await sidecar.stash.status()
    work = sidecar.work.stats()
    degraded = not db.available or (stash.configured and not stash.reachable)
    # /health is public: no paths or server addresses in it (/capabilities has the details).
    if db.error:
        db = db.model_copy(update={"error": "face DB not available"})
    if stash.error:
        stash = stash.model_copy(update={"error": "Stash is unreachable or refuses the sidecar's key"})
    return HealthResponse(
        status="degraded" if degraded else "ok", version=__version__, python=platform.python_version(),
        uptime_s=round(time.monotonic() - sidecar.started_at, 1), face_db=db, models_loaded=sidecar.face_db.models_loaded,
        stash=stash, work=WorkStatus(workers=work.workers, running=work.running, queued=work.queued),
    )


@router.get("/health/rate-limiter", response_model=RateLimiterResponse, summary="Stash rate limiter metrics")
async def rate_limiter() -> RateLimiterResponse:
    return RateLimiterResponse(limiters=registry.metrics())


@router.get("/capabilities", response_model=Capabilities, summary="What this sidecar can do right now")
async def capabilities(sidecar: Sidecar = Depends(get_sidecar)) -> Capabilities:
    db = sidecar.face_db.status()
    stash = await sidecar.stash.status()
    detector, embedder = sidecar.face_db.model_names()
    settings = sidecar.settings
    stash_ok = bool(stash.configured and stash.reachable)
    return Capabilities(
        face_db=db,
        models=ModelsInfo(detector=detector, embedder=embedder, loaded=sidecar.face_db.models_loaded),
        stash=stash,
        features=Features(
            identify_image=db.available, identify_scene_url=db.available, identify_stash_scene=db.available and stash_ok,
            apply_to_stash=stash_ok, fingerprints=db.available and stash_ok, local_paths=bool(settings.media_roots),
        ),
        signals=Signals(),
        limits=Limits(
            max_upload_bytes=settings.max_upload_bytes, max_image_pixels=settings.max_image_pixels,
            concurrency=settings.concurrency, max_queue=settings.max_queue, request_timeout_s=settings.request_timeout_s,
        ),
        thumbnail_formats=["data_url", "url", "none"],
    )
