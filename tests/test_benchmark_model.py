"""The benchmark's data model, sampling, metrics, grids and charts (no engine, no server)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter

import pytest

from stash_sense.scenes.params import SceneParams

from stash_sense.benchmark.analyzer import aggregate, distance_curve, optimize_effect
from stash_sense.benchmark.charts import bar_chart, histogram, line_chart
from stash_sense.benchmark.grids import DISTANCE_SWEEP, MAX_ROUNDS, _combinations, multi_signal_available, plan_for
from stash_sense.benchmark.models import (
    AggregateMetrics,
    BenchmarkConfig,
    BenchmarkParams,
    BenchmarkState,
    ComboResult,
    ExpectedPerformer,
    MatchSummary,
    PerformerResult,
    RoundState,
    SceneResult,
    TestScene,
    face_bucket,
)
from stash_sense.benchmark.selector import _rejection, SelectionCriteria, scene_sort_key, stratified_sample
from stash_sense.evaluation.scenes import precision_recall, score_scene
from stash_sense.stash.models import Scene

STASHDB = "https://stashdb.org/graphql"


def _scene(sid: str, tier: str = "720p", coverage: str = "sparse", faces: tuple[int, ...] = (4, 4)) -> TestScene:
    size = {"480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080), "4k": (3840, 2160)}[tier]
    return TestScene(
        scene_id=sid, stash_id=f"{STASHDB}#scene-{sid}", title=f"Scene {sid}", resolution=tier, width=size[0],
        height=size[1], duration_sec=30.0, db_coverage_tier=coverage,
        expected_performers=[
            ExpectedPerformer(performer_id=f"{STASHDB}#p{sid}-{i}", stash_performer_id=f"{sid}{i}", name=f"P{sid}-{i}",
                              identities=[f"{STASHDB}#p{sid}-{i}"], db_performer_id=i + 1, faces_in_db=n)
            for i, n in enumerate(faces)
        ],
    )


def _performer(sid: str, name: str, faces: int, found: bool, rank: int | None = 1, failure: str | None = None) -> PerformerResult:
    return PerformerResult(scene_id=sid, performer_id=f"{STASHDB}#{name}", name=name, faces_in_db=faces, found=found,
                           detected=found or failure != "not_detected", rank=rank, failure=failure)


def _result(sid: str, tier: str, performers: list[PerformerResult], fps: list[MatchSummary] = (), error: str | None = None) -> SceneResult:
    tp = sum(p.found for p in performers)
    return SceneResult(
        scene_id=sid, resolution=tier, coverage_tier="sparse", true_positives=tp, false_positives=len(fps),
        false_negatives=len(performers) - tp, expected=[p.name for p in performers], false_positive_matches=list(fps),
        performers=performers, error=error, elapsed_s=1.5,
    )


# -- model ----------------------------------------------------------------------------------------


def test_face_buckets() -> None:
    assert [face_bucket(n) for n in (0, 1, 2, 3, 5, 6, 40)] == ["0", "1-2", "1-2", "3-5", "3-5", "6+", "6+"]


def test_state_json_round_trip(tmp_path) -> None:
    params = BenchmarkParams(max_distance=0.55, num_frames=12)
    results = [_result("1", "720p", [_performer("1", "A", 4, True), _performer("1", "B", 1, False, None, "insufficient_db_coverage")],
                       [MatchSummary(performer_id=f"{STASHDB}#X", name="X", distance=0.5, score=0.6, faces_in_db=2)])]
    combo = ComboResult(label="reference", params=params, scene_results={"1": results[0]}, metrics=aggregate(results))
    state = BenchmarkState(
        config=BenchmarkConfig(stash_url="http://stash:9999", db_dir="/db", face_db_version="v1", seed=3, baseline=params),
        scenes=[_scene("1")], sample=["1"], best_params=params,
        rounds=[RoundState(number=1, name="baseline", scene_ids=["1"], reference=params, combos=[combo], status="done",
                           adopted=params, gain_points=0.0, best_label="reference")],
    )
    path = tmp_path / "checkpoint.json"
    state.save(path)
    again = BenchmarkState.load(path)
    assert again == state
    assert again.to_json() == state.to_json()
    assert not (tmp_path / "checkpoint.json.tmp").exists()
    with pytest.raises(ValueError, match="version"):
        BenchmarkState.from_json(json.dumps({**json.loads(state.to_json()), "version": 99}))


def test_params_label_and_engine_params() -> None:
    base = BenchmarkParams()
    p = BenchmarkParams(max_distance=0.5, min_face_size=30)
    assert p.label(base) == "max_distance=0.5, min_face_size=30" and base.label(base) == "reference"
    sp = p.to_scene_params()
    # The tags on a scene are the answer key: never boosted. No thumbnails in a benchmark.
    assert sp.tagged_boost == 0.0 and sp.tagged_performers == [] and not sp.thumbnails
    assert sp.max_distance == 0.5 and sp.matching_mode == "hybrid" and sp.num_frames == 60
    # The baseline starts from the engine's own defaults, whatever they are.
    engine = SceneParams().model_dump()
    assert {k: v for k, v in base.model_dump().items() if k in engine} == {k: engine[k] for k in base.model_dump() if k in engine}
    if not multi_signal_available():
        with pytest.raises(ValueError, match="multi-signal"):
            BenchmarkParams(use_multi_signal=True).to_scene_params()
    with pytest.raises(ValueError):
        BenchmarkParams(start_offset_pct=0.9, end_offset_pct=0.5)


def test_baseline_follows_the_embedders_scene_defaults() -> None:
    from stash_sense.benchmark.runner import engine_baseline
    from stash_sense.faces.catalog import scene_ceilings

    # A face DB's embedder decides the engine's distance ceiling, and the baseline round with it.
    for embedder, ceiling in scene_ceilings().items():
        assert engine_baseline(embedder).max_distance == ceiling == SceneParams().for_embedder(embedder).max_distance
        assert engine_baseline(embedder).changed_from(BenchmarkParams()) == {"max_distance": ceiling}
    assert engine_baseline("dlib-resnet-v1") == BenchmarkParams()


# -- sampling -------------------------------------------------------------------------------------


def test_stratified_sample_spreads_and_redistributes() -> None:
    scenes = ([_scene(str(i), "480p") for i in range(1, 11)] + [_scene(str(i), "720p") for i in range(11, 13)]
              + [_scene(str(i), "1080p", "well-covered") for i in range(13, 23)])
    picked = stratified_sample(scenes, 9, seed=1)
    counts = Counter(s.stratum for s in picked)
    # Three strata: 3 each would be fair, but 720p has only 2, so its third slot goes elsewhere.
    assert counts[("720p", "sparse")] == 2 and sum(counts.values()) == 9
    assert sorted(counts[k] for k in (("480p", "sparse"), ("1080p", "well-covered"))) == [3, 4]
    assert [s.scene_id for s in picked] == sorted((s.scene_id for s in picked), key=scene_sort_key)
    assert stratified_sample(scenes, 9, seed=1) == picked  # same seed, same scenes
    assert any(stratified_sample(scenes, 9, seed=s) != picked for s in range(2, 6))
    assert len(stratified_sample(scenes, 100, seed=1)) == len(scenes)


def test_rejection_rules() -> None:
    def scene(**kw) -> Scene:
        data = {
            "id": "1", "stash_ids": [{"endpoint": STASHDB, "stash_id": "s"}],
            "performers": [{"id": str(i), "name": f"P{i}", "stash_ids": [{"endpoint": STASHDB, "stash_id": f"p{i}"}]} for i in (1, 2)],
            "files": [{"id": "f", "width": 1280, "height": 720, "duration": 60.0}], "paths": {"stream": "http://s/scene/1/stream"},
        }
        data.update(kw)
        return Scene.model_validate(data)

    c = SelectionCriteria()
    assert _rejection(scene(), c) is None
    assert _rejection(scene(stash_ids=[]), c) == "no stash-box id"
    assert _rejection(scene(performers=[{"id": "1", "name": "P1", "stash_ids": [{"endpoint": STASHDB, "stash_id": "p"}]}]), c)
    unlinked = [{"id": "1", "name": "P1", "stash_ids": [{"endpoint": STASHDB, "stash_id": "p"}]}, {"id": "2", "name": "P2"}]
    assert _rejection(scene(performers=unlinked), c) == "a performer without a stash-box link"
    # Tiers by the shorter side: a 720x1280 portrait video is 720p, 1280x460 is below 480p.
    assert _rejection(scene(files=[{"id": "f", "width": 720, "height": 1280, "duration": 9.0}]), c) is None
    assert _rejection(scene(files=[{"id": "f", "width": 1280, "height": 460, "duration": 9.0}]), c) == "below 480p"
    with pytest.raises(ValueError):
        SelectionCriteria(num_scenes=0)


# -- metrics --------------------------------------------------------------------------------------


def test_aggregate_matches_precision_recall_and_breaks_down() -> None:
    results = [
        _result("1", "480p", [_performer("1", "A", 1, True), _performer("1", "B", 2, False, 2, "similar_performer_won")],
                [MatchSummary(performer_id=f"{STASHDB}#X", name="X", faces_in_db=1)]),
        _result("2", "720p", [_performer("2", "C", 8, True), _performer("2", "D", 4, True, 3)]),
        _result("3", "720p", [_performer("3", "E", 0, False, None, "insufficient_db_coverage")]),
        _result("4", "720p", [], error="video unreadable"),
    ]
    m = aggregate(results)
    # Same figures as the scorer eval scenes uses, on equivalent scores.
    scores = [score_scene([("A", {"a"}), ("B", {"b"})], [("A", {"a"}), ("X", {"x"})]),
              score_scene([("C", {"c"}), ("D", {"d"})], [("C", {"c"}), ("D", {"d"})]), score_scene([("E", {"e"})], [])]
    pr = precision_recall(scores)
    assert (m.precision, m.accuracy) == (pytest.approx(pr["precision"]), pytest.approx(pr["recall"]))
    assert (m.scenes, m.errors, m.true_positives, m.false_positives, m.false_negatives) == (3, 1, 3, 1, 2)
    assert m.by_resolution["480p"].accuracy == 0.5 and m.by_resolution["720p"].accuracy == pytest.approx(2 / 3)
    assert list(m.by_resolution) == ["480p", "720p"]
    fc = m.by_face_count
    assert (fc["0"].performers, fc["0"].accuracy) == (1, 0.0)
    assert (fc["1-2"].performers, fc["1-2"].true_positives, fc["1-2"].false_positives) == (2, 1, 1)
    assert (fc["3-5"].accuracy, fc["6+"].accuracy) == (1.0, 1.0)
    assert m.failures["similar_performer_won"] == 1 and m.failures["insufficient_db_coverage"] == 1
    assert m.top1_rate == pytest.approx(2 / 5) and m.top3_rate == pytest.approx(4 / 5)
    assert m.f1 == pytest.approx(2 * 0.75 * 0.6 / 1.35)


def test_optimize_effect_from_per_performer_results() -> None:
    results = [
        _result("1", "480p", [_performer("1", "A", 1, True), _performer("1", "B", 5, True)],
                [MatchSummary(performer_id="x", name="X", faces_in_db=1), MatchSummary(performer_id="y", name="Y", faces_in_db=3)]),
        _result("2", "480p", [_performer("2", "C", 2, False, None, "insufficient_db_coverage"), _performer("2", "D", 9, False)]),
    ]
    two = optimize_effect(results, 2)
    # A (1 face) leaves the DB: its hit becomes a miss; X's wrong report (1 face) disappears.
    assert (two.true_positives, two.false_positives, two.false_negatives, two.performers_removed) == (1, 1, 3, 1)
    three = optimize_effect(results, 3)
    assert (three.true_positives, three.false_positives, three.false_negatives, three.performers_removed) == (1, 1, 3, 2)
    # A performer with no face is not in the DB already: nothing to remove.
    none = [_result("3", "480p", [_performer("3", "E", 0, False, None, "insufficient_db_coverage")])]
    assert optimize_effect(none, 3).performers_removed == 0
    assert three.precision == 0.5 and three.accuracy == 0.25


# -- rounds ---------------------------------------------------------------------------------------


def test_round_grids() -> None:
    base = BenchmarkParams(max_distance=0.52)
    sweep = plan_for(2).combos(base, [])
    assert sweep[0] == base and sorted(p.max_distance for p in sweep[1:]) == list(DISTANCE_SWEEP)
    fine = plan_for(3).combos(base, [])
    assert [p.max_distance for p in fine] == [0.52, 0.49, 0.5, 0.51, 0.53, 0.54, 0.55]
    assert all(set(p.changed_from(base)) <= {"min_face_size"} for p in plan_for(4).combos(base, []))
    assert (plan_for(7).unavailable() is None) == multi_signal_available()
    with pytest.raises(ValueError):
        plan_for(MAX_ROUNDS + 1)


def _done_round(number: int, reference: BenchmarkParams, scored: list[tuple[BenchmarkParams, float]]) -> RoundState:
    combos = [ComboResult(label=p.label(reference), params=p, metrics=AggregateMetrics(f1=f1, accuracy=f1, precision=f1))
              for p, f1 in scored]
    return RoundState(number=number, name=plan_for(number).name, scene_ids=["1"], reference=reference, combos=combos, status="done")


def test_combinations_cross_the_best_values_of_each_axis() -> None:
    best = BenchmarkParams(max_distance=0.55)
    rounds = [
        _done_round(2, BenchmarkParams(), [(BenchmarkParams(), 0.5), (BenchmarkParams(max_distance=0.55), 0.7),
                                           (BenchmarkParams(max_distance=0.5), 0.65)]),
        _done_round(4, best, [(best, 0.7), (BenchmarkParams(max_distance=0.55, min_face_size=30), 0.69),
                              (BenchmarkParams(max_distance=0.55, min_face_size=80), 0.2)]),
    ]
    combos = _combinations(best, rounds)
    assert combos[0] == best
    assert {(p.max_distance, p.min_face_size) for p in combos} == {(0.55, 40), (0.5, 40), (0.55, 30), (0.5, 30)}


def test_distance_curve_uses_distance_only_variants() -> None:
    ref = BenchmarkParams()
    rnd = _done_round(2, ref, [(ref, 0.5), (BenchmarkParams(max_distance=0.5), 0.6), (BenchmarkParams(max_distance=0.7), 0.4)])
    state = BenchmarkState(config=BenchmarkConfig(stash_url="u", db_dir="d", face_db_version="v"), rounds=[rnd])
    assert [d for d, _, _ in distance_curve(state)] == [0.5, 0.6, 0.7]


# -- charts ---------------------------------------------------------------------------------------


def test_charts_are_valid_svg() -> None:
    for svg in (
        bar_chart("by tier", ["480p", "720p"], [("accuracy", [50.0, 75.5]), ("precision", [100.0, 0.0])], notes=["1", "2"]),
        line_chart("curve", [0.4, 0.5, 0.6], [("p", [90.0, 80.0, 70.0]), ("r", [40.0, 60.0, 75.0])], x_label="d", marker_x=0.5),
        histogram("scores", [("right", [0.1, 0.9, 0.95]), ("wrong", [0.2, 0.3])], marker_x=0.5),
        histogram("empty", [("right", []), ("wrong", [])]),
        bar_chart("none", [], []),
    ):
        root = ET.fromstring(svg)
        assert root.tag.endswith("svg")
    assert bar_chart("t", ["a"], [("s", [42.0])]) == bar_chart("t", ["a"], [("s", [42.0])])


# -- outputs of unfinished runs --------------------------------------------------------------------


def _state_with(rounds: list[RoundState]) -> BenchmarkState:
    return BenchmarkState(
        config=BenchmarkConfig(stash_url="http://stash:9999", db_dir="/db", face_db_version="v1"),
        scenes=[_scene("1"), _scene("2", "480p")], sample=["1", "2"], rounds=rounds,
    )


DB_STATS = {"performers": 4, "faces": 9, "one_face": 1, "one_face_share": 0.25, "under_three": 2, "body": 0, "tattoo": 0,
            "default_min_confidence": 0.47}


def test_outputs_of_an_interrupted_run(tmp_path) -> None:
    from html.parser import HTMLParser

    from stash_sense.benchmark.outputs import OUTPUT_NAMES, write_outputs

    # Interrupted before any scene finished.
    (tmp_path / "empty").mkdir()
    paths = write_outputs(_state_with([]), tmp_path / "empty", DB_STATS, interrupted=True)
    assert set(paths) == set(OUTPUT_NAMES) and all(p.is_file() for p in paths.values())
    assert "INTERRUPTED" in paths["summary.txt"].read_text()
    # Interrupted mid-round 1: the baseline so far comes from the finished scenes.
    params = BenchmarkParams()
    partial = RoundState(number=1, name="baseline", scene_ids=["1", "2"], reference=params, status="running", combos=[
        ComboResult(label="reference", params=params, scene_results={"1": _result("1", "720p", [_performer("1", "A", 4, True)])}),
    ])
    (tmp_path / "partial").mkdir()
    paths = write_outputs(_state_with([partial]), tmp_path / "partial", DB_STATS, interrupted=True)
    summary = paths["summary.txt"].read_text()
    assert "round 1 baseline: 1/2 scenes done" in summary and "accuracy (recall) 100.0%" in summary
    html = paths["report.html"].read_text()
    HTMLParser().feed(html)
    assert html.count("<svg") == 5 and "Interrupted" in html
    config = json.loads(paths["recommended_config.json"].read_text())
    assert config["finished"] is False and config["baseline"]["scenes"] == 1
