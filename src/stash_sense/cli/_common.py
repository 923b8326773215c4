"""Shared CLI plumbing: JSON on stdout, messages on stderr, clean errors."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console

from ..faces.catalog import DEFAULT_EMBEDDER, PREFERRED_EMBEDDER, scene_ceilings

err_console = Console(stderr=True)

# Help texts that name embedders, written from the model catalog.
MAX_DISTANCE_HELP = "Hard distance ceiling (default 0.6" + "".join(f"; {d} with {n}" for n, d in scene_ceilings().items()) + ")."
DEFAULT_EMBEDDER_HELP = f"STASH_SENSE_EMBEDDER, or {PREFERRED_EMBEDDER} when installed, else {DEFAULT_EMBEDDER}"


def emit_json(data: Any) -> None:
    """Exactly one JSON document on stdout (progress and logs go to stderr)."""
    if hasattr(data, "model_dump"):
        data = data.model_dump(mode="json")
    sys.stdout.write(json.dumps(data, indent=2, default=_default) + "\n")
    sys.stdout.flush()


def _default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def scene_params(
    *,
    params_file: str | None = None,
    overrides: list[str] | None = None,
    **explicit: Any,
):
    """SceneParams from a JSON file, then ``KEY=VALUE`` overrides, then explicit options.

    Any parameter of the engine can be set this way; a typo or a bad value is a clear error.
    """
    from pathlib import Path

    from pydantic import ValidationError

    from ..scenes.params import SceneParams

    data: dict[str, Any] = {}
    if params_file:
        try:
            loaded = json.loads(Path(params_file).read_text())
        except (OSError, ValueError) as exc:
            fail(f"cannot read parameters from {params_file}: {exc}")
        data.update(loaded.get("params", loaded) if isinstance(loaded, dict) else {})
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep:
            fail(f"--param expects KEY=VALUE, got {item!r}")
        try:
            data[key.strip()] = json.loads(value)
        except ValueError:
            data[key.strip()] = value
    data.update({k: v for k, v in explicit.items() if v is not None})
    try:
        return SceneParams(**data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
        fail(f"bad scene parameters: {problems}")
