"""The bulk fingerprint job: fingerprint every Stash scene in the background, politely.

It runs as one task on the server's event loop, one scene at a time, with Stash requests at
LOW priority and engine calls at LOW priority in the shared work pool, so interactive
requests always go first. Its state lives in ``stash_sense.db`` (see
:mod:`stash_sense.userdb.jobs`): after a crash or restart the job resumes with the scenes it
had not finished, and a finished scene is never redone.
"""

from __future__ import annotations

import asyncio
import logging
import time

from stash_sense.api.errors import ApiError, unavailable
from stash_sense.api.identification import identify_scene
from stash_sense.api.scene_sources import plan_for_scene
from stash_sense.api.schemas import JobProgress, JobProgressStatus
from stash_sense.api.settings import Settings
from stash_sense.api.stash_access import StashAccess
from stash_sense.api.state import FaceDBState
from stash_sense.api.work import WorkPool
from stash_sense.app.stash_scene import identify_stash_scene
from stash_sense.media import FrameSourceError
from stash_sense.scenes.params import SceneParams
from stash_sense.scenes.result import SceneIdentification
from stash_sense.stash import Priority, Scene, StashAuthError, StashError, StashNotFoundError, StashUnreachableError
from stash_sense.userdb import FingerprintStore, JobRecord, JobStore, fingerprint_from_result

log = logging.getLogger("stash_sense.api.jobs")

# Stash unreachable this many times in a row: the job gives up (and can be started again).
MAX_CONSECUTIVE_STASH_FAILURES = 5
LIST_PAGE_SIZE = 500


class FingerprintJobs:
    def __init__(
        self, settings: Settings, store: FingerprintStore, job_store: JobStore, face_db: FaceDBState,
        stash: StashAccess, work: WorkPool,
    ) -> None:
        self.settings = settings
        self.store = store
        self.job_store = job_store
        self.face_db = face_db
        self.stash = stash
        self.work = work
        self._task: asyncio.Task[None] | None = None
        self._job_id: int | None = None
        self._stop = asyncio.Event()
        self._current_scene: str | None = None
        self._retry_delay = 1.0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    # -- control -------------------------------------------------------------------------------

    def _check_can_start(self) -> str:
        if self.running:
            raise ApiError(409, "job_running", f"fingerprint job {self._job_id} is already running; stop it first")
        self.stash.require()
        version = self.face_db.current_version()
        if version is None:
            raise unavailable(f"no face DB at {self.face_db.directory}: fingerprints need one", error="no_face_db")
        # A job left active by an earlier run that could not resume it is superseded now.
        leftover = self.job_store.active()
        if leftover is not None:
            self.job_store.set_status(leftover.id, "stopped", "superseded by a newer job")
        return version

    async def start(self, *, refresh_outdated: bool, num_frames: int | None) -> JobProgress:
        version = self._check_can_start()
        job = self.job_store.create(
            refresh_outdated=refresh_outdated, num_frames=num_frames or self.settings.fingerprint_frames, face_db_version=version
        )
        self._launch(job)
        return self.progress()

    async def refresh_all(self) -> tuple[int, JobProgress]:
        """Mark every fingerprint for refresh, then start a job that redoes them."""
        version = self._check_can_start()
        marked = self.store.mark_all_stale()
        job = self.job_store.create(refresh_outdated=True, num_frames=self.settings.fingerprint_frames, face_db_version=version)
        self._launch(job)
        return marked, self.progress()

    async def stop(self) -> JobProgress:
        """Ask the running job to stop after the scene in progress (that scene is kept)."""
        if self.running:
            self._stop.set()
        return self.progress()

    def resume_interrupted(self) -> JobRecord | None:
        """At start-up: continue the job that was running when the sidecar went down."""
        job = self.job_store.active()
        if job is None:
            return None
        if not self.stash.configured:
            log.warning("fingerprint job %s cannot resume: Stash is not configured", job.id)
            return None
        log.info("resuming fingerprint job %s (%s of %s scenes left)", job.id, job.remaining, job.total)
        self._launch(job)
        return job

    async def shutdown(self) -> None:
        """Stop the task without marking the job stopped: it resumes at the next start."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down either way
                pass

    def _launch(self, job: JobRecord) -> None:
        self._stop = asyncio.Event()
        self._job_id = job.id
        self._task = asyncio.create_task(self._run(job), name=f"fingerprint-job-{job.id}")

    # -- progress ------------------------------------------------------------------------------

    def progress(self) -> JobProgress:
        job = self.job_store.get(self._job_id) if self._job_id is not None else self.job_store.latest()
        if job is None:
            return JobProgress(job_id=None, status="idle")
        finished = job.done + job.failed
        per_scene = job.busy_seconds / finished if finished else None
        status: JobProgressStatus = job.status
        if self.running and job.id == self._job_id and self._stop.is_set():
            status = "stopping"
        elif status in ("listing", "running") and not (self.running and job.id == self._job_id):
            status = "stopped"  # left active by a sidecar that could not resume it (e.g. no Stash)
        return JobProgress(
            job_id=job.id,
            status=status,
            refresh_outdated=job.refresh_outdated,
            num_frames=job.num_frames,
            face_db_version=job.face_db_version,
            total=job.total,
            done=job.done,
            failed=job.failed,
            remaining=job.remaining,
            percent=round(100.0 * finished / job.total, 1) if job.total else (100.0 if job.status == "completed" else 0.0),
            current_scene=self._current_scene if self.running and job.id == self._job_id else None,
            seconds_per_scene=round(per_scene, 3) if per_scene is not None else None,
            eta_s=round(per_scene * job.remaining, 1) if per_scene is not None and status in ("running", "stopping") else None,
            error=job.error,
            recent_failures=[f"scene {sid}: {err}" for sid, err in self.job_store.failures(job.id, 10)],
            created_at=job.created_at,
            updated_at=job.updated_at,
            finished_at=job.finished_at,
        )

    # -- the job -------------------------------------------------------------------------------

    async def _run(self, job: JobRecord) -> None:
        try:
            if job.status == "listing":
                job = await self._list(job)
            stash_failures = 0
            while not self._stop.is_set():
                pending = self.job_store.pending(job.id, 1)
                if not pending:
                    break
                scene_id = pending[0]
                self._current_scene = scene_id
                outcome = await self._one_scene(job, scene_id)
                if outcome == "stash_down":
                    stash_failures += 1
                    if stash_failures >= MAX_CONSECUTIVE_STASH_FAILURES:
                        self.job_store.set_status(job.id, "failed", "Stash was unreachable repeatedly; start the job again later")
                        return
                    await self._pause(self._retry_delay * 2 ** (stash_failures - 1))
                else:
                    stash_failures = 0
            self._current_scene = None
            self.job_store.set_status(job.id, "stopped" if self._stop.is_set() else "completed")
            log.info("fingerprint job %s %s", job.id, "stopped" if self._stop.is_set() else "completed")
        except asyncio.CancelledError:
            raise  # shutdown: the job stays active in the DB and resumes at the next start
        except Exception as exc:  # noqa: BLE001 - a job must end with a status, never vanish
            log.error("fingerprint job %s failed: %s: %s", job.id, type(exc).__name__, exc)
            self.job_store.set_status(job.id, "failed", f"{type(exc).__name__}: {exc}")
        finally:
            self._current_scene = None

    async def _pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def _list(self, job: JobRecord) -> JobRecord:
        """Fix the job's work list: Stash's scenes (by id) that need a fingerprint."""
        client = self.stash.require()
        scene_ids: list[str] = []
        async for scene in client.find_scenes(per_page=LIST_PAGE_SIZE, priority=Priority.LOW):
            scene_ids.append(scene.id)
        version = self.face_db.current_version()
        pending = self.store.scenes_needing_work(scene_ids, version, refresh_outdated=job.refresh_outdated)
        log.info("fingerprint job %s: %s of %s scenes to do", job.id, len(pending), len(scene_ids))
        return self.job_store.set_work_list(job.id, pending)

    async def _one_scene(self, job: JobRecord, scene_id: str) -> str:
        """Fingerprint one scene; returns 'done', 'failed', 'retry' or 'stash_down'."""
        client = self.stash.require()
        started = time.monotonic()
        version = self.face_db.current_version() or ""
        try:

            async def run(scene: Scene, params: SceneParams) -> SceneIdentification:
                # Opening the video costs Stash requests too: take one slot for it.
                await client.limiter.acquire(Priority.LOW)
                plan = plan_for_scene(self.stash, scene, kind="auto", timeout=self.settings.fetch_timeout_s)
                async with self.face_db.lease() as recognizer:
                    return await self.work.run(identify_scene, recognizer, plan, params, priority=Priority.LOW, what="fingerprint")

            # The same use case as an interactive identification (tagged boost included), so a
            # bulk fingerprint equals the one saved from the scene tab; nobody reads resolutions here.
            params = SceneParams(num_frames=job.num_frames, thumbnails=False)
            found = await identify_stash_scene(client, scene_id, params, run, resolve=False, priority=Priority.LOW)
            result = found.result
        except StashNotFoundError as exc:
            self.store.save_failure(scene_id, version, f"not in Stash any more: {exc}", job_id=job.id, seconds=time.monotonic() - started)
            return "failed"
        except (StashUnreachableError, StashAuthError) as exc:
            log.warning("fingerprint job %s: Stash problem at scene %s: %s", job.id, scene_id, exc)
            return "stash_down"
        except StashError as exc:
            self.store.save_failure(scene_id, version, f"Stash error: {exc}", job_id=job.id, seconds=time.monotonic() - started)
            return "failed"
        except FrameSourceError as exc:
            self.store.save_failure(scene_id, version, f"no usable frames: {exc}", job_id=job.id, seconds=time.monotonic() - started)
            return "failed"
        except ApiError as exc:
            # Busy or no face DB: wait and try the same scene again.
            retry = float(exc.headers.get("Retry-After", "5")) if exc.headers else 5.0
            log.info("fingerprint job %s waits %.0f s: %s", job.id, retry, exc.detail)
            await self._pause(retry)
            return "retry"
        except Exception as exc:  # noqa: BLE001 - one odd video must not end the whole job
            log.warning("fingerprint job %s: scene %s failed: %s", job.id, scene_id, type(exc).__name__)
            self.store.save_failure(
                scene_id, version, f"unexpected {type(exc).__name__}", job_id=job.id, seconds=time.monotonic() - started
            )
            return "failed"
        fingerprint = fingerprint_from_result(scene_id, result)
        self.store.save(fingerprint, job_id=job.id, seconds=time.monotonic() - started)
        return "done"
