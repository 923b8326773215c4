"""The rounds of a benchmark and the parameter grid each one tries.

Round 1 measures the baseline on every selected scene. Later rounds try a grid around the
best parameters so far on the stratified sample; every grid contains those best parameters
themselves (the round's *reference*), so a round's gain is measured on the same scenes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..scenes.params import SceneParams
from .models import AggregateMetrics, BenchmarkParams, RoundState

DISTANCE_SWEEP = (0.40, 0.45, 0.50, 0.55, 0.60, 0.65, 0.70)
DISTANCE_FINE_STEPS = (-0.03, -0.02, -0.01, 0.01, 0.02, 0.03)
FACE_SIZES = (20, 30, 40, 60, 80)
FRAME_COUNTS = (20, 40, 60)
MATCHING_MODES = ("frequency", "cluster", "hybrid")
# Parameters the combination round crosses, with the round that explored each.
COMBINED_AXES = ("max_distance", "min_face_size", "num_frames", "matching_mode", "use_multi_signal")
COMBINATION_TOP = 2
COMBINATION_CAP = 32
# A round that gains less than this (F1, in points) ends the tuning.
MIN_GAIN_POINTS = 1.0


def multi_signal_available() -> bool:
    return "use_multi_signal" in SceneParams.model_fields


def objective(m: AggregateMetrics | None) -> tuple[float, float, float]:
    """What "better" means: F1 (precision and recall together; recall alone rewards reporting
    everyone), then recall, then precision."""
    if m is None:
        return (-1.0, -1.0, -1.0)
    return (m.f1, m.accuracy, m.precision)


def _with(base: BenchmarkParams, **changes: object) -> BenchmarkParams:
    return BenchmarkParams.model_validate({**base.model_dump(), **changes})


def _unique(reference: BenchmarkParams, variants: Sequence[BenchmarkParams]) -> list[BenchmarkParams]:
    """The reference first, then each distinct variant once."""
    out = [reference]
    for v in variants:
        if all(v != o for o in out):
            out.append(v)
    return out


def _distance(best: BenchmarkParams, _: Sequence[RoundState]) -> list[BenchmarkParams]:
    return _unique(best, [_with(best, max_distance=d) for d in DISTANCE_SWEEP])


def _distance_fine(best: BenchmarkParams, _: Sequence[RoundState]) -> list[BenchmarkParams]:
    values = [round(best.max_distance + s, 3) for s in DISTANCE_FINE_STEPS]
    return _unique(best, [_with(best, max_distance=d) for d in values if 0.0 < d <= 2.0])


def _face_size(best: BenchmarkParams, _: Sequence[RoundState]) -> list[BenchmarkParams]:
    return _unique(best, [_with(best, min_face_size=s) for s in FACE_SIZES])


def _frames(best: BenchmarkParams, _: Sequence[RoundState]) -> list[BenchmarkParams]:
    return _unique(best, [_with(best, num_frames=n) for n in FRAME_COUNTS])


def _modes(best: BenchmarkParams, _: Sequence[RoundState]) -> list[BenchmarkParams]:
    return _unique(best, [_with(best, matching_mode=m) for m in MATCHING_MODES])


def _multi_signal(best: BenchmarkParams, _: Sequence[RoundState]) -> list[BenchmarkParams]:
    return _unique(best, [_with(best, use_multi_signal=v) for v in (False, True)])


def _combinations(best: BenchmarkParams, rounds: Sequence[RoundState]) -> list[BenchmarkParams]:
    """Cross the best few values of every axis explored by the earlier rounds."""
    ranked: dict[str, list[object]] = {}
    for axis in COMBINED_AXES:
        scored: list[tuple[tuple[float, float, float], int, object]] = []
        for rnd in rounds:
            if rnd.number == 1 or rnd.status != "done":
                continue
            for i, combo in enumerate(rnd.combos):
                changed = combo.params.changed_from(rnd.reference)
                if set(changed) == {axis}:
                    scored.append((objective(combo.metrics), -i, changed[axis]))
        values: list[object] = [getattr(best, axis)]
        for _, _, value in sorted(scored, key=lambda t: (t[0], t[1]), reverse=True):
            if value not in values:
                values.append(value)
        ranked[axis] = values[:COMBINATION_TOP]
    axes = [a for a in COMBINED_AXES if len(ranked[a]) > 1]
    variants = [
        _with(best, **dict(zip(axes, values))) for values in itertools.product(*(ranked[a] for a in axes))
    ]
    return _unique(best, variants)[:COMBINATION_CAP]


@dataclass(frozen=True)
class RoundPlan:
    number: int
    name: str
    description: str
    on_sample: bool
    combos: Callable[[BenchmarkParams, Sequence[RoundState]], list[BenchmarkParams]]
    unavailable: Callable[[], str | None] = lambda: None


PLAN: tuple[RoundPlan, ...] = (
    RoundPlan(1, "baseline", "the starting parameters on every selected scene", False, lambda best, _: [best]),
    RoundPlan(2, "distance", f"max_distance sweep {DISTANCE_SWEEP[0]}-{DISTANCE_SWEEP[-1]}", True, _distance),
    RoundPlan(3, "distance-fine", "max_distance in steps of 0.01 around the best", True, _distance_fine),
    RoundPlan(4, "face-size", f"min_face_size in {FACE_SIZES}", True, _face_size),
    RoundPlan(5, "frames", f"num_frames in {FRAME_COUNTS}", True, _frames),
    RoundPlan(6, "matching-mode", f"matching_mode in {MATCHING_MODES}", True, _modes),
    RoundPlan(
        7, "multi-signal", "body/tattoo signals on and off", True, _multi_signal,
        lambda: None if multi_signal_available() else "this engine has no multi-signal matching",
    ),
    RoundPlan(8, "combinations", f"the best {COMBINATION_TOP} values of each axis crossed", True, _combinations),
)
MAX_ROUNDS = len(PLAN)


def plan_for(number: int) -> RoundPlan:
    if not 1 <= number <= MAX_ROUNDS:
        raise ValueError(f"round must be between 1 and {MAX_ROUNDS}, got {number}")
    return PLAN[number - 1]
