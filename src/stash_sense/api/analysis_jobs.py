"""Analyses of the recommendations engine as sidecar jobs: one at a time, with progress and a
stop. The run itself (records, watermarks, dismissals) is :func:`run_analysis`; this module only
starts it in the background and reports on it. Stash requests of an analysis go at LOW priority
(see ``stash.library_client``), so interactive requests are never delayed by it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from stash_sense.api.errors import ApiError
from stash_sense.api.settings import Settings
from stash_sense.api.stash_access import StashAccess
from stash_sense.api.state import FaceDBState
from stash_sense.facedb import FaceDB
from stash_sense.facedb.types import Identity as FaceDBIdentity
from stash_sense.recommendations import RunControl, build_analyzer, canonical_type, run_analysis
from stash_sense.recommendations.duplicate_performers import FaceIdentity
from stash_sense.stash.models import Identity
from stash_sense.userdb import AnalysisRun, RecommendationStore, UserDB


def _face_identity(db: FaceDB) -> FaceIdentity:
    """The face-DB performer behind a Stash identity (the two layers spell identities apart)."""

    def lookup(identity: Identity) -> int | None:
        return db.performer_id_for(FaceDBIdentity(identity.endpoint, identity.stash_id))

    return lookup

log = logging.getLogger("stash_sense.api.analysis")


class AnalysisJobs:
    def __init__(self, settings: Settings, user_db: UserDB, stash: StashAccess, face_db: FaceDBState) -> None:
        self.settings = settings
        self.user_db = user_db
        self.store = RecommendationStore(user_db)
        self.stash = stash
        self.face_db = face_db
        self._task: asyncio.Task[Any] | None = None
        self._control: RunControl | None = None
        self._type: str | None = None
        # Runs left "running" by a sidecar that stopped mid-run did not finish.
        self.store.interrupt_running()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def status(self) -> dict[str, Any]:
        current = None
        if self.running and self._type is not None:
            runs = self.store.runs(self._type, 1)
            current = runs[0] if runs and runs[0].status == "running" else None
        return {
            "running": self.running,
            "type": self._type if self.running else None,
            "progress": round(self._control.progress, 3) if self.running and self._control else None,
            "phase": self._control.phase if self.running and self._control else None,
            "stopping": bool(self.running and self._control and self._control.stop_event and self._control.stop_event.is_set()),
            "current": current,
            "recent": self.store.runs(None, 10),
        }

    async def start(self, type: str, *, full: bool) -> dict[str, Any]:
        try:
            kind = canonical_type(type)
        except ValueError as exc:
            raise ApiError(422, "validation_error", str(exc)) from None
        if self.running:
            raise ApiError(409, "analysis_running", f"a {self._type} analysis is running; stop it or wait for it to finish")
        client = self.stash.require()
        self._control = RunControl(stop_event=asyncio.Event())
        self._type = kind
        self._task = asyncio.create_task(self._run(kind, full, client, self._control), name=f"analysis-{kind}")
        await asyncio.sleep(0)  # let the run record appear before answering
        return self.status()

    async def _run(self, kind: str, full: bool, client: Any, control: RunControl) -> AnalysisRun | None:
        async with contextlib.AsyncExitStack() as stack:
            face_identity: FaceIdentity | None = None
            if kind == "duplicate_performers":
                # The face DB corroborates name links when one is installed; without it the
                # analysis runs on Stash's data alone.
                try:
                    recognizer = await stack.enter_async_context(self.face_db.lease(models=False))
                    face_identity = _face_identity(recognizer.db)
                except ApiError:
                    face_identity = None
            analyzer = build_analyzer(
                kind, client=client, user_db=self.user_db, preferred_paths=self.settings.preferred_paths,
                face_identity=face_identity,
            )
            try:
                return await run_analysis(analyzer, self.store, full=full, control=control)
            except Exception as exc:  # noqa: BLE001 - recorded on the run; the job must not crash the server
                log.warning("%s analysis failed: %s: %s", kind, type(exc).__name__, exc)
                return None

    async def stop(self) -> dict[str, Any]:
        if self.running and self._control is not None:
            self._control.stop()
        return self.status()

    async def wait(self) -> None:
        """Until the current run ends (tests and the command line)."""
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._task)

    async def shutdown(self) -> None:
        if self.running and self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
