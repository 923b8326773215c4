"""``stash-sense serve``: run the sidecar HTTP API."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer

from ._common import err_console, fail

app = typer.Typer(no_args_is_help=False)


@app.command("serve")
def serve(
    host: str | None = typer.Option(None, "--host", help="Interface to bind (default: STASH_SENSE_HOST or 127.0.0.1)."),
    port: int | None = typer.Option(None, "--port", help="Port (default: STASH_SENSE_PORT or 6960)."),
    settings_file: Path | None = typer.Option(
        None, "--settings", help="TOML or JSON settings file (default: $STASH_SENSE_SETTINGS); environment variables override it."
    ),
    face_db: Path | None = typer.Option(None, "--face-db", help="Face DB directory (default: STASH_SENSE_FACE_DB or DATA_DIR/facedb)."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Where stash_sense.db lives (default: STASH_SENSE_DATA_DIR)."),
    show_settings: bool = typer.Option(False, "--show-settings", help="Print the effective settings (secrets hidden) and exit."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
) -> None:
    """Serve the sidecar API (OpenAPI docs at /docs).

    Configured by environment variables (STASH_URL, STASH_API_KEY, STASH_SENSE_DATA_DIR,
    STASH_SENSE_FACE_DB, STASH_SENSE_API_KEY, STASH_RATE_LIMIT, ...; see
    `stash_sense.api.settings`), a settings file, and these options.
    """
    from stash_sense.api.settings import SettingsError, load_settings
    from stash_sense.userdb import UserDBError

    try:
        settings = load_settings(
            settings_file=settings_file, overrides={"host": host, "port": port, "face_db": face_db, "data_dir": data_dir}
        )
    except SettingsError as exc:
        fail(str(exc))
    if show_settings:
        typer.echo(json.dumps(settings.describe(), indent=2))
        return

    import uvicorn

    from stash_sense.api.app import create_app

    # The API's own loggers report at INFO; the root logger stays as quiet as the CLI set it.
    logging.getLogger("stash_sense.api").setLevel(logging.INFO)
    try:
        application = create_app(settings)
    except UserDBError as exc:
        fail(str(exc))
    auth = "API key required" if settings.api_key else "no API key set: anyone who can reach it may use it"
    err_console.print(f"Stash Sense sidecar on http://{settings.host}:{settings.port} ({auth}); docs at /docs")
    if settings.api_key is None and settings.host not in ("127.0.0.1", "localhost", "::1"):
        err_console.print("[yellow]warning:[/] listening beyond this machine without STASH_SENSE_API_KEY")
    # Access logs are off: query strings could carry secrets and the API logs what matters itself.
    # The plain asyncio loop: uvloop's subprocess spawn forks a threaded process and runs Python
    # code in the child (a deadlock seen in the emulator); the sidecar keeps to the safe loop too.
    uvicorn.run(
        application, host=settings.host, port=settings.port, log_level=log_level, access_log=False, ws="none", loop="asyncio",
    )
