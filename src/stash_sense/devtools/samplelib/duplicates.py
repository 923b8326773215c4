"""Planting duplicates in a rendered sample library, with the truth in ``library.json``.

From a rendered library this adds, as real video files:

- re-encoded copies of a scene: one at another resolution, one at a much lower bitrate;
- a copy with a cut intro (its first frame dropped, shots re-timed; a new scene). The sample
  scenes move in every frame and change background at every shot, so Stash's phash of them
  shifts by 8-31 bits even for a one-frame cut: this case measures that limit honestly;
- a heavily cut copy sharing the original's stash-box scene ID (its video hash is far off: only
  the stash-box ID tells they are the same);
- a second file on a scene (a lower-resolution re-encode attached to the same scene);
- performers entered twice: once more with the same stash ID under another name, once more
  under the same name spelled differently and without a stash ID;

and look-alikes that must never be reported: a new scene with the same performers and length
as an original but another cut (its shots in reverse order, mirrored), plus any original
scenes that share a performer.
Every file then gets Stash's phash (:mod:`stash_sense.devtools.samplelib.phash`).
Planting is deterministic for a given library and seed, and a library already planted is
returned as it is.
"""

from __future__ import annotations

import random
import uuid
from fractions import Fraction
from pathlib import Path

from stash_sense.devtools.samplelib.library import (
    TIER_SIZES,
    LibraryPerformer,
    LibraryScene,
    LibraryShot,
    PlantedDuplicates,
    PlantedPerformerGroup,
    PlantedScenePair,
    SampleLibrary,
    SampleLibraryError,
    SceneEncoding,
    SceneExtraFile,
    ScenePerformerRef,
    load_library,
    write_json_atomic,
)
from stash_sense.devtools.samplelib.phash import phash_hex, video_phash
from stash_sense.devtools.samplelib.plan import STASH_ID_NAMESPACE

INTRO_CUT_FRAMES = 1  # frames dropped from the start of a "cut intro" copy
HEAVY_CUT = 0.45  # the stash-box twin loses this much: its phash no longer matches
REENCODE_CRF = 33


def _transcode(source: Path, target: Path, *, size: tuple[int, int], crf: int, skip_frames: int = 0) -> int:
    """Re-encode ``source`` at ``size`` and ``crf``, dropping its first ``skip_frames`` frames;
    returns the frames written. Written under a temporary name, then renamed."""
    import av
    import cv2

    from stash_sense.devtools.samplelib.encode import partial_path, yuv_frame

    temporary = partial_path(target)
    written = 0
    try:
        with av.open(str(source)) as src:
            stream_in = src.streams.video[0]
            fps = int(round(float(stream_in.average_rate or 6)))
            with av.open(str(temporary), mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
                stream = out.add_stream("libx264", rate=fps)
                stream.width, stream.height = size
                stream.pix_fmt = "yuv420p"
                stream.time_base = Fraction(1, fps)
                stream.codec_context.thread_count = 1
                stream.codec_context.gop_size = fps * 2
                stream.options = {"crf": str(crf), "preset": "ultrafast"}
                for index, frame in enumerate(src.decode(stream_in)):
                    if index < skip_frames:
                        continue
                    bgr = cv2.resize(frame.to_ndarray(format="bgr24"), size, interpolation=cv2.INTER_AREA)
                    new = yuv_frame(bgr)
                    new.pts = written
                    new.time_base = Fraction(1, fps)
                    out.mux(stream.encode(new))
                    written += 1
                out.mux(stream.encode(None))
        temporary.replace(target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return written


def _reversed_cut(source: Path, target: Path, scene: LibraryScene) -> None:
    """Another cut of the same material: the shots in reverse order, each frame mirrored.
    Decodes the source once per shot so that only one frame is held at a time."""
    import av
    import cv2

    from stash_sense.devtools.samplelib.encode import partial_path, yuv_frame

    temporary = partial_path(target)
    written = 0
    try:
        with av.open(str(temporary), mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
            stream = out.add_stream("libx264", rate=scene.fps)
            stream.width, stream.height = scene.width, scene.height
            stream.pix_fmt = "yuv420p"
            stream.time_base = Fraction(1, scene.fps)
            stream.codec_context.thread_count = 1
            stream.options = {"crf": str(scene.encoding.crf), "preset": "ultrafast"}
            for shot in reversed(scene.shots):
                first, last = round(shot.start * scene.fps), round(shot.end * scene.fps)
                with av.open(str(source)) as src:
                    for index, frame in enumerate(src.decode(src.streams.video[0])):
                        if index >= last:
                            break
                        if index < first:
                            continue
                        new = yuv_frame(cv2.flip(frame.to_ndarray(format="bgr24"), 1))
                        new.pts = written
                        new.time_base = Fraction(1, scene.fps)
                        out.mux(stream.encode(new))
                        written += 1
            out.mux(stream.encode(None))
        temporary.replace(target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _lookalike(library: SampleLibrary, scene: LibraryScene, new_id: int, stash_id: str) -> LibraryScene:
    file = f"scenes/scene_{new_id:04d}.mp4"
    _reversed_cut(library.resolve(scene.file), library.resolve(file), scene)
    shots, cursor = [], 0.0
    for shot in reversed(scene.shots):
        length = round(shot.end - shot.start, 3)
        shots.append(LibraryShot(start=round(cursor, 3), end=round(cursor + length, 3), people=shot.people))
        cursor += length
    shots[-1] = LibraryShot(start=shots[-1].start, end=scene.duration, people=shots[-1].people)
    return scene.model_copy(update={
        "id": str(new_id), "title": f"{scene.title} (another cut)", "file": file, "stash_id": stash_id, "shots": shots,
        "copy_of": None,
    })


def _other_tier(scene: LibraryScene) -> str:
    order = [t for t in ("480p", "720p", "1080p") if t != scene.resolution_tier]
    return "480p" if "480p" in order else order[0]


def _retimed(scene: LibraryScene, skip_frames: int) -> tuple[list[LibraryShot], list[ScenePerformerRef], list[str]]:
    """The shots of ``scene`` after its first ``skip_frames`` frames are dropped."""
    cut = round(skip_frames / scene.fps, 3)
    shots = []
    for shot in scene.shots:
        if shot.end <= cut + 1e-9:
            continue
        shots.append(LibraryShot(start=round(max(0.0, shot.start - cut), 3), end=round(shot.end - cut, 3), people=shot.people))
    shown = {p.performer_id for s in shots for p in s.people if p.performer_id}
    unknown = sorted({p.name for s in shots for p in s.people if p.performer_id is None})
    performers = [p for p in scene.performers if p.id in shown]
    return shots, performers, [u for u in scene.unknown_people if u in unknown]


def _copy(
    library: SampleLibrary, scene: LibraryScene, new_id: int, *, tier: str, crf: int, skip_frames: int, stash_id: str,
) -> LibraryScene:
    width, height = TIER_SIZES[tier]
    file = f"scenes/scene_{new_id:04d}.mp4"
    frames = _transcode(library.resolve(scene.file), library.resolve(file), size=(width, height), crf=crf, skip_frames=skip_frames)
    shots, performers, unknowns = _retimed(scene, skip_frames)
    duration = round(frames / scene.fps, 3)
    if shots:  # the last shot ends where the (possibly shortened) video ends
        shots[-1] = LibraryShot(start=shots[-1].start, end=duration, people=shots[-1].people)
    return LibraryScene(
        id=str(new_id), title=f"{scene.title} ({'cut' if skip_frames else tier})", file=file, stash_id=stash_id,
        width=width, height=height, duration=duration, fps=scene.fps, frames=frames, resolution_tier=tier,  # type: ignore[arg-type]
        performers=performers, unknown_people=unknowns, shots=shots,
        encoding=SceneEncoding(crf=crf, preset="ultrafast", x264_params="", gop=scene.fps * 2), copy_of=scene.id,
    )


def plant_duplicates(library_dir: Path, *, seed: int = 0) -> SampleLibrary:
    """Plant the duplicates described above into the library at ``library_dir`` (idempotent)."""
    library = load_library(library_dir)
    if library.duplicates is not None:
        return library
    originals = [s for s in library.scenes if s.copy_of is None]
    if len(originals) < 6:
        raise SampleLibraryError(f"planting duplicates needs at least 6 rendered scenes, {library.root} has {len(originals)}")
    rng = random.Random(seed)
    picks = rng.sample(originals, 6)
    next_id = max(int(s.id) for s in library.scenes) + 1
    new_scenes: list[LibraryScene] = []
    pairs: list[PlantedScenePair] = []

    def fresh_stash_id(n: int) -> str:
        return str(uuid.uuid5(STASH_ID_NAMESPACE, f"planted-scene:{seed}:{n}"))

    reencode, low_bitrate, trimmed, twin, two_files, lookalike_of = picks
    copy = _copy(library, reencode, next_id, tier=_other_tier(reencode), crf=REENCODE_CRF, skip_frames=0,
                 stash_id=fresh_stash_id(next_id))
    new_scenes.append(copy)
    pairs.append(PlantedScenePair(a=reencode.id, b=copy.id, kind="reencode"))
    next_id += 1
    small = _copy(library, low_bitrate, next_id, tier=low_bitrate.resolution_tier, crf=REENCODE_CRF + 5, skip_frames=0,
                  stash_id=fresh_stash_id(next_id))
    new_scenes.append(small)
    pairs.append(PlantedScenePair(a=low_bitrate.id, b=small.id, kind="reencode"))
    next_id += 1
    cut = _copy(library, trimmed, next_id, tier=trimmed.resolution_tier, crf=trimmed.encoding.crf,
                skip_frames=INTRO_CUT_FRAMES, stash_id=fresh_stash_id(next_id))
    new_scenes.append(cut)
    pairs.append(PlantedScenePair(a=trimmed.id, b=cut.id, kind="trimmed_intro"))
    next_id += 1
    heavy = _copy(library, twin, next_id, tier=twin.resolution_tier, crf=twin.encoding.crf,
                  skip_frames=max(1, round(twin.frames * HEAVY_CUT)), stash_id=twin.stash_id)
    new_scenes.append(heavy)
    pairs.append(PlantedScenePair(a=twin.id, b=heavy.id, kind="stash_id"))
    next_id += 1
    other_cut = _lookalike(library, lookalike_of, next_id, fresh_stash_id(next_id))
    new_scenes.append(other_cut)
    next_id += 1

    # A second file on one scene: a low-resolution re-encode of its own video.
    extra_name = f"scenes/scene_{int(two_files.id):04d}_alt.mp4"
    _transcode(library.resolve(two_files.file), library.resolve(extra_name), size=TIER_SIZES["480p"], crf=REENCODE_CRF)

    scenes: list[LibraryScene] = []
    for scene in [*library.scenes, *new_scenes]:
        updates: dict[str, object] = {"phash": phash_hex(video_phash(library.resolve(scene.file), scene.duration))}
        if scene.id == two_files.id:
            width, height = TIER_SIZES["480p"]
            updates["extra_files"] = [SceneExtraFile(
                file=extra_name, width=width, height=height,
                phash=phash_hex(video_phash(library.resolve(extra_name), scene.duration)),
            )]
        scenes.append(scene.model_copy(update=updates))

    # Look-alikes: different original scenes that share a performer (never the same video).
    lookalikes = [PlantedScenePair(a=lookalike_of.id, b=other_cut.id, kind="lookalike")]
    for i, a in enumerate(originals):
        for b in originals[i + 1:]:
            if {p.id for p in a.performers} & {p.id for p in b.performers}:
                lookalikes.append(PlantedScenePair(a=a.id, b=b.id, kind="lookalike"))

    # Performers entered twice.
    in_scenes = [p for p in library.performers if not p.distractor and p.duplicate_of is None and p.stash_id]
    by_stash, by_name = rng.sample(in_scenes, 2)
    next_pid = max(int(p.id) for p in library.performers) + 1
    dup_stash = LibraryPerformer(id=str(next_pid), name=f"{by_stash.name} (alt)", stash_id=by_stash.stash_id, images=[],
                                 duplicate_of=by_stash.id)
    dup_name = LibraryPerformer(id=str(next_pid + 1), name=by_name.name.upper().replace(" ", "  "), stash_id="", images=[],
                                duplicate_of=by_name.id)
    groups = [
        PlantedPerformerGroup(ids=[by_stash.id, dup_stash.id], kind="stash_id"),
        PlantedPerformerGroup(ids=[by_name.id, dup_name.id], kind="name"),
    ]
    planted = library.model_copy(update={
        "scenes": scenes,
        "performers": [*library.performers, dup_stash, dup_name],
        "duplicates": PlantedDuplicates(scenes=pairs, lookalikes=lookalikes, performers=groups, files=[two_files.id]),
    })
    # Validate the whole document again (references, shots, files) before replacing the file.
    checked = SampleLibrary.model_validate(planted.model_dump(mode="json")).bind(library.root)
    write_json_atomic(library.root / "library.json", checked.to_json())
    return load_library(library.root)


#: The default library of ``eval duplicates``: few, short, low-resolution scenes.
DEFAULT_SCENES = 8


def ensure_duplicates_library(out_dir: Path, faces_dir: Path, *, seed: int = 3, workers: int = 1) -> SampleLibrary:
    """A rendered library with planted duplicates in ``out_dir``: reused when one is there,
    otherwise rendered from ``faces_dir`` (labelled photos) and planted."""
    from stash_sense.devtools.samplelib.render import render_library
    from stash_sense.devtools.samplelib.settings import RenderSettings

    out_dir = Path(out_dir)
    if (out_dir / "library.json").is_file():
        try:
            existing = load_library(out_dir)
        except SampleLibraryError:
            existing = None
        if existing is not None and existing.duplicates is not None:
            return existing
    settings = RenderSettings(
        scenes=DEFAULT_SCENES, min_duration=6.0, max_duration=8.0, min_shot=1.5, max_shot=3.0, tiers=("480p", "720p"),
    )
    render_library(faces_dir, out_dir, settings, seed=seed, force=True, workers=workers)
    return plant_duplicates(out_dir, seed=seed)
