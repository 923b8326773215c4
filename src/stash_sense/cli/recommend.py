"""``stash-sense recommend``: run the duplicate analyzers and list what they found.

Uses the same settings and the same ``stash_sense.db`` as the sidecar (``STASH_URL``,
``STASH_API_KEY``, ``STASH_SENSE_DATA_DIR``, ...), so a run here is a run the sidecar sees.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import emit_json, err_console, fail

app = typer.Typer(no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Find duplicate performers, scene files and scenes in a Stash library."""


def _settings(stash: str | None, api_key: str | None, data_dir: Path | None, settings_file: Path | None):  # noqa: ANN202
    from stash_sense.api.settings import SettingsError, load_settings

    try:
        return load_settings(
            settings_file=settings_file, overrides={"stash_url": stash, "stash_api_key": api_key, "data_dir": data_dir}
        )
    except SettingsError as exc:
        fail(str(exc))


def _face_identity(face_db_dir: Path):  # noqa: ANN202
    """A stash ID -> face-DB performer lookup when a face DB is installed (it corroborates
    name links between performers); None otherwise."""
    from stash_sense.facedb import FaceDB

    if not (face_db_dir / "manifest.json").is_file():
        return None
    try:
        return FaceDB.open(face_db_dir).performer_id_for
    except Exception as exc:  # noqa: BLE001 - corroboration is optional; say why it is off
        err_console.print(f"[yellow]face DB not used:[/] {exc}")
        return None


@app.command("run")
def run(
    type: str = typer.Argument(..., help="performers, files or scenes (or duplicate_performers, ...)."),
    full: bool = typer.Option(False, "--full", help="Re-examine everything, not only what changed since the last run."),
    stash: str | None = typer.Option(None, "--stash", help="Stash URL (default: STASH_URL)."),
    api_key: str | None = typer.Option(None, "--api-key", help="Stash API key (default: STASH_API_KEY)."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Where stash_sense.db lives (default: STASH_SENSE_DATA_DIR)."),
    settings_file: Path | None = typer.Option(None, "--settings", help="TOML or JSON settings file."),
    json_out: bool = typer.Option(False, "--json", help="Print the run record as one JSON object."),
) -> None:
    """Run one analyzer (incremental from its last run unless --full); Ctrl-C stops it cleanly."""
    import asyncio

    from stash_sense.recommendations import RunControl, build_analyzer, canonical_type, run_analysis
    from stash_sense.stash import StashClient, limiter_for_stash
    from stash_sense.userdb import RecommendationStore, UserDB, UserDBError

    try:
        kind = canonical_type(type)
    except ValueError as exc:
        fail(str(exc))
    settings = _settings(stash, api_key, data_dir, settings_file)
    if not settings.stash_url:
        fail("no Stash configured: pass --stash URL or set STASH_URL")
    try:
        db = UserDB.open(settings.user_db_path)
    except UserDBError as exc:
        fail(str(exc))

    def progress(value: float, phase: str) -> None:
        err_console.print(f"{kind}: {value * 100:3.0f}% {phase}", highlight=False)

    async def go():  # noqa: ANN202
        key = settings.stash_api_key.get_secret_value() if settings.stash_api_key else None
        control = RunControl(on_progress=progress, stop_event=asyncio.Event())
        async with StashClient(settings.stash_url, key, limiter=limiter_for_stash(settings.stash_url, settings.stash_rate_limit)) as client:
            face_identity = _face_identity(settings.face_db_dir) if kind == "duplicate_performers" else None
            analyzer = build_analyzer(
                kind, client=client, user_db=db, preferred_paths=settings.preferred_paths, face_identity=face_identity,
            )
            task = asyncio.ensure_future(run_analysis(analyzer, RecommendationStore(db), full=full, control=control))
            try:
                return await asyncio.shield(task)
            except (KeyboardInterrupt, asyncio.CancelledError):
                control.stop()
                return await task

    try:
        record = asyncio.run(go())
    except Exception as exc:  # noqa: BLE001 - the run record already holds the error
        fail(f"{kind} analysis failed: {exc}")
    finally:
        db.close()
    if json_out:
        emit_json(record)
    else:
        err_console.print(
            f"{record.type} ({record.mode} run {record.id}): {record.status}; examined {record.examined} of {record.total}, "
            f"{record.candidates} candidates, {record.raised} raised, {record.updated} updated, {record.suppressed} dismissed, "
            f"{record.obsolete} obsolete"
        )
    if record.status != "completed":
        raise typer.Exit(1)


@app.command("list")
def list_recommendations(
    type: str | None = typer.Option(None, "--type", help="performers, files or scenes (default: all)."),
    status: str = typer.Option("open", "--status", help="open, dismissed, resolved or obsolete."),
    min_confidence: float | None = typer.Option(None, "--min-confidence", min=0.0, max=1.0),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Where stash_sense.db lives (default: STASH_SENSE_DATA_DIR)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Recommendations stored by earlier runs, most confident first."""
    from stash_sense.recommendations import canonical_type
    from stash_sense.userdb import RecommendationStore, UserDB, UserDBError

    if status not in ("open", "dismissed", "resolved", "obsolete"):
        fail(f"unknown status {status!r} (open, dismissed, resolved or obsolete)")
    try:
        kind = canonical_type(type) if type else None
    except ValueError as exc:
        fail(str(exc))
    settings = _settings(None, None, data_dir, None)
    try:
        db = UserDB.open(settings.user_db_path)
    except UserDBError as exc:
        fail(str(exc))
    try:
        items, total = RecommendationStore(db).list(type=kind, status=status, min_confidence=min_confidence, per_page=limit)
    finally:
        db.close()
    if json_out:
        emit_json({"total": total, "items": [i.model_dump(mode="json") for i in items]})
        return
    for item in items:
        typer.echo(f"{item.id:>6}  {item.type:<21} {item.confidence:.2f}  {item.target}")
    err_console.print(f"{len(items)} of {total} {status} recommendations")
