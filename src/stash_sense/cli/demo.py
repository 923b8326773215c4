"""``stash-sense demo``: the end-to-end demo on the embedded default data."""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import emit_json, fail

app = typer.Typer()


@app.command("demo")
def demo(
    out: Path = typer.Option(Path("demo-output"), help="Working folder (library, face DB, reports)."),
    faces: Path | None = typer.Option(None, help="Labelled photos <identity>/<images> (default: $STASH_SENSE_FACEDATA/celeb17)."),
    scenes: int = typer.Option(24, min=4, max=200, help="Scenes to render."),
    seed: int = typer.Option(1, help="Seed for the sample library."),
    fresh: bool = typer.Option(False, help="Delete the working folder first."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Render a sample library, serve it as Stash, build the face DB, benchmark identification."""
    from ..devtools.demo import default_options, run_demo

    opts = default_options(out)
    if faces is not None:
        opts.faces = faces
    opts.scenes, opts.seed, opts.fresh = scenes, seed, fresh
    try:
        summary = run_demo(opts)
    except FileNotFoundError as exc:
        fail(str(exc))
    if json_out:
        emit_json(summary)
