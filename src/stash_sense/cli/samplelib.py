"""``stash-sense samplelib``: render a sample library of scenes with known performers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

app = typer.Typer(no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Render sample libraries: labelled photos turned into scenes with a known ground truth."""


class _RichProgress:
    """Shows render stages as progress bars on stderr (plain lines when it is not a terminal)."""

    def __init__(self, progress: Progress, console: Console) -> None:
        self._progress = progress
        self._console = console
        self._task: TaskID | None = None
        self._total = 0
        self._done = 0
        self._description = ""
        # A live bar is invisible in a log file: report every 10% there instead.
        self._plain = not console.is_terminal

    def stage(self, description: str, total: int) -> None:
        if self._task is not None:  # the previous stage is over
            self._progress.update(self._task, completed=self._total)
        self._total = max(total, 0)
        self._done = 0
        self._description = description
        self._task = self._progress.add_task(description, total=self._total)
        if self._plain:
            self._console.print(f"{description}: 0/{self._total}", highlight=False)

    def advance(self, steps: int = 1) -> None:
        if self._task is None:
            return
        self._progress.advance(self._task, steps)
        before, self._done = self._done, self._done + steps
        if self._plain and self._total and (before * 10 // self._total) != (self._done * 10 // self._total):
            elapsed = self._progress.tasks[-1].elapsed or 0.0
            self._console.print(
                f"{self._description}: {self._done}/{self._total} ({elapsed:.0f} s)", highlight=False
            )


def _default_workers() -> int:
    from stash_sense.config import worker_count

    return worker_count()


@app.command()
def render(
    faces: Path = typer.Option(
        ..., "--faces", help="Folder of labelled photos: one sub-folder per person (<identity>/<images>)."
    ),
    out: Path = typer.Option(
        ..., "--out", help="Library folder to create (gallery/, heldout/, scenes/, library.json)."
    ),
    scenes: int = typer.Option(..., "--scenes", help="Number of scenes to render."),
    seed: int = typer.Option(0, "--seed", help="Seed: the same seed and inputs give the same library."),
    gallery_per_identity: int = typer.Option(
        5, "--gallery-per-identity", help="Photos per identity (first by file name) that go to the gallery."
    ),
    min_heldout: int = typer.Option(
        1,
        "--min-heldout",
        help="Identities with fewer photos than gallery + this many go to the gallery only (never in scenes).",
    ),
    min_images: Optional[int] = typer.Option(  # noqa: UP007 - Typer needs Optional
        None, "--min-images", help="Only use identities of --faces with at least this many readable photos."
    ),
    max_images: Optional[int] = typer.Option(  # noqa: UP007
        None,
        "--max-images",
        help="Only use identities of --faces with at most this many photos (with --min-images: an exact count).",
    ),
    distractors: Optional[Path] = typer.Option(  # noqa: UP007
        None,
        "--distractors",
        help="Labelled photos of extra gallery performers who never appear in scenes (name clashes are skipped).",
    ),
    unknowns: Optional[Path] = typer.Option(  # noqa: UP007
        None,
        "--unknowns",
        help="Labelled photos of people not in the gallery, shown in some of the scenes (see --unknown-share).",
    ),
    min_duration: float = typer.Option(20.0, "--min-duration", help="Shortest scene, seconds."),
    max_duration: float = typer.Option(90.0, "--max-duration", help="Longest scene, seconds."),
    min_shot: float = typer.Option(2.0, "--min-shot", help="Shortest shot, seconds."),
    max_shot: float = typer.Option(6.0, "--max-shot", help="Longest shot, seconds (at least ~2x the shortest)."),
    fps: int = typer.Option(6, "--fps", help="Frame rate of the scenes."),
    tiers: str = typer.Option(
        "480p,720p,1080p,4k", "--tiers", help="Resolution tiers to use in equal shares (comma-separated)."
    ),
    crf_min: int = typer.Option(23, "--crf-min", help="Lowest x264 CRF (best quality); varied per scene."),
    crf_max: int = typer.Option(30, "--crf-max", help="Highest x264 CRF (strongest compression)."),
    preset: str = typer.Option("ultrafast", "--preset", help="x264 preset."),
    x264_params: Optional[str] = typer.Option(  # noqa: UP007
        None, "--x264-params", help="x264 options on top of the preset (default: CABAC, deblock, mbtree on)."
    ),
    unknown_share: float = typer.Option(
        0.3, "--unknown-share", help="Share of scenes that include 1-2 unknown people (with --unknowns)."
    ),
    workers: Optional[int] = typer.Option(  # noqa: UP007
        None, "--workers", help="Scenes rendered in parallel (default: STASH_SENSE_WORKERS or all cores)."
    ),
    force: bool = typer.Option(False, "--force", help="Replace a library already in --out."),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue a library in --out rendered with the same inputs, skipping finished scenes.",
    ),
) -> None:
    """Render a sample library from labelled photos.

    The first --gallery-per-identity photos of each identity go to LIBDIR/gallery/<identity>/
    (hard links when possible); build the face DB with `stash-sense db build --from-folder
    LIBDIR/gallery`. The other photos are held out and shown in the scenes, and
    LIBDIR/library.json records who appears in every scene and shot.

    LFW example (identities with exactly 4 photos, 1 in the gallery): --faces lfw/people
    --min-images 4 --max-images 4 --gallery-per-identity 1 --scenes 150
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from stash_sense.devtools.samplelib import RenderSettings, SampleLibraryError, render_library
    from stash_sense.devtools.samplelib.settings import DEFAULT_X264_PARAMS

    err = Console(stderr=True)
    settings = RenderSettings(
        scenes=scenes,
        gallery_per_identity=gallery_per_identity,
        min_heldout=min_heldout,
        min_images=min_images,
        max_images=max_images,
        min_duration=min_duration,
        max_duration=max_duration,
        min_shot=min_shot,
        max_shot=max_shot,
        fps=fps,
        tiers=tuple(t.strip().lower() for t in tiers.split(",") if t.strip()),
        crf_min=crf_min,
        crf_max=crf_max,
        preset=preset,
        x264_params=DEFAULT_X264_PARAMS if x264_params is None else x264_params,
        unknown_scene_share=unknown_share,
    )
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not err.is_terminal,
    )
    try:
        with progress:
            report = render_library(
                faces,
                out,
                settings,
                seed=seed,
                distractors_dir=distractors,
                unknowns_dir=unknowns,
                force=force,
                resume=resume,
                workers=workers if workers is not None else _default_workers(),
                progress=_RichProgress(progress, err),
            )
    except SampleLibraryError as exc:
        err.print(f"[red]Error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from None
    for message in report.warnings:
        err.print(f"[yellow]Warning:[/yellow] {escape(message)}", highlight=False)
    library = report.library
    distractor_count = sum(p.distractor for p in library.performers)
    typer.echo(
        f"Library in {report.out_dir}: {len(library.performers)} performers "
        f"({distractor_count} distractors), {len(library.unknowns)} unknown people, "
        f"{len(library.scenes)} scenes ({report.rendered} rendered, {report.skipped} already done) "
        f"in {report.elapsed_s:.1f} s; scenes take {report.scene_bytes / 1e6:.1f} MB"
    )


@app.command("plant-duplicates")
def plant_duplicates_command(
    library: Path = typer.Option(..., "--library", exists=True, file_okay=False, help="A rendered sample library."),
    seed: int = typer.Option(0, "--seed", help="Which scenes and performers get duplicated."),
) -> None:
    """Plant duplicates in a rendered library (re-encodes, a cut intro, a stash-box twin, a
    second file, performers entered twice, look-alikes) and record the truth in library.json."""
    from stash_sense.devtools.samplelib import SampleLibraryError
    from stash_sense.devtools.samplelib.duplicates import plant_duplicates

    try:
        planted = plant_duplicates(library, seed=seed)
    except SampleLibraryError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(1) from None
    truth = planted.duplicates
    assert truth is not None
    typer.echo(
        f"{library}: {len(truth.scenes)} duplicate scene pairs, {len(truth.lookalikes)} look-alikes, "
        f"{len(truth.performers)} duplicated performers, {len(truth.files)} scenes with two files"
    )
