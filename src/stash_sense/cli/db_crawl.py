"""``db build --from-stashbox URL --all-performers`` (the crawl) and ``db update`` (keep it current)."""

from __future__ import annotations

import logging
import sys
from contextlib import nullcontext, redirect_stdout
from pathlib import Path
from typing import Any

import typer

from .db_common import _fail, _print_json, _print_report, app


def _scrubbed(message: str, *secrets: str | None) -> str:
    from stash_sense.stash.redaction import Redactor

    return Redactor(list(secrets))(message)


def _known(exc: BaseException) -> bool:
    from stash_sense.facedb.crawl.lock import CrawlBusyError
    from stash_sense.facedb.errors import FaceDBError
    from stash_sense.stash.errors import StashError

    return isinstance(exc, (StashError, FaceDBError, CrawlBusyError, ValueError, OSError))


def run_crawl(
    endpoint: str, out: Path, *, api_key: str | None, images: int, rate: float, embedder: str, progress: bool, as_json: bool
) -> None:
    """Run (or resume) the crawl and print its report; failures end with a message, never a traceback."""
    from stash_sense.facedb.crawl.run import crawl_stashbox

    quiet = redirect_stdout(sys.stderr) if as_json else nullcontext()
    try:
        with quiet:
            report = crawl_stashbox(
                endpoint, out, api_key=api_key, images_per_performer=images, requests_per_minute=rate,
                progress=progress, embedder=embedder,
            )
    except Exception as exc:  # noqa: BLE001 - the stash-box, the DB, bad input: report, details with -v
        logging.getLogger(__name__).debug("stash-box crawl failed", exc_info=True)
        message = str(exc) if _known(exc) else f"stash-box crawl failed: {type(exc).__name__}: {exc}"
        if (out / "performers.db").is_file():
            message += " (re-running the same command resumes where it stopped)"
        _fail(_scrubbed(message, api_key), as_json, error_type=type(exc).__name__)
    _print_report(report.model_dump(mode="json"), out, as_json)


def recrawl(
    source_db: Path, endpoints: list[str], out: Path, *, api_key: str | None, embedder: str, progress: bool, as_json: bool
) -> list[dict[str, Any]]:
    """``db rebuild`` of crawled stash-boxes: crawl each again into ``out`` with the images per
    performer the source DB used (the stash-box is asked again; its images are not in the DB)."""
    from stash_sense.facedb.crawl.run import crawl_stashbox
    from stash_sense.facedb.crawl.tables import load_state
    from stash_sense.facedb.layout import DB_FILE
    from stash_sense.facedb.schema import connect_read_only

    conn = connect_read_only(source_db / DB_FILE)
    try:
        images = {e: (state.images_per_performer if (state := load_state(conn, e)) else 3) for e in endpoints}
    finally:
        conn.close()
    reports = []
    quiet = redirect_stdout(sys.stderr) if as_json else nullcontext()
    for endpoint in endpoints:
        try:
            with quiet:
                report = crawl_stashbox(
                    endpoint, out, api_key=api_key, images_per_performer=images[endpoint], progress=progress, embedder=embedder
                )
        except Exception as exc:  # noqa: BLE001 - as in run_crawl
            logging.getLogger(__name__).debug("re-crawl failed", exc_info=True)
            _fail(_scrubbed(f"re-crawling {endpoint} failed: {exc} (re-running resumes where it stopped)", api_key), as_json,
                  error_type=type(exc).__name__)
        reports.append(report.model_dump(mode="json"))
    return reports


@app.command()
def update(
    db: Path = typer.Argument(..., help="The face DB to update (a DB directory, or the versioned DB path the sidecar uses)."),
    from_stashbox: list[str] = typer.Option(
        [], "--from-stashbox", help="Stash-box GraphQL URL to update from (repeatable; default: every stash-box crawled into DB).",
    ),
    stashbox_api_key: str | None = typer.Option(
        None, "--stashbox-api-key", envvar="STASHBOX_API_KEY", help="API key for the stash-box (or STASHBOX_API_KEY).",
    ),
    stashbox_rate: float = typer.Option(240, "--stashbox-rate", min=1, help="Requests per minute sent to the stash-box."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress on stderr."),
    as_json: bool = typer.Option(False, "--json", help="Print the update report as one JSON object."),
) -> None:
    """Fetch only what changed on the stash-box since the last crawl (new, edited, deleted and merged
    performers; changed images) and publish it as a new DB version; the old one stays readable
    until the sidecar has swapped."""
    from stash_sense.facedb.crawl.update import update_from_stashbox

    quiet = redirect_stdout(sys.stderr) if as_json else nullcontext()
    try:
        with quiet:
            report = update_from_stashbox(
                db, from_stashbox or None, api_key=stashbox_api_key, requests_per_minute=stashbox_rate, progress=progress
            )
    except Exception as exc:  # noqa: BLE001 - as above
        logging.getLogger(__name__).debug("face DB update failed", exc_info=True)
        message = str(exc) if _known(exc) else f"face DB update failed: {type(exc).__name__}: {exc}"
        _fail(_scrubbed(message + " (the installed version is unchanged)", stashbox_api_key), as_json, error_type=type(exc).__name__)
    data = report.model_dump(mode="json")
    if as_json:
        _print_json({"ok": True, **data})
        return
    verb = "updated" if report.changed else "already current"
    typer.echo(f"{db}: {verb} ({report.previous_version} -> {report.db_version})")
    for item in report.endpoints:
        typer.echo(
            f"  {item.endpoint}: +{item.performers_added} new, {item.performers_edited} edited, {item.performers_deleted} deleted, "
            f"{item.performers_merged_away} merged away; {item.images_downloaded} images, {item.requests} requests"
        )


@app.command()
def links(
    db: Path = typer.Argument(..., help="The face DB."),
    as_json: bool = typer.Option(False, "--json", help="Print the links as one JSON object."),
) -> None:
    """Performers linked across stash-boxes, each with its evidence (a cross-reference, or faces and names that agree)."""
    from stash_sense.facedb.crawl.edits import read_links

    try:
        found = read_links(db)
    except Exception as exc:  # noqa: BLE001 - a missing or damaged DB: one line
        _fail(str(exc), as_json, error_type=type(exc).__name__)
    if as_json:
        _print_json({"ok": True, "db": str(db), "links": [link.model_dump() for link in found]})
        return
    for link in found:
        ev = link.evidence
        distance = f", faces {ev.distance:.3f} apart" if ev.distance is not None else ""
        typer.echo(f"{link.a} = {link.b}  ({ev.kind}: {', '.join(ev.names)}{distance})")
    typer.echo(f"{len(found)} links; undo one with `stash-sense db unlink {db} IDENTITY`", err=True)


@app.command()
def unlink(
    db: Path = typer.Argument(..., help="The face DB."),
    identity: str = typer.Argument(..., help="The identity to split off: <stash-box GraphQL URL>#<stash_id>."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> None:
    """Undo a cross-stash-box link: the identity becomes its own performer again (with its stash-box's
    faces), in a new DB version, and the two are never linked again."""
    from stash_sense.facedb.crawl.edits import unlink_identity

    try:
        result = unlink_identity(db, identity)
    except Exception as exc:  # noqa: BLE001 - unknown identity, not linked, damaged DB: one line
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        _fail(str(message), as_json, error_type=type(exc).__name__)
    if as_json:
        _print_json({"ok": True, **result})
        return
    typer.echo(f"split {', '.join(result['split'])} from {', '.join(result['from'])} (new version {result['db_version']})")
