"""``stash-sense emulator``: serve a sample library as a Stash (or stash-box) server.

For tests and the demo only; production code never depends on it.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True, help="Run the Stash emulator (tests and demo only).")

_LIBRARY = typer.Option(..., "--library", help="Sample library folder (holding library.json).", exists=True, file_okay=False)
_HOST = typer.Option("127.0.0.1", "--host", help="Interface to bind.")
_SCHEMA = typer.Option(None, "--schema", help="Schema folder (default: the shared upstream schema).", exists=True, file_okay=False)


def _api_key(value: str | None, env: str) -> str | None:
    # The key may come from the environment so that it stays out of process listings.
    return value if value is not None else (os.environ.get(env) or None)


@app.command()
def serve(
    library: Path = _LIBRARY,
    host: str = _HOST,
    port: int = typer.Option(9999, "--port", help="Port (Stash's default is 9999)."),
    api_key: str | None = typer.Option(None, "--api-key", help="Require this ApiKey (or set STASH_SENSE_EMULATOR_API_KEY)."),
    schema: Path | None = _SCHEMA,
    state_db: Path | None = typer.Option(None, "--state-db", help="Keep mutations in this SQLite file across runs."),
    external_url: str | None = typer.Option(None, "--external-url", help="Base of the absolute media URLs."),
    without_image: str = typer.Option(
        "", "--performers-without-image", help="Comma-separated performer ids to serve without an image."
    ),
    plugins_dir: Path | None = typer.Option(
        None, "--plugins-dir", help="Stash plugins folder: its raw plugins run through runPluginOperation/runPluginTask.",
        exists=True, file_okay=False,
    ),
    stash_ui: str | None = typer.Option(
        None, "--stash-ui", metavar="DIR",
        help="Serve Stash's own web UI from this production build, with GraphQL subscriptions over WebSocket; "
        "'default' is STASH_SENSE_STASH_UI, else ../shared/stash-ui/build.",
    ),
    base_path: str | None = typer.Option(
        None, "--base-path", help="Also serve everything under this prefix (e.g. /stash), as behind a reverse proxy.",
    ),
    session_cookie: str | None = typer.Option(
        None, "--session-cookie", help="A session cookie value accepted instead of the key (a browser's login), "
        "or set STASH_SENSE_EMULATOR_SESSION.",
    ),
) -> None:
    """Serve LIBRARY as a Stash instance: GraphQL at /graphql plus streams, screenshots and sprites
    (and, with --stash-ui, Stash's own web UI at /)."""
    from stash_sense.devtools.emulator.app import create_app
    from stash_sense.devtools.emulator.library import LibraryError
    from stash_sense.devtools.emulator.server import serve_forever

    key = _api_key(api_key, "STASH_SENSE_EMULATOR_API_KEY")
    session = _api_key(session_cookie, "STASH_SENSE_EMULATOR_SESSION")
    ui_dir: Path | None = None
    if stash_ui is not None:
        from stash_sense.config import stash_ui_dir

        ui_dir = stash_ui_dir() if stash_ui == "default" else Path(stash_ui)
    ids = [part.strip() for part in without_image.split(",") if part.strip()]
    if not all(part.isdigit() for part in ids):
        raise typer.BadParameter(f"expected comma-separated ids, got {without_image!r}", param_hint="--performers-without-image")
    try:
        application = create_app(
            library, api_key=key, schema_dir=schema, state_db=state_db, external_url=external_url,
            performers_without_image=[int(part) for part in ids], plugins_dir=plugins_dir,
            stash_ui=ui_dir, base_path=base_path, session_cookie=session,
        )
    except (LibraryError, FileNotFoundError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--library/--schema/--stash-ui/--base-path") from None
    auth = "ApiKey required" if key else "no authentication"
    typer.echo(f"Stash emulator serving {library} at http://{host}:{port} ({auth}); GraphQL: http://{host}:{port}/graphql")
    if ui_dir is not None:
        typer.echo(f"Stash's web UI: http://{host}:{port}{application.state.base_path}/ (from {ui_dir})")
    serve_forever(application, host=host, port=port)


@app.command("serve-stashbox")
def serve_stashbox(
    library: Path | None = typer.Option(None, "--library", help="Sample library folder (holding library.json).", file_okay=False),
    from_folder: list[Path] = typer.Option(
        [], "--from-folder", metavar="DIR",
        help="Folder of labelled photos, <DIR>/<Identity Name>/<images>: one performer per identity. Repeatable; "
        "the same identity in several folders is one performer with the images of all.",
    ),
    id_namespace: str = typer.Option(
        "", "--id-namespace", help="Serve the performers under another set of ids (as a second stash-box would)."
    ),
    max_requests_per_second: float | None = typer.Option(
        None, "--max-requests-per-second", min=0.001, help="Answer requests beyond this rate with 429 and Retry-After.",
    ),
    host: str = _HOST,
    port: int = typer.Option(9998, "--port", help="Port."),
    api_key: str | None = typer.Option(None, "--api-key", help="Require this ApiKey (or set STASH_SENSE_STASHBOX_API_KEY)."),
    schema: Path | None = _SCHEMA,
    external_url: str | None = typer.Option(None, "--external-url", help="Base of the absolute image URLs."),
) -> None:
    """Serve a sample library's performers (--library) or folders of labelled photos (--from-folder) as a
    stash-box endpoint: GraphQL at /graphql, images at /images, the test API at /_emulator/."""
    import time

    from stash_sense.devtools.emulator.library import LibraryError
    from stash_sense.devtools.emulator.server import serve_forever
    from stash_sense.devtools.emulator.stashbox import create_stashbox_app

    if (library is None) == (not from_folder):
        raise typer.BadParameter("give either --library or --from-folder (one of them)", param_hint="--library/--from-folder")
    for folder in from_folder:
        if not folder.is_dir():
            raise typer.BadParameter(f"photo folder {folder} not found (or not a folder)", param_hint="--from-folder")
    key = _api_key(api_key, "STASH_SENSE_STASHBOX_API_KEY")
    started = time.perf_counter()
    try:
        application = create_stashbox_app(
            library, folders=from_folder, api_key=key, schema_dir=schema, external_url=external_url,
            max_requests_per_second=max_requests_per_second, id_namespace=id_namespace,
        )
    except (LibraryError, FileNotFoundError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint=f"{'--library' if library is not None else '--from-folder'}/--schema") from None
    source = str(library) if library is not None else ", ".join(map(str, from_folder))
    auth = "ApiKey required" if key else "no authentication"
    limit = f", at most {max_requests_per_second:g} requests/s" if max_requests_per_second else ""
    typer.echo(
        f"stash-box emulator serving {len(application.state.catalog)} performers from {source} "
        f"(loaded in {time.perf_counter() - started:.1f} s) at http://{host}:{port}/graphql ({auth}{limit})"
    )
    serve_forever(application, host=host, port=port)
