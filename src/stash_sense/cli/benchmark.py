"""``stash-sense benchmark``: identification accuracy on a Stash library whose performers are
already tagged, with parameter tuning rounds, checkpoints and reports."""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import emit_json, err_console, fail

app = typer.Typer()


def _scene_ids(value: str | None) -> list[str] | None:
    if value is None:
        return None
    ids = [part.strip() for part in value.split(",") if part.strip()]
    if not ids or not all(part.isdigit() for part in ids):
        raise typer.BadParameter(f"expected comma-separated Stash scene ids such as 1,2,3, got {value!r}", param_hint="--scenes")
    return list(dict.fromkeys(ids))


@app.command("benchmark")
def benchmark(
    stash: str = typer.Option(..., "--stash", envvar="STASH_URL", help="Stash URL, e.g. http://localhost:9999 (or STASH_URL)."),
    api_key: str | None = typer.Option(None, "--api-key", envvar="STASH_API_KEY", help="Stash API key (or STASH_API_KEY)."),
    db: Path = typer.Option(..., "--db", help="Face DB directory."),
    output_dir: Path = typer.Option(Path("benchmark-results"), "--output-dir", help="Where the reports and checkpoint.json go."),
    quick: bool = typer.Option(False, "--quick", help="20 scenes, 2 rounds (explicit --num-scenes/--max-rounds win)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run checkpointed in --output-dir."),
    scenes: str | None = typer.Option(None, "--scenes", help="Benchmark exactly these Stash scene ids, e.g. 1,2,3."),
    start_round: int | None = typer.Option(None, "--start-round", min=1, help="Begin at this round (with --resume: redo from it)."),
    num_scenes: int | None = typer.Option(None, "--num-scenes", min=1, help="Scenes to select (default 100)."),
    max_rounds: int | None = typer.Option(None, "--max-rounds", min=1, help="Last round to run (default: all 8)."),
    sample_size: int | None = typer.Option(None, "--sample-size", min=1, help="Scenes in the sample for rounds 2+ (default 30)."),
    seed: int | None = typer.Option(None, "--seed", help="Seed of the scene selection and sample (default 0)."),
    min_performers: int | None = typer.Option(None, "--min-performers", min=1, help="Performers a scene needs (default 2)."),
    min_short_side: int | None = typer.Option(None, "--min-resolution", min=1, help="Shorter video side needed, px (default 480)."),
    param: list[str] = typer.Option([], "--param", help="Baseline engine parameter KEY=VALUE; repeatable."),
    sidecar: str | None = typer.Option(None, "--sidecar", help="Run identification on this sidecar URL instead of in-process."),
    sidecar_api_key: str | None = typer.Option(
        None, "--sidecar-api-key", envvar="STASH_SENSE_API_KEY", help="The sidecar's API key (or STASH_SENSE_API_KEY)."
    ),
    force: bool = typer.Option(False, "--force", help="Start over even if --output-dir holds a checkpoint."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the progress bar."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary and output paths as JSON."),
) -> None:
    """Benchmark identification on Stash scenes whose performers are known.

    Round 1 runs the baseline parameters on every selected scene; later rounds try parameter
    grids on a stratified sample and keep the best, until a round gains less than 1 F1 point.
    The state is checkpointed after every scene: rerun with --resume after a crash or Ctrl-C.
    """
    import json

    from pydantic import ValidationError

    from ..benchmark.errors import BenchmarkError
    from ..benchmark.models import BenchmarkParams
    from ..benchmark.runner import BenchmarkOptions, run_benchmark
    from ..facedb.errors import FaceDBError
    from ..stash import StashError

    params = None
    if param:
        data: dict[str, object] = {}
        for item in param:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                fail(f"--param expects KEY=VALUE, got {item!r}")
            try:
                data[key.strip()] = json.loads(value)
            except ValueError:
                data[key.strip()] = value
        try:
            params = BenchmarkParams(**data)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
            fail(f"bad --param: {problems}")
    options = BenchmarkOptions(
        seed=seed, num_scenes=num_scenes, max_rounds=max_rounds, sample_size=sample_size, quick=quick,
        scene_ids=_scene_ids(scenes), start_round=start_round, resume=resume, force=force,
        min_performers=min_performers, min_short_side=min_short_side, params=params, sidecar_url=sidecar,
        sidecar_api_key=sidecar_api_key, progress=progress,
    )
    if not db.is_dir():
        fail(f"face DB directory {db} does not exist (build one with `stash-sense db build`)")
    try:
        outcome = run_benchmark(stash, db, output_dir, api_key=api_key, options=options)
    except (BenchmarkError, FaceDBError, StashError) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        # Before the first scene (selection): nothing to save yet.
        err_console.print("interrupted before any scene ran; nothing saved", markup=False)
        raise typer.Exit(130) from None
    if json_out:
        emit_json({
            "interrupted": outcome.interrupted,
            "baseline": outcome.baseline.model_dump() if outcome.baseline else None,
            "best": outcome.best.model_dump() if outcome.best else None,
            "best_params": outcome.best_params.model_dump(),
            "rounds_run": outcome.rounds_run,
            "outputs": {name: str(path) for name, path in outcome.outputs.items()},
        })
    else:
        err_console.print(outcome.summary, markup=False, highlight=False, soft_wrap=True)
        err_console.print(f"reports in {output_dir}", markup=False)
    if outcome.interrupted:
        err_console.print(f"interrupted: resume with --resume --output-dir {output_dir}", markup=False)
        raise typer.Exit(130)
