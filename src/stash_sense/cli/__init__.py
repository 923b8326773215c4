"""The ``stash-sense`` command line.

Each command group lives in its own module and registers a Typer app here. Command modules
import heavy libraries (dlib, MediaPipe, PyAV) inside the command functions so that
``stash-sense --help`` stays instant.
"""

from __future__ import annotations

import importlib
import logging
import os

import typer

app = typer.Typer(
    name="stash-sense",
    help="Identify performers in Stash scenes by face recognition.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# (module, group name or None for top-level commands, help)
_GROUPS: list[tuple[str, str | None, str]] = [
    ("db", "db", "Build, inspect and maintain the performer face database."),
    ("identify", "identify", "Identify performers in images and scenes."),
    ("evaluate", "eval", "Measure accuracy on labelled data."),
    ("bench", "bench", "Measure speed."),
    ("recommend", "recommend", "Find duplicate performers, scene files and scenes in Stash."),
    ("models", "models", "List, install, verify and remove face models."),
    ("samplelib", "samplelib", "Render a sample library of scenes with known performers."),
    ("emulator", "emulator", "Run the Stash emulator (tests and demo only)."),
    ("plugin", "plugin", "Package the Stash plugin as a plugin source."),
    ("serve", None, "Run the sidecar HTTP API."),
    ("benchmark", None, "Benchmark identification against a Stash library."),
    ("demo", None, "Run the end-to-end demo on the embedded default data."),
]


def _register() -> None:
    for module_name, group, help_text in _GROUPS:
        try:
            module = importlib.import_module(f"stash_sense.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"stash_sense.cli.{module_name}":
                continue  # that command group is not part of this build
            raise
        sub = getattr(module, "app")
        if group is None:
            for command in sub.registered_commands:
                app.registered_commands.append(command)
        else:
            app.add_typer(sub, name=group, help=help_text)
    # Release commands (pack, install, rollback, versions) join the db group from their own module.
    importlib.import_module("stash_sense.cli.db_release")


_register()


def _print_version(value: bool) -> None:
    if value:
        from stash_sense import __version__

        typer.echo(f"stash-sense {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages to stderr."),
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else getattr(logging, os.environ.get("STASH_SENSE_LOG_LEVEL", "WARNING")),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def main() -> None:
    app()
