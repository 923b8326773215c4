"""The sidecar's face-DB update: is a newer release offered, and install it without a pause.

``STASH_SENSE_FACE_DB_SOURCE`` names a release pack (full or delta). A check reads only the
small ``.manifest.json`` beside it. An update is one background task: download with progress,
verify, install into the versioned layout (:mod:`stash_sense.facedb.release_install`: nothing
on disk changes unless every file verifies), then :meth:`FaceDBState.reload`, which swaps the
new version in while identifications keep running on the old one. If the swap fails the link
is flipped back (:func:`stash_sense.facedb.versions.rollback`), so the DB in service and the
DB on disk stay the same. Nothing is fetched unless someone asks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Literal

import anyio

from stash_sense.api.errors import ApiError
from stash_sense.api.schemas import UpdateCheck, UpdatePhase, UpdateProgress
from stash_sense.api.settings import Settings
from stash_sense.api.state import FaceDBState
from stash_sense.facedb import FaceDBError, Manifest
from stash_sense.facedb.release_fetch import fetch_release_manifest, locate
from stash_sense.facedb.release_install import install, rollback
from stash_sense.facedb.release_pack import ReleaseManifest

log = logging.getLogger("stash_sense.api.db_update")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class _Aborted(Exception):
    """The sidecar is shutting down: the download stops at the next chunk."""


class FaceDBUpdater:
    def __init__(self, settings: Settings, face_db: FaceDBState) -> None:
        self.source = settings.face_db_source
        self.timeout = settings.fetch_timeout_s
        self.face_db = face_db
        self._task: asyncio.Task[None] | None = None
        self._abort = False
        self._status: UpdatePhase = "idle"
        self._from: str | None = None
        self._to: str | None = None
        self._kind: Literal["full", "delta"] | None = None
        self._done = 0
        self._total: int | None = None
        self._error: str | None = None
        self._started: str | None = None
        self._finished: str | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def progress(self) -> UpdateProgress:
        total = self._total
        percent = 100.0 * self._done / total if total else (100.0 if self._status == "completed" else 0.0)
        return UpdateProgress(
            status=self._status, from_version=self._from, to_version=self._to, kind=self._kind,
            bytes_done=self._done, bytes_total=total, percent=round(min(percent, 100.0), 1), error=self._error,
            started_at=self._started, finished_at=self._finished,
        )

    # -- check -----------------------------------------------------------------------------------

    async def _release(self) -> ReleaseManifest:
        assert self.source is not None
        location = locate(self.source)
        return await anyio.to_thread.run_sync(lambda: fetch_release_manifest(location, timeout=self.timeout))

    async def check(self) -> UpdateCheck:
        """Never an error status: an unreadable source is reported in ``error``."""
        installed = self.face_db.manifest()
        check = UpdateCheck(
            configured=self.source is not None, source=self.source,
            installed_version=installed.db_version if installed else None,
            installed_counts=installed.counts.model_dump() if installed else None, job=self.progress(),
        )
        if self.source is None:
            return check
        try:
            release = await self._release()
        except FaceDBError as exc:
            check.error = str(exc)
            return check
        offered = release.manifest
        check.available_version, check.available_created_at = offered.db_version, offered.created_at
        check.available_counts = offered.counts.model_dump()
        check.kind, check.base_version, check.size = release.pack.kind, release.pack.base_version, release.pack.size
        check.applicable = release.pack.kind == "full" or release.pack.base_version == check.installed_version
        check.update_available = check.applicable and _newer(offered, installed)
        return check

    # -- the job ---------------------------------------------------------------------------------

    async def start(self) -> UpdateProgress:
        if self.source is None:
            raise ApiError(409, "no_update_source", "no update source is configured (set STASH_SENSE_FACE_DB_SOURCE)")
        if self.running:
            raise ApiError(409, "update_running", "a face-DB update is already running")
        if self.face_db.swapping:
            raise ApiError(409, "reload_in_progress", "a face DB swap is in progress; try again when it ends")
        check = await self.check()
        if check.error is not None:
            raise ApiError(502, "update_source_unreachable", f"the update source cannot be read: {check.error}")
        if not check.update_available:
            raise ApiError(409, "no_update", _why_not(check))
        self._reset(check)
        self._task = asyncio.create_task(self._run(), name="face-db-update")
        return self.progress()

    def _reset(self, check: UpdateCheck) -> None:
        self._abort = False
        self._status, self._error, self._finished = "downloading", None, None
        self._from, self._to, self._kind = check.installed_version, check.available_version, check.kind
        self._done, self._total, self._started = 0, check.size, _now()

    def _on_bytes(self, done: int, total: int | None) -> None:
        # Called from the worker thread: plain attribute writes, read by progress().
        if self._abort:
            raise _Aborted("the sidecar is shutting down")
        self._done, self._total = done, total

    def _on_phase(self, phase: str) -> None:
        if phase == "install":
            self._status = "installing"

    async def _run(self) -> None:
        assert self.source is not None
        target = self.face_db.directory
        try:
            report = await anyio.to_thread.run_sync(
                lambda: install(self.source or "", target, progress=self._on_bytes, phase=self._on_phase, timeout=self.timeout)
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure before the publish: nothing changed on disk
            self._end("rolled_back", f"{_message(exc)}; the face DB was not changed and {self._from} keeps serving")
            return
        if report.up_to_date:
            self._end("completed", None)
            return
        self._status = "swapping"
        try:
            await self.face_db.reload(target)
        except ApiError as exc:
            await self._undo(exc.detail)
            return
        self._end("completed", None)
        log.info("face DB updated from %s to %s (%s pack)", report.previous_version, report.db_version, report.kind)

    async def _undo(self, why: str) -> None:
        """The new version is on disk but could not be swapped in: flip the link back."""
        try:
            await anyio.to_thread.run_sync(rollback, self.face_db.directory)
        except FaceDBError as exc:
            self._end("failed", f"{why}; rolling back on disk failed too ({exc}); {self._from} still serves")
            return
        self._end("rolled_back", f"{why}; rolled back to {self._from}, which keeps serving")

    def _end(self, status: UpdatePhase, error: str | None) -> None:
        self._status, self._error, self._finished = status, error, _now()
        if error:
            log.warning("face-DB update %s: %s", status, error)

    async def shutdown(self) -> None:
        if self._task is not None and not self._task.done():
            self._abort = True
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


def _newer(offered: Manifest, installed: Manifest | None) -> bool:
    if installed is None:
        return True
    return offered.db_version != installed.db_version and offered.created_at >= installed.created_at


def _why_not(check: UpdateCheck) -> str:
    if check.available_version == check.installed_version:
        return f"the face DB is already at version {check.installed_version}"
    if not check.applicable:
        return (
            f"the offered pack is a delta from {check.base_version} to {check.available_version}, but {check.installed_version} "
            "is installed; offer the full pack"
        )
    return f"the offered version {check.available_version} is older than the installed {check.installed_version}"


def _message(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, FaceDBError) else f"{type(exc).__name__}: {exc}"
