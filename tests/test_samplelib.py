"""Rendering sample libraries from the real photos (celeb17, LFW and faces94 subsets).

Scenes are kept to a few seconds so the whole module runs in seconds; the full-size defaults
are covered by the planning tests in ``test_samplelib_plan.py``.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from stash_sense.cli import app as cli_app
from stash_sense.devtools.samplelib import (
    RenderSettings,
    SampleLibrary,
    SampleLibraryError,
    load_library,
    render_library,
)
from stash_sense.devtools.samplelib.encode import yuv_frame
from stash_sense.devtools.samplelib.sources import normalize_name

SCENE_PEOPLE = ["Brad Pitt", "Megan Fox", "Tom Hanks"]  # 7 photos each: 5 gallery + 2 held out
GALLERY_ONLY = "Will Smith"  # 4 photos: all to the gallery
DISTRACTORS = ["Aaron_Peirsol", "Abdel_Madi_Shabneh", "Tom_Hanks"]  # the last clashes with a performer
UNKNOWNS = ["1", "2"]

# Short scenes of short shots: a test-only override of the 20-90 s / 2-6 s defaults.
SMALL = RenderSettings(scenes=4, min_duration=4.0, max_duration=6.0, min_shot=1.0, max_shot=2.0)


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


@pytest.fixture(scope="module")
def photos(facedata: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small labelled folders built from the real photos (linked, never copied into the repo)."""
    root = tmp_path_factory.mktemp("photos")
    faces = root / "faces"
    for name in SCENE_PEOPLE:
        for source in sorted((facedata / "celeb17" / name).iterdir())[:7]:
            _link(source, faces / name / source.name)
    for source in sorted((facedata / "celeb17" / GALLERY_ONLY).iterdir())[:4]:
        _link(source, faces / GALLERY_ONLY / source.name)
    # An unreadable "photo" (sorted last, so the split is unchanged) and a file that is no photo.
    (faces / "Megan Fox" / "999_broken.jpg").write_bytes(b"not a jpeg")
    (faces / "Megan Fox" / "notes.txt").write_text("ignored")
    distractors = root / "distractors"
    for name in DISTRACTORS:
        for source in sorted((facedata / "lfw" / "people" / name).iterdir()):
            _link(source, distractors / name / source.name)
    unknowns = root / "unknowns"
    for label in UNKNOWNS:
        for source in sorted((facedata / "faces94" / "train" / label).iterdir())[:6]:
            _link(source, unknowns / label / source.name)
    # An "unknown" who is really a performer: must be left out.
    for source in sorted((facedata / "faces94" / "train" / "3").iterdir())[:3]:
        _link(source, unknowns / "megan_fox" / source.name)
    return {"faces": faces, "distractors": distractors, "unknowns": unknowns, "root": root}


def _render(photos: dict[str, Path], out: Path, settings: RenderSettings = SMALL, **kwargs):
    return render_library(
        photos["faces"],
        out,
        settings,
        seed=kwargs.pop("seed", 5),
        distractors_dir=photos["distractors"],
        unknowns_dir=photos["unknowns"],
        **kwargs,
    )


@pytest.fixture(scope="module")
def rendered(photos: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):
    """One library with a scene in each resolution tier (unknowns in half the scenes)."""
    out = tmp_path_factory.mktemp("library")
    return _render(photos, out, replace(SMALL, unknown_scene_share=0.5), workers=2)


def test_library_structure_and_ground_truth(rendered, photos: dict[str, Path]) -> None:
    library = load_library(rendered.out_dir)  # validates references and that every file exists
    assert library == rendered.library
    assert rendered.rendered == 4 and rendered.skipped == 0
    raw = json.loads((rendered.out_dir / "library.json").read_text())
    assert raw["version"] == 1 and raw["seed"] == 5 and raw["gallery_dir"] == "gallery"
    assert raw["faces_dir"] == str(photos["faces"].resolve())

    by_name = {p.name: p for p in library.performers}
    assert sorted(by_name) == sorted([*SCENE_PEOPLE, GALLERY_ONLY, "Aaron_Peirsol", "Abdel_Madi_Shabneh"])
    assert [p.id for p in library.performers] == [str(i) for i in range(1, 7)]
    assert len({p.stash_id for p in library.performers}) == 6
    assert {p.name for p in library.performers if p.distractor} == {"Aaron_Peirsol", "Abdel_Madi_Shabneh"}
    assert by_name[GALLERY_ONLY].heldout_images == [] and len(by_name[GALLERY_ONLY].images) == 4
    assert sorted(u.name for u in library.unknowns) == UNKNOWNS
    assert any("unreadable" in w and "999_broken.jpg" in w for w in rendered.warnings)
    assert any("Tom_Hanks" in w for w in rendered.warnings)
    assert any("megan_fox" in w for w in rendered.warnings)

    assert sorted(s.resolution_tier for s in library.scenes) == sorted(["480p", "720p", "1080p", "4k"])
    assert {pid.name for s in library.scenes for pid in s.performers} == set(SCENE_PEOPLE)
    for scene in library.scenes:
        assert scene.file == f"scenes/scene_{int(scene.id):04d}.mp4"
        assert 4.0 - 1 / scene.fps <= scene.duration <= 6.0 + 1 / scene.fps
        shown = {p.name for shot in scene.shots for p in shot.people}
        assert shown == {p.name for p in scene.performers} | set(scene.unknown_people)
        for shot in scene.shots:
            for person in shot.people:
                assert 0.08 <= person.face_fraction <= 0.35
                images = (
                    library.performer_by_id(person.performer_id).heldout_images
                    if person.performer_id
                    else next(u.images for u in library.unknowns if u.name == person.name)
                )
                assert person.image in images


def test_gallery_and_heldout_split(rendered, photos: dict[str, Path]) -> None:
    library: SampleLibrary = rendered.library
    for name in SCENE_PEOPLE:
        performer = next(p for p in library.performers if p.name == name)
        sources = sorted(p.name for p in (photos["faces"] / name).glob("*.jpg") if p.name != "999_broken.jpg")
        assert [Path(p).name for p in performer.images] == sources[:5]
        assert [Path(p).name for p in performer.heldout_images] == sources[5:]
        assert not {Path(p).name for p in performer.images} & {Path(p).name for p in performer.heldout_images}
        assert all(p.startswith(f"gallery/{name}/") for p in performer.images)
        gallery_file = library.resolve(performer.images[0])
        source_file = photos["faces"] / name / sources[0]
        assert gallery_file.read_bytes() == source_file.read_bytes()
        if gallery_file.stat().st_dev == source_file.stat().st_dev:
            assert os.path.samefile(gallery_file, source_file)  # hard link, no copy
    # The gallery folder holds exactly the gallery photos (what `db build --from-folder` reads).
    on_disk = sorted(str(p.relative_to(rendered.out_dir)) for p in library.gallery_path.rglob("*") if p.is_file())
    assert on_disk == sorted(img for p in library.performers for img in p.images)
    assert "999_broken.jpg" not in {Path(p).name for p in on_disk}


def test_distractors_and_unknowns_stay_in_their_roles(rendered) -> None:
    library: SampleLibrary = rendered.library
    distractor_ids = {p.id for p in library.performers if p.distractor}
    gallery_names = {normalize_name(p.name) for p in library.performers}
    for scene in library.scenes:
        assert not distractor_ids & {p.id for p in scene.performers}
        assert not distractor_ids & {p.performer_id for s in scene.shots for p in s.people}
    for unknown in library.unknowns:
        assert normalize_name(unknown.name) not in gallery_names
        assert all(img.startswith(f"unknowns/{unknown.name}/") for img in unknown.images)
    assert any(scene.unknown_people for scene in library.scenes)
    gallery_dirs = {p.name for p in library.gallery_path.iterdir()}
    assert not gallery_dirs & {u.name for u in library.unknowns}


def test_scenes_decode_at_the_declared_size_and_duration(rendered) -> None:
    library: SampleLibrary = rendered.library
    for scene in library.scenes:
        with av.open(str(library.scene_path(scene))) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264"
            assert (stream.codec_context.width, stream.codec_context.height) == (scene.width, scene.height)
            frames = list(container.decode(stream))
            duration = container.duration / 1e6
        assert len(frames) == scene.frames
        assert frames[0].format.name == "yuv420p"
        assert duration == pytest.approx(scene.duration, abs=0.01)
        keyframes = [i for i, f in enumerate(frames) if f.key_frame]
        assert keyframes[0] == 0
        assert max(np.diff([*keyframes, len(frames)])) <= scene.encoding.gop


def _face_heights(frame: np.ndarray) -> list[float]:
    """Heights of the faces OpenCV finds in a frame, as fractions of the frame height."""
    scale = 360 / frame.shape[0]
    small = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    cascade = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"))
    boxes = cascade.detectMultiScale(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), 1.1, 4, minSize=(20, 20))
    return [float(h) / 360 for _, _, _, h in boxes]


def test_faces_are_visible_at_the_declared_size(rendered) -> None:
    """Unoccluded single-person shots show a detectable face of about the planned height."""
    library: SampleLibrary = rendered.library
    checked = found = 0
    for scene in library.scenes:
        wanted = {}
        for shot in scene.shots:
            if len(shot.people) == 1 and not shot.people[0].occluded:
                middle = round((shot.start + shot.end) / 2 * scene.fps)
                wanted[middle] = shot.people[0].face_fraction
        if not wanted:
            continue
        with av.open(str(library.scene_path(scene))) as container:
            for index, frame in enumerate(container.decode(video=0)):
                if index in wanted:
                    checked += 1
                    heights = _face_heights(frame.to_ndarray(format="bgr24"))
                    if heights:
                        found += 1
                        assert any(0.7 <= h / wanted[index] <= 1.4 for h in heights), (heights, wanted[index])
    assert checked >= 3
    assert found >= 0.75 * checked


def test_render_is_deterministic(photos: dict[str, Path], tmp_path: Path) -> None:
    settings = replace(SMALL, scenes=2, tiers=("480p",))
    first = _render(photos, tmp_path / "a", settings, seed=11)
    second = _render(photos, tmp_path / "b", settings, seed=11)
    assert (tmp_path / "a" / "library.json").read_text() == (tmp_path / "b" / "library.json").read_text()
    for scene in first.library.scenes:
        assert (tmp_path / "a" / scene.file).read_bytes() == (tmp_path / "b" / scene.file).read_bytes()
    other = _render(photos, tmp_path / "c", settings, seed=12)
    assert other.library.scenes != second.library.scenes


def test_existing_library_needs_force_or_resume(photos: dict[str, Path], tmp_path: Path) -> None:
    settings = replace(SMALL, scenes=3, tiers=("480p",))
    out = tmp_path / "lib"
    _render(photos, out, settings)
    done = {s: (out / "scenes" / s).stat().st_mtime_ns for s in ("scene_0001.mp4", "scene_0003.mp4")}

    with pytest.raises(SampleLibraryError, match="--resume .* --force"):
        _render(photos, out, settings)

    # Simulate a crash: scene 2 unfinished (a partial file), the library not yet complete.
    (out / "scenes" / "scene_0002.mp4").unlink()
    (out / "scenes" / ".scene_0002.mp4.partial").write_bytes(b"half a video")
    (out / "library.json").rename(out / "library.json.partial")
    with pytest.raises(SampleLibraryError, match="may not have finished"):
        load_library(out)

    report = _render(photos, out, settings, resume=True)
    assert (report.rendered, report.skipped) == (1, 2)
    assert {s: (out / "scenes" / s).stat().st_mtime_ns for s in done} == done
    assert not list((out / "scenes").glob(".*"))
    assert not (out / "library.json.partial").exists()
    load_library(out)

    report = _render(photos, out, settings, resume=True)  # complete already: nothing to do
    assert (report.rendered, report.skipped) == (0, 3)

    with pytest.raises(SampleLibraryError, match="different inputs or settings .*seed"):
        _render(photos, out, settings, seed=99, resume=True)
    # A bad argument with --force must not cost the library that is there.
    with pytest.raises(SampleLibraryError, match="faces folder not found"):
        render_library(photos["root"] / "missing", out, settings, force=True)
    assert len(load_library(out).scenes) == 3
    report = _render(photos, out, settings, force=True)
    assert (report.rendered, report.skipped) == (3, 0)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda root: {"faces": root / "missing"}, "faces folder not found"),
        (lambda root: {"faces": root / "empty"}, "has no photos"),
        (lambda root: {"faces": root / "only-text"}, "has no photos"),
        (lambda root: {"faces": root / "only-broken"}, "none of its 2 photos could be read"),
        (lambda root: {"unknowns": root / "missing"}, "unknowns folder not found"),
        (lambda root: {"distractors": root / "only-text"}, "distractors folder .* has no photos"),
        (lambda root: {"out": root / "faces" / "lib"}, "must be outside"),
        (lambda root: {"out": root / "not-a-library"}, "not empty and holds no sample library"),
        (lambda root: {"settings": replace(SMALL, gallery_per_identity=7)}, "none can appear in scenes"),
        (lambda root: {"settings": replace(SMALL, min_images=20)}, "at least 20 readable photos"),
        (lambda root: {"settings": replace(SMALL, fps=0)}, "--fps"),
        (lambda root: {"force": True, "resume": True}, "not both"),
        (lambda root: {"workers": 0}, "workers"),
    ],
)
def test_bad_inputs_give_clear_errors(photos: dict[str, Path], tmp_path: Path, setup, message: str) -> None:
    root = photos["root"]
    (root / "empty").mkdir(exist_ok=True)
    (root / "only-text" / "someone").mkdir(parents=True, exist_ok=True)
    (root / "only-text" / "someone" / "readme.txt").write_text("no photos here")
    (root / "only-broken" / "someone").mkdir(parents=True, exist_ok=True)
    for name in ("a.jpg", "b.png"):
        (root / "only-broken" / "someone" / name).write_bytes(b"\x00" * 64)
    (root / "not-a-library").mkdir(exist_ok=True)
    (root / "not-a-library" / "keep.txt").write_text("user data")
    args = {
        "faces": photos["faces"],
        "out": tmp_path / "lib",
        "settings": SMALL,
        "distractors": photos["distractors"],
        "unknowns": photos["unknowns"],
    } | setup(root)
    with pytest.raises(SampleLibraryError, match=message):
        render_library(
            args.pop("faces"),
            args.pop("out"),
            args.pop("settings"),
            distractors_dir=args.pop("distractors"),
            unknowns_dir=args.pop("unknowns"),
            **args,
        )
    assert (root / "not-a-library" / "keep.txt").exists()


def test_cli_renders_and_reports_errors(photos: dict[str, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cli-lib"
    common = ["samplelib", "render", "--faces", str(photos["faces"]), "--out", str(out)]
    short = ["--min-duration", "4", "--max-duration", "5", "--min-shot", "1", "--max-shot", "2", "--tiers", "480p"]
    result = runner.invoke(cli_app, [*common, "--scenes", "1", "--seed", "3", *short, "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "1 scenes (1 rendered, 0 already done)" in result.stdout
    assert "unreadable" in result.stderr
    library = load_library(out)
    assert len(library.scenes) == 1 and library.seed == 3

    again = runner.invoke(cli_app, [*common, "--scenes", "1", "--seed", "3", *short])
    assert again.exit_code == 1
    assert "Error:" in again.stderr and "--resume" in again.stderr

    bad = runner.invoke(cli_app, [*common, "--scenes", "2", "--tiers", "480p,8k", "--force"])
    assert bad.exit_code == 1
    assert "unknown resolution tier(s) 8k" in bad.stderr


def test_encoder_input_has_no_uninitialised_padding() -> None:
    """x264 reads row padding at 854 px wide; it must hold the edge pixels, not leftovers."""
    bgr = np.random.default_rng(3).integers(0, 256, (480, 854, 3), dtype=np.uint8)
    frame = yuv_frame(bgr)
    assert np.array_equal(frame.to_ndarray(), cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420))
    for plane, visible in zip(frame.planes, (854, 427, 427)):
        rows = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)
        assert plane.line_size > visible  # the padding this guards against exists
        edge = rows[:, visible - 1 : visible]
        assert np.array_equal(rows[:, visible:], np.repeat(edge, plane.line_size - visible, axis=1))
