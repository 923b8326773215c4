"""``stash-sense bench``: speed measurements (each with ``--json``)."""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import emit_json, err_console, fail

app = typer.Typer(no_args_is_help=True)


@app.command("pipeline")
def pipeline(
    faces: Path | None = typer.Option(None, help="Folder of <identity>/<images> (default: $STASH_SENSE_FACEDATA/celeb17)."),
    num_faces: int = typer.Option(200, min=10, help="Faces to embed."),
    num_frames: int = typer.Option(200, min=10, help="720p frames to run detection on."),
    workers: int = typer.Option(0, help="Embedding worker processes (0: all cores)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Embedding throughput (faces/s, all cores) and detection speed on 720p frames."""
    from ..benchmark.pipeline_speed import measure_pipeline_speed
    from ..config import facedata_dir

    folder = faces or facedata_dir() / "celeb17"
    if not folder.is_dir():
        fail(f"face photos not found at {folder} (pass --faces or set STASH_SENSE_FACEDATA)")
    report = measure_pipeline_speed(folder, num_faces=num_faces, num_frames=num_frames, workers=workers or None)
    if json_out:
        emit_json(report)
    else:
        err_console.print(
            f"embedding: {report.faces_per_second:.1f} faces/s on {report.workers} workers; "
            f"detection: {report.detect_frames_per_second_720p:.0f} frames/s at 720p"
        )
