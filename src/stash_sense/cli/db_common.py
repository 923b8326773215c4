"""What every ``stash-sense db`` command shares: the Typer app, JSON output, failures as one line."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from contextlib import contextmanager
from typing import Any, NoReturn

import typer

app = typer.Typer(no_args_is_help=True)

# Longest list shown in full in human-readable summaries.
_LIST_PREVIEW = 10
_DB_OPTION_HELP = "Face DB directory (holds performers.db, faces.index, manifest.json)."


def _print_json(data: dict[str, Any]) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def _fail(message: str, as_json: bool, *, error_type: str = "error", extra: dict[str, Any] | None = None) -> NoReturn:
    if as_json:
        _print_json({"ok": False, "error": message, "error_type": error_type, **(extra or {})})
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


@contextmanager
def _user_errors(as_json: bool) -> Iterator[None]:
    """Turn the errors a user can act on into a message and exit status 1."""
    from stash_sense.facedb.errors import FaceDBError

    try:
        yield
    except (FaceDBError, ValueError, KeyError, OSError) as exc:
        logging.getLogger(__name__).debug("command failed", exc_info=True)
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        _fail(str(message), as_json, error_type=type(exc).__name__)


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False)


def _format_value(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_format_value(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        shown = ", ".join(_format_value(v) for v in value[:_LIST_PREVIEW]) or "-"
        return shown if len(value) <= _LIST_PREVIEW else f"{shown}, … ({len(value) - _LIST_PREVIEW} more)"
    return "-" if value is None else str(value)


def _print_report(data: dict[str, Any], out: Path, as_json: bool) -> None:
    if as_json:
        _print_json({"ok": True, **data})
        return
    console = _console()
    console.print(f"[bold]Built face DB[/bold] {out}")
    for key, value in data.items():
        console.print(f"  {key.replace('_', ' ')}: {_format_value(value)}")
