"""The scene engine on rendered scenes with known performers and on a real video clip."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import link_gallery
from stash_sense.devtools.samplelib.library import load_library
from stash_sense.devtools.samplelib.render import render_library
from stash_sense.devtools.samplelib.settings import RenderSettings
from stash_sense.evaluation.scene_eval import evaluate_scenes
from stash_sense.facedb.build import build_from_folder
from stash_sense.recognition import Recognizer
from stash_sense.scenes.engine import SceneEngine
from stash_sense.faces.catalog import scene_ceilings
from stash_sense.scenes.params import SceneParams
from stash_sense.media import VideoFrameSource

ACTORS = {"Brad Pitt": 30, "Angelina Jolie": 30, "Will Smith": 30, "Megan Fox": 30, "Tom Hanks": 30, "Kate Winslet": 30}


@pytest.fixture(scope="session")
def mini_library(facedata: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("mini-lib")
    faces = link_gallery(facedata / "celeb17", root / "faces", ACTORS)
    settings = RenderSettings(scenes=4, gallery_per_identity=5, min_duration=10, max_duration=14, tiers=("480p", "720p", "1080p", "4k"))
    render_library(faces, root / "lib", settings, seed=7, unknowns_dir=facedata / "faces94" / "train")
    build_from_folder(root / "lib" / "gallery", root / "db", progress=False)
    return root / "lib", root / "db"


def test_rendered_scenes_are_identified_without_false_positives(mini_library: tuple[Path, Path]) -> None:
    lib_dir, db_dir = mini_library
    report = evaluate_scenes(load_library(lib_dir), SceneEngine(Recognizer.open(db_dir)), SceneParams(), progress=False)
    assert report.errors == 0 and report.scenes == 4
    assert report.precision == 1.0, [r.false_positives for r in report.rows]
    assert report.recall >= 0.85, [r.false_negatives for r in report.rows]
    assert set(report.by_tier) == {"480p", "720p", "1080p", "4k"}
    assert "precision" in report.baseline and report.baseline["scenes"] == 4


def test_result_carries_persons_diagnostics_and_timings(mini_library: tuple[Path, Path]) -> None:
    lib_dir, db_dir = mini_library
    library = load_library(lib_dir)
    scene = max(library.scenes, key=lambda s: len(s.performers))
    engine = SceneEngine(Recognizer.open(db_dir))
    with VideoFrameSource(library.scene_path(scene), mode="fast") as source:
        result = engine.identify(source, SceneParams(num_frames=30))
    assert result.totals.frames_analysed == 30
    # The result reports the distance ceiling it used: the embedder's scene ceiling, or 0.6.
    assert result.params.max_distance == scene_ceilings().get(engine.recognizer.pipeline.embedder.model_name, 0.6)
    assert result.totals.faces_after_filter > 0 and result.totals.persons_clustered >= len(scene.performers)
    assert {"decode", "detect", "align", "embed_wait", "cluster", "match", "total"} <= set(result.timings)
    assert all(p.thumbnail and p.thumbnail.startswith("data:image/jpeg;base64,") for p in result.persons)
    # Crops from up to 4 distinct frames per person, one per frame.
    assert all(1 <= len(p.thumbnails) <= min(4, len(set(p.frames))) for p in result.persons)
    assert len(result.performers) <= result.totals.persons_considered
    for cand in result.diagnostics:
        assert cand.accepted == (not cand.rejected_because)
    # Tightening the score threshold turns accepted performers into rejections with a reason.
    with VideoFrameSource(library.scene_path(scene), mode="fast") as source:
        strict = engine.identify(source, SceneParams(num_frames=30, min_confidence=1.0, hybrid_boost=0.0))
    assert strict.performers == []
    assert any("min_confidence" in r for c in strict.diagnostics for r in c.rejected_because)


def test_scene_distance_ceiling_per_embedder() -> None:
    # Left unset, EdgeFace-XS gets its scene ceiling; dlib and other embedders keep 0.6.
    assert SceneParams().for_embedder("edgeface-xs").max_distance == scene_ceilings()["edgeface-xs"] == 0.48
    assert SceneParams().for_embedder("dlib-resnet-v1").max_distance == 0.6
    assert SceneParams().for_embedder("edgeface-xs+flip").max_distance == 0.6
    # A ceiling the caller sets always wins, even one equal to the field's default.
    assert SceneParams(max_distance=0.6).for_embedder("edgeface-xs").max_distance == 0.6
    assert SceneParams(max_distance=0.3).for_embedder("edgeface-xs").max_distance == 0.3
    # Resolving twice gives the same ceiling.
    resolved = SceneParams().for_embedder("edgeface-xs")
    assert resolved.for_embedder("edgeface-xs").max_distance == 0.48


@pytest.mark.parametrize("mode", ["frequency", "cluster", "hybrid"])
def test_every_matching_mode_finds_the_performers(mini_library: tuple[Path, Path], mode: str) -> None:
    lib_dir, db_dir = mini_library
    library = load_library(lib_dir)
    scene = library.scenes[0]
    engine = SceneEngine(Recognizer.open(db_dir))
    with VideoFrameSource(library.scene_path(scene), mode="fast") as source:
        result = engine.identify(source, SceneParams(matching_mode=mode, num_frames=40))
    assert {p.name for p in result.performers} == {p.name for p in scene.performers}


def test_bad_parameters_and_bad_video_give_clear_errors(mini_library: tuple[Path, Path], tmp_path: Path) -> None:
    _, db_dir = mini_library
    with pytest.raises(ValueError, match="start_offset_pct"):
        SceneParams(start_offset_pct=0.9, end_offset_pct=0.1)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 500)
    out = subprocess.run(
        [sys.executable, "-m", "stash_sense.cli", "identify", "scene", str(broken), "--db", str(db_dir), "--json"],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "broken.mp4" in out.stderr
    out = subprocess.run(
        [sys.executable, "-m", "stash_sense.cli", "identify", "scene", str(broken), "--db", str(db_dir), "--param", "num_frames=-3"],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode != 0 and "num_frames" in out.stderr


def _hamilton_gallery(facedata: Path, root: Path, with_lfw: bool) -> Path:
    gallery = root / "gallery"
    for name, photo in (("Lin-Manuel Miranda", "lin-manuel-miranda.png"), ("Alex Lacamoire", "alex-lacamoire.png")):
        (gallery / name).mkdir(parents=True)
        (gallery / name / photo).symlink_to(facedata / "face_recognition" / photo)
    link_gallery(facedata / "celeb17", gallery, {p.name: 30 for p in (facedata / "celeb17").iterdir()})
    if with_lfw:
        link_gallery(facedata / "lfw" / "people", gallery, {p.name: 10 for p in (facedata / "lfw" / "people").iterdir()})
    return gallery


def _hamilton(facedata: Path, tmp_path: Path, with_lfw: bool) -> list[str]:
    build_from_folder(_hamilton_gallery(facedata, tmp_path, with_lfw), tmp_path / "db", progress=False)
    engine = SceneEngine(Recognizer.open(tmp_path / "db"))
    with VideoFrameSource(facedata / "face_recognition" / "short_hamilton_clip.mp4") as source:
        result = engine.identify(source, SceneParams())
    return sorted(p.name for p in result.performers)


# Alex Lacamoire's only reference photo is 0.59 or more from every face of his in the clip
# (0.555 even with jittered or mirrored references), farther than unrelated strangers are: no
# threshold that keeps strangers out lets him in with this embedder. What the engine must
# guarantee is finding Lin-Manuel Miranda and reporting nobody who is not there.
def test_real_clip_finds_lin_manuel_miranda_and_no_one_else(facedata: Path, tmp_path: Path) -> None:
    assert _hamilton(facedata, tmp_path, with_lfw=False) == ["Lin-Manuel Miranda"]


@pytest.mark.slow
def test_real_clip_with_all_of_lfw_as_distractors(facedata: Path, tmp_path: Path) -> None:
    assert _hamilton(facedata, tmp_path, with_lfw=True) == ["Lin-Manuel Miranda"]


def test_bench_scene_reports_local_and_http_timings(mini_library: tuple[Path, Path]) -> None:
    lib_dir, db_dir = mini_library
    out = subprocess.run(
        [sys.executable, "-m", "stash_sense.cli", "bench", "scene", "--library", str(lib_dir), "--db", str(db_dir),
         "--runs", "1", "--num-frames", "12", "--json"],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    data = json.loads(out.stdout)
    assert data["seconds_local"] > 0 and data["seconds_http"] > 0 and data["height"] == 1080
    assert {"local", "http"} == set(data["stages"]) and "detect" in data["stages"]["http"]
