"""The sample library's ``library.json``: typed models, validation and loading.

A sample library is a folder holding a performer gallery (``gallery/<name>/...``), the held-out
photos rendered into scenes (``heldout/<name>/...``), photos of people who are not in the gallery
(``unknowns/<label>/...``), the rendered scenes (``scenes/scene_NNNN.mp4``) and ``library.json``,
the ground truth that ties them together. Every path in ``library.json`` is relative to the
library folder so the folder can be moved or served as a whole; :meth:`SampleLibrary.resolve`
turns them into real paths.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

LIBRARY_FILE = "library.json"
LIBRARY_VERSION = 1

TierName = Literal["480p", "720p", "1080p", "4k"]

# The frame size of each resolution tier (16:9; 854 keeps 480p's width even for yuv420p).
TIER_SIZES: dict[str, tuple[int, int]] = {
    "480p": (854, 480),
    "720p": (1280, 720),
    "1080p": (1920, 1080),
    "4k": (3840, 2160),
}


class SampleLibraryError(Exception):
    """A sample library cannot be built or loaded; the message says why and what to do."""


def _check_relative(path: str) -> str:
    """Library paths must stay inside the library folder."""
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or ".." in pure.parts or "\\" in path:
        raise ValueError(f"path {path!r} must be relative to the library folder, without '..'")
    return path


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LibraryPerformer(_Model):
    """A performer of the emulated Stash: gallery photos, and held-out photos used in scenes."""

    id: str
    name: str
    stash_id: str | None = None  # None: no stash-box link (a performer only this Stash knows)
    images: list[str]  # gallery photos ("performer images"): what the face DB is built from
    heldout_images: list[str] = Field(default_factory=list)  # never in the gallery
    distractor: bool = False  # an extra gallery identity that never appears in a scene
    duplicate_of: str | None = None  # a planted duplicate entry of this performer (no photos, no scenes)

    @field_validator("images", "heldout_images")
    @classmethod
    def _relative(cls, paths: list[str]) -> list[str]:
        return [_check_relative(p) for p in paths]


class LibraryUnknown(_Model):
    """A person who appears in scenes but is not a performer (open-set ground truth)."""

    name: str
    images: list[str]

    @field_validator("images")
    @classmethod
    def _relative(cls, paths: list[str]) -> list[str]:
        return [_check_relative(p) for p in paths]


class ShotPerson(_Model):
    """One person's photo tile in a shot."""

    name: str
    performer_id: str | None  # None for an unknown person
    image: str  # the photo shown (relative path)
    face_fraction: float  # face height / frame height at the middle of the shot
    occluded: bool = False  # whether a moving shape covers part of the face during the shot

    @field_validator("image")
    @classmethod
    def _relative(cls, path: str) -> str:
        return _check_relative(path)


class LibraryShot(_Model):
    start: float  # seconds
    end: float
    people: list[ShotPerson]


class ScenePerformerRef(_Model):
    id: str
    name: str


class SceneEncoding(_Model):
    codec: Literal["h264"] = "h264"
    pix_fmt: Literal["yuv420p"] = "yuv420p"
    crf: int
    preset: str
    x264_params: str
    gop: int  # frames between keyframes


class SceneExtraFile(_Model):
    """A second video file of a scene (Stash lists it after the primary file)."""

    file: str
    width: int
    height: int
    phash: str | None = None

    @field_validator("file")
    @classmethod
    def _relative(cls, path: str) -> str:
        return _check_relative(path)


class LibraryScene(_Model):
    id: str
    title: str
    file: str
    stash_id: str
    width: int
    height: int
    duration: float  # seconds (frames / fps)
    fps: int
    frames: int
    resolution_tier: TierName
    performers: list[ScenePerformerRef]  # the ground truth: every gallery performer in the scene
    unknown_people: list[str]  # labels of people in the scene who are not performers
    shots: list[LibraryShot]
    encoding: SceneEncoding
    phash: str | None = None  # Stash's video phash of ``file`` (hex), see samplelib.phash
    extra_files: list[SceneExtraFile] = Field(default_factory=list)
    copy_of: str | None = None  # planted duplicate: the scene this one was made from

    @field_validator("file")
    @classmethod
    def _relative(cls, path: str) -> str:
        return _check_relative(path)

    @model_validator(mode="after")
    def _consistent(self) -> LibraryScene:
        if (self.width, self.height) != TIER_SIZES[self.resolution_tier]:
            raise ValueError(
                f"scene {self.id}: {self.width}x{self.height} is not the {self.resolution_tier} size"
            )
        expected = round(self.frames / self.fps, 3)
        if abs(self.duration - expected) > 1e-6:
            raise ValueError(f"scene {self.id}: duration {self.duration} != frames / fps = {expected}")
        cursor = 0.0
        for shot in self.shots:
            if abs(shot.start - cursor) > 1e-6 or shot.end <= shot.start:
                raise ValueError(f"scene {self.id}: shots must be contiguous and non-empty")
            cursor = shot.end
        if self.shots and abs(cursor - self.duration) > 1e-6:
            raise ValueError(f"scene {self.id}: shots end at {cursor}, the scene at {self.duration}")
        # The scene-level ground truth must be exactly who is shown in its shots.
        shown_performers = {p.performer_id for s in self.shots for p in s.people if p.performer_id is not None}
        shown_unknowns = {p.name for s in self.shots for p in s.people if p.performer_id is None}
        if shown_performers != {p.id for p in self.performers}:
            raise ValueError(f"scene {self.id}: performers do not match the people in its shots")
        if shown_unknowns != set(self.unknown_people):
            raise ValueError(f"scene {self.id}: unknown_people do not match the people in its shots")
        return self


class RenderSettingsRecord(_Model):
    """The parameters a library was rendered with (a resumed render must match them)."""

    scenes: int
    gallery_per_identity: int
    min_heldout: int
    min_images: int | None
    max_images: int | None
    min_duration: float
    max_duration: float
    min_shot: float
    max_shot: float
    fps: int
    keyframe_interval: float
    tiers: list[TierName]
    crf_min: int
    crf_max: int
    preset: str
    x264_params: str
    unknown_scene_share: float


class PlantedScenePair(_Model):
    a: str
    b: str
    kind: str  # reencode, trimmed_intro, stash_id, lookalike


class PlantedPerformerGroup(_Model):
    ids: list[str]
    kind: str  # stash_id, name


class PlantedDuplicates(_Model):
    """The truth about the duplicates planted in a library (see samplelib.duplicates)."""

    scenes: list[PlantedScenePair]  # the same scene twice
    lookalikes: list[PlantedScenePair]  # different scenes that look related: never duplicates
    performers: list[PlantedPerformerGroup]
    files: list[str]  # scenes with more than one file


class SampleLibrary(_Model):
    """A loaded ``library.json``; use :func:`load_library` to read one from disk."""

    version: Literal[1]
    seed: int
    faces_dir: str
    distractors_dir: str | None = None
    unknowns_dir: str | None = None
    gallery_dir: str = "gallery"
    settings: RenderSettingsRecord
    performers: list[LibraryPerformer]
    unknowns: list[LibraryUnknown] = Field(default_factory=list)
    scenes: list[LibraryScene]
    duplicates: PlantedDuplicates | None = None

    _root: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _references(self) -> SampleLibrary:
        performers: dict[str, LibraryPerformer] = {}
        for performer in self.performers:
            if performer.id in performers:
                raise ValueError(f"duplicate performer id {performer.id}")
            performers[performer.id] = performer
        if len({p.name for p in self.performers}) != len(self.performers):
            raise ValueError("performer names must be unique")
        unknown_names = {u.name for u in self.unknowns}
        if unknown_names & {p.name for p in self.performers}:
            raise ValueError("an unknown person has the name of a performer")
        scene_ids: set[str] = set()
        for scene in self.scenes:
            if scene.id in scene_ids:
                raise ValueError(f"duplicate scene id {scene.id}")
            scene_ids.add(scene.id)
            for ref in scene.performers:
                performer = performers.get(ref.id)
                if performer is None or performer.name != ref.name:
                    raise ValueError(f"scene {scene.id}: unknown performer {ref.id} ({ref.name})")
                if performer.distractor:
                    raise ValueError(f"scene {scene.id}: distractor {ref.name} must not appear in scenes")
            for label in scene.unknown_people:
                if label not in unknown_names:
                    raise ValueError(f"scene {scene.id}: unknown person {label!r} is not listed in unknowns")
            for shot in scene.shots:
                for person in shot.people:
                    if person.performer_id is not None:
                        held = performers[person.performer_id].heldout_images
                        if person.image not in held:
                            raise ValueError(
                                f"scene {scene.id}: {person.image} is not a held-out photo of {person.name}"
                            )
        return self

    # --- paths -------------------------------------------------------------------------------

    @property
    def root(self) -> Path:
        """The library folder (set by :func:`load_library` or :meth:`bind`)."""
        if self._root is None:
            raise SampleLibraryError("this library is not bound to a folder; load it with load_library()")
        return self._root

    def bind(self, root: Path) -> SampleLibrary:
        """Attach the folder that relative paths are resolved against."""
        self._root = Path(root).resolve()
        return self

    def resolve(self, relative: str) -> Path:
        """The real path of a library-relative path."""
        return self.root / relative

    @property
    def gallery_path(self) -> Path:
        """The folder to build the face DB from (``stash-sense db build --from-folder``)."""
        return self.resolve(self.gallery_dir)

    def scene_path(self, scene: LibraryScene) -> Path:
        return self.resolve(scene.file)

    def image_paths(self, performer: LibraryPerformer) -> list[Path]:
        return [self.resolve(p) for p in performer.images]

    # --- lookups -----------------------------------------------------------------------------

    def performer_by_id(self, performer_id: str) -> LibraryPerformer:
        for performer in self.performers:
            if performer.id == performer_id:
                return performer
        raise KeyError(performer_id)

    def scene_by_id(self, scene_id: str) -> LibraryScene:
        for scene in self.scenes:
            if scene.id == scene_id:
                return scene
        raise KeyError(scene_id)

    def referenced_files(self) -> list[str]:
        """Every file the library refers to (relative paths)."""
        files = [p for perf in self.performers for p in (*perf.images, *perf.heldout_images)]
        files += [p for unknown in self.unknowns for p in unknown.images]
        files += [scene.file for scene in self.scenes]
        files += [extra.file for scene in self.scenes for extra in scene.extra_files]
        return files

    def missing_files(self) -> list[str]:
        return [p for p in self.referenced_files() if not self.resolve(p).is_file()]

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"


def load_library(path: Path | str, *, check_files: bool = True) -> SampleLibrary:
    """Read and validate a sample library.

    ``path`` is the library folder or its ``library.json``. With ``check_files`` every referenced
    photo and scene must exist, so callers can rely on :meth:`SampleLibrary.resolve`.
    """
    path = Path(path).expanduser()
    file = path / LIBRARY_FILE if path.is_dir() else path
    if not file.is_file():
        hint = " (the render may not have finished; rerun it with --resume)" if (
            file.parent / f"{LIBRARY_FILE}.partial"
        ).is_file() else ""
        raise SampleLibraryError(f"no sample library at {path}: {file} not found{hint}")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SampleLibraryError(f"cannot read {file}: {exc}") from exc
    if isinstance(data, dict) and data.get("version") != LIBRARY_VERSION:
        raise SampleLibraryError(
            f"{file} has version {data.get('version')!r}; this build reads version {LIBRARY_VERSION}"
        )
    try:
        library = SampleLibrary.model_validate(data).bind(file.parent)
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc'])) or 'library'}: {e['msg']}" for e in exc.errors()]
        more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise SampleLibraryError(
            f"{file} is not a valid sample library:\n  " + "\n  ".join(problems[:10]) + more
        ) from exc
    if check_files:
        missing = library.missing_files()
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise SampleLibraryError(f"{file} refers to {len(missing)} missing files: {shown}")
    return library


def write_json_atomic(path: Path, text: str) -> None:
    """Write a file so that readers see either the old or the complete new content."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        # mkstemp creates the file owner-only; give it the permissions a plain write would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
