"""``stash-sense identify``: who is in these images and scenes (files, URLs or Stash scenes)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from pydantic import BaseModel

from ._common import MAX_DISTANCE_HELP, emit_json, err_console, fail

if TYPE_CHECKING:
    from ..recognition import Recognizer
    from ..scenes.params import SceneParams
    from ..scenes.result import SceneIdentification

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
    source: str | None = typer.Argument(None, help="Video file path or http(s) stream URL (not with --stash)."),
    db: Path = typer.Option(..., "--db", help="Face DB directory."),
    stash: str | None = typer.Option(None, "--stash", help="Stash URL: identify the scene --scene-id of this Stash."),
    scene_id: str | None = typer.Option(None, "--scene-id", help="With --stash: the Stash scene id."),
    api_key: str | None = typer.Option(None, "--api-key", envvar="STASH_API_KEY", help="Stash API key (or STASH_API_KEY)."),
    apply: bool = typer.Option(False, "--apply", help="With --stash: add the identified performers to the scene in Stash."),
    num_frames: int | None = typer.Option(None, help="Frames to sample (default 60)."),
    matching_mode: str | None = typer.Option(None, help="frequency, cluster or hybrid (default hybrid)."),
    max_distance: float | None = typer.Option(None, help=MAX_DISTANCE_HELP),
    min_confidence: float | None = typer.Option(None, help="Score a performer needs (default: calibrated)."),
    param: list[str] = typer.Option([], "--param", help="Any engine parameter as KEY=VALUE; repeatable."),
    params_file: Path | None = typer.Option(None, help="JSON file of parameters (e.g. recommended_config.json)."),
    sprite_vtt: str | None = typer.Option(None, help="Sprite VTT (file or URL) used when the video is unreachable."),
    sprite_image: str | None = typer.Option(None, help="Sprite sheet (file or URL)."),
    screenshot: str | None = typer.Option(None, help="Screenshot (file or URL), the last resort."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Identify the performers in one scene: a video file or URL, or a Stash scene (--stash URL --scene-id ID).

    From Stash, the video is streamed (sprites, then the screenshot, when it cannot be read); --apply then adds
    the identified performers that Stash has to the scene (never creating performers).
    """
    from ._common import scene_params

    if stash is not None:
        given = {"SOURCE": source, "--sprite-vtt": sprite_vtt, "--sprite-image": sprite_image, "--screenshot": screenshot}
        misplaced = [flag for flag, value in given.items() if value]
        if misplaced:
            fail(f"{', '.join(misplaced)} cannot be combined with --stash: Stash provides the scene's media")
        if not scene_id:
            fail("--stash needs --scene-id ID (the Stash scene to identify)")
    else:
        if scene_id or apply:
            fail("--scene-id and --apply need --stash URL")
        if source is None:
            fail("give a video file or stream URL, or --stash URL --scene-id ID")
    params = scene_params(
        params_file=str(params_file) if params_file else None, overrides=param, num_frames=num_frames,
        matching_mode=matching_mode, max_distance=max_distance, min_confidence=min_confidence,
    )
    recognizer = open_recognizer(db)
    if stash is not None:
        outcome = identify_stash_scene(recognizer, stash, scene_id, api_key=api_key, params=params, apply=apply)
        if json_out:
            emit_json(outcome)
        else:
            _print_stash_outcome(outcome)
        return
    from ..media import FrameSourceError, open_frame_source
    from ..scenes.engine import SceneEngine

    try:
        src = open_frame_source(source, sprite_vtt=sprite_vtt, sprite_image=sprite_image, screenshot=screenshot, video_mode="fast")
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
    _print_result(result)


def _print_result(result: SceneIdentification) -> None:
    err_console.print(
        f"[bold]{result.source}[/]: {result.totals.frames_analysed} frames, {result.totals.faces_after_filter} faces, "
        f"{result.totals.persons_clustered} persons, {result.timings.get('total', 0):.1f}s"
    )
    if not result.performers:
        err_console.print("  no performer identified")
    for r in result.performers:
        err_console.print(f"  {r.name}  score {r.score:.2f}  confidence {r.confidence:.0%}  d={r.distance:.3f}  in {r.unique_frames} frames")


def _print_stash_outcome(outcome: StashSceneOutcome) -> None:
    _print_result(outcome.result)
    for match in outcome.matches:
        if match.stash_performer_id is None:
            hint = " (can be created from stash-box: dashboard or plugin)" if match.can_create else ""
            err_console.print(f"  [yellow]{match.name} is not in Stash[/]: {match.reason or '-'}{hint}")
        else:
            err_console.print(f"  {match.name} = Stash performer {match.stash_performer_id} ({match.stash_name}, via {match.via})")
    applied = outcome.applied
    if applied is None:
        untagged = [m.name for m in outcome.matches if m.stash_performer_id and m.stash_performer_id not in outcome.performers_before]
        if untagged:
            err_console.print(f"not tagged on the scene yet: {', '.join(untagged)} (add --apply to tag them)")
        return
    if applied.added:
        err_console.print(f"[green]added to scene {outcome.scene_id}:[/] {', '.join(applied.added)}")
    if applied.already_tagged:
        err_console.print(f"already tagged: {', '.join(applied.already_tagged)}")
    if applied.not_in_stash:
        err_console.print(f"[yellow]not in Stash, not added:[/] {', '.join(applied.not_in_stash)}")


# -- Stash scenes ------------------------------------------------------------------------------


class StashMatch(BaseModel):
    """An identified performer and the Stash performer it is (``stash_performer_id`` None: not in Stash)."""

    name: str
    performer_id: str  # the face DB identity the engine reported
    identities: list[str]
    stash_performer_id: str | None = None
    stash_name: str | None = None
    via: str | None = None  # "local" (this Stash's own id), "stash_id" (a stash-box link) or "name" (a folder DB)
    ambiguous: list[str] = []  # other Stash performers carrying the same identity
    reason: str | None = None  # why Stash has none
    can_create: bool = False  # it can be created from a stash-box configured in Stash


class StashApplied(BaseModel):
    added: list[str]  # names
    already_tagged: list[str]
    not_in_stash: list[str]
    performer_ids_after: list[str]


class StashSceneOutcome(BaseModel):
    stash_url: str
    scene_id: str
    title: str | None = None
    performers_before: list[str]  # Stash performer ids
    result: Any  # SceneIdentification (Any keeps this module free of heavy imports)
    resolutions: dict[str, Any] = {}  # candidate identity -> app.resolution.Resolution, as the API returns them
    matches: list[StashMatch]
    applied: StashApplied | None = None


def identify_stash_scene(
    recognizer: Recognizer, url: str, scene_id: str, *, api_key: str | None, params: SceneParams, apply: bool
) -> StashSceneOutcome:
    """The application's Stash-scene use case (tagged boost, engine, resolutions) with frames
    decoded here; ``--apply`` then adds the accepted performers Stash has.

    Every failure (Stash unreachable, wrong key, unknown scene, no media) ends the command with
    one clear line that never contains the API key.
    """
    import asyncio

    from ..app.errors import UseCaseError
    from ..app.stash_scene import identify_stash_scene as identify_use_case
    from ..media import FrameSourceError
    from ..scenes.engine import SceneEngine
    from ..stash.client import StashClient
    from ..stash.errors import StashError
    from ..stash.media import StashBridge, open_scene_frames
    from ..stash.ratelimit import Priority
    from ..stash.redaction import Redactor

    scrub = Redactor([api_key])
    try:
        client = StashClient(url, api_key)
    except (ValueError, TypeError) as exc:
        fail(scrub(str(exc)))
    with StashBridge() as bridge:

        async def run(scene: Any, scene_params: SceneParams) -> SceneIdentification:
            def decode_and_identify() -> SceneIdentification:
                # Keyframes first, as for any other video: far fewer Range reads over the network.
                with open_scene_frames(bridge, client, scene, priority=Priority.HIGH, video_mode="fast") as source:
                    result = SceneEngine(recognizer).identify(source, scene_params)
                result.source = f"Stash scene {scene.id}: {result.source}"
                return result

            return await asyncio.to_thread(decode_and_identify)

        try:
            found = bridge.run(identify_use_case(client, scene_id, params, run, priority=Priority.HIGH))
            matches = [_match(p, found.resolutions.get(p.performer_id)) for p in found.result.performers]
            applied = _apply(bridge, client, found.scene_id, found.performers_before, matches) if apply else None
        except (StashError, FrameSourceError, UseCaseError) as exc:
            fail(scrub(str(exc)))
        finally:
            bridge.run(client.aclose())
    return StashSceneOutcome(
        stash_url=client.url, scene_id=found.scene_id, title=found.title, performers_before=found.performers_before,
        result=found.result, resolutions={k: v.model_dump() for k, v in found.resolutions.items()}, matches=matches, applied=applied,
    )


def _match(performer: Any, resolution: Any) -> StashMatch:
    identities = [f"{i['endpoint']}#{i['stash_id']}" for i in performer.stash_ids]
    found = resolution.performer if resolution is not None else None
    return StashMatch(
        name=performer.name, performer_id=performer.performer_id, identities=identities,
        stash_performer_id=found.id if found else None, stash_name=found.name if found else None,
        via=resolution.via if resolution is not None else None, ambiguous=list(resolution.ambiguous) if resolution else [],
        reason=None if found or resolution is None else resolution.reason,
        can_create=bool(resolution and resolution.can_create),
    )


def _apply(bridge: Any, client: Any, scene_id: str, before: list[str], matches: list[StashMatch]) -> StashApplied:
    """Add the identified performers Stash has to the scene (bulkSceneUpdate ADD: nothing removed)."""
    from ..app.performers import add_to_scene
    from ..stash.ratelimit import Priority

    new = [m for m in matches if m.stash_performer_id is not None and m.stash_performer_id not in before]
    after = list(before)
    if new:
        ids = list(dict.fromkeys(m.stash_performer_id for m in new if m.stash_performer_id))
        after = bridge.run(add_to_scene(client, scene_id, ids, priority=Priority.CRITICAL)).scene_performer_ids
    return StashApplied(
        added=[m.name for m in new],
        already_tagged=[m.name for m in matches if m.stash_performer_id is not None and m.stash_performer_id in before],
        not_in_stash=[m.name for m in matches if m.stash_performer_id is None],
        performer_ids_after=after,
    )
