"""The benchmark's data model: what is tested, with which parameters, and what came out.

Everything here is a pydantic model so that :class:`BenchmarkState` (the checkpoint) survives
a JSON round-trip exactly: a resumed run continues from the very objects the interrupted run
had. Performer identities are always endpoint-qualified (``<endpoint>#<stash_id>``): a bare
stash-box UUID means nothing without the stash-box it came from.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..scenes.params import MatchingMode, SceneParams

STATE_VERSION = 1

FailureClass = Literal["not_detected", "insufficient_db_coverage", "similar_performer_won", "low_confidence"]
FAILURE_CLASSES: tuple[str, ...] = ("not_detected", "insufficient_db_coverage", "similar_performer_won", "low_confidence")
CoverageTier = Literal["well-covered", "sparse"]
COVERAGE_TIERS: tuple[str, ...] = ("well-covered", "sparse")
# Per-performer face-count buckets of the accuracy breakdown ("0": not in the face DB at all).
FACE_BUCKETS: tuple[str, ...] = ("0", "1-2", "3-5", "6+")
# A scene is "well-covered" when every performer has at least this many faces in the DB.
WELL_COVERED_FACES = 5
# Below this many reference faces a miss is blamed on the DB (``insufficient_db_coverage``).
MIN_FACES_FOR_COVERAGE = 3


def face_bucket(faces_in_db: int) -> str:
    if faces_in_db <= 0:
        return "0"
    if faces_in_db <= 2:
        return "1-2"
    if faces_in_db <= 5:
        return "3-5"
    return "6+"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- what is tested ------------------------------------------------------------------------------


class ExpectedPerformer(_Model):
    """A performer tagged on a test scene, with what the face DB knows about them."""

    performer_id: str = Field(description="Endpoint-qualified identity '<endpoint>#<stash_id>' (the first stash-box link).")
    stash_performer_id: str = Field(description="The performer's id in Stash.")
    name: str
    identities: list[str] = Field(default_factory=list, description="Every endpoint-qualified identity of the performer.")
    db_performer_id: int | None = Field(None, description="The performer's row in the face DB; None when absent.")
    faces_in_db: int = 0
    has_body_data: bool = False
    has_tattoo_data: bool = False

    @property
    def face_bucket(self) -> str:
        return face_bucket(self.faces_in_db)


class TestScene(_Model):
    """A Stash scene whose performers are known, as the benchmark runs it."""

    __test__ = False  # not a pytest test class despite the name

    scene_id: str = Field(description="The scene's id in Stash.")
    stash_id: str | None = Field(None, description="Endpoint-qualified stash-box identity of the scene.")
    title: str = ""
    resolution: str = Field(description="Tier by the frame's shorter side: 480p/720p/1080p/4k.")
    width: int
    height: int
    duration_sec: float
    expected_performers: list[ExpectedPerformer]
    db_coverage_tier: CoverageTier

    @property
    def stratum(self) -> tuple[str, str]:
        return (self.resolution, self.db_coverage_tier)


# The engine's own defaults: the baseline round starts from what the sidecar runs (hybrid,
# 60 frames, no hybrid boost), so a recommendation is always measured against it and never
# steers a user towards a configuration the engine's own measurements rejected.
_ENGINE = SceneParams()


class BenchmarkParams(_Model):
    """Engine parameters one benchmark combination runs with (defaults: the engine's).

    The frame-sampling and face-filter fields decide the expensive analysis of a scene; the
    others only its decision stage, which the executor re-runs on cached faces.
    """

    matching_mode: MatchingMode = _ENGINE.matching_mode
    max_distance: float = Field(_ENGINE.max_distance, gt=0.0, le=2.0)
    min_face_size: int = Field(_ENGINE.min_face_size, ge=8, le=4096)
    use_multi_signal: bool = False
    num_frames: int = Field(_ENGINE.num_frames, ge=1, le=600)
    start_offset_pct: float = Field(_ENGINE.start_offset_pct, ge=0.0, lt=1.0)
    end_offset_pct: float = Field(_ENGINE.end_offset_pct, gt=0.0, le=1.0)
    min_face_confidence: float = Field(_ENGINE.min_face_confidence, ge=0.0, le=1.0)
    min_face_quality: float = Field(_ENGINE.min_face_quality, ge=0.0, le=1.0)
    top_k: int = Field(_ENGINE.top_k, ge=1, le=50)
    cluster_threshold: float = Field(_ENGINE.cluster_threshold, gt=0.0, le=2.0)
    min_appearances: int = Field(_ENGINE.min_appearances, ge=1)
    min_unique_frames: int = Field(_ENGINE.min_unique_frames, ge=1)
    min_confidence: float | None = Field(_ENGINE.min_confidence, ge=0.0, le=1.0)
    hybrid_boost: float = Field(_ENGINE.hybrid_boost, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _offsets(self) -> BenchmarkParams:
        if self.start_offset_pct >= self.end_offset_pct:
            raise ValueError("start_offset_pct must be below end_offset_pct")
        return self

    def analysis_key(self) -> tuple[int, float, float, float]:
        """The fields that change which faces a scene yields, apart from the size/quality
        filters (applied to cached faces, see the executor)."""
        return (self.num_frames, self.start_offset_pct, self.end_offset_pct, self.min_face_confidence)

    def to_scene_params(self) -> SceneParams:
        if self.use_multi_signal and "use_multi_signal" not in SceneParams.model_fields:
            raise ValueError("use_multi_signal: this engine has no multi-signal matching")
        data = self.model_dump(exclude={"use_multi_signal"})
        if "use_multi_signal" in SceneParams.model_fields:
            data["use_multi_signal"] = self.use_multi_signal
        # Benchmarks never show thumbnails, and the tags already on a scene are the answer key:
        # boosting them would score the ground truth against itself.
        return SceneParams(**data, thumbnails=False, tagged_performers=[], tagged_boost=0.0)

    def changed_from(self, other: BenchmarkParams) -> dict[str, object]:
        mine, theirs = self.model_dump(), other.model_dump()
        return {k: v for k, v in mine.items() if theirs[k] != v}

    def label(self, reference: BenchmarkParams) -> str:
        changed = self.changed_from(reference)
        return ", ".join(f"{k}={v}" for k, v in changed.items()) or "reference"


# -- what came out -------------------------------------------------------------------------------


class MatchSummary(_Model):
    """A performer the engine reported or considered, as the results show it."""

    performer_id: str
    name: str
    distance: float | None = None
    score: float | None = None
    faces_in_db: int | None = None


class PerformerResult(_Model):
    """One expected performer in one scene under one combination."""

    scene_id: str
    performer_id: str
    name: str
    faces_in_db: int
    found: bool
    detected: bool = Field(description="Some person in the scene is this performer (by their own reference faces).")
    person: int | None = Field(None, description="The person cluster taken to be this performer.")
    rank: int | None = Field(None, description="1-based rank among that person's candidates; None when not among them.")
    confidence: float | None = None
    distance: float | None = None
    score: float | None = None
    presence_distance: float | None = Field(
        None, description="Median distance of that person's faces to this performer's reference faces."
    )
    beaten_by: list[MatchSummary] = Field(default_factory=list, description="Who ranked above or took their person.")
    best_match: MatchSummary | None = Field(None, description="Who the engine matched instead, when missed.")
    failure: FailureClass | None = None
    failure_detail: str = ""

    @property
    def face_bucket(self) -> str:
        return face_bucket(self.faces_in_db)


class SceneResult(_Model):
    """One scene under one combination, scored like ``eval scenes`` scores it."""

    scene_id: str
    resolution: str
    coverage_tier: str
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    expected: list[str] = Field(default_factory=list, description="Display names of the expected performers.")
    reported: list[str] = Field(default_factory=list)
    false_positive_matches: list[MatchSummary] = Field(default_factory=list)
    missed: list[str] = Field(default_factory=list)
    expected_in_top1: int = 0
    expected_in_top3: int = 0
    correct_scores: list[float] = Field(default_factory=list, description="Scores of reported performers that were right.")
    incorrect_scores: list[float] = Field(default_factory=list, description="Scores of reported performers that were wrong.")
    candidate_correct_scores: list[float] = Field(default_factory=list, description="Every considered candidate that was right.")
    candidate_incorrect_scores: list[float] = Field(default_factory=list)
    score_gap: float | None = Field(None, description="Lowest right score minus highest wrong score among the reported.")
    faces_detected: int = 0
    faces_after_filter: int = 0
    persons_clustered: int = 0
    frames_analysed: int = 0
    source_kind: str = ""
    elapsed_s: float = 0.0
    error: str | None = None
    performers: list[PerformerResult] = Field(default_factory=list)


class Breakdown(_Model):
    scenes: int = 0
    performers: int = 0
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    accuracy: float = 0.0
    precision: float = 0.0


class AggregateMetrics(_Model):
    """Totals over a set of scene results. accuracy = recall = TP/(TP+FN); precision = TP/(TP+FP)."""

    scenes: int = 0
    errors: int = 0
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    accuracy: float = 0.0
    precision: float = 0.0
    f1: float = 0.0
    false_positives_per_scene: float = 0.0
    top1_rate: float = Field(0.0, description="Share of expected performers ranked first for their person.")
    top3_rate: float = 0.0
    by_resolution: dict[str, Breakdown] = Field(default_factory=dict)
    by_coverage: dict[str, Breakdown] = Field(default_factory=dict)
    by_face_count: dict[str, Breakdown] = Field(default_factory=dict)
    failures: dict[str, int] = Field(default_factory=dict)
    seconds_per_scene: float = 0.0


# -- the run -------------------------------------------------------------------------------------


class ComboResult(_Model):
    """One parameter combination of a round and its per-scene results."""

    label: str
    params: BenchmarkParams
    changed: dict[str, object] = Field(default_factory=dict)
    scene_results: dict[str, SceneResult] = Field(default_factory=dict)
    metrics: AggregateMetrics | None = None


RoundStatus = Literal["pending", "running", "done", "skipped"]


class RoundState(_Model):
    number: int
    name: str
    description: str = ""
    scene_ids: list[str] = Field(default_factory=list)
    reference: BenchmarkParams
    combos: list[ComboResult] = Field(default_factory=list)
    status: RoundStatus = "pending"
    note: str = ""
    best_label: str | None = None
    gain_points: float | None = Field(None, description="Best combination's objective minus the reference's, in points.")
    adopted: BenchmarkParams | None = Field(None, description="The best parameters once this round was done.")

    def combo(self, label: str) -> ComboResult:
        for c in self.combos:
            if c.label == label:
                return c
        raise KeyError(f"round {self.number} has no combination {label!r}")

    def finished_scenes(self) -> set[str]:
        """Scenes for which every combination has a result (the checkpoint unit)."""
        if not self.combos:
            return set()
        done = set(self.combos[0].scene_results)
        for c in self.combos[1:]:
            done &= set(c.scene_results)
        return done


class BenchmarkConfig(_Model):
    """What a run was started with; ``--resume`` refuses a checkpoint made with other inputs."""

    stash_url: str
    db_dir: str
    face_db_version: str
    seed: int = 0
    num_scenes: int = 100
    sample_size: int = 30
    max_rounds: int = 5
    start_round: int = 1
    min_performers: int = 2
    min_short_side: int = 480
    scene_ids: list[str] | None = None
    sidecar_url: str | None = None
    baseline: BenchmarkParams = Field(default_factory=BenchmarkParams)
    objective: Literal["f1"] = "f1"


class SelectionReport(_Model):
    scanned: int = 0
    eligible: int = 0
    selected: int = 0
    rejected: dict[str, int] = Field(default_factory=dict)
    strata: dict[str, int] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)


class BenchmarkState(_Model):
    """The whole run, saved as ``checkpoint.json`` after every scene."""

    version: int = STATE_VERSION
    config: BenchmarkConfig
    scenes: list[TestScene] = Field(default_factory=list)
    sample: list[str] = Field(default_factory=list, description="Scene ids of the stratified sample used by rounds 2+.")
    selection: SelectionReport = Field(default_factory=SelectionReport)
    rounds: list[RoundState] = Field(default_factory=list)
    best_params: BenchmarkParams = Field(default_factory=BenchmarkParams)
    finished: bool = False
    stopped_because: str = ""

    def scene(self, scene_id: str) -> TestScene:
        for s in self.scenes:
            if s.scene_id == scene_id:
                return s
        raise KeyError(f"scene {scene_id} is not part of this benchmark")

    def round(self, number: int) -> RoundState | None:
        return next((r for r in self.rounds if r.number == number), None)

    # JSON round-trip ------------------------------------------------------------------------

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=1, sort_keys=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> BenchmarkState:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("a benchmark checkpoint must be a JSON object")
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"checkpoint version {data.get('version')!r} is not {STATE_VERSION}; start a new run")
        return cls.model_validate(data)

    def save(self, path: Path) -> None:
        """Write atomically: a kill mid-write leaves the previous checkpoint intact."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(self.to_json())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> BenchmarkState:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))
