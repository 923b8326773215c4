"""``/benchmarks``: the benchmark reports under ``STASH_SENSE_BENCHMARK_DIR`` (one folder per
``stash-sense benchmark --output-dir``), listed and opened by the dashboard."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path as FsPath
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Path
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from stash_sense.api.deps import Sidecar, get_sidecar
from stash_sense.api.errors import COMMON_ERRORS, error_responses, not_found

router = APIRouter(prefix="/benchmarks", tags=["benchmarks"], responses=error_responses(*COMMON_ERRORS))

# The file names `stash-sense benchmark` writes (the benchmark package sits above the API, so
# they are named here rather than imported; tests check they agree).
REPORT_HTML = "report.html"
SUMMARY = "summary.txt"
RECOMMENDED_CONFIG = "recommended_config.json"
# Report names are folder names; nothing that could climb out of the reports folder.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
_NAME = re.compile(NAME_PATTERN)
# A report's HTML is self-contained but can be large; a limit keeps a stray file from being served.
MAX_REPORT_BYTES = 32 * 1024 * 1024


class BenchmarkReportSummary(BaseModel):
    name: str
    modified_at: str = Field(description="When the report was last written (UTC, ISO 8601).")
    has_html: bool
    summary_head: str | None = Field(None, description="The first lines of summary.txt.")


class BenchmarkReportList(BaseModel):
    directory: str
    reports: list[BenchmarkReportSummary]


class BenchmarkReport(BaseModel):
    name: str
    modified_at: str
    summary: str | None
    recommended_config: dict[str, Any] | None
    files: list[str]
    html_path: str | None = Field(None, description="Where to GET the HTML report (send the API key).")


def _report_dirs(root: FsPath) -> list[FsPath]:
    if not root.is_dir():
        return []
    found = [d for d in root.iterdir() if d.is_dir() and _NAME.match(d.name) and ((d / REPORT_HTML).is_file() or (d / SUMMARY).is_file())]
    return sorted(found, key=lambda d: _modified(d), reverse=True)


def _modified(folder: FsPath) -> float:
    stamps = [p.stat().st_mtime for p in (folder / REPORT_HTML, folder / SUMMARY) if p.is_file()]
    return max(stamps, default=folder.stat().st_mtime)


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _read_text(path: FsPath, limit: int = 256 * 1024) -> str | None:
    try:
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            return handle.read(limit)
    except OSError:
        return None


def _list(root: FsPath) -> list[BenchmarkReportSummary]:
    out = []
    for folder in _report_dirs(root):
        summary = _read_text(folder / SUMMARY, 4096)
        head = "\n".join(summary.strip().splitlines()[:3]) if summary else None
        out.append(
            BenchmarkReportSummary(
                name=folder.name, modified_at=_iso(_modified(folder)), has_html=(folder / REPORT_HTML).is_file(), summary_head=head
            )
        )
    return out


def _folder(sidecar: Sidecar, name: str) -> FsPath:
    root = sidecar.settings.benchmark_reports_dir
    folder = root / name
    if not _NAME.match(name) or folder not in _report_dirs(root):
        raise not_found(f"no benchmark report named {name!r}")
    return folder


def _open(folder: FsPath) -> BenchmarkReport:
    config = None
    raw = _read_text(folder / RECOMMENDED_CONFIG)
    if raw:
        try:
            config = json.loads(raw)
        except ValueError:
            config = None
    has_html = (folder / REPORT_HTML).is_file()
    return BenchmarkReport(
        name=folder.name,
        modified_at=_iso(_modified(folder)),
        summary=_read_text(folder / SUMMARY),
        recommended_config=config,
        files=sorted(p.name for p in folder.iterdir() if p.is_file()),
        html_path=f"/benchmarks/{folder.name}/report.html" if has_html else None,
    )


@router.get("", response_model=BenchmarkReportList, summary="Benchmark reports, newest first")
async def list_reports(sidecar: Sidecar = Depends(get_sidecar)) -> BenchmarkReportList:
    root = sidecar.settings.benchmark_reports_dir
    reports = await anyio.to_thread.run_sync(_list, root)
    return BenchmarkReportList(directory=str(root), reports=reports)


@router.get(
    "/{name}",
    response_model=BenchmarkReport,
    summary="One benchmark report: summary and recommended settings",
    responses=error_responses(404),
)
async def open_report(name: str = Path(pattern=NAME_PATTERN), sidecar: Sidecar = Depends(get_sidecar)) -> BenchmarkReport:
    folder = _folder(sidecar, name)
    return await anyio.to_thread.run_sync(_open, folder)


@router.get(
    "/{name}/report.html",
    response_class=Response,
    summary="A benchmark's HTML report",
    responses={200: {"content": {"text/html": {}}}, **error_responses(404)},
)
async def report_html(name: str = Path(pattern=NAME_PATTERN), sidecar: Sidecar = Depends(get_sidecar)) -> HTMLResponse:
    path = _folder(sidecar, name) / REPORT_HTML
    if not path.is_file() or path.stat().st_size > MAX_REPORT_BYTES:
        raise not_found(f"benchmark {name!r} has no HTML report")
    html = await anyio.to_thread.run_sync(path.read_text, "utf-8")
    # The dashboard shows it in a sandboxed frame; scripts in it must not reach the API.
    return HTMLResponse(html, headers={"Content-Security-Policy": "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"})
