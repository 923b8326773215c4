"""``stash-sense identify``: who is in these images (and, later, scenes)."""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import emit_json, err_console, fail

app = typer.Typer(no_args_is_help=True)


def open_recognizer(db: Path):
    from ..facedb.errors import FaceDBError
    from ..recognition import Recognizer

    try:
        return Recognizer.open(db)
    except FaceDBError as exc:
        fail(str(exc))


@app.command("image")
def image(
    paths: list[Path] = typer.Argument(..., help="Image files."),
    db: Path = typer.Option(..., "--db", help="Face DB directory."),
    top_k: int = typer.Option(5, min=1, max=50, help="Candidates considered per face."),
    max_distance: float = typer.Option(0.6, min=0.0, help="Hard distance ceiling."),
    min_confidence: float | None = typer.Option(None, min=0.0, max=1.0, help="Acceptance threshold (default: the DB's calibrated one)."),
    min_face_size: int = typer.Option(20, min=1, help="Ignore faces smaller than this (px)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON list."),
) -> None:
    """Identify the faces in each image; unreadable files are reported, never fatal."""
    from ..faces.pipeline import PipelineOptions
    from ..matching import MatchParams

    recognizer = open_recognizer(db)
    params = MatchParams(top_k=top_k, max_distance=max_distance, min_confidence=min_confidence)
    options = PipelineOptions(min_face_size=min_face_size)
    results = []
    failed = 0
    for path in paths:
        analyzed = recognizer.pipeline.analyze_file(path, options)
        entry: dict = {"path": str(path), "faces": []}
        if analyzed.error:
            entry["error"] = analyzed.error
            failed += 1
        else:
            for fid in recognizer.identify_result(analyzed, params):
                entry["faces"].append(
                    {
                        "box": fid.face.box.as_list(),
                        "score": round(fid.face.score, 4),
                        "quality": round(fid.face.quality, 4),
                        "matches": [m.to_dict() for m in fid.matches],
                    }
                )
        results.append(entry)
    if json_out:
        emit_json(results)
    else:
        for entry in results:
            if "error" in entry:
                err_console.print(f"[red]{entry['path']}: {entry['error']}[/]")
                continue
            err_console.print(f"[bold]{entry['path']}[/]: {len(entry['faces'])} face(s)")
            for i, f in enumerate(entry["faces"], 1):
                who = ", ".join(f"{m['name']} ({m['confidence']:.0%}, d={m['distance']:.3f})" for m in f["matches"]) or "unknown"
                err_console.print(f"  face {i} at {f['box']}: {who}")
    if failed == len(paths):
        raise typer.Exit(1)


@app.command("scene")
def scene(
    source: str = typer.Argument(..., help="Video file path or http(s) stream URL."),
    db: Path = typer.Option(..., "--db", help="Face DB directory."),
    num_frames: int | None = typer.Option(None, help="Frames to sample (default 60)."),
    matching_mode: str | None = typer.Option(None, help="frequency, cluster or hybrid (default hybrid)."),
    max_distance: float | None = typer.Option(None, help="Hard distance ceiling (default 0.6)."),
    min_confidence: float | None = typer.Option(None, help="Score a performer needs (default: calibrated)."),
    param: list[str] = typer.Option([], "--param", help="Any engine parameter as KEY=VALUE; repeatable."),
    params_file: Path | None = typer.Option(None, help="JSON file of parameters (e.g. recommended_config.json)."),
    sprite_vtt: str | None = typer.Option(None, help="Sprite VTT (file or URL) used when the video is unreachable."),
    sprite_image: str | None = typer.Option(None, help="Sprite sheet (file or URL)."),
    screenshot: str | None = typer.Option(None, help="Screenshot (file or URL), the last resort."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Identify the performers in one scene."""
    from ..scenes.engine import SceneEngine
    from ..scenes.sources import FrameSourceError, open_frame_source
    from ._common import scene_params

    params = scene_params(
        params_file=str(params_file) if params_file else None, overrides=param, num_frames=num_frames,
        matching_mode=matching_mode, max_distance=max_distance, min_confidence=min_confidence,
    )
    recognizer = open_recognizer(db)
    try:
        src = open_frame_source(source, sprite_vtt=sprite_vtt, sprite_image=sprite_image, screenshot=screenshot)
    except FrameSourceError as exc:
        fail(str(exc))
    try:
        result = SceneEngine(recognizer).identify(src, params)
    except FrameSourceError as exc:
        fail(str(exc))
    finally:
        src.close()
    if json_out:
        emit_json(result)
        return
    err_console.print(
        f"[bold]{result.source}[/]: {result.totals.frames_analysed} frames, {result.totals.faces_after_filter} faces, "
        f"{result.totals.persons_clustered} persons, {result.timings.get('total', 0):.1f}s"
    )
    if not result.performers:
        err_console.print("  no performer identified")
    for r in result.performers:
        err_console.print(f"  {r.name}  score {r.score:.2f}  confidence {r.confidence:.0%}  d={r.distance:.3f}  in {r.unique_frames} frames")
