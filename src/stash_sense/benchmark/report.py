"""The benchmark report's content (summary, tables, recommendations, Markdown), all derived from
the saved state; ``outputs.py`` writes it to files and ``html_report.py`` renders the HTML page.

Timings appear only in the ``elapsed_s`` CSV column, the checkpoint and lines/elements marked
as speed (``Speed:`` lines, ``class="timing"``), so two runs of the same benchmark produce the
same files apart from those.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .analyzer import (
    OptimizeEffect,
    baseline_round,
    describe_scores,
    distance_curve,
    failure_examples,
    optimize_effect,
    round_results,
    score_distributions,
)
from .grids import MIN_GAIN_POINTS
from .models import FACE_BUCKETS, FAILURE_CLASSES, AggregateMetrics, BenchmarkParams, BenchmarkState, RoundState

OPTIMIZE_THRESHOLDS = (2, 3)


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


@dataclass
class Measurement:
    """Metrics of one parameter set on one round's scenes."""

    round: int
    round_name: str
    label: str
    params: BenchmarkParams
    metrics: AggregateMetrics


@dataclass
class ReportData:
    state: BenchmarkState
    db: dict
    interrupted: bool
    baseline: Measurement | None = None  # the first round's reference: round 1 unless started later
    baseline_on_sample: Measurement | None = None
    best: Measurement | None = None
    curve: list[tuple[float, float, float]] = field(default_factory=list)
    scores: dict[str, list[float]] = field(default_factory=dict)
    optimize: list[OptimizeEffect] = field(default_factory=list)
    examples: dict[str, list[str]] = field(default_factory=dict)
    recommendations: list[str] = field(default_factory=list)


def _measure(rnd: RoundState, params: BenchmarkParams) -> Measurement | None:
    for combo in rnd.combos:
        if combo.params == params and combo.metrics is not None:
            return Measurement(rnd.number, rnd.name, combo.label, combo.params, combo.metrics)
    return None


def build_report_data(state: BenchmarkState, db_stats: dict, interrupted: bool = False) -> ReportData:
    from .analyzer import aggregate

    data = ReportData(state=state, db=db_stats, interrupted=interrupted)
    first = baseline_round(state)
    if first is not None:
        ref = first.combos[0]
        results = round_results(first, ref)
        metrics = ref.metrics if first.status == "done" and ref.metrics else aggregate(results)
        data.baseline = Measurement(first.number, first.name, ref.label, ref.params, metrics)
        data.scores = score_distributions(results)
        data.optimize = [optimize_effect(results, n) for n in OPTIMIZE_THRESHOLDS]
        data.examples = failure_examples(results)
    done = [r for r in state.rounds if r.status == "done"]
    for rnd in done:
        if rnd.number > 1 and data.baseline_on_sample is None:
            data.baseline_on_sample = _measure(rnd, state.config.baseline)
    for rnd in reversed(done):
        found = _measure(rnd, state.best_params)
        if found is not None:
            data.best = found
            break
    data.curve = distance_curve(state)
    data.recommendations = face_db_recommendations(data)
    return data


# -- face-DB recommendations ---------------------------------------------------------------------


def face_db_recommendations(data: ReportData) -> list[str]:
    """Advice on the face DB drawn from this run's per-performer results."""
    out: list[str] = []
    db = data.db
    if db.get("performers"):
        out.append(
            f"{pct(db['one_face_share'])} of the face DB's performers ({db['one_face']} of {db['performers']}) have a "
            f"single reference face; {db['under_three']} have fewer than 3."
        )
    if data.baseline is None:
        return out
    m = data.baseline.metrics
    performers = {p.performer_id: p.faces_in_db for s in data.state.scenes for p in s.expected_performers}
    if performers:
        ones = sum(1 for n in performers.values() if n == 1)
        out.append(f"Of the {len(performers)} performers in the benchmark's scenes, {ones} ({pct(ones / len(performers))}) "
                   "have a single face in the DB.")
    buckets = [f"{b} faces: {pct(m.by_face_count[b].accuracy)} of {m.by_face_count[b].performers} appearances"
               for b in FACE_BUCKETS if b in m.by_face_count and m.by_face_count[b].performers]
    if buckets:
        out.append("Measured accuracy by reference faces per performer: " + "; ".join(buckets) + ".")
    for eff in data.optimize:
        d_prec = 100 * (eff.precision - m.precision)
        d_acc = 100 * (eff.accuracy - m.accuracy)
        verdict = (
            "worth it: it gains more precision than it costs recall" if d_prec > -d_acc and d_prec > 0
            else "not worth it on these scenes: add reference faces instead" if d_acc < 0
            else "no measurable effect on these scenes"
        )
        out.append(
            f"`db optimize --min-faces {eff.min_faces}` would drop {eff.performers_removed} of the benchmark's performers; "
            f"estimated precision {pct(m.precision)} -> {pct(eff.precision)} ({d_prec:+.1f} pts), accuracy "
            f"{pct(m.accuracy)} -> {pct(eff.accuracy)} ({d_acc:+.1f} pts): {verdict}."
        )
    first = baseline_round(data.state)
    thin: dict[str, int] = {}
    if first is not None:
        for r in round_results(first, first.combos[0]):
            for p in r.performers:
                if p.failure == "insufficient_db_coverage":
                    thin[p.name] = p.faces_in_db
    if thin:
        names = ", ".join(f"{n} ({c})" for n, c in sorted(thin.items(), key=lambda kv: (kv[1], kv[0]))[:10])
        out.append(f"Add reference faces for the performers missed for lack of them (faces in DB): {names}.")
    return out


# -- tables --------------------------------------------------------------------------------------


def _fmt_float(x: float | None) -> str | None:
    return None if x is None else f"{x:.4f}"


SCENE_COLUMNS = [
    "round", "round_name", "combo", "scene_id", "resolution", "coverage_tier", "expected", "reported",
    "true_positives", "false_positives", "false_negatives", "missed", "false_positive_names", "expected_in_top1",
    "expected_in_top3", "score_gap", "faces_detected", "faces_after_filter", "persons_clustered", "frames_analysed",
    "source_kind", "error", "elapsed_s",
]
PERFORMER_COLUMNS = [
    "round", "round_name", "combo", "scene_id", "performer_id", "name", "faces_in_db", "face_bucket", "found",
    "detected", "person", "rank", "confidence", "distance", "score", "presence_distance", "failure", "failure_detail",
    "beaten_by", "best_match",
]
PARAM_FIELDS = list(BenchmarkParams.model_fields)
COMPARISON_COLUMNS = [
    "round", "round_name", "combo", "reference", "best", "adopted", "scenes", "errors", "accuracy", "precision", "f1",
    "true_positives", "false_positives", "false_negatives", "false_positives_per_scene", "top1_rate", "top3_rate",
    *PARAM_FIELDS,
]


def scene_rows(state: BenchmarkState) -> list[dict]:
    rows = []
    for rnd in state.rounds:
        for combo in rnd.combos:
            for r in round_results(rnd, combo):
                rows.append({
                    "round": rnd.number, "round_name": rnd.name, "combo": combo.label, "scene_id": r.scene_id,
                    "resolution": r.resolution, "coverage_tier": r.coverage_tier, "expected": "; ".join(r.expected),
                    "reported": "; ".join(r.reported), "true_positives": r.true_positives,
                    "false_positives": r.false_positives, "false_negatives": r.false_negatives,
                    "missed": "; ".join(r.missed), "false_positive_names": "; ".join(m.name for m in r.false_positive_matches),
                    "expected_in_top1": r.expected_in_top1, "expected_in_top3": r.expected_in_top3,
                    "score_gap": _fmt_float(r.score_gap), "faces_detected": r.faces_detected,
                    "faces_after_filter": r.faces_after_filter, "persons_clustered": r.persons_clustered,
                    "frames_analysed": r.frames_analysed, "source_kind": r.source_kind, "error": r.error,
                    "elapsed_s": f"{r.elapsed_s:.3f}",
                })
    return rows


def performer_rows(state: BenchmarkState) -> list[dict]:
    rows = []
    for rnd in state.rounds:
        for combo in rnd.combos:
            for r in round_results(rnd, combo):
                for p in r.performers:
                    rows.append({
                        "round": rnd.number, "round_name": rnd.name, "combo": combo.label, "scene_id": r.scene_id,
                        "performer_id": p.performer_id, "name": p.name, "faces_in_db": p.faces_in_db,
                        "face_bucket": p.face_bucket, "found": p.found, "detected": p.detected, "person": p.person,
                        "rank": p.rank, "confidence": _fmt_float(p.confidence), "distance": _fmt_float(p.distance),
                        "score": _fmt_float(p.score), "presence_distance": _fmt_float(p.presence_distance),
                        "failure": p.failure, "failure_detail": p.failure_detail,
                        "beaten_by": "; ".join(f"{b.name} ({b.performer_id})" for b in p.beaten_by),
                        "best_match": f"{p.best_match.name} ({p.best_match.performer_id})" if p.best_match else None,
                    })
    return rows


def comparison_rows(state: BenchmarkState) -> list[dict]:
    rows = []
    for rnd in state.rounds:
        for i, combo in enumerate(rnd.combos):
            m = combo.metrics
            row = {
                "round": rnd.number, "round_name": rnd.name, "combo": combo.label, "reference": i == 0,
                "best": combo.label == rnd.best_label,
                "adopted": rnd.adopted is not None and combo.params == rnd.adopted and rnd.status == "done",
            }
            if m is not None:
                row.update({
                    "scenes": m.scenes, "errors": m.errors, "accuracy": f"{m.accuracy:.4f}", "precision": f"{m.precision:.4f}",
                    "f1": f"{m.f1:.4f}", "true_positives": m.true_positives, "false_positives": m.false_positives,
                    "false_negatives": m.false_negatives, "false_positives_per_scene": f"{m.false_positives_per_scene:.4f}",
                    "top1_rate": f"{m.top1_rate:.4f}", "top3_rate": f"{m.top3_rate:.4f}",
                })
            row.update(combo.params.model_dump())
            rows.append(row)
    return rows


def _metrics_brief(m: AggregateMetrics) -> dict:
    return {
        "accuracy": m.accuracy, "precision": m.precision, "f1": m.f1, "true_positives": m.true_positives,
        "false_positives": m.false_positives, "false_negatives": m.false_negatives, "scenes": m.scenes, "errors": m.errors,
    }


def recommended_config(data: ReportData) -> dict:
    state = data.state
    out: dict = {
        "params": state.best_params.model_dump(mode="json"),
        "scene_params": state.best_params.to_scene_params().model_dump(
            mode="json", exclude={"thumbnails", "tagged_performers", "tagged_boost"}
        ),
        "face_db_version": state.config.face_db_version,
        "seed": state.config.seed,
        "rounds_run": [r.number for r in state.rounds if r.status == "done"],
        "stopped_because": state.stopped_because,
        "finished": state.finished,
    }
    if data.baseline is not None:
        out["baseline"] = {
            "source": f"round {data.baseline.round} ({data.baseline.round_name}), measured",
            "params": data.baseline.params.model_dump(mode="json"),
            **_metrics_brief(data.baseline.metrics),
        }
    if data.best is not None:
        out["recommended"] = {"source": f"round {data.best.round} ({data.best.round_name})", **_metrics_brief(data.best.metrics)}
    if data.baseline_on_sample is not None and data.best is not None:
        out["baseline_on_same_scenes"] = _metrics_brief(data.baseline_on_sample.metrics)
        out["improvement_points"] = {
            "f1": round(100 * (data.best.metrics.f1 - data.baseline_on_sample.metrics.f1), 2),
            "accuracy": round(100 * (data.best.metrics.accuracy - data.baseline_on_sample.metrics.accuracy), 2),
            "precision": round(100 * (data.best.metrics.precision - data.baseline_on_sample.metrics.precision), 2),
        }
    return out


def _round_line(rnd: RoundState) -> str:
    if rnd.status == "skipped":
        return f"  round {rnd.number} {rnd.name}: skipped ({rnd.note})"
    if rnd.status != "done":
        done = len(rnd.finished_scenes())
        return f"  round {rnd.number} {rnd.name}: {done}/{len(rnd.scene_ids)} scenes done"
    best = next((c for c in rnd.combos if c.label == rnd.best_label), rnd.combos[0])
    m = best.metrics
    head = f"  round {rnd.number} {rnd.name} ({len(rnd.combos)} combination(s), {len(rnd.scene_ids)} scenes): "
    if rnd.number == 1 or m is None:
        return head + (f"accuracy {pct(m.accuracy)}, precision {pct(m.precision)}" if m else "no results")
    kept = "adopted" if rnd.gain_points is not None and rnd.gain_points >= MIN_GAIN_POINTS else "kept the reference"
    return head + f"best [{best.label}] F1 {pct(m.f1)} ({rnd.gain_points:+.2f} pts, {kept})"


def summary_text(data: ReportData) -> str:
    state, cfg = data.state, data.state.config
    lines = ["Stash Sense identification benchmark", ""]
    if data.interrupted:
        lines += ["INTERRUPTED: the checkpoint is saved; continue with --resume.", ""]
    lines += [
        f"Stash: {cfg.stash_url}",
        f"Face DB: {cfg.db_dir} (version {cfg.face_db_version})",
        f"Executor: {'sidecar ' + cfg.sidecar_url if cfg.sidecar_url else 'in-process engine'}; seed {cfg.seed}",
        f"Scenes: {len(state.scenes)} selected ({', '.join(f'{k} {v}' for k, v in state.selection.strata.items())}); "
        f"sample for later rounds: {len(state.sample)}",
    ]
    lines += [f"Note: {n}" for n in state.selection.notes]
    lines.append("")
    if data.baseline is not None:
        m = data.baseline.metrics
        lines += [
            f"Baseline (round {data.baseline.round}, {m.scenes} scenes, {m.errors} failed): accuracy (recall) "
            f"{pct(m.accuracy)}, precision {pct(m.precision)}, F1 {pct(m.f1)} "
            f"({m.true_positives} TP, {m.false_positives} FP, {m.false_negatives} FN; "
            f"{m.false_positives_per_scene:.2f} FP/scene; top-1 {pct(m.top1_rate)}, top-3 {pct(m.top3_rate)})",
            "  by resolution: " + ", ".join(f"{k} {pct(v.accuracy)} ({v.scenes})" for k, v in m.by_resolution.items()),
            "  by coverage: " + ", ".join(f"{k} {pct(v.accuracy)} ({v.scenes})" for k, v in m.by_coverage.items()),
            "  by faces in DB: " + ", ".join(
                f"{k} {pct(v.accuracy) if v.performers else 'n/a'} ({v.performers})" for k, v in m.by_face_count.items()
            ),
            "  failures: " + ", ".join(f"{k} {m.failures.get(k, 0)}" for k in FAILURE_CLASSES),
        ]
    lines += ["", "Rounds:"] + [_round_line(r) for r in state.rounds]
    if state.stopped_because:
        lines.append(f"Stopped: {state.stopped_because}")
    lines.append("")
    if data.best is not None:
        m = data.best.metrics
        changed = state.best_params.changed_from(cfg.baseline)
        tuned = any(r.number > 1 and r.status == "done" for r in state.rounds)
        lines.append(
            "Recommended parameters: "
            + (", ".join(f"{k}={v}" for k, v in changed.items()) if changed
               else "the baseline (no tuning round gained enough)" if tuned else "the baseline (no tuning round ran)")
        )
        lines.append(f"  measured in round {data.best.round} on {m.scenes} scenes: accuracy {pct(m.accuracy)}, "
                     f"precision {pct(m.precision)}, F1 {pct(m.f1)}")
    errors = sorted({(r.scene_id, r.error) for rnd in state.rounds for c in rnd.combos for r in c.scene_results.values() if r.error})
    if errors:
        lines += ["", f"Scenes that failed ({len(errors)}):"] + [f"  scene {sid}: {err}" for sid, err in errors[:20]]
    if data.baseline is not None:
        lines += ["", f"Speed: {data.baseline.metrics.seconds_per_scene:.2f} s per scene (round {data.baseline.round})"]
    return "\n".join(lines) + "\n"


def final_report_md(data: ReportData) -> str:
    state, cfg = data.state, data.state.config
    out = ["# Identification benchmark report", ""]
    if data.interrupted:
        out += ["> **Interrupted** - partial results; continue with `--resume`.", ""]
    out += [
        f"- Stash: `{cfg.stash_url}`", f"- Face DB: `{cfg.db_dir}` (version `{cfg.face_db_version}`)",
        f"- Executor: {'sidecar `' + cfg.sidecar_url + '`' if cfg.sidecar_url else 'in-process engine'}",
        f"- Seed: {cfg.seed}; scenes: {len(state.scenes)}; sample for rounds 2+: {len(state.sample)}",
        "- Accuracy = recall = TP / (TP + FN); precision = TP / (TP + FP).", "",
    ]
    if data.baseline is not None:
        m = data.baseline.metrics
        out += [
            "## Baseline", "",
            f"Round {data.baseline.round} on {m.scenes} scenes ({m.errors} failed): **accuracy {pct(m.accuracy)}**, "
            f"precision {pct(m.precision)}, F1 {pct(m.f1)}; {m.true_positives} TP, {m.false_positives} FP, "
            f"{m.false_negatives} FN; top-1 {pct(m.top1_rate)}, top-3 {pct(m.top3_rate)}.", "",
            "| breakdown | group | scenes | performers | accuracy | precision | TP | FP | FN |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for title, groups in (("resolution", m.by_resolution), ("coverage", m.by_coverage), ("faces in DB", m.by_face_count)):
            for k, b in groups.items():
                acc = pct(b.accuracy) if b.performers else "n/a"
                out.append(f"| {title} | {k} | {b.scenes} | {b.performers} | {acc} | {pct(b.precision)} | "
                           f"{b.true_positives} | {b.false_positives} | {b.false_negatives} |")
        out += ["", "## Failure analysis", "", "| failure | performers | examples |", "|---|---|---|"]
        for c in FAILURE_CLASSES:
            ex = "<br>".join(data.examples.get(c, [])[:3]) or "-"
            out.append(f"| `{c}` | {m.failures.get(c, 0)} | {ex} |")
        out += ["", "## Score distributions", "", "| scores | n | mean | median | min | max |", "|---|---|---|---|---|---|"]
        for name, values in data.scores.items():
            d = describe_scores(values)
            out.append(f"| {name.replace('_', ' ')} | {d['n']} | {d.get('mean', '-')} | {d.get('median', '-')} | "
                       f"{d.get('min', '-')} | {d.get('max', '-')} |")
        out.append("")
    out += ["## Parameter rounds", ""]
    for rnd in state.rounds:
        out.append(f"### Round {rnd.number}: {rnd.name}")
        out.append("")
        out.append(f"{rnd.description[:1].upper()}{rnd.description[1:]}. {len(rnd.scene_ids)} scenes. "
                   + (f"Skipped: {rnd.note}." if rnd.status == "skipped" else f"Status: {rnd.status}."))
        if rnd.status == "skipped":
            out.append("")
            continue
        out += ["", "| combination | accuracy | precision | F1 | TP | FP | FN |", "|---|---|---|---|---|---|---|"]
        for combo in rnd.combos:
            m = combo.metrics
            mark = " **(best)**" if combo.label == rnd.best_label and rnd.number > 1 else ""
            if m is None:
                out.append(f"| {combo.label}{mark} | - | - | - | - | - | - |")
            else:
                out.append(f"| {combo.label}{mark} | {pct(m.accuracy)} | {pct(m.precision)} | {pct(m.f1)} | "
                           f"{m.true_positives} | {m.false_positives} | {m.false_negatives} |")
        if rnd.gain_points is not None and rnd.number > 1:
            out.append("")
            out.append(f"Gain over the reference: {rnd.gain_points:+.2f} F1 points.")
        out.append("")
    if state.stopped_because:
        out += [f"Stopped: {state.stopped_because}.", ""]
    out += ["## Recommended configuration", ""]
    rec = recommended_config(data)
    out += ["```json", json.dumps(rec["params"], indent=2), "```", ""]
    if "baseline" in rec:
        out.append(f"Baseline (measured, {rec['baseline']['source']}): accuracy {pct(rec['baseline']['accuracy'])}, "
                   f"precision {pct(rec['baseline']['precision'])}.")
    if "improvement_points" in rec:
        imp = rec["improvement_points"]
        out.append(f"On the sample, against the baseline on the same scenes: F1 {imp['f1']:+.2f} pts, accuracy "
                   f"{imp['accuracy']:+.2f} pts, precision {imp['precision']:+.2f} pts.")
    out += ["", "## Face-DB recommendations", ""]
    out += [f"- {line}" for line in data.recommendations] or ["- (no data)"]
    if data.baseline is not None:
        out += ["", f"Speed: {data.baseline.metrics.seconds_per_scene:.2f} s per scene."]
    return "\n".join(out) + "\n"


__all__ = ["ReportData", "build_report_data"]
