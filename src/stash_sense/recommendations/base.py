"""The one small interface every analyzer implements, and the runner that records its runs.

An analyzer turns "what changed in the library since its watermark" into findings. The runner
owns everything around that: the run record, progress and stop, the logic-version check that
forces a full run, dismissals (through the store), retiring what was not found again, and the
new watermark. A stopped or failed run keeps its old watermark, so nothing is skipped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from stash_sense.userdb import AnalysisRun, NewRecommendation, RecommendationStore, RunCounts

log = logging.getLogger("stash_sense.recommendations")


class AnalysisStopped(Exception):
    """The run was asked to stop; it ends with status ``stopped``."""


@dataclass
class RunControl:
    """Progress reporting and the stop flag of one run (shared with whoever started it)."""

    on_progress: Callable[[float, str], None] | None = None
    stop_event: asyncio.Event | None = None
    progress: float = 0.0
    phase: str = ""

    def report(self, progress: float, phase: str) -> None:
        self.progress, self.phase = max(0.0, min(1.0, progress)), phase
        if self.on_progress is not None:
            self.on_progress(self.progress, phase)

    def check(self) -> None:
        if self.stop_event is not None and self.stop_event.is_set():
            raise AnalysisStopped()

    def stop(self) -> None:
        if self.stop_event is None:
            self.stop_event = asyncio.Event()
        self.stop_event.set()


@dataclass
class AnalysisOutcome:
    """What one pass of an analyzer found.

    ``examined``: ids of the objects it looked at; ``total``: objects known; ``touching`` is
    ``None`` after a full pass (every open recommendation of the type is re-judged), else the
    object kind whose examined ids bound which recommendations are re-judged.
    """

    findings: Sequence[NewRecommendation]
    examined: Sequence[str]
    total: int
    candidates: int
    watermark: str | None
    touching: str | None = None
    present: set[str] | None = None  # every object of ``touching``'s kind that still exists
    stats: dict[str, float] = field(default_factory=dict)


class Analyzer(Protocol):
    type: str
    logic_version: int
    object_kind: str

    async def analyze(self, *, since: str | None, control: RunControl) -> AnalysisOutcome:
        """Look at what changed after ``since`` (everything when None) and report findings."""
        ...


async def run_analysis(
    analyzer: Analyzer, store: RecommendationStore, *, full: bool = False, control: RunControl | None = None
) -> AnalysisRun:
    """One recorded run: incremental from the watermark unless ``full`` or the logic changed."""
    control = control or RunControl()
    mark = store.watermark(analyzer.type)
    incremental = not full and mark is not None and mark.logic_version == analyzer.logic_version and mark.watermark is not None
    run = store.start_run(analyzer.type, "incremental" if incremental else "full", analyzer.logic_version)
    started = time.monotonic()
    counts = RunCounts()
    try:
        outcome = await analyzer.analyze(since=mark.watermark if incremental and mark else None, control=control)
        control.check()
        store.set_progress(run.id, progress=control.progress, total=outcome.total, examined=len(outcome.examined))
        counts.candidates = outcome.candidates
        store.upsert_many(outcome.findings, run.id, counts)
        touching = (outcome.touching, outcome.examined) if incremental and outcome.touching else None
        counts.obsolete = store.retire_missing(analyzer.type, counts.seen_targets, touching=touching)
        if outcome.present is not None and outcome.touching:
            counts.obsolete += store.retire_absent(analyzer.type, outcome.touching, outcome.present)
        store.set_watermark(analyzer.type, analyzer.logic_version, outcome.watermark, run.id)
        control.report(1.0, "done")
        finished = store.finish_run(
            run.id, "completed", counts, examined_ids=list(outcome.examined) if incremental else None
        )
        log.info(
            "%s: %s run %s examined %s of %s in %.1f s: %s raised, %s updated, %s suppressed, %s obsolete",
            analyzer.type, finished.mode, run.id, finished.examined, finished.total, time.monotonic() - started,
            counts.raised, counts.updated, counts.suppressed, counts.obsolete,
        )
        return finished
    except AnalysisStopped:
        # The old watermark stays: the next run redoes what this one did not finish.
        return store.finish_run(run.id, "stopped", counts, error="stopped on request")
    except asyncio.CancelledError:
        store.finish_run(run.id, "stopped", counts, error="cancelled (the process is shutting down)")
        raise
    except Exception as exc:
        log.error("%s run %s failed: %s: %s", analyzer.type, run.id, type(exc).__name__, exc)
        store.finish_run(run.id, "failed", counts, error=f"{type(exc).__name__}: {exc}")
        raise
