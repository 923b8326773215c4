"""The face DB and models as the server holds them: loaded lazily once, swapped atomically.

Identification takes a *lease* on the current recognizer for the length of one call. A hot
swap verifies the new DB directory (checksums, SQLite integrity, index), opens it next to the
old one, then switches in one step; calls already running finish on the old DB, which is
closed when its last lease ends. While the new DB is verified and opened, identifications keep
running on the DB in service (there is nothing to wait for: it stays open until its last lease
ends); a swap that fails leaves the old DB in place.

The face-DB path may be a symlink into ``<path>.versions/`` (installed releases, see
:mod:`stash_sense.facedb.versions`): every open resolves it once, so a flip of the link in the
middle of a load cannot mix two versions' files.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio

from stash_sense.api.errors import ApiError, unavailable, unprocessable
from stash_sense.api.schemas import FaceDBStatus, ReloadResponse
from stash_sense.facedb import FaceDBError, Manifest, VerifyReport, load_manifest, verify_db
from stash_sense.facedb.layout import MANIFEST_FILE
from stash_sense.facedb.versions import current_dir
from stash_sense.faces.models import ModelLoadError
from stash_sense.faces.pipeline import FacePipeline
from stash_sense.recognition import Recognizer

log = logging.getLogger("stash_sense.api")

_pipeline_lock = threading.Lock()
_pipelines: dict[str, FacePipeline] = {}


def shared_pipeline(embedder: str | None = None) -> FacePipeline:
    """One face pipeline per embedder per process: its models take seconds and hundreds of MB
    to load, and every face DB of the same embedder can use the same one. ``embedder`` is the
    one the face DB names (default: the configured one). (Constructing it loads nothing.)"""
    from stash_sense.facedb.embedders import checked_embedder
    from stash_sense.faces.catalog import embedder_name

    name = embedder or embedder_name()
    with _pipeline_lock:
        if name not in _pipelines:
            _pipelines[name] = FacePipeline(embedder=checked_embedder(name, "the face DB"))
        else:
            # Checked on every open (a stat), so a DB is never served with a model since removed.
            checked_embedder(name, "the face DB")
        return _pipelines[name]


@dataclass(eq=False)
class _Generation:
    """One opened face DB and the number of calls currently using it."""

    recognizer: Recognizer
    users: int = 0
    retired: bool = False

    def close_if_unused(self) -> None:
        if self.retired and self.users == 0:
            try:
                self.recognizer.db.close()
            except Exception:  # noqa: BLE001 - closing a read-only DB cannot lose data
                log.debug("closing a retired face DB failed", exc_info=True)


class FaceDBState:
    def __init__(self, directory: Path, *, verify: Callable[[Path], VerifyReport] = verify_db) -> None:
        self.directory = Path(directory)
        #: Checks a DB directory before it is swapped in (checksums, SQLite, index).
        self.verify = verify
        self._current: _Generation | None = None
        self._lock = asyncio.Lock()
        self._swapping = False
        self._models_loaded = False
        self.last_error: str | None = None
        self._watch_stamp: tuple[int, int, int] | None = None

    # -- status ------------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self._current is not None

    @property
    def swapping(self) -> bool:
        return self._swapping

    @property
    def models_loaded(self) -> bool:
        return self._models_loaded

    @property
    def version(self) -> str | None:
        return self._current.recognizer.db.version if self._current else None

    def manifest(self) -> Manifest | None:
        """The manifest of the loaded DB, else of the directory (without loading anything)."""
        if self._current is not None:
            return self._current.recognizer.db.manifest
        try:
            return load_manifest(self.directory)
        except FaceDBError:
            return None

    def current_version(self) -> str | None:
        """The face-DB version fingerprints are compared with: the loaded one, else the one on disk."""
        manifest = self.manifest()
        return manifest.db_version if manifest else None

    def status(self) -> FaceDBStatus:
        manifest = self.manifest()
        return FaceDBStatus(
            loaded=self.loaded, available=manifest is not None, version=manifest.db_version if manifest else None,
            swapping=self._swapping, error=None if manifest is not None else self.last_error or f"no face DB at {self.directory}",
        )

    def model_names(self) -> tuple[str, str]:
        """(detector, embedder) names of the pipeline, without loading any model: the loaded
        DB's, else the one the DB on disk names, else the configured one."""
        if self._current is not None:
            pipeline = self._current.recognizer.pipeline
            return pipeline.detector.name, pipeline.embedder.model_name
        from stash_sense.faces.catalog import embedder_name
        from stash_sense.faces.detect import default_detector

        manifest = self.manifest()
        return default_detector().name, manifest.embedding.model if manifest else embedder_name()

    # -- loading -----------------------------------------------------------------------------

    def _open(self, directory: Path) -> Recognizer:
        # The DB decides the model: open the pipeline of the embedder its manifest names.
        from stash_sense.facedb.embedders import db_embedder_name

        real = current_dir(directory)  # once: manifest, DB and index all come from this version
        return Recognizer.open(real, pipeline=shared_pipeline(db_embedder_name(real)))

    async def _ensure_loaded(self, models: bool) -> _Generation:
        current = self._current
        if current is not None and (self._models_loaded or not models):
            return current
        async with self._lock:
            if self._current is None:
                try:
                    recognizer = await anyio.to_thread.run_sync(self._open, self.directory)
                except FaceDBError as exc:
                    self.last_error = str(exc)
                    raise unavailable(f"no usable face DB: {exc}", retry_after=30, error="no_face_db") from None
                self._current = _Generation(recognizer)
                self.last_error = None
                log.info("face DB %s loaded from %s", recognizer.db.version, self.directory)
            if models and not self._models_loaded:
                try:
                    await anyio.to_thread.run_sync(self._current.recognizer.pipeline.load)
                except ModelLoadError as exc:
                    raise unavailable(f"the face models cannot be loaded: {exc}", error="models_unavailable") from None
                self._models_loaded = True
                log.info("face models loaded")
            return self._current

    @asynccontextmanager
    async def lease(self, *, models: bool = True) -> AsyncIterator[Recognizer]:
        """The current recognizer, guaranteed open until the block ends.

        During a swap this is the DB still in service: it stays open for this call even if the
        swap completes meanwhile (it is closed when its last lease ends), and the next lease
        gets the new one.
        """
        generation = await self._ensure_loaded(models)
        generation.users += 1
        try:
            yield generation.recognizer
        finally:
            generation.users -= 1
            generation.close_if_unused()

    # -- hot swap ----------------------------------------------------------------------------

    async def reload(self, directory: Path | None = None) -> ReloadResponse:
        """Verify and switch to the DB in ``directory`` (default: the current directory).

        ``directory`` stays the configured one (a versioned path keeps following its link);
        what is verified and opened is the version it points at now, resolved once.
        """
        target = Path(directory) if directory is not None else self.directory
        if self._swapping:
            raise ApiError(409, "reload_in_progress", "a face DB swap is already in progress")
        started = time.monotonic()
        self._swapping = True
        try:
            real = current_dir(target)
            report = await anyio.to_thread.run_sync(self.verify, real)
            if not report.ok:
                raise unprocessable(
                    f"face DB at {target} failed verification, the current DB stays in use: " + "; ".join(report.problems[:5]),
                    error="db_verification_failed",
                )
            try:
                recognizer = await anyio.to_thread.run_sync(self._open, real)
            except FaceDBError as exc:
                raise unprocessable(
                    f"cannot use the face DB at {target}, the current DB stays in use: {exc}", error="db_unusable"
                ) from None
            async with self._lock:
                previous = self._current
                if previous is None or previous.recognizer.pipeline is not recognizer.pipeline:
                    self._models_loaded = False  # a DB of another embedder: its models load on first use
                self._current = _Generation(recognizer)
                self.directory = target
                self.last_error = None
            if previous is not None:
                previous.retired = True
                previous.close_if_unused()
            self._watch_stamp = self._stamp()
            previous_version = previous.recognizer.db.version if previous else None
            log.info("face DB swapped: %s -> %s", previous_version, recognizer.db.version)
            return ReloadResponse(
                previous_version=previous_version,
                version=recognizer.db.version,
                directory=str(real),
                verified_files=len(report.files),
                elapsed_s=round(time.monotonic() - started, 3),
            )
        finally:
            self._swapping = False

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            st = (self.directory / MANIFEST_FILE).stat()  # through the link: a flip changes the inode
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    async def check_for_update(self) -> ReloadResponse | None:
        """Swap when the manifest on disk names another version than the loaded DB.

        Builders write the manifest last, so a changed manifest means a finished DB; one that
        fails verification is left alone until the manifest changes again.
        """
        stamp = await anyio.to_thread.run_sync(self._stamp)
        if stamp is None or stamp == self._watch_stamp:
            return None
        self._watch_stamp = stamp
        if self._current is None or self._swapping:
            return None  # nothing loaded yet: the next lazy load picks up the new files
        on_disk = self.current_version_on_disk()
        if on_disk is None or on_disk == self.version:
            return None
        try:
            return await self.reload(self.directory)
        except ApiError as exc:
            log.warning("face DB changed on disk but was not swapped in: %s", exc.detail)
            return None

    def current_version_on_disk(self) -> str | None:
        try:
            return load_manifest(self.directory).db_version
        except FaceDBError:
            return None

    async def watch(self, interval_s: float) -> None:
        """Poll the face DB directory for a new version until cancelled."""
        self._watch_stamp = await anyio.to_thread.run_sync(self._stamp)
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.check_for_update()
            except Exception:  # noqa: BLE001 - the watcher must outlive any one bad check
                log.warning("checking the face DB for updates failed", exc_info=False)

    def close(self) -> None:
        if self._current is not None:
            self._current.retired = True
            self._current.close_if_unused()
            self._current = None
