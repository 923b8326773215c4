"""``report.html``: one self-contained page (inline CSS and SVG, no scripts, no network)."""

from __future__ import annotations

import json
import math
from html import escape

from .charts import bar_chart, empty_chart, histogram, line_chart
from .models import FACE_BUCKETS, FAILURE_CLASSES
from .report import ReportData, comparison_rows, pct, recommended_config

_CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 24px auto; max-width: 1180px;
       color: #222; background: #fff; padding: 0 16px; }
h1 { font-size: 24px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ddd; }
.meta { color: #555; font-size: 13px; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin: 16px 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 10px 14px; min-width: 150px; }
.card .v { font-size: 22px; font-weight: bold; } .card .k { font-size: 12px; color: #666; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 12px; }
table { border-collapse: collapse; font-size: 12px; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: left; } th { background: #f4f4f4; }
tr.best td { background: #eef7ee; font-weight: bold; }
.warn { background: #fff4e5; border: 1px solid #f0c36d; padding: 8px 12px; border-radius: 4px; }
pre { background: #f7f7f7; padding: 8px; font-size: 12px; overflow-x: auto; }
"""


def _table(headers: list[str], rows: list[list[object]], row_classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _charts(data: ReportData) -> list[str]:
    charts = []
    m = data.baseline.metrics if data.baseline else None
    if m and m.by_resolution:
        tiers = list(m.by_resolution)
        charts.append(bar_chart(
            "Accuracy and precision by resolution", tiers,
            [("accuracy", [100 * m.by_resolution[t].accuracy for t in tiers]),
             ("precision", [100 * m.by_resolution[t].precision for t in tiers])],
            notes=[f"{m.by_resolution[t].scenes} scenes" for t in tiers],
        ))
    else:
        charts.append(empty_chart("Accuracy by resolution", "no results yet"))
    buckets = [b for b in FACE_BUCKETS if m and b in m.by_face_count and m.by_face_count[b].performers]
    if m and buckets:
        charts.append(bar_chart(
            "Accuracy by reference faces per performer", buckets,
            [("accuracy", [100 * m.by_face_count[b].accuracy for b in buckets])],
            notes=[f"{m.by_face_count[b].performers} performers" for b in buckets],
        ))
    else:
        charts.append(empty_chart("Accuracy by face count", "no results yet"))
    if data.curve:
        xs = [d for d, _, _ in data.curve]
        charts.append(line_chart(
            "Precision and recall against max_distance", xs,
            [("precision", [100 * p for _, p, _ in data.curve]), ("recall (accuracy)", [100 * r for _, _, r in data.curve])],
            x_label="max_distance", marker_x=data.state.best_params.max_distance,
        ))
    else:
        charts.append(empty_chart("Precision and recall against max_distance", "no distance sweep in this run"))
    threshold = data.state.best_params.min_confidence
    if threshold is None:
        threshold = data.db.get("default_min_confidence")
    # Scores are calibrated probabilities plus boosts (hybrid agreement), so they may pass 1.
    top = max((v for values in data.scores.values() for v in values), default=1.0)
    hi = max(1.0, math.ceil(top * 4) / 4)
    bins = int(round(hi * 20))
    charts.append(histogram(
        "Scores of every candidate considered (baseline)",
        [("right performer", data.scores.get("candidates_correct", [])),
         ("wrong performer", data.scores.get("candidates_incorrect", []))],
        hi=hi, bins=bins, marker_x=threshold,
    ))
    charts.append(histogram(
        "Scores of reported performers (baseline)",
        [("correct", data.scores.get("reported_correct", [])), ("incorrect", data.scores.get("reported_incorrect", []))],
        hi=hi, bins=bins, marker_x=threshold,
    ))
    return charts


def render_html(data: ReportData) -> str:
    state, cfg = data.state, data.state.config
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        "<title>Stash Sense benchmark report</title>", f"<style>{_CSS}</style></head><body>",
        "<h1>Stash Sense identification benchmark</h1>",
        f'<div class="meta">Stash {escape(cfg.stash_url)} &middot; face DB version {escape(cfg.face_db_version)} &middot; '
        f"seed {cfg.seed} &middot; {len(state.scenes)} scenes, sample {len(state.sample)} &middot; "
        f"{'sidecar ' + escape(cfg.sidecar_url) if cfg.sidecar_url else 'in-process engine'}</div>",
    ]
    if data.interrupted:
        parts.append('<p class="warn">Interrupted: partial results. Continue with <code>--resume</code>.</p>')
    cards = []
    if data.baseline:
        m = data.baseline.metrics
        cards += [("Baseline accuracy", pct(m.accuracy)), ("Baseline precision", pct(m.precision)),
                  ("False positives / scene", f"{m.false_positives_per_scene:.2f}")]
    if data.best:
        cards += [("Recommended accuracy", pct(data.best.metrics.accuracy)),
                  ("Recommended precision", pct(data.best.metrics.precision))]
    parts.append('<div class="cards">' + "".join(
        f'<div class="card"><div class="v">{escape(v)}</div><div class="k">{escape(k)}</div></div>' for k, v in cards
    ) + "</div>")
    if data.baseline:
        parts.append(f'<p class="timing">Speed: {data.baseline.metrics.seconds_per_scene:.2f} s per scene.</p>')
    parts += ["<h2>Charts</h2>", '<div class="charts">'] + [f"<div>{c}</div>" for c in _charts(data)] + ["</div>"]

    if data.baseline:
        m = data.baseline.metrics
        parts.append(f"<h2>Baseline breakdowns (round {data.baseline.round})</h2>")
        rows = []
        for title, groups in (("resolution", m.by_resolution), ("coverage", m.by_coverage), ("faces in DB", m.by_face_count)):
            for k, b in groups.items():
                rows.append([title, k, b.scenes, b.performers, pct(b.accuracy) if b.performers else "n/a", pct(b.precision), b.true_positives,
                             b.false_positives, b.false_negatives])
        parts.append(_table(["breakdown", "group", "scenes", "performers", "accuracy", "precision", "TP", "FP", "FN"], rows))
        parts.append("<h2>Failure analysis</h2>")
        parts.append(_table(
            ["failure", "performers", "examples"],
            [[c, m.failures.get(c, 0), " | ".join(data.examples.get(c, [])[:3]) or "-"] for c in FAILURE_CLASSES],
        ))

    parts.append("<h2>Parameter comparison</h2>")
    rows, classes = [], []
    for row in comparison_rows(state):
        rows.append([row["round"], row["round_name"], row["combo"], row.get("accuracy", "-"), row.get("precision", "-"),
                     row.get("f1", "-"), row.get("true_positives", "-"), row.get("false_positives", "-"),
                     row.get("false_negatives", "-")])
        classes.append("best" if row["best"] and row["round"] > 1 else "")
    parts.append(_table(["round", "name", "combination", "accuracy", "precision", "F1", "TP", "FP", "FN"], rows, classes))
    if state.stopped_because:
        parts.append(f"<p>Stopped: {escape(state.stopped_because)}.</p>")

    parts.append("<h2>Recommended configuration</h2>")
    rec = recommended_config(data)
    parts.append(f"<pre>{escape(json.dumps(rec['params'], indent=2))}</pre>")
    if "baseline" in rec:
        parts.append(f"<p>Baseline, measured in {escape(rec['baseline']['source'])}: accuracy "
                     f"{pct(rec['baseline']['accuracy'])}, precision {pct(rec['baseline']['precision'])}.</p>")
    parts.append("<h2>Face-DB recommendations</h2><ul>")
    parts += [f"<li>{escape(line)}</li>" for line in data.recommendations] or ["<li>no data</li>"]
    parts.append("</ul></body></html>")
    return "\n".join(parts) + "\n"
