"""``stash-sense db``: build, inspect and maintain the performer face database.

Every command accepts ``--json``: exactly one JSON object is then printed on stdout (also on
failure, as ``{"ok": false, "error": ...}``); progress and logs go to stderr. Failures exit with
status 1 and a one-line message, never a traceback.
"""

from __future__ import annotations

import logging
import sys
from contextlib import nullcontext, redirect_stdout
from pathlib import Path
from typing import Any

import typer

from ..faces.catalog import PREFERRED_EMBEDDER
from ._common import DEFAULT_EMBEDDER_HELP

from .db_common import (  # noqa: F401 - re-exported for the db command modules
    _DB_OPTION_HELP,
    _LIST_PREVIEW,
    _console,
    _fail,
    _format_value,
    _print_json,
    _print_report,
    _user_errors,
    app,
)


@app.command()
def build(
    from_folder: Path | None = typer.Option(
        None,
        "--from-folder",
        help="Folder of labelled photos: one sub-folder per performer (<name>/<images>).",
    ),
    from_stash: str | None = typer.Option(
        None,
        "--from-stash",
        help="Stash URL (e.g. http://localhost:9999): every performer with an image becomes a DB performer.",
    ),
    api_key: str | None = typer.Option(
        None, "--api-key", envvar="STASH_API_KEY", help="Stash API key for --from-stash (or STASH_API_KEY)."
    ),
    from_stashbox: str | None = typer.Option(
        None,
        "--from-stashbox",
        help="A stash-box GraphQL URL (e.g. https://stashdb.org/graphql). With --from-stash: adds several "
        "images per Stash performer linked to it; with --all-performers: crawls all of its performers.",
    ),
    stashbox_api_key: str | None = typer.Option(
        None,
        "--stashbox-api-key",
        envvar="STASHBOX_API_KEY",
        help="API key for --from-stashbox (or STASHBOX_API_KEY); default: the key configured for it in Stash.",
    ),
    stashbox_images: int | None = typer.Option(
        None, "--stashbox-images", min=1,
        help="Stash-box images per performer (default 5 with --from-stash, 3 with --all-performers).",
    ),
    all_performers: bool = typer.Option(
        False, "--all-performers",
        help="With --from-stashbox and no --from-stash: crawl EVERY performer of the stash-box (resumable; "
        "re-running continues where it stopped).",
    ),
    stashbox_rate: float = typer.Option(
        240, "--stashbox-rate", min=1,
        help="Requests per minute the crawl may send the stash-box (it slows down further on HTTP 429).",
    ),
    enrich_from_scenes: bool = typer.Option(
        False,
        "--enrich-from-scenes",
        help="With --from-stash: add faces from scenes tagged with exactly one performer (only faces that "
        "surely are that performer).",
    ),
    enrich_frames: int = typer.Option(12, "--enrich-frames", min=1, max=120, help="Frames sampled per scene."),
    enrich_max_distance: float = typer.Option(
        0.5, "--enrich-max-distance", min=0.1, max=0.6,
        help="Largest distance from the performer's reference faces a scene face may have.",
    ),
    out: Path = typer.Option(..., "--out", help="Face DB directory to create, or to resume building."),
    max_faces_per_performer: int | None = typer.Option(
        None, "--max-faces-per-performer", min=1, help="Keep at most this many faces per performer."
    ),
    embedder: str | None = typer.Option(
        None, "--embedder",
        help="Face embedder whose vectors the DB holds (default: the one a resumed DB started with, else the "
        f"configured one: {DEFAULT_EMBEDDER_HELP}).",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress on stderr."),
    as_json: bool = typer.Option(False, "--json", help="Print the build report as one JSON object."),
) -> None:
    """Build (or resume building) a face DB from a source of labelled faces.

    Sources: --from-folder DIR, or --from-stash URL (optionally with --from-stashbox ENDPOINT and --enrich-from-scenes).

    Re-running a build resumes it; running it again with another option (e.g. --from-stashbox) adds to the same DB.
    """
    if from_folder is not None and from_stash is not None:
        _fail("choose one source: --from-folder DIR or --from-stash URL", as_json, error_type="UsageError")
    if all_performers:
        if from_stashbox is None or from_stash is not None or from_folder is not None:
            _fail(
                "--all-performers crawls one stash-box: give --from-stashbox URL (and neither --from-stash nor --from-folder)",
                as_json, error_type="UsageError",
            )
        from .db_crawl import run_crawl

        run_crawl(
            from_stashbox, out, api_key=stashbox_api_key, images=stashbox_images or 3, rate=stashbox_rate,
            embedder=_chosen_embedder(embedder, out, as_json), progress=progress, as_json=as_json,
        )
        return
    if from_stash is None:
        stash_only = [
            flag for flag, given in (("--from-stashbox", from_stashbox), ("--enrich-from-scenes", enrich_from_scenes))
            if given
        ]
        if stash_only:
            _fail(
                f"{', '.join(stash_only)} need --from-stash URL (or, for --from-stashbox, --all-performers to crawl "
                "the whole stash-box)", as_json, error_type="UsageError",
            )
    chosen = _chosen_embedder(embedder, out, as_json)
    if from_stash is not None:
        _build_from_stash(
            from_stash, out, embedder=chosen, api_key=api_key, from_stashbox=from_stashbox, stashbox_api_key=stashbox_api_key,
            stashbox_images=stashbox_images or 5, enrich_from_scenes=enrich_from_scenes, enrich_frames=enrich_frames,
            enrich_max_distance=enrich_max_distance, max_faces_per_performer=max_faces_per_performer,
            progress=progress, as_json=as_json,
        )
        return
    if from_folder is None:
        _fail("choose what to build from: --from-folder DIR or --from-stash URL", as_json, error_type="UsageError")
    if not from_folder.is_dir():
        _fail(f"--from-folder {from_folder} is not a directory", as_json, error_type="FileNotFoundError")
    try:
        from stash_sense.facedb.build import build_from_folder
    except ModuleNotFoundError as exc:
        if exc.name != "stash_sense.facedb.build":
            raise
        _fail("building a face DB is not available in this installation", as_json, error_type="ModuleNotFoundError")
    # With --json, stdout carries only the report: anything the builder prints goes to stderr.
    quiet_stdout = redirect_stdout(sys.stderr) if as_json else nullcontext()
    try:
        with _user_errors(as_json), quiet_stdout:
            report = build_from_folder(
                from_folder, out, max_faces_per_performer=max_faces_per_performer, progress=progress, embedder=chosen
            )
    except Exception as exc:  # noqa: BLE001 - detectors, worker pools and file I/O: report, keep the details for -v
        logging.getLogger(__name__).debug("face DB build failed", exc_info=True)
        _fail(
            f"face DB build failed: {type(exc).__name__}: {exc} (run `stash-sense -v db build ...` for details; "
            "re-running resumes where it stopped)",
            as_json,
            error_type=type(exc).__name__,
        )
    _print_report(report.model_dump(mode="json"), out, as_json)


def _chosen_embedder(embedder: str | None, out: Path, as_json: bool) -> str:
    """The embedder this build uses, said on stderr; a clear error when it cannot run here."""
    from stash_sense.facedb.build_common import build_embedder
    from stash_sense.facedb.errors import FaceDBError

    try:
        chosen = build_embedder(embedder, out).model_name
    except FaceDBError as exc:
        _fail(str(exc), as_json, error_type=type(exc).__name__)
    how = "as asked" if embedder else "default"
    typer.echo(f"embedder: {chosen} ({how}; set with --embedder)", err=True)
    return chosen


def _build_from_stash(
    url: str,
    out: Path,
    *,
    embedder: str | None = None,
    api_key: str | None,
    from_stashbox: str | None,
    stashbox_api_key: str | None,
    stashbox_images: int,
    enrich_from_scenes: bool,
    enrich_frames: int,
    enrich_max_distance: float,
    max_faces_per_performer: int | None,
    progress: bool,
    as_json: bool,
) -> None:
    from stash_sense.facedb.build_stash import build_from_stash
    from stash_sense.facedb.sources.stash_scenes import EnrichParams
    from stash_sense.stash.errors import StashError
    from stash_sense.stash.redaction import Redactor

    # Belt and braces: the clients never put a key in a message, and this scrubs any that slipped.
    scrub = Redactor([api_key, stashbox_api_key])
    quiet_stdout = redirect_stdout(sys.stderr) if as_json else nullcontext()
    try:
        with quiet_stdout:
            report = build_from_stash(
                url, out, api_key=api_key, stashbox_endpoint=from_stashbox, stashbox_api_key=stashbox_api_key,
                stashbox_images=stashbox_images, enrich_from_scenes=enrich_from_scenes,
                enrich=EnrichParams(num_frames=enrich_frames, max_distance=enrich_max_distance),
                max_faces_per_performer=max_faces_per_performer, progress=progress, embedder=embedder,
            )
    except Exception as exc:  # noqa: BLE001 - Stash, bad input, the DB, detectors: report, keep details for -v
        logging.getLogger(__name__).debug("face DB build from Stash failed", exc_info=True)
        from stash_sense.facedb.errors import FaceDBError

        known = isinstance(exc, (StashError, FaceDBError, ValueError, OSError))
        message = str(exc) if known else f"face DB build failed: {type(exc).__name__}: {exc}"
        if (out / "performers.db").is_file():
            message += " (re-running resumes where it stopped)"
        _fail(scrub(message), as_json, error_type=type(exc).__name__)
    _print_report(report.model_dump(mode="json"), out, as_json)


@app.command()
def optimize(
    db: Path = typer.Option(..., "--db", help=_DB_OPTION_HELP),
    min_faces: int = typer.Option(..., "--min-faces", min=0, help="Keep performers with at least this many faces."),
    out: Path = typer.Option(..., "--out", help="Directory for the optimized copy (the source is left untouched)."),
    max_faces_per_performer: int | None = typer.Option(
        None, "--max-faces-per-performer", min=1, help="Also keep only each performer's best N faces."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing face DB at --out."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> None:
    """Export a filtered copy of a face DB (performers with at least --min-faces faces)."""
    with _user_errors(as_json):
        from stash_sense.facedb.optimize import optimize_db

        manifest = optimize_db(
            db, out, min_faces=min_faces, max_faces_per_performer=max_faces_per_performer, overwrite=force
        )
    origin = manifest.optimized_from or {}
    data = {
        "ok": True,
        "source": str(db),
        "out": str(out),
        "db_version": manifest.db_version,
        "min_faces": min_faces,
        "max_faces_per_performer": max_faces_per_performer,
        "before": {"performers": origin.get("performers_before"), "faces": origin.get("faces_before")},
        "after": manifest.counts.model_dump(),
    }
    if as_json:
        _print_json(data)
        return
    counts = manifest.counts
    _console().print(
        f"Wrote {out} (version {manifest.db_version}): {counts.performers} of {origin.get('performers_before')} "
        f"performers, {counts.faces} of {origin.get('faces_before')} faces; {db} is unchanged."
    )


@app.command()
def rebuild(
    db: Path = typer.Option(..., "--db", help="Face DB whose recorded sources are built again (left untouched)."),
    embedder: str = typer.Option(..., "--embedder", help=f"Embedder for the new DB, e.g. {PREFERRED_EMBEDDER}."),
    out: Path = typer.Option(..., "--out", help="Directory for the new face DB (or one to resume)."),
    api_key: str | None = typer.Option(None, "--api-key", envvar="STASH_API_KEY", help="Stash API key for stash sources."),
    stashbox_api_key: str | None = typer.Option(None, "--stashbox-api-key", envvar="STASHBOX_API_KEY", help="Stash-box API key."),
    max_faces_per_performer: int | None = typer.Option(None, "--max-faces-per-performer", min=1, help="Keep at most this many faces per performer."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress on stderr."),
    as_json: bool = typer.Option(False, "--json", help="Print the build reports as one JSON object."),
) -> None:
    """Build a new face DB with another embedder from the sources DB's manifest records
    (folders and Stash/stash-box endpoints). An optimized DB is rebuilt from its full sources."""
    from stash_sense.facedb.build import build_from_folder
    from stash_sense.facedb.manifest import load_manifest

    with _user_errors(as_json):
        manifest = load_manifest(db)
    if out.resolve() == db.resolve():
        _fail("--out must be a new directory: the source DB is never modified", as_json, error_type="UsageError")
    sources = list(manifest.sources)
    folders = [s.split(":", 1)[1] for s in sources if s.startswith("folder:")]
    stashes = [s.split(":", 1)[1] for s in sources if s.startswith("stash:")]
    boxes = [s.split(":", 1)[1] for s in sources if s.startswith("stash-box:")]
    scenes = any(s.startswith("stash-scenes:") for s in sources)
    crawls = [s.split(":", 1)[1] for s in sources if s.startswith("stash-box-all:")]
    unknown = [s for s in sources if not s.startswith(("folder:", "stash:", "stash-box:", "stash-scenes:", "stash-box-all:"))]
    if not sources or unknown:
        _fail(f"{db} records no sources this command can rebuild from ({', '.join(unknown) or 'none'})", as_json, error_type="UsageError")
    missing = [f for f in folders if not Path(f).is_dir()]
    if missing:
        _fail(f"source folder(s) no longer exist: {', '.join(missing)}", as_json, error_type="FileNotFoundError")
    chosen = _chosen_embedder(embedder, out, as_json)
    typer.echo(f"rebuilding {db} ({manifest.embedding.model}) into {out} with {chosen} from: {', '.join(sources)}", err=True)
    reports: list[dict[str, Any]] = []
    quiet_stdout = redirect_stdout(sys.stderr) if as_json else nullcontext()
    with _user_errors(as_json), quiet_stdout:
        for folder in folders:
            reports.append(build_from_folder(
                Path(folder), out, max_faces_per_performer=max_faces_per_performer, progress=progress, embedder=chosen
            ).model_dump(mode="json"))
    if crawls:
        from .db_crawl import recrawl

        reports.extend(recrawl(db, crawls, out, api_key=stashbox_api_key, embedder=chosen, progress=progress, as_json=as_json))
    for url in stashes:
        from stash_sense.facedb.build_stash import build_from_stash
        from stash_sense.facedb.sources.stash_scenes import EnrichParams
        from stash_sense.stash.redaction import Redactor

        try:
            with quiet_stdout:
                reports.append(build_from_stash(
                    url, out, api_key=api_key, stashbox_endpoint=boxes[0] if boxes else None, stashbox_api_key=stashbox_api_key,
                    enrich_from_scenes=scenes, enrich=EnrichParams(), max_faces_per_performer=max_faces_per_performer,
                    progress=progress, embedder=chosen,
                ).model_dump(mode="json"))
        except Exception as exc:  # noqa: BLE001 - Stash, the DB, detectors: report without a traceback, keys scrubbed
            logging.getLogger(__name__).debug("rebuild from Stash failed", exc_info=True)
            message = Redactor([api_key, stashbox_api_key])(f"rebuilding from {url} failed: {type(exc).__name__}: {exc}")
            _fail(message + " (re-running resumes where it stopped)", as_json, error_type=type(exc).__name__)
    if as_json:
        _print_json({"ok": True, "source_db": str(db), "out": str(out), "embedder": chosen, "builds": reports})
        return
    final = load_manifest(out)
    _console().print(
        f"Rebuilt {db} as {out} with {chosen}: {final.counts.performers} performers, {final.counts.faces} faces "
        f"(was {manifest.counts.performers} performers, {manifest.counts.faces} faces with {manifest.embedding.model})"
    )


@app.command()
def stats(
    db: Path = typer.Option(..., "--db", help=_DB_OPTION_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the statistics as one JSON object."),
) -> None:
    """Face-count distribution of performers and body/tattoo coverage."""
    with _user_errors(as_json):
        from stash_sense.facedb.stats import stats_for_directory

        result = stats_for_directory(db)
    if as_json:
        _print_json({"ok": True, "db": str(db), **result.model_dump()})
        return
    from rich.table import Table

    table = Table(title=f"Faces per performer — {db}")
    table.add_column("faces", justify="right")
    table.add_column("performers", justify="right")
    table.add_column("%", justify="right")
    for bucket, share in result.buckets.items():
        table.add_row(bucket, str(share.count), f"{share.percent:.2f}")
    console = _console()
    console.print(table)
    console.print(
        f"{result.performers} performers, {result.faces} faces "
        f"({result.mean_faces_per_performer:.2f} per performer, {result.performers_with_faces} with faces)"
    )
    console.print(f"body data: {result.body.count} ({result.body.percent:.2f}%)")
    console.print(f"tattoo data: {result.tattoos.count} ({result.tattoos.percent:.2f}%)")


def _links_summary(db: Path) -> dict[str, Any]:
    """How many performers are linked across stash-boxes, by the kind of evidence."""
    from collections import Counter

    from stash_sense.facedb.crawl.edits import read_links

    try:
        found = read_links(db)
    except Exception:  # noqa: BLE001 - the summary never fails `db info`
        found = []
    return {"total": len(found), "by_kind": dict(Counter(link.evidence.kind for link in found))}


@app.command()
def info(
    db: Path = typer.Option(..., "--db", help=_DB_OPTION_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
) -> None:
    """Summary of a face DB's manifest: version, counts, model, detector, sources, files."""
    with _user_errors(as_json):
        from stash_sense.facedb.manifest import load_manifest

        manifest = load_manifest(db)
    files: dict[str, dict[str, Any]] = {}
    for name, sha in manifest.files.items():
        path = db / name
        files[name] = {
            "sha256": sha,
            "present": path.is_file(),
            "size": path.stat().st_size if path.is_file() else None,
        }
    data = {
        "ok": True,
        "db": str(db),
        "db_version": manifest.db_version,
        "format_version": manifest.format_version,
        "created_at": manifest.created_at,
        "counts": manifest.counts.model_dump(),
        "embedding": manifest.embedding.model_dump(),
        "detector": manifest.detector,
        "sources": manifest.sources,
        "index": manifest.index.model_dump() if manifest.index else None,
        "files": files,
        "calibration": manifest.calibration,
        "optimized_from": manifest.optimized_from,
        "links": _links_summary(db),
    }
    if as_json:
        _print_json(data)
        return
    from rich.table import Table

    table = Table(show_header=False, title=f"Face DB {db}")
    table.add_column(style="bold")
    table.add_column()
    embedding = manifest.embedding
    rows = [
        ("version", manifest.db_version),
        ("created", manifest.created_at),
        ("performers", str(manifest.counts.performers)),
        ("with faces", str(manifest.counts.performers_with_faces)),
        ("faces", str(manifest.counts.faces)),
        ("model", f"{embedding.model} (dim {embedding.dim}, {embedding.preprocessing}, {embedding.metric})"),
        ("detector", manifest.detector),
        ("index", _format_value(data["index"])),
        ("sources", _format_value(manifest.sources)),
        ("calibration", ", ".join(sorted(manifest.calibration)) or "none"),
    ]
    if manifest.optimized_from:
        rows.append(("optimized from", _format_value(manifest.optimized_from)))
    if data["links"]["total"]:
        rows.append(("cross-stash-box links", f"{_format_value(data['links']['by_kind'])} (see `db links`)"))
    for name, entry in files.items():
        size = f"{entry['size']:,} bytes" if entry["present"] else "MISSING"
        rows.append((name, f"{size}, sha256 {entry['sha256'][:16]}…"))
    for key, value in rows:
        table.add_row(key, value)
    _console().print(table)


@app.command()
def verify(
    db: Path = typer.Option(..., "--db", help=_DB_OPTION_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON object."),
) -> None:
    """Check every file against the manifest's sha256, SQLite integrity and the index size."""
    from stash_sense.facedb.verify import verify_db

    report = verify_db(db)
    if as_json:
        _print_json(report.model_dump())
    else:
        for check in report.files:
            status = "ok" if check.ok else "FAILED"
            typer.echo(f"{check.name}: {status}")
        if report.sqlite_integrity is not None:
            typer.echo(f"SQLite integrity: {report.sqlite_integrity}")
        if report.index_vectors is not None:
            typer.echo(f"index: {report.index_vectors} vectors for {report.faces} faces")
    if not report.ok:
        typer.echo(f"face DB {db} failed verification:", err=True)
        for problem in report.problems:
            typer.echo(f"  - {problem}", err=True)
        raise typer.Exit(1)
    if not as_json:
        typer.echo(f"face DB {db} (version {report.db_version}) verified OK")

# Commands defined in their own modules, registered on this app.
from . import db_crawl as _db_crawl  # noqa: E402,F401
