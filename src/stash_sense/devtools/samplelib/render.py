"""Building a sample library: split photos, plan scenes, render them, write ``library.json``."""

from __future__ import annotations

import json
import logging
import multiprocessing
import shutil
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from stash_sense.devtools.samplelib.library import (
    LIBRARY_FILE,
    LIBRARY_VERSION,
    SampleLibrary,
    SampleLibraryError,
    write_json_atomic,
)
from stash_sense.devtools.samplelib.plan import CastMember, ScenePlan, plan_scenes, scene_record
from stash_sense.devtools.samplelib.roster import build_roster
from stash_sense.devtools.samplelib.settings import RenderSettings
from stash_sense.devtools.samplelib.sources import place_files

log = logging.getLogger(__name__)

PARTIAL_LIBRARY_FILE = f"{LIBRARY_FILE}.partial"
# What a render owns inside the library folder (and what --force removes).
OWNED_DIRS = ("gallery", "heldout", "unknowns", "scenes")
OWNED_FILES = (LIBRARY_FILE, PARTIAL_LIBRARY_FILE)


class RenderProgress(Protocol):
    """Receives progress; the CLI shows it as a progress bar."""

    def stage(self, description: str, total: int) -> None: ...

    def advance(self, steps: int = 1) -> None: ...


class _NoProgress:
    def stage(self, description: str, total: int) -> None:
        log.info("%s (%d)", description, total)

    def advance(self, steps: int = 1) -> None:
        pass


@dataclass
class RenderReport:
    library: SampleLibrary
    out_dir: Path
    rendered: int  # scenes rendered by this run
    skipped: int  # scenes already complete from an earlier run (resume)
    elapsed_s: float
    scene_bytes: int  # size of the scene files
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Sources:
    faces_dir: Path
    distractors_dir: Path | None
    unknowns_dir: Path | None

    def all(self) -> list[Path]:
        return [p for p in (self.faces_dir, self.distractors_dir, self.unknowns_dir) if p is not None]


def render_library(
    faces_dir: Path | str,
    out_dir: Path | str,
    settings: RenderSettings,
    *,
    seed: int = 0,
    distractors_dir: Path | str | None = None,
    unknowns_dir: Path | str | None = None,
    force: bool = False,
    resume: bool = False,
    workers: int = 1,
    progress: RenderProgress | None = None,
) -> RenderReport:
    """Build a sample library in ``out_dir`` from labelled photos in ``faces_dir``.

    ``force`` replaces an existing library; ``resume`` continues one rendered with the same
    inputs and settings, skipping scenes already complete. ``workers`` scenes render in
    parallel processes (each encoder is single-threaded, so output does not depend on it).
    """
    started = time.monotonic()
    progress = progress or _NoProgress()
    settings.validate()
    if workers < 1:
        raise SampleLibraryError(f"workers must be at least 1 (got {workers})")
    sources = _Sources(
        faces_dir=_absolute(faces_dir),
        distractors_dir=_absolute(distractors_dir) if distractors_dir is not None else None,
        unknowns_dir=_absolute(unknowns_dir) if unknowns_dir is not None else None,
    )
    out = _absolute(out_dir)
    _check_separate(out, sources)
    existing = _inspect_out_dir(out, force=force, resume=resume)

    progress.stage("Reading photos", 1)
    roster = build_roster(
        sources.faces_dir,
        settings,
        distractors_dir=sources.distractors_dir,
        unknowns_dir=sources.unknowns_dir,
    )
    performers, unknowns, warnings = roster.performers, roster.unknowns, roster.warnings
    progress.advance()

    plans = plan_scenes(
        [CastMember(p.name, p.id, tuple(p.heldout_images)) for p in performers if p.heldout_images],
        [CastMember(u.name, None, tuple(u.images)) for u in unknowns],
        settings,
        seed,
    )
    if plans.uncovered:
        warnings.append(
            f"{len(plans.uncovered)} performers with held-out photos are in no scene "
            f"(render more scenes to include them), e.g. {', '.join(plans.uncovered[:3])}"
        )
    names = {p.id: p.name for p in performers}
    library = SampleLibrary(
        version=LIBRARY_VERSION,
        seed=seed,
        faces_dir=str(sources.faces_dir),
        distractors_dir=str(sources.distractors_dir) if sources.distractors_dir else None,
        unknowns_dir=str(sources.unknowns_dir) if sources.unknowns_dir else None,
        settings=settings.record(),
        performers=performers,
        unknowns=unknowns,
        scenes=[scene_record(plan, names, seed) for plan in plans.scenes],
    ).bind(out)
    text = library.to_json()
    # Only now, with the inputs known to be good, touch the output folder.
    if existing is not None and resume:
        _check_same_library(existing, text, out)
    elif existing is not None and force:
        _remove_library(out)
    out.mkdir(parents=True, exist_ok=True)

    # The complete-library marker goes only when every scene is there again.
    write_json_atomic(out / PARTIAL_LIBRARY_FILE, text)
    (out / LIBRARY_FILE).unlink(missing_ok=True)

    progress.stage("Placing photos", len(roster.placements))
    place_files((source, out / relative) for source, relative in roster.placements)
    progress.advance(len(roster.placements))

    for stale in (out / "scenes").glob(".*.partial"):
        stale.unlink()  # left by an interrupted render
    pending = [plan for plan in plans.scenes if not (out / plan.file).is_file()]
    progress.stage("Rendering scenes", len(pending))
    _render_all(pending, out, workers, progress)

    write_json_atomic(out / LIBRARY_FILE, text)
    (out / PARTIAL_LIBRARY_FILE).unlink(missing_ok=True)
    for message in warnings:
        log.info(message)  # also in the report, which callers show
    return RenderReport(
        library=library,
        out_dir=out,
        rendered=len(pending),
        skipped=len(plans.scenes) - len(pending),
        elapsed_s=time.monotonic() - started,
        scene_bytes=sum((out / s.file).stat().st_size for s in library.scenes),
        warnings=warnings,
    )


def _absolute(path: Path | str) -> Path:
    return Path(path).expanduser().resolve()


def _check_separate(out: Path, sources: _Sources) -> None:
    """The library must not overlap its sources: --force deletes inside it."""
    for source in sources.all():
        if out == source or out.is_relative_to(source) or source.is_relative_to(out):
            raise SampleLibraryError(f"the output folder {out} must be outside the photo folder {source}")


def _inspect_out_dir(out: Path, *, force: bool, resume: bool) -> str | None:
    """Check that ``out`` may be written; returns the JSON of a library already there.

    Nothing is changed yet, so a mistake in the other arguments never costs an existing library.
    """
    if force and resume:
        raise SampleLibraryError("choose either --force (start over) or --resume (continue), not both")
    if out.exists() and not out.is_dir():
        raise SampleLibraryError(f"output path {out} exists and is not a folder")
    if not out.exists() or not any(out.iterdir()):
        return None
    marker = next((out / name for name in (PARTIAL_LIBRARY_FILE, LIBRARY_FILE) if (out / name).is_file()), None)
    if marker is None:
        raise SampleLibraryError(
            f"output folder {out} is not empty and holds no sample library; choose an empty or new folder"
        )
    if not (force or resume):
        raise SampleLibraryError(
            f"{out} already holds a sample library; pass --resume to finish it or --force to replace it"
        )
    return marker.read_text(encoding="utf-8")


def _remove_library(out: Path) -> None:
    """Delete what a render wrote (and nothing else) before starting over."""
    for name in OWNED_DIRS:
        shutil.rmtree(out / name, ignore_errors=True)
    for name in OWNED_FILES:
        (out / name).unlink(missing_ok=True)


def _check_same_library(existing: str, planned: str, out: Path) -> None:
    try:
        old = json.loads(existing)
    except json.JSONDecodeError:
        old = None
    new = json.loads(planned)
    if old == new:
        return
    differing = sorted(k for k in new if not isinstance(old, dict) or old.get(k) != new[k])
    raise SampleLibraryError(
        f"cannot resume {out}: it was rendered with different inputs or settings "
        f"(differs in: {', '.join(differing) or 'format'}); pass --force to replace it"
    )


def _render_one(plan: ScenePlan, root: Path) -> int:
    from stash_sense.devtools.samplelib.encode import render_scene

    render_scene(plan, root)
    return plan.index


def _render_all(pending: Sequence[ScenePlan], out: Path, workers: int, progress: RenderProgress) -> None:
    # Largest first so the last scenes to finish are short ones.
    ordered = sorted(pending, key=lambda p: p.frames * p.width * p.height, reverse=True)
    if workers <= 1 or len(ordered) <= 1:
        for plan in ordered:
            _render_one(plan, out)
            progress.advance()
        return
    context = multiprocessing.get_context("spawn")  # no fork of a process with threads
    with ProcessPoolExecutor(min(workers, len(ordered)), mp_context=context) as pool:
        pending: set[Future[int]] = {pool.submit(_render_one, plan, out) for plan in ordered}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for future in done:
                    future.result()
                    progress.advance()
        except BaseException:
            for future in pending:
                future.cancel()
            raise
