"""The sidecar's FastAPI application: ``create_app(settings)``.

Middleware, outermost first: last-resort error handler, security headers, CORS (Stash's origin
only), API-key check, request limits (body size and time). Models and the face DB are not
loaded here: the first identification loads them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from stash_sense import __version__
from stash_sense.api.auth import API_KEY_HEADER, ApiKeyAuth, auth_dependencies
from stash_sense.api.db_update import FaceDBUpdater
from stash_sense.api.deps import Sidecar
from stash_sense.api.errors import install_error_handlers
from stash_sense.api.jobs import FingerprintJobs
from stash_sense.api.middleware import CatchAllErrors, RequestLimits, SecurityHeaders
from stash_sense.api.routes import (
    benchmarks,
    dashboard,
    database,
    database_links,
    effective_settings,
    fingerprints,
    health,
    identify,
    plugin_source,
    recommendations,
    scenes,
    stash_lookup,
)
from stash_sense.api.settings import Settings
from stash_sense.api.stash_access import StashAccess
from stash_sense.api.state import FaceDBState
from stash_sense.api.work import WorkPool
from stash_sense.userdb import FingerprintStore, JobStore, UserDB

log = logging.getLogger("stash_sense.api")

DESCRIPTION = """Local face-recognition sidecar for Stash.

When the sidecar has an API key (`STASH_SENSE_API_KEY`), send it as `X-API-Key` or
`Authorization: Bearer` on every request except `GET /health` and the Stash plugin source
(`GET /plugin/index.yml`, `GET /plugin/stash-sense.zip`). Errors are JSON:
`{"error": code, "detail": message}`.
"""


def build_sidecar(settings: Settings) -> Sidecar:
    """Every long-lived object of one server (cheap: nothing heavy is loaded)."""
    user_db = UserDB.open(settings.user_db_path)
    store = FingerprintStore(user_db)
    job_store = JobStore(user_db)
    face_db = FaceDBState(settings.face_db_dir)
    stash = StashAccess(settings)
    work = WorkPool(settings.concurrency, max_queue=settings.max_queue, queue_timeout_s=settings.queue_timeout_s)
    jobs = FingerprintJobs(settings, store, job_store, face_db, stash, work)
    return Sidecar(
        settings=settings, face_db=face_db, stash=stash, work=work, user_db=user_db, fingerprints=store,
        job_store=job_store, jobs=jobs, db_update=FaceDBUpdater(settings, face_db),
    )


def create_app(settings: Settings) -> FastAPI:
    sidecar = build_sidecar(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        watcher = None
        if settings.db_watch_interval_s > 0:
            watcher = asyncio.create_task(sidecar.face_db.watch(settings.db_watch_interval_s), name="face-db-watcher")
        sidecar.jobs.resume_interrupted()
        try:
            yield
        finally:
            await sidecar.jobs.shutdown()
            await sidecar.db_update.shutdown()
            analyses = getattr(_app.state, "analysis_jobs", None)
            if analyses is not None:
                await analyses.shutdown()
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            await sidecar.stash.aclose()
            sidecar.work.shutdown()
            sidecar.face_db.close()
            sidecar.user_db.close()

    app = FastAPI(
        title="Stash Sense", version=__version__, description=DESCRIPTION, lifespan=lifespan,
        docs_url="/docs", redoc_url="/redoc", openapi_url="/openapi.json",
    )
    app.state.sidecar = sidecar
    install_error_handlers(app)

    protected = auth_dependencies(settings.api_key is not None)
    app.include_router(health.public)
    for module in (health, database, database_links, identify, scenes, fingerprints):
        app.include_router(module.router, dependencies=protected)
    for module in (stash_lookup, benchmarks, effective_settings):
        app.include_router(module.router, dependencies=protected)
    app.include_router(recommendations.router, dependencies=protected)
    app.include_router(dashboard.router)
    app.include_router(plugin_source.router)  # public: Stash fetches a plugin source without headers

    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    app.add_middleware(
        RequestLimits, max_body_bytes=settings.max_body_bytes, body_timeout_s=settings.body_timeout_s,
        request_timeout_s=settings.request_timeout_s,
    )
    app.add_middleware(ApiKeyAuth, api_key=api_key)
    app.add_middleware(
        CORSMiddleware, allow_origins=settings.allowed_origins, allow_methods=["GET", "POST"],
        allow_headers=[API_KEY_HEADER, "Authorization", "Content-Type"], allow_credentials=False, max_age=600,
    )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(CatchAllErrors)
    return app
