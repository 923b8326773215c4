"""``stash-sense db pack|install|rollback|versions``: ship the face DB as releases.

These commands join the ``db`` group (``cli/__init__.py`` imports this module after ``db``).
See docs/face-db-release.md for the layout, the pack format and the update flow.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from .db import _console, _print_json, _user_errors, app


@contextmanager
def _base_dir(since: Path) -> Iterator[Path]:
    """The old DB directory ``--since`` names: a DB folder, its ``manifest.json``, a full pack or
    the ``.manifest.json`` beside one (a pack is unpacked into a temporary folder)."""
    from stash_sense.facedb.layout import MANIFEST_FILE
    from stash_sense.facedb.release_fetch import locate
    from stash_sense.facedb.release_pack import extract_pack

    if since.is_dir():
        yield since
        return
    if since.name == MANIFEST_FILE:
        yield since.parent
        return
    pack = Path(locate(str(since)).pack)
    with tempfile.TemporaryDirectory(prefix="stash-sense-base-") as tmp:
        info = extract_pack(pack, Path(tmp))
        if info.kind != "full":
            raise ValueError(f"--since {since} is a delta pack; give the old version's full pack or DB folder")
        yield Path(tmp)


@app.command()
def pack(
    db: Path = typer.Argument(..., help="Face DB folder (or the configured face DB path) to release."),
    out: Path = typer.Option(..., "--out", help="Pack file to write (e.g. facedb-2025.tar.gz); .sha256 and .manifest.json go beside it."),
    since: Path | None = typer.Option(
        None, "--since",
        help="Write a delta from this older version: its DB folder, its manifest.json, its full pack or the pack's .manifest.json.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> None:
    """Pack a face DB as one release archive: full, or a delta from an older version."""
    from stash_sense.facedb import versions
    from stash_sense.facedb.release_pack import pack_delta, pack_full

    with _user_errors(as_json):
        source = versions.current_dir(db)  # resolved once: a flip meanwhile cannot mix versions
        if since is None:
            result = pack_full(source, out)
        else:
            with _base_dir(since) as base:
                result = pack_delta(versions.current_dir(base), source, out)
    data: dict[str, Any] = {"ok": True, **result.model_dump()}
    if as_json:
        _print_json(data)
        return
    what = f"delta {result.base_version} -> {result.db_version}" if result.kind == "delta" else f"full pack of {result.db_version}"
    _console().print(f"Wrote {out} ({result.size:,} bytes, {what}); sha256 {result.sha256[:16]}…")


def _default_db(into: Path | None) -> Path:
    from stash_sense.config import face_db_dir

    return into if into is not None else face_db_dir()


class _Bar:
    """A rich progress bar on stderr for the download, started on the first byte."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Any = None
        self._task: Any = None

    def __call__(self, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        if self._progress is None:
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

            self._progress = Progress(
                TextColumn("downloading"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), console=Console(stderr=True)
            )
            self._progress.start()
            self._task = self._progress.add_task("pack", total=total)
        self._progress.update(self._task, completed=done, total=total)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


@app.command()
def install(
    source: str = typer.Argument(..., help="A pack file, a face DB folder, or an http(s) URL of a pack (its .sha256 is fetched beside it)."),
    into: Path | None = typer.Option(None, "--into", help="Face DB path to install into (default: STASH_SENSE_FACE_DB)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show download progress on stderr."),
    as_json: bool = typer.Option(False, "--json", help="Print the install report as one JSON object."),
) -> None:
    """Verify and install a release as a new version (the previous one is kept for rollback).

    A corrupted, truncated or unverifiable pack, or a delta for another version, changes nothing.
    """
    from stash_sense.facedb.release_install import install as install_release

    target = _default_db(into)
    bar = _Bar(progress)
    try:
        with _user_errors(as_json):
            report = install_release(source, target, progress=bar)
    finally:
        bar.close()
    if as_json:
        _print_json(report.model_dump())
        return
    if report.up_to_date:
        _console().print(f"{target} is already at version {report.db_version}; nothing changed.")
        return
    _console().print(
        f"Installed {report.kind} {report.db_version} into {target} (was {report.previous_version or 'none'}); "
        "`stash-sense db rollback` returns to the previous version. A running sidecar picks it up within its watch interval."
    )


@app.command()
def rollback(
    db: Path | None = typer.Argument(None, help="Face DB path (default: STASH_SENSE_FACE_DB)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> None:
    """Switch the face DB back to the version installed before the current one."""
    from stash_sense.facedb.release_install import rollback as rollback_release

    target = _default_db(db)
    with _user_errors(as_json):
        report = rollback_release(target)
    if as_json:
        _print_json(report.model_dump())
        return
    _console().print(f"{target} rolled back from {report.previous_version} to {report.db_version}.")


@app.command()
def versions(
    db: Path | None = typer.Argument(None, help="Face DB path (default: STASH_SENSE_FACE_DB)."),
    as_json: bool = typer.Option(False, "--json", help="Print the versions as one JSON object."),
) -> None:
    """The installed versions of a face DB: the current one and the previous one (for rollback)."""
    from stash_sense.facedb import versions as layout

    target = _default_db(db)
    with _user_errors(as_json):
        entries = layout.list_versions(target)
        current = layout.current_dir(target)
    rows = [{"version": e.version, "path": str(e.path), "current": e.current, "previous": e.previous} for e in entries]
    if as_json:
        _print_json({"ok": True, "db": str(target), "current": str(current), "versions": rows})
        return
    if not rows:
        _console().print(f"{target} is a plain face DB folder, not versioned" if current.is_dir() else f"{target} holds no face DB")
        return
    for row in rows:
        mark = "current" if row["current"] else "previous" if row["previous"] else ""
        _console().print(f"{row['version']}  {mark}")

