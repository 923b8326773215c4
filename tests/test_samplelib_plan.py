"""Scene planning and ``library.json`` validation (pure: no photos decoded, no video encoded)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from stash_sense.devtools.samplelib.library import TIER_SIZES, SampleLibraryError, load_library
from stash_sense.devtools.samplelib.plan import (
    FACE_MAX,
    FACE_MIN,
    SAMPLED_WINDOW,
    CastMember,
    ScenePlan,
    plan_scenes,
    scene_record,
)
from stash_sense.devtools.samplelib.settings import RenderSettings
from stash_sense.devtools.samplelib.sources import normalize_name


def _cast(count: int, photos: int, *, unknown: bool = False) -> list[CastMember]:
    prefix = "unknowns/U" if unknown else "heldout/P"
    return [
        CastMember(
            name=f"{'U' if unknown else 'P'}{i}",
            performer_id=None if unknown else str(i + 1),
            images=tuple(f"{prefix}{i}/{j:03d}.jpg" for j in range(photos)),
        )
        for i in range(count)
    ]


def _sampled_shots(plan: ScenePlan, performer_id: str) -> int:
    """Shots showing the performer that lie at least half inside the sampled window."""
    lo, hi = SAMPLED_WINDOW[0] * plan.frames, SAMPLED_WINDOW[1] * plan.frames
    return sum(
        1
        for shot in plan.shots
        if any(t.performer_id == performer_id for t in shot.tiles)
        and min(shot.end_frame, hi) - max(shot.start_frame, lo) >= 0.5 * (shot.end_frame - shot.start_frame)
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_default_plan_meets_the_test_plan(seed: int) -> None:
    performers, unknowns = _cast(17, 25), _cast(18, 20, unknown=True)
    settings = RenderSettings(scenes=100)
    plans = plan_scenes(performers, unknowns, settings, seed)
    scenes = plans.scenes
    assert plans.uncovered == []
    assert {pid for s in scenes for pid in s.performer_ids} == {p.performer_id for p in performers}
    # Tiers in equal shares.
    assert Counter(s.tier for s in scenes) == {tier: 25 for tier in TIER_SIZES}
    # 1-4 performers, every count used; unknown people in roughly 30% of the scenes.
    counts = Counter(len(s.performer_ids) for s in scenes)
    assert set(counts) == {1, 2, 3, 4}
    assert 15 <= sum(bool(s.unknown_names) for s in scenes) <= 45
    lo, hi = settings.shot_frames
    group_shots = 0
    for scene in scenes:
        assert settings.min_duration * settings.fps - 1 <= scene.frames <= settings.max_duration * settings.fps + 1
        assert settings.crf_min <= scene.crf <= settings.crf_max
        assert (scene.width, scene.height) == TIER_SIZES[scene.tier]
        assert scene.shots[0].start_frame == 0 and scene.shots[-1].end_frame == scene.frames
        for previous, shot in zip(scene.shots, scene.shots[1:]):
            assert previous.end_frame == shot.start_frame
        for shot in scene.shots:
            assert lo <= shot.end_frame - shot.start_frame <= hi
            assert 1 <= len(shot.tiles) <= 4
            assert len({t.name for t in shot.tiles}) == len(shot.tiles)
            group_shots += len(shot.tiles) >= 2
            for tile in shot.tiles:
                assert FACE_MIN <= tile.face_start <= FACE_MAX and FACE_MIN <= tile.face_end <= FACE_MAX
                if tile.occluder is not None:
                    assert tile.occluder.size < 0.5  # never hides the whole face
        for performer_id in scene.performer_ids:
            assert _sampled_shots(scene, performer_id) >= 3
    assert group_shots > 100


def test_plan_is_deterministic_and_seed_dependent() -> None:
    performers, unknowns = _cast(6, 5), _cast(3, 4, unknown=True)
    settings = RenderSettings(scenes=12)
    first = plan_scenes(performers, unknowns, settings, 7).scenes
    again = plan_scenes(performers, unknowns, settings, 7).scenes
    other = plan_scenes(performers, unknowns, settings, 8).scenes
    assert first == again
    assert first != other


def test_too_few_scenes_reports_uncovered_performers() -> None:
    plans = plan_scenes(_cast(10, 3), [], RenderSettings(scenes=2), 1)
    shown = {pid for s in plans.scenes for pid in s.performer_ids}
    assert len(shown) == 8  # two scenes of at most four performers
    assert len(plans.uncovered) == 2 and not set(plans.uncovered) & {f"P{int(i) - 1}" for i in shown}


def test_plan_needs_someone_with_heldout_photos() -> None:
    with pytest.raises(SampleLibraryError, match="held-out"):
        plan_scenes([], [], RenderSettings(scenes=1), 1)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"scenes": 0}, "--scenes"),
        ({"gallery_per_identity": 0}, "--gallery-per-identity"),
        ({"min_heldout": 0}, "--min-heldout"),
        ({"min_images": 5, "max_images": 4}, "--min-images"),
        ({"fps": 0}, "--fps"),
        ({"min_duration": 30, "max_duration": 20}, "--min-duration"),
        ({"min_duration": 1}, "shorter than one shot"),
        ({"min_shot": 2, "max_shot": 3}, "twice the shortest"),
        ({"tiers": ("480p", "8k")}, "8k"),
        ({"tiers": ()}, "tier"),
        ({"crf_min": 30, "crf_max": 20}, "crf"),
        ({"preset": "warp"}, "preset"),
        ({"x264_params": "threads=4"}, "threads"),
        ({"x264_params": "cabac"}, "key=value"),
        ({"unknown_scene_share": 1.5}, "share"),
    ],
)
def test_bad_settings_are_named(changes: dict[str, object], message: str) -> None:
    settings = RenderSettings(**{"scenes": 3, **changes})  # type: ignore[arg-type]
    with pytest.raises(SampleLibraryError, match=message):
        settings.validate()


def test_names_are_compared_across_spellings() -> None:
    assert normalize_name("Tom_Hanks") == normalize_name("tom hanks") == normalize_name("TOM-HANKS")
    assert normalize_name("Penélope Cruz") == normalize_name("Penelope_Cruz")
    assert normalize_name("Robert Downey Jr.") == normalize_name("Robert_Downey_Jr")
    assert normalize_name("Tom Hanks") != normalize_name("Tom Hardy")


# --- library.json validation ------------------------------------------------------------------


def _library_dict(tmp_path: Path) -> dict:
    """A minimal, valid library (with its files) written by hand."""
    performers = _cast(2, 2)
    settings = RenderSettings(scenes=1, min_duration=4, max_duration=4, min_shot=1, max_shot=2, tiers=("480p",))
    plan = plan_scenes(performers, [], settings, 1).scenes[0]
    scene = scene_record(plan, {p.performer_id: p.name for p in performers if p.performer_id}, 1)
    data = {
        "version": 1,
        "seed": 1,
        "faces_dir": "/photos",
        "settings": settings.record().model_dump(),
        "performers": [
            {
                "id": p.performer_id,
                "name": p.name,
                "stash_id": f"00000000-0000-0000-0000-00000000000{i}",
                "images": [f"gallery/{p.name}/a.jpg"],
                "heldout_images": list(p.images),
                "distractor": False,
            }
            for i, p in enumerate(performers)
        ],
        "scenes": [json.loads(scene.model_dump_json())],
    }
    for path in [f for p in data["performers"] for f in p["images"] + p["heldout_images"]] + [scene.file]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(b"x")
    return data


def _write(tmp_path: Path, data: dict) -> Path:
    (tmp_path / "library.json").write_text(json.dumps(data))
    return tmp_path


def test_loader_resolves_paths(tmp_path: Path) -> None:
    library = load_library(_write(tmp_path, _library_dict(tmp_path)))
    scene = library.scenes[0]
    assert library.scene_path(scene) == tmp_path.resolve() / "scenes" / "scene_0001.mp4"
    assert library.gallery_path == tmp_path.resolve() / "gallery"
    assert library.performer_by_id("1").name == "P0"
    assert load_library(tmp_path / "library.json").scenes == library.scenes


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda d: d["scenes"][0]["performers"].append({"id": "9", "name": "Nobody"}), "performer"),
        (lambda d: d["performers"][1].update(id="1"), "duplicate performer id"),
        (lambda d: d["performers"][0].update(distractor=True), "distractor"),
        (lambda d: d["scenes"][0].update(width=1280), "480p"),
        (lambda d: d["scenes"][0].update(file="../escape.mp4"), "relative"),
        (lambda d: d["scenes"][0]["shots"][0].update(start=0.5), "contiguous"),
        (lambda d: d["scenes"][0].update(unknown_people=["Ghost"]), "unknown"),
        (lambda d: d.update(version=2), "version"),
    ],
)
def test_loader_rejects_inconsistent_libraries(tmp_path: Path, corrupt, message: str) -> None:
    data = _library_dict(tmp_path)
    corrupt(data)
    with pytest.raises(SampleLibraryError, match=message):
        load_library(_write(tmp_path, data))


def test_loader_reports_missing_files_and_absent_library(tmp_path: Path) -> None:
    data = _library_dict(tmp_path)
    _write(tmp_path, data)
    (tmp_path / "scenes" / "scene_0001.mp4").unlink()
    with pytest.raises(SampleLibraryError, match="1 missing files: scenes/scene_0001.mp4"):
        load_library(tmp_path)
    assert load_library(tmp_path, check_files=False).scenes[0].id == "1"
    with pytest.raises(SampleLibraryError, match="no sample library"):
        load_library(tmp_path / "elsewhere")
