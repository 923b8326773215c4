"""``eval duplicates``: every analyzer against a Stash serving a library with planted duplicates,
scored against the truth recorded when they were planted.

The caller serves the library (``stash-sense eval duplicates`` starts the Stash emulator on a
rendered sample library) and passes its URL and the truth in. Nothing is mocked: the analyzers
read the library through the Stash client, with the real Stash schema (file phashes included),
and their findings land in a fresh ``stash_sense.db``.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, Field

from stash_sense.recommendations import ANALYZER_TYPES, build_analyzer, run_analysis
from stash_sense.stash import StashClient
from stash_sense.stash.ratelimit import RateLimiter
from stash_sense.userdb import RecommendationStore, UserDB


class PlantedPair(Protocol):
    @property
    def a(self) -> str: ...
    @property
    def b(self) -> str: ...
    @property
    def kind(self) -> str: ...


class PlantedGroup(Protocol):
    @property
    def ids(self) -> list[str]: ...


class PlantedTruth(Protocol):
    """The truth about the planted duplicates (a sample library's ``duplicates`` record)."""

    @property
    def scenes(self) -> Sequence[PlantedPair]: ...  # the same scene twice
    @property
    def lookalikes(self) -> Sequence[PlantedPair]: ...  # different scenes that look related: never duplicates
    @property
    def performers(self) -> Sequence[PlantedGroup]: ...
    @property
    def files(self) -> Sequence[str]: ...  # scenes with more than one file


class CategoryScore(BaseModel):
    precision: float
    recall: float
    planted: int
    found: int = Field(description="Recommendations raised (open) of this type.")
    correct: int = Field(description="Raised recommendations that match a planted duplicate exactly.")
    missed: list[str] = Field(default_factory=list)
    false_positives: list[str] = Field(default_factory=list)


class DuplicatesEvalReport(BaseModel):
    library: str
    scenes: CategoryScore
    performers: CategoryScore
    files: CategoryScore
    scene_recall_by_kind: dict[str, float]
    lookalikes: int
    lookalikes_raised: int
    runs: dict[str, dict[str, int | str]]
    seconds: float


def _score(found: set[frozenset[str]], truth: set[frozenset[str]]) -> CategoryScore:
    correct = found & truth
    show = lambda items: sorted(",".join(sorted(i, key=_key)) for i in items)  # noqa: E731
    return CategoryScore(
        precision=round(len(correct) / len(found), 4) if found else 1.0,
        recall=round(len(correct) / len(truth), 4) if truth else 1.0,
        planted=len(truth), found=len(found), correct=len(correct),
        missed=show(truth - found), false_positives=show(found - truth),
    )


def _key(text: str) -> tuple[int, str]:
    return (int(text), "") if text.isdigit() else (1 << 62, text)


def _members(target: str) -> frozenset[str]:
    return frozenset(target.split(":", 1)[1].split(","))


async def _analyse(url: str, api_key: str | None, db: UserDB) -> dict[str, dict[str, int | str]]:
    store = RecommendationStore(db)
    runs: dict[str, dict[str, int | str]] = {}
    # A private limiter: the evaluation is the only client of its Stash.
    async with StashClient(url, api_key, limiter=RateLimiter(50.0, name="eval-duplicates")) as client:
        for kind in ANALYZER_TYPES:
            run = await run_analysis(build_analyzer(kind, client=client, user_db=db), store, full=True)
            runs[kind] = {"status": run.status, "examined": run.examined, "candidates": run.candidates, "raised": run.raised}
            if run.status != "completed":
                raise RuntimeError(f"{kind} analysis ended {run.status}: {run.error}")
    return runs


def evaluate_duplicates(stash_url: str, truth: PlantedTruth, *, api_key: str | None, library: str) -> DuplicatesEvalReport:
    """Run every analyzer against the Stash at ``stash_url`` (which serves the library ``library``
    names, with ``truth`` planted in it) and score what they raise."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="stash-sense-eval-dup-") as tmp:
        db = UserDB.open(Path(tmp) / "stash_sense.db")
        try:
            runs = asyncio.run(_analyse(stash_url, api_key, db))
            store = RecommendationStore(db)
            found_scenes = {_members(t) for t in store.targets("duplicate_scenes", "open")}
            found_performers = {_members(t) for t in store.targets("duplicate_performers", "open")}
            found_files = {frozenset({t.split(":", 1)[1]}) for t in store.targets("duplicate_files", "open")}
        finally:
            db.close()
    scene_truth = {frozenset({p.a, p.b}) for p in truth.scenes}
    by_kind: dict[str, list[bool]] = {}
    for pair in truth.scenes:
        by_kind.setdefault(pair.kind, []).append(frozenset({pair.a, pair.b}) in found_scenes)
    lookalikes = {frozenset({p.a, p.b}) for p in truth.lookalikes}
    return DuplicatesEvalReport(
        library=library,
        scenes=_score(found_scenes, scene_truth),
        performers=_score(found_performers, {frozenset(g.ids) for g in truth.performers}),
        files=_score(found_files, {frozenset({sid}) for sid in truth.files}),
        scene_recall_by_kind={k: round(sum(v) / len(v), 4) for k, v in sorted(by_kind.items())},
        lookalikes=len(lookalikes), lookalikes_raised=len(lookalikes & found_scenes),
        runs=runs, seconds=round(time.monotonic() - started, 2),
    )
