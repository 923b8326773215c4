"""``stash-sense models``: list, install, verify and remove face models that no PyPI package ships.

``install`` is the only command in Stash Sense that fetches a model, and only the one named.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import emit_json, err_console, fail

app = typer.Typer(no_args_is_help=True)


def _fail(message: str, as_json: bool) -> None:
    if as_json:
        emit_json({"ok": False, "error": message})
    fail(message)


@app.command("list")
def list_models(
    verify: bool = typer.Option(False, "--verify", help="Also check each installed file's sha256."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """The models Stash Sense knows, whether each is installed, and the directory they live in."""
    from ..config import model_source, models_dir
    from ..faces.catalog import CATALOG, embedder_name
    from ..modelstore import model_statuses

    statuses = model_statuses(verify=verify)
    data = {
        "models_dir": str(models_dir()),
        "source": model_source(),
        "default_embedder": embedder_name(),
        "models": [s.to_dict() for s in statuses],
    }
    if json_out:
        emit_json(data)
        return
    from rich.table import Table

    table = Table(title=f"Face models ({models_dir()})")
    for col in ("name", "installed", "size", "licence", "description"):
        table.add_column(col)
    for s in statuses:
        state = "yes" if s.installed else "no"
        if s.verified is not None:
            state += " (verified)" if s.verified else f" (DAMAGED: {s.problem})"
        table.add_row(s.name, state, f"{s.size / 1e6:.1f} MB", s.licence, s.description)
    for entry in CATALOG.values():
        if not entry.installable:
            table.add_row(entry.name, "built in", "-", entry.licence, entry.description)
    err_console.print(table)
    err_console.print(f"default embedder for new face DBs: {data['default_embedder']}; install source: {data['source']}")


@app.command("install")
def install(
    name: str = typer.Argument(..., help="Model to install (see `stash-sense models list`)."),
    accept_licence: bool = typer.Option(False, "--accept-licence", help="Accept the model's licence (needed for non-commercial ones)."),
    from_file: Path | None = typer.Option(None, "--from", exists=True, dir_okay=False, help="Install this local copy instead of fetching."),
    source: str | None = typer.Option(None, "--source", help="Folder or http(s) base URL (default: STASH_SENSE_MODEL_SOURCE)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar on stderr."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Fetch (or copy with --from) a model, check its size and sha256, and move it into place."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    from ..config import model_source
    from ..faces.catalog import installable_entry
    from ..modelstore import InstallError, install_model
    from ..modelstore.store import licence_text

    try:
        entry = installable_entry(name)
    except KeyError as exc:
        _fail(str(exc.args[0]), json_out)
    if accept_licence or entry.commercial_use:
        # Shown on every install: the licence requires crediting the authors.
        err_console.print(licence_text(entry), highlight=False)
    origin = str(from_file) if from_file else (source or model_source())
    bar = Progress(
        "[bold]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
        console=err_console, disable=not progress or not (accept_licence or entry.commercial_use),
    )
    try:
        with bar:
            task = bar.add_task(f"{entry.name} from {origin}", total=entry.size)
            path = install_model(
                entry.name, accept_licence=accept_licence, from_file=from_file, source=source,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    except InstallError as exc:
        _fail(str(exc), json_out)
    if json_out:
        emit_json({"ok": True, "name": entry.name, "path": str(path), "sha256": entry.sha256, "licence": entry.licence})
        return
    err_console.print(f"installed {entry.name} at {path} (sha256 verified)")


@app.command("verify")
def verify(
    name: str | None = typer.Argument(None, help="Model to check (default: every installed model)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Check installed models' size and sha256 against the catalog (exit status 1 if one is damaged)."""
    from ..modelstore import model_statuses, verify_model

    try:
        statuses = [verify_model(name)] if name else [s for s in model_statuses(verify=True) if s.installed]
    except KeyError as exc:
        _fail(str(exc.args[0]), json_out)
    bad = [s for s in statuses if not s.installed or not s.verified]
    if json_out:
        emit_json({"ok": not bad, "models": [s.to_dict() for s in statuses]})
    else:
        if not statuses:
            err_console.print("no models installed")
        for s in statuses:
            state = "not installed" if not s.installed else ("ok" if s.verified else f"DAMAGED: {s.problem}")
            err_console.print(f"{s.name}: {state} ({s.path})")
    if bad:
        raise typer.Exit(1)


@app.command("remove")
def remove(
    name: str = typer.Argument(..., help="Model to delete from the models directory."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Delete an installed model (face DBs built with it need it reinstalled to be used)."""
    from ..modelstore import remove_model

    try:
        removed = remove_model(name)
    except KeyError as exc:
        _fail(str(exc.args[0]), json_out)
    if json_out:
        emit_json({"ok": True, "name": name, "removed": removed})
        return
    err_console.print(f"removed {name}" if removed else f"{name} was not installed")
