"""Choosing test scenes from Stash: scenes whose performers are known and can be scored.

A scene qualifies when it is linked to a stash-box (its tags are then likely right), has at
least ``min_performers`` performers, every performer is linked to a stash-box too, and its
video's shorter side is at least ``min_short_side`` pixels. The choice among qualifying scenes
is a seeded stratified sample over (resolution tier, face-DB coverage tier), so small tiers are
represented and the same seed always picks the same scenes.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..evaluation.scenes import resolution_tier
from ..stash import Priority, Scene, StashNotFoundError
from ..stash.filters import all_of, has_stash_id, performer_count_at_least
from .coverage import FaceDBCoverage
from .errors import BenchmarkError
from .models import WELL_COVERED_FACES, ExpectedPerformer, SelectionReport, TestScene
from .stashio import StashBridge

# Stop paging once this many times the wanted number of scenes qualify: plenty to stratify,
# and a 100k-scene library is not read end to end for a 20-scene quick run.
ENOUGH_FACTOR = 10


class SelectionError(BenchmarkError):
    """No usable scenes, or a requested scene cannot be benchmarked."""


@dataclass(frozen=True)
class SelectionCriteria:
    num_scenes: int = 100
    min_performers: int = 2
    min_short_side: int = 480

    def __post_init__(self) -> None:
        if self.num_scenes < 1:
            raise SelectionError(f"the number of scenes must be at least 1 (got {self.num_scenes})")
        if self.min_performers < 1:
            raise SelectionError(f"the minimum number of performers must be at least 1 (got {self.min_performers})")
        if self.min_short_side < 1:
            raise SelectionError(f"the minimum short side must be positive (got {self.min_short_side})")


def scene_sort_key(scene_id: str) -> tuple[int, str]:
    """Numeric ids in numeric order (Stash ids are integers), anything else after them."""
    return (int(scene_id), "") if scene_id.isdigit() else (2**63, scene_id)


def to_test_scene(scene: Scene, coverage: FaceDBCoverage, stash_graphql_url: str) -> TestScene:
    """The benchmark's view of a Stash scene, with face-DB coverage per performer."""
    expected = []
    for ref in scene.performers:
        identities = [f"{sid.endpoint}#{sid.stash_id}" for sid in ref.stash_ids]
        # An unlinked performer (only with explicit --scenes) is known by its Stash id, still
        # endpoint-qualified: this Stash's GraphQL URL.
        primary = identities[0] if identities else f"{stash_graphql_url}#{ref.id}"
        record = coverage.find(ref)
        expected.append(
            ExpectedPerformer(
                performer_id=primary,
                stash_performer_id=ref.id,
                name=ref.name,
                identities=identities,
                db_performer_id=record.id if record else None,
                faces_in_db=record.face_count if record else 0,
                has_body_data=bool(record and record.has_body),
                has_tattoo_data=bool(record and record.has_tattoo),
            )
        )
    file = scene.primary_file
    width, height = (file.width, file.height) if file else (0, 0)
    well = bool(expected) and all(p.faces_in_db >= WELL_COVERED_FACES for p in expected)
    return TestScene(
        scene_id=scene.id,
        stash_id=f"{scene.stash_ids[0].endpoint}#{scene.stash_ids[0].stash_id}" if scene.stash_ids else None,
        title=scene.title or "",
        resolution=resolution_tier(width, height),
        width=width,
        height=height,
        duration_sec=float(scene.duration),
        expected_performers=expected,
        db_coverage_tier="well-covered" if well else "sparse",
    )


def _rejection(scene: Scene, criteria: SelectionCriteria) -> str | None:
    """Why a scene cannot be used, or None."""
    if not scene.stash_ids:
        return "no stash-box id"
    if len(scene.performers) < criteria.min_performers:
        return f"fewer than {criteria.min_performers} performers"
    if any(not p.stash_ids for p in scene.performers):
        return "a performer without a stash-box link"
    file = scene.primary_file
    if file is None:
        return "no video file"
    if file.short_side < criteria.min_short_side:
        return f"below {criteria.min_short_side}p"
    if file.duration <= 0:
        return "unknown duration"
    if not scene.paths.stream:
        return "no stream URL"
    return None


def select_scenes(
    bridge: StashBridge, coverage: FaceDBCoverage, criteria: SelectionCriteria, seed: int
) -> tuple[list[TestScene], SelectionReport]:
    """Page through Stash's qualifying scenes and draw a stratified sample of them."""
    scene_filter = all_of(has_stash_id(), performer_count_at_least(criteria.min_performers))
    enough = criteria.num_scenes * ENOUGH_FACTOR
    report = SelectionReport()
    rejected: Counter[str] = Counter()

    async def scan(client) -> list[Scene]:
        found: list[Scene] = []
        async for scene in client.find_scenes(scene_filter, per_page=100, priority=Priority.LOW):
            report.scanned += 1
            reason = _rejection(scene, criteria)
            if reason:
                rejected[reason] += 1
                continue
            found.append(scene)
            if len(found) >= enough:
                report.notes.append(f"stopped paging after {len(found)} qualifying scenes (enough to sample from)")
                break
        return found

    eligible = bridge.call(scan)
    for scene in eligible:
        bridge.remember(scene)
    candidates = [to_test_scene(s, coverage, bridge.client.graphql_url) for s in eligible]
    report.eligible = len(candidates)
    report.rejected = dict(sorted(rejected.items()))
    if not candidates:
        if not report.scanned:
            raise SelectionError(
                f"no scene in Stash at {bridge.client.url} has a stash-box id and at least {criteria.min_performers} "
                "performers (see --min-performers)"
            )
        why = ", ".join(f"{n} {r}" for r, n in report.rejected.items())
        raise SelectionError(
            f"no scene in Stash at {bridge.client.url} qualifies (stash-box id, >= {criteria.min_performers} "
            f"performers all linked, >= {criteria.min_short_side}p): of {report.scanned} scanned, {why}"
        )
    chosen = stratified_sample(candidates, criteria.num_scenes, seed)
    report.selected = len(chosen)
    report.strata = _strata_counts(chosen)
    if len(chosen) < criteria.num_scenes:
        report.notes.append(f"only {len(chosen)} qualifying scenes, fewer than the {criteria.num_scenes} asked for")
    return chosen, report


def scenes_by_id(bridge: StashBridge, coverage: FaceDBCoverage, scene_ids: Sequence[str]) -> tuple[list[TestScene], SelectionReport]:
    """Exactly the scenes asked for (``--scenes``), in that order; the qualifying rules are not
    applied, but each scene must exist, have performers and a video."""
    report = SelectionReport()
    chosen: list[TestScene] = []
    problems: list[str] = []
    for sid in scene_ids:
        try:
            scene = bridge.scene(sid)
        except StashNotFoundError:
            problems.append(f"scene {sid} does not exist")
            continue
        report.scanned += 1
        if not scene.performers:
            problems.append(f"scene {sid} has no performers to look for")
        elif scene.primary_file is None or not scene.paths.stream:
            problems.append(f"scene {sid} has no video file")
        else:
            chosen.append(to_test_scene(scene, coverage, bridge.client.graphql_url))
    if problems:
        raise SelectionError("cannot benchmark the scenes asked for: " + "; ".join(problems))
    report.eligible = report.selected = len(chosen)
    report.strata = _strata_counts(chosen)
    report.notes.append(f"scenes given explicitly: {', '.join(scene_ids)}")
    return chosen, report


def stratified_sample(scenes: Iterable[TestScene], n: int, seed: int) -> list[TestScene]:
    """``n`` scenes spread evenly over the (resolution, coverage) strata.

    Slots are dealt one per stratum in turn (in a seeded order), skipping strata that have run
    out, so a short stratum's quota goes to the others. Within a stratum the scenes are drawn
    in a seeded shuffle. The result is in scene-id order.
    """
    rng = random.Random(seed)
    strata: dict[tuple[str, str], list[TestScene]] = defaultdict(list)
    for scene in sorted(scenes, key=lambda s: scene_sort_key(s.scene_id)):
        strata[scene.stratum].append(scene)
    keys = sorted(strata)
    for key in keys:
        rng.shuffle(strata[key])
    rng.shuffle(keys)
    quota = dict.fromkeys(keys, 0)
    remaining = min(n, sum(len(v) for v in strata.values()))
    while remaining > 0:
        for key in keys:
            if remaining and quota[key] < len(strata[key]):
                quota[key] += 1
                remaining -= 1
    picked = [s for key in keys for s in strata[key][: quota[key]]]
    return sorted(picked, key=lambda s: scene_sort_key(s.scene_id))


def _strata_counts(scenes: Iterable[TestScene]) -> dict[str, int]:
    counts = Counter(f"{s.resolution}/{s.db_coverage_tier}" for s in scenes)
    return dict(sorted(counts.items()))
