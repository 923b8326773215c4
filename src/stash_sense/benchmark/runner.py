"""Running a benchmark: select scenes, run the rounds, checkpoint, report.

The state is saved to ``checkpoint.json`` after every scene, so a run killed at any point
loses at most the scene in progress; ``resume=True`` picks the run up where the checkpoint
left it (mid-round included), skipping every finished scene, with the best parameters so far
restored. Ctrl-C saves, writes the reports from what is done and returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .analyzer import aggregate, round_results
from .coverage import FaceDBCoverage
from .errors import BenchmarkError
from .executor import Executor, InProcessExecutor, SidecarExecutor
from .grids import MAX_ROUNDS, MIN_GAIN_POINTS, objective, plan_for
from .models import AggregateMetrics, BenchmarkConfig, BenchmarkParams, BenchmarkState, ComboResult, RoundState
from .outputs import CHECKPOINT, write_outputs
from .progress import ProgressView
from .selector import SelectionCriteria, scenes_by_id, select_scenes, stratified_sample
from .stashio import StashBridge

DEFAULT_SCENES = 100
DEFAULT_SAMPLE = 30
QUICK_SCENES = 20
QUICK_ROUNDS = 2
QUICK_SAMPLE = 10


@dataclass
class BenchmarkOptions:
    """What to run. ``None`` means "not given": the default for a new run, the checkpoint's
    value for a resumed one (a given value that contradicts the checkpoint is an error)."""

    seed: int | None = None
    num_scenes: int | None = None
    max_rounds: int | None = None
    sample_size: int | None = None
    quick: bool = False
    scene_ids: list[str] | None = None
    start_round: int | None = None
    resume: bool = False
    force: bool = False
    min_performers: int | None = None
    min_short_side: int | None = None
    params: BenchmarkParams | None = None
    sidecar_url: str | None = None
    sidecar_api_key: str | None = None
    progress: bool = True

    def resolved(self) -> dict[str, object]:
        """The selection/tuning settings this run asks for explicitly (``--quick`` included)."""
        out: dict[str, object] = {}
        if self.quick:
            out.update(num_scenes=QUICK_SCENES, max_rounds=QUICK_ROUNDS, sample_size=QUICK_SAMPLE)
        for name in ("seed", "num_scenes", "max_rounds", "sample_size", "scene_ids", "min_performers", "min_short_side",
                     "sidecar_url"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.params is not None:
            out["baseline"] = self.params
        return out


@dataclass
class BenchmarkOutcome:
    state: BenchmarkState
    summary: str
    outputs: dict[str, Path]
    interrupted: bool
    baseline: AggregateMetrics | None
    best: AggregateMetrics | None
    best_params: BenchmarkParams
    rounds_run: list[int] = field(default_factory=list)


def run_benchmark(
    stash_url: str,
    db_dir: Path | str,
    output_dir: Path | str,
    *,
    api_key: str | None = None,
    options: BenchmarkOptions | None = None,
) -> BenchmarkOutcome:
    """Run (or resume) a benchmark against the Stash at ``stash_url`` with the face DB in
    ``db_dir``, writing every output into ``output_dir``."""
    from ..facedb import FaceDB
    from ..recognition import Recognizer
    from ..scenes.engine import SceneEngine

    options = options or BenchmarkOptions()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = output_dir / CHECKPOINT
    db_dir = Path(db_dir)
    if options.sidecar_url:
        db = FaceDB.open(db_dir)
        recognizer = None
    else:
        recognizer = Recognizer.open(db_dir)
        db = recognizer.db
    coverage = FaceDBCoverage(db)
    db_stats = coverage.stats()
    if recognizer is not None:
        db_stats["default_min_confidence"] = recognizer.calibration.default_min_confidence

    interrupted = False
    with StashBridge(stash_url, api_key) as bridge:
        state: BenchmarkState | None = None
        if options.resume:
            state = _resumed_state(checkpoint, options, bridge, db.version)
        elif checkpoint.exists() and not options.force:
            raise BenchmarkError(
                f"{checkpoint} exists: continue that run with --resume, or start over with --force "
                "(or pick another --output-dir)"
            )
        sidecar_url = state.config.sidecar_url if state is not None else options.sidecar_url
        executor: Executor
        if sidecar_url:
            sidecar = SidecarExecutor(sidecar_url, coverage, api_key=options.sidecar_api_key)
            try:
                sidecar.check(db.version)
            except BaseException:
                sidecar.close()
                raise
            executor = sidecar
        else:
            executor = InProcessExecutor(SceneEngine(recognizer), bridge, coverage)  # type: ignore[arg-type]
        if state is None:
            try:
                state = _new_state(options, bridge, coverage, db_dir, db.version, db.manifest.embedding.model)
            except BaseException:
                executor.close()
                raise
            state.save(checkpoint)
        view = ProgressView(enabled=options.progress)
        try:
            _run_rounds(state, executor, checkpoint, view)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            view.close()
            executor.close()
            state.save(checkpoint)
    outputs = write_outputs(state, output_dir, db_stats, interrupted=interrupted)
    from .report import build_report_data, summary_text

    data = build_report_data(state, db_stats, interrupted)
    return BenchmarkOutcome(
        state=state,
        summary=summary_text(data),
        outputs=outputs,
        interrupted=interrupted,
        baseline=data.baseline.metrics if data.baseline else None,
        best=data.best.metrics if data.best else None,
        best_params=state.best_params,
        rounds_run=[r.number for r in state.rounds if r.status == "done"],
    )


# -- state -----------------------------------------------------------------------------------------


def _check_rounds(start_round: int, max_rounds: int) -> None:
    if not 1 <= max_rounds <= MAX_ROUNDS:
        raise BenchmarkError(f"--max-rounds must be between 1 and {MAX_ROUNDS} (got {max_rounds})")
    if not 1 <= start_round <= max_rounds:
        raise BenchmarkError(f"--start-round must be between 1 and --max-rounds ({max_rounds}), got {start_round}")


def engine_baseline(embedder: str) -> BenchmarkParams:
    """The engine's own defaults for a face DB of ``embedder``, including the scene distance
    ceiling fitted for that embedder (the sidecar applies the same)."""
    from ..scenes.params import SceneParams

    return BenchmarkParams(max_distance=SceneParams().for_embedder(embedder).max_distance)


def _new_state(
    options: BenchmarkOptions, bridge: StashBridge, coverage: FaceDBCoverage, db_dir: Path, version: str, embedder: str
) -> BenchmarkState:
    given = options.resolved()
    max_rounds = int(given.get("max_rounds", MAX_ROUNDS))  # type: ignore[arg-type]
    start_round = options.start_round or 1
    _check_rounds(start_round, max_rounds)
    config = BenchmarkConfig(
        stash_url=bridge.client.url,
        db_dir=str(db_dir),
        face_db_version=version,
        seed=int(given.get("seed", 0)),  # type: ignore[arg-type]
        num_scenes=int(given.get("num_scenes", DEFAULT_SCENES)),  # type: ignore[arg-type]
        sample_size=int(given.get("sample_size", DEFAULT_SAMPLE)),  # type: ignore[arg-type]
        max_rounds=max_rounds,
        start_round=start_round,
        min_performers=int(given.get("min_performers", 2)),  # type: ignore[arg-type]
        min_short_side=int(given.get("min_short_side", 480)),  # type: ignore[arg-type]
        scene_ids=options.scene_ids,
        sidecar_url=options.sidecar_url,
        baseline=options.params or engine_baseline(embedder),
    )
    if config.sample_size < 1:
        raise BenchmarkError(f"the sample size must be at least 1 (got {config.sample_size})")
    # Fail on parameters the engine cannot take before spending time on selection.
    try:
        config.baseline.to_scene_params()
    except ValueError as exc:
        raise BenchmarkError(f"bad baseline parameters: {exc}") from None
    if options.scene_ids:
        scenes, report = scenes_by_id(bridge, coverage, options.scene_ids)
    else:
        criteria = SelectionCriteria(config.num_scenes, config.min_performers, config.min_short_side)
        scenes, report = select_scenes(bridge, coverage, criteria, config.seed)
    # The sample draws from its own seeded stream so that it does not shift with the selection.
    sample = [s.scene_id for s in stratified_sample(scenes, config.sample_size, config.seed + 1)]
    return BenchmarkState(config=config, scenes=scenes, sample=sample, selection=report, best_params=config.baseline)


def _resumed_state(checkpoint: Path, options: BenchmarkOptions, bridge: StashBridge, version: str) -> BenchmarkState:
    if not checkpoint.is_file():
        raise BenchmarkError(f"nothing to resume: {checkpoint} does not exist")
    try:
        state = BenchmarkState.load(checkpoint)
    except (OSError, ValueError) as exc:
        raise BenchmarkError(f"cannot read {checkpoint}: {exc}") from None
    cfg = state.config
    problems = []
    if cfg.stash_url != bridge.client.url:
        problems.append(f"it was made against Stash {cfg.stash_url}, not {bridge.client.url}")
    if cfg.face_db_version != version:
        problems.append(f"it was made with face DB version {cfg.face_db_version}, the DB is now {version}")
    given = options.resolved()
    for name, value in given.items():
        if name == "max_rounds":
            continue
        if getattr(cfg, name) != value:
            problems.append(f"it was made with {name}={getattr(cfg, name)!r}, this run asks for {value!r}")
    if problems:
        raise BenchmarkError(f"cannot resume {checkpoint}: " + "; ".join(problems) + " (start a new run with --force)")
    if "max_rounds" in given:
        cfg.max_rounds = int(given["max_rounds"])  # type: ignore[arg-type]
    if options.start_round is not None:
        _check_rounds(options.start_round, cfg.max_rounds)
        # Redo from that round on: drop it and later rounds, restore the best parameters as
        # they were before it.
        state.rounds = [r for r in state.rounds if r.number < options.start_round]
        cfg.start_round = options.start_round
        before = [r for r in state.rounds if r.status == "done" and r.adopted is not None]
        state.best_params = before[-1].adopted if before else cfg.baseline  # type: ignore[assignment]
    _check_rounds(cfg.start_round, cfg.max_rounds)
    state.finished = False
    state.stopped_because = ""
    return state


# -- rounds ----------------------------------------------------------------------------------------


def _new_round(state: BenchmarkState, number: int) -> RoundState:
    plan = plan_for(number)
    reason = plan.unavailable()
    best = state.best_params
    scene_ids = list(state.sample) if plan.on_sample else [s.scene_id for s in state.scenes]
    combos = [] if reason else plan.combos(best, state.rounds)
    return RoundState(
        number=number, name=plan.name, description=plan.description, scene_ids=scene_ids, reference=best,
        combos=[ComboResult(label=p.label(best), params=p, changed=p.changed_from(best)) for p in combos],
        status="skipped" if reason else "running", note=reason or "",
    )


def _run_rounds(state: BenchmarkState, executor: Executor, checkpoint: Path, view: ProgressView) -> None:
    cfg = state.config
    if isinstance(executor, InProcessExecutor):
        executor.cacheable = set(state.sample)
    for number in range(cfg.start_round, cfg.max_rounds + 1):
        rnd = state.round(number)
        if rnd is None:
            rnd = _new_round(state, number)
            state.rounds.append(rnd)
            state.rounds.sort(key=lambda r: r.number)
            state.save(checkpoint)
        if rnd.status == "skipped":
            continue
        if rnd.status != "done":
            _run_round(state, rnd, executor, checkpoint, view)
            _finish_round(state, rnd)
            state.save(checkpoint)
        if rnd.number > 1 and (rnd.gain_points or 0.0) < MIN_GAIN_POINTS:
            state.stopped_because = (
                f"round {rnd.number} ({rnd.name}) gained {rnd.gain_points or 0.0:.2f} F1 points, "
                f"less than {MIN_GAIN_POINTS:g}"
            )
            break
    else:
        state.stopped_because = (
            f"reached --max-rounds {cfg.max_rounds}" if cfg.max_rounds < MAX_ROUNDS else "all rounds done"
        )
    state.finished = True
    state.save(checkpoint)


def _run_round(state: BenchmarkState, rnd: RoundState, executor: Executor, checkpoint: Path, view: ProgressView) -> None:
    finished = rnd.finished_scenes()
    view.start_round(rnd, done=len(finished))
    reference = rnd.combos[0]
    for scene_id in rnd.scene_ids:
        if scene_id in finished:
            continue
        missing = [c for c in rnd.combos if scene_id not in c.scene_results]
        results = executor.run_scene(state.scene(scene_id), [c.params for c in missing])
        for combo, result in zip(missing, results, strict=True):
            combo.scene_results[scene_id] = result
        state.save(checkpoint)
        view.advance(aggregate(round_results(rnd, reference)))


def _finish_round(state: BenchmarkState, rnd: RoundState) -> None:
    for combo in rnd.combos:
        combo.metrics = aggregate(round_results(rnd, combo))
    # The reference is first: among equal scores the earliest (least change) wins.
    best_index = max(range(len(rnd.combos)), key=lambda i: (objective(rnd.combos[i].metrics), -i))
    best = rnd.combos[best_index]
    gain = 100 * (objective(best.metrics)[0] - objective(rnd.combos[0].metrics)[0])
    rnd.best_label = best.label
    rnd.gain_points = round(gain, 4)
    if rnd.number > 1 and gain >= MIN_GAIN_POINTS:
        state.best_params = best.params
    rnd.adopted = state.best_params
    rnd.status = "done"
