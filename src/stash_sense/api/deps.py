"""The per-application state the routes share, and the FastAPI dependency that hands it out."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request

from stash_sense.api.media import ThumbnailCache
from stash_sense.api.settings import Settings
from stash_sense.api.stash_access import StashAccess
from stash_sense.api.state import FaceDBState
from stash_sense.api.work import WorkPool
from stash_sense.userdb import FingerprintStore, JobStore, UserDB

if TYPE_CHECKING:
    from stash_sense.api.db_update import FaceDBUpdater
    from stash_sense.api.jobs import FingerprintJobs


@dataclass(eq=False)
class Sidecar:
    settings: Settings
    face_db: FaceDBState
    stash: StashAccess
    work: WorkPool
    user_db: UserDB
    fingerprints: FingerprintStore
    job_store: JobStore
    jobs: FingerprintJobs
    db_update: FaceDBUpdater
    thumbnails: ThumbnailCache = field(default_factory=ThumbnailCache)
    started_at: float = field(default_factory=time.monotonic)


def get_sidecar(request: Request) -> Sidecar:
    sidecar: Sidecar = request.app.state.sidecar
    return sidecar
