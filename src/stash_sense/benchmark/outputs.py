"""The benchmark's output files, all written from the saved state.

Timings appear only in the ``elapsed_s`` CSV column, the checkpoint and lines/elements marked
as speed (``Speed:`` lines, ``class="timing"``), so two runs of the same benchmark produce the
same files apart from those.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from .html_report import render_html
from .models import BenchmarkState
from .report import (
    COMPARISON_COLUMNS,
    PERFORMER_COLUMNS,
    SCENE_COLUMNS,
    build_report_data,
    comparison_rows,
    final_report_md,
    performer_rows,
    recommended_config,
    scene_rows,
    summary_text,
)

SUMMARY = "summary.txt"
SCENE_RESULTS = "scene_results.csv"
PERFORMER_RESULTS = "performer_results.csv"
PARAMETER_COMPARISON = "parameter_comparison.csv"
FINAL_REPORT = "final_report.md"
RECOMMENDED_CONFIG = "recommended_config.json"
CHECKPOINT = "checkpoint.json"
REPORT_HTML = "report.html"
OUTPUT_NAMES = (SUMMARY, SCENE_RESULTS, PERFORMER_RESULTS, PARAMETER_COMPARISON, FINAL_REPORT, RECOMMENDED_CONFIG,
                CHECKPOINT, REPORT_HTML)


def _csv(rows: list[dict], columns: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    return buf.getvalue()


def write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_outputs(state: BenchmarkState, output_dir: Path, db_stats: dict, *, interrupted: bool = False) -> dict[str, Path]:
    """Write every output file from ``state``; returns their paths by name."""
    output_dir = Path(output_dir)
    data = build_report_data(state, db_stats, interrupted)
    paths = {name: output_dir / name for name in OUTPUT_NAMES}
    state.save(paths[CHECKPOINT])
    write_text(paths[SUMMARY], summary_text(data))
    write_text(paths[SCENE_RESULTS], _csv(scene_rows(state), SCENE_COLUMNS))
    write_text(paths[PERFORMER_RESULTS], _csv(performer_rows(state), PERFORMER_COLUMNS))
    write_text(paths[PARAMETER_COMPARISON], _csv(comparison_rows(state), COMPARISON_COLUMNS))
    write_text(paths[FINAL_REPORT], final_report_md(data))
    write_text(paths[RECOMMENDED_CONFIG], json.dumps(recommended_config(data), indent=2) + "\n")
    write_text(paths[REPORT_HTML], render_html(data))
    return paths
