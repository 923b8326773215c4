"""Deterministic planning of sample scenes: who appears, in which shots, where and how.

Everything random is drawn here, from generators seeded by the library seed (and the scene
index), so the plan and therefore ``library.json`` are a pure function of the inputs; the
renderer only turns a plan into pixels.
"""

from __future__ import annotations

import math
import random
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from stash_sense.devtools.samplelib.library import (
    TIER_SIZES,
    LibraryScene,
    LibraryShot,
    SampleLibraryError,
    SceneEncoding,
    ScenePerformerRef,
    ShotPerson,
)
from stash_sense.devtools.samplelib.settings import RenderSettings

# A face is typically 8-35% of the frame height in real scenes.
FACE_MIN = 0.08
FACE_MAX = 0.35
# Each performer appears in at least this many shots inside the sampled window (5%-95% of the
# duration, where scene identification samples frames); unknown people in at least this many.
PERFORMER_SHOTS = 3
UNKNOWN_SHOTS = 2
SAMPLED_WINDOW = (0.05, 0.95)
# Share of scenes with 1, 2, 3 and 4 performers.
PERFORMER_COUNT_WEIGHTS = {1: 0.3, 2: 0.3, 3: 0.25, 4: 0.15}
MAX_PEOPLE_PER_SHOT = 4
GROUP_SHOT_SHARE = 0.35  # shots showing 2+ people side by side even when not needed
OCCLUDED_TILE_SHARE = 0.3
BACKGROUND_STYLES = ("linear", "radial", "shapes", "clouds")

# Stash IDs are uuid5 values in this namespace, so the emulator and the evaluation agree on them.
STASH_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://stash-sense/samplelib")


def performer_stash_id(name: str) -> str:
    return str(uuid.uuid5(STASH_ID_NAMESPACE, f"performer:{name}"))


def scene_stash_id(seed: int, index: int) -> str:
    return str(uuid.uuid5(STASH_ID_NAMESPACE, f"scene:{seed}:{index}"))


@dataclass(frozen=True)
class CastMember:
    """Someone who can appear in scenes: a performer (with an id) or an unknown person."""

    name: str
    performer_id: str | None
    images: tuple[str, ...]  # library-relative photos to show


@dataclass(frozen=True)
class OccluderPlan:
    """A shape sweeping across a face: never big enough to hide the whole face."""

    shape: str  # "bar" or "disc"
    vertical: bool  # bar orientation / sweep axis
    size: float  # bar thickness or disc diameter, in face heights (< 0.5)
    colour: tuple[int, int, int]  # BGR
    sweep_start: float  # offset of the shape's centre from the face centre, in face heights
    sweep_end: float


@dataclass(frozen=True)
class TilePlan:
    """One photo tile in a shot, clipped to its column (``slot`` of ``slots``)."""

    name: str
    performer_id: str | None
    image: str
    slot: int
    slots: int
    face_start: float  # face height / frame height at the shot's first frame
    face_end: float  # ... and at its last frame (the zoom)
    pos_start: tuple[float, float]  # face centre within the allowed area of the slot, 0..1
    pos_end: tuple[float, float]  # (the pan)
    border: tuple[int, int, int] | None  # BGR frame around the photo
    occluder: OccluderPlan | None

    @property
    def face_fraction(self) -> float:
        return round((self.face_start + self.face_end) / 2, 3)


@dataclass(frozen=True)
class BackgroundPlan:
    style: str
    seed: int
    colours: tuple[tuple[int, int, int], ...]  # BGR
    pan_start: tuple[float, float]  # crop offset within the background's margin, 0..1
    pan_end: tuple[float, float]


@dataclass(frozen=True)
class ShotPlan:
    start_frame: int
    end_frame: int  # exclusive
    background: BackgroundPlan
    tiles: tuple[TilePlan, ...]


@dataclass(frozen=True)
class ScenePlan:
    index: int  # 1-based
    tier: str
    width: int
    height: int
    fps: int
    frames: int
    crf: int
    preset: str
    x264_params: str
    gop: int
    performer_ids: tuple[str, ...]
    unknown_names: tuple[str, ...]
    shots: tuple[ShotPlan, ...]

    @property
    def file(self) -> str:
        return f"scenes/scene_{self.index:04d}.mp4"


@dataclass
class ScenePlans:
    scenes: list[ScenePlan]
    uncovered: list[str]  # performers with held-out photos that no scene could include


def plan_scenes(
    performers: Sequence[CastMember],
    unknowns: Sequence[CastMember],
    settings: RenderSettings,
    seed: int,
) -> ScenePlans:
    """Plan every scene of the library.

    ``performers`` are those with held-out photos; each one is put in at least one scene when
    the scene count allows it. ``unknowns`` appear in about ``settings.unknown_scene_share`` of
    the scenes.
    """
    if not performers:
        raise SampleLibraryError("no performer has held-out photos to put in scenes")
    rng = random.Random(f"samplelib:{seed}:cast")
    tiers = [settings.tiers[i % len(settings.tiers)] for i in range(settings.scenes)]
    rng.shuffle(tiers)  # equal shares, in a seed-dependent order
    casts = _assign_performers(performers, settings.scenes, rng)
    scenes = [
        _plan_scene(index, tier, cast, unknowns, settings, random.Random(f"samplelib:{seed}:scene:{index}"))
        for index, (tier, cast) in enumerate(zip(tiers, casts), start=1)
    ]
    shown = {pid for scene in scenes for pid in scene.performer_ids}
    return ScenePlans(scenes=scenes, uncovered=[p.name for p in performers if p.performer_id not in shown])


def _assign_performers(
    performers: Sequence[CastMember], scene_count: int, rng: random.Random
) -> list[list[CastMember]]:
    """Choose 1-4 performers per scene so that every performer is in some scene if possible."""
    most = min(MAX_PEOPLE_PER_SHOT, len(performers))
    drawn = rng.choices(list(PERFORMER_COUNT_WEIGHTS), list(PERFORMER_COUNT_WEIGHTS.values()), k=scene_count)
    counts = [min(c, most) for c in drawn]
    shortfall = len(performers) - sum(counts)
    while shortfall > 0:
        open_scenes = [i for i, c in enumerate(counts) if c < most]
        if not open_scenes:
            break
        counts[rng.choice(open_scenes)] += 1
        shortfall -= 1
    order = list(performers)
    rng.shuffle(order)
    queue = deque(order)
    casts: list[list[CastMember]] = []
    for count in counts:
        members: list[CastMember] = []
        while queue and len(members) < count:
            members.append(queue.popleft())
        if len(members) < count:
            chosen = {m.name for m in members}
            members += rng.sample([p for p in performers if p.name not in chosen], count - len(members))
        casts.append(members)
    return casts


def _partition(total: int, parts: int, lo: int, hi: int, rng: random.Random) -> list[int]:
    """Split ``total`` frames into ``parts`` shots of ``lo``..``hi`` frames each."""
    lengths = [lo] * parts
    spare = total - lo * parts
    weights = [rng.random() + 0.2 for _ in range(parts)]
    scale = sum(weights)
    for i in range(parts):
        extra = min(hi - lo, int(spare * weights[i] / scale))
        lengths[i] += extra
    remaining = total - sum(lengths)
    while remaining > 0:
        room = [i for i in range(parts) if lengths[i] < hi]
        lengths[rng.choice(room)] += 1
        remaining -= 1
    return lengths


def _shot_lengths(frames: int, settings: RenderSettings, needed_slots: int, rng: random.Random) -> list[int]:
    lo, hi = settings.shot_frames
    if frames <= hi:
        fewest = 1
    else:
        fewest = math.ceil(frames / hi)
    most = max(fewest, frames // lo)
    typical = round(frames / rng.uniform(lo, hi))
    # Enough shots that the people can each appear several times without crowding every shot;
    # the +2 leaves room for the first and last shots, which may fall outside the sampled window.
    wanted = max(typical, math.ceil(needed_slots / 2) + 2)
    count = min(max(wanted, fewest), most)
    return _partition(frames, count, lo, hi, rng)


def _in_window(start: int, end: int, frames: int) -> bool:
    """Whether at least half of the shot lies in the window that identification samples."""
    window_start, window_end = SAMPLED_WINDOW[0] * frames, SAMPLED_WINDOW[1] * frames
    overlap = min(end, window_end) - max(start, window_start)
    return overlap >= 0.5 * (end - start)


def _cast_shots(
    people: Sequence[CastMember], bounds: Sequence[tuple[int, int]], frames: int, rng: random.Random
) -> list[list[CastMember]]:
    """Decide who is in each shot: everyone several times, spread out, some shots in groups."""
    core = [_in_window(s, e, frames) for s, e in bounds]
    core_count = sum(core)
    need = {
        p.name: min(PERFORMER_SHOTS if p.performer_id is not None else UNKNOWN_SHOTS, core_count) for p in people
    }
    cap = min(len(people), MAX_PEOPLE_PER_SHOT)
    sizes = [1] * len(bounds)
    for i in range(len(bounds)):
        if cap >= 2 and rng.random() < GROUP_SHOT_SHARE:
            sizes[i] = rng.randint(2, min(cap, 3))
    while sum(s for s, c in zip(sizes, core) if c) < sum(need.values()):
        open_shots = [i for i, c in enumerate(core) if c and sizes[i] < cap]
        if not open_shots:
            break
        smallest = min(sizes[i] for i in open_shots)
        sizes[rng.choice([i for i in open_shots if sizes[i] == smallest])] += 1

    count = {p.name: 0 for p in people}
    last_seen = {p.name: -1 for p in people}
    tie = {p.name: rng.random() for p in people}
    groups: list[list[CastMember]] = []
    for i, size in enumerate(sizes):
        # People still short of their appearances first, then whoever was seen least recently.
        ranked = sorted(
            people,
            key=lambda p: (not (core[i] and count[p.name] < need[p.name]), last_seen[p.name], tie[p.name]),
        )
        group = ranked[:size]
        for person in group:
            last_seen[person.name] = i
            if core[i]:
                count[person.name] += 1
        groups.append(group)
    _repair(groups, core, people, need, count, cap)
    for group in groups:
        rng.shuffle(group)  # left-to-right order in the frame
    return groups


def _repair(
    groups: list[list[CastMember]],
    core: Sequence[bool],
    people: Sequence[CastMember],
    need: dict[str, int],
    count: dict[str, int],
    cap: int,
) -> None:
    """Top up anyone the greedy pass left short, taking slots from people with appearances to spare."""
    for person in people:
        for i in range(len(groups)):
            if count[person.name] >= need[person.name]:
                break
            group = groups[i]
            if not core[i] or person in group:
                continue
            if len(group) < cap:
                group.append(person)
                count[person.name] += 1
                continue
            spare = [q for q in group if count[q.name] > need[q.name]]
            if spare:
                group[group.index(spare[0])] = person
                count[spare[0].name] -= 1
                count[person.name] += 1


def _log_uniform(rng: random.Random, lo: float, hi: float) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255))


def _plan_tile(
    person: CastMember, image: str, slot: int, slots: int, width: int, height: int, rng: random.Random
) -> TilePlan:
    # Faces must fit their column with some margin.
    largest = max(FACE_MIN, min(FACE_MAX, 0.7 * (width / slots) / height))
    face_start = _log_uniform(rng, FACE_MIN, largest)
    zoom = _log_uniform(rng, 0.75, 1.33) if rng.random() < 0.7 else 1.0
    face_end = min(largest, max(FACE_MIN, face_start * zoom))
    x0, y0 = rng.random(), rng.uniform(0.2, 0.65)
    x1 = min(1.0, max(0.0, x0 + rng.uniform(-0.7, 0.7)))
    y1 = min(0.8, max(0.1, y0 + rng.uniform(-0.2, 0.2)))
    border = rng.choice([None, (255, 255, 255), (20, 20, 20), (200, 200, 200)])
    occluder = None
    if rng.random() < OCCLUDED_TILE_SHARE:
        shape = rng.choice(["bar", "disc"])
        sweep = rng.uniform(0.8, 1.4)
        direction = rng.choice([-1, 1])
        occluder = OccluderPlan(
            shape=shape,
            vertical=rng.random() < 0.5,
            size=rng.uniform(0.2, 0.45),
            colour=_colour(rng),
            sweep_start=-direction * sweep,
            sweep_end=direction * sweep,
        )
    return TilePlan(
        name=person.name,
        performer_id=person.performer_id,
        image=image,
        slot=slot,
        slots=slots,
        face_start=round(face_start, 4),
        face_end=round(face_end, 4),
        pos_start=(round(x0, 4), round(y0, 4)),
        pos_end=(round(x1, 4), round(y1, 4)),
        border=border,
        occluder=occluder,
    )


def _plan_background(rng: random.Random) -> BackgroundPlan:
    still = rng.random() < 0.5
    pan_start = (rng.random(), rng.random())
    pan_end = pan_start if still else (rng.random(), rng.random())
    return BackgroundPlan(
        style=rng.choice(BACKGROUND_STYLES),
        seed=rng.getrandbits(32),
        colours=tuple(_colour(rng) for _ in range(3)),
        pan_start=pan_start,
        pan_end=pan_end,
    )


def _plan_scene(
    index: int,
    tier: str,
    performers: Sequence[CastMember],
    unknowns: Sequence[CastMember],
    settings: RenderSettings,
    rng: random.Random,
) -> ScenePlan:
    width, height = TIER_SIZES[tier]
    lo, _ = settings.shot_frames
    frames = max(lo, round(rng.uniform(settings.min_duration, settings.max_duration) * settings.fps))
    extras: list[CastMember] = []
    if unknowns and rng.random() < settings.unknown_scene_share:
        extras = rng.sample(list(unknowns), min(len(unknowns), rng.choice([1, 2])))
    people = [*performers, *extras]
    needed = sum(PERFORMER_SHOTS if p.performer_id is not None else UNKNOWN_SHOTS for p in people)
    lengths = _shot_lengths(frames, settings, needed, rng)
    bounds: list[tuple[int, int]] = []
    cursor = 0
    for length in lengths:
        bounds.append((cursor, cursor + length))
        cursor += length
    groups = _cast_shots(people, bounds, frames, rng)

    # Each person cycles through their photos in a scene-specific order, so shots vary.
    photo_cycles = {p.name: rng.sample(p.images, len(p.images)) for p in people}
    shown = {p.name: 0 for p in people}
    shots: list[ShotPlan] = []
    for (start, end), group in zip(bounds, groups):
        tiles = []
        for slot, person in enumerate(group):
            cycle = photo_cycles[person.name]
            image = cycle[shown[person.name] % len(cycle)]
            shown[person.name] += 1
            tiles.append(_plan_tile(person, image, slot, len(group), width, height, rng))
        background = _plan_background(rng)
        shots.append(ShotPlan(start_frame=start, end_frame=end, background=background, tiles=tuple(tiles)))
    return ScenePlan(
        index=index,
        tier=tier,
        width=width,
        height=height,
        fps=settings.fps,
        frames=frames,
        crf=rng.randint(settings.crf_min, settings.crf_max),
        preset=settings.preset,
        x264_params=settings.x264_params,
        gop=settings.gop,
        # Ground truth is who is shown: a scene too short for its whole cast drops the rest.
        performer_ids=tuple(sorted({t.performer_id for s in shots for t in s.tiles if t.performer_id}, key=int)),
        unknown_names=tuple(sorted({t.name for s in shots for t in s.tiles if t.performer_id is None})),
        shots=tuple(shots),
    )


def scene_record(plan: ScenePlan, names: dict[str, str], seed: int) -> LibraryScene:
    """The ``library.json`` entry of a planned scene (``names`` maps performer id to name)."""

    def seconds(frame: int) -> float:
        return round(frame / plan.fps, 3)

    shots = [
        LibraryShot(
            start=seconds(shot.start_frame),
            end=seconds(shot.end_frame),
            people=[
                ShotPerson(
                    name=tile.name,
                    performer_id=tile.performer_id,
                    image=tile.image,
                    face_fraction=tile.face_fraction,
                    occluded=tile.occluder is not None,
                )
                for tile in shot.tiles
            ],
        )
        for shot in plan.shots
    ]
    return LibraryScene(
        id=str(plan.index),
        title=f"Sample scene {plan.index:04d}",
        file=plan.file,
        stash_id=scene_stash_id(seed, plan.index),
        width=plan.width,
        height=plan.height,
        duration=seconds(plan.frames),
        fps=plan.fps,
        frames=plan.frames,
        resolution_tier=plan.tier,  # type: ignore[arg-type]  # one of TIER_SIZES
        performers=[ScenePerformerRef(id=pid, name=names[pid]) for pid in plan.performer_ids],
        unknown_people=list(plan.unknown_names),
        shots=shots,
        encoding=SceneEncoding(crf=plan.crf, preset=plan.preset, x264_params=plan.x264_params, gop=plan.gop),
    )
