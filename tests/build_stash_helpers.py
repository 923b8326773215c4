"""A small Stash library for the build-from-Stash and identify-from-Stash tests.

Four performers with three real celeb17 photos each (Stash serves the first; a stash-box
serves all three), one unknown person who is not a performer, and four short H.264 scenes:

1. tagged with Brad Pitt only, but an unknown man (Tom Cruise, not a performer) is on screen
   beside him the whole time: the scene a careless enrichment would learn a stranger from;
2. Kate Winslet and Hugh Jackman, showing the photos Stash has of them (identification tests);
3. tagged with Natalie Portman only, whom Stash has no image of;
4. tagged with Hugh Jackman only.

Faces keep their aspect ratio when pasted (a squashed face is another face to the embedder).
The file is the sample library's ``library.json`` format, valid for its own loader.
"""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

STASHDB = "https://stashdb.org/graphql"
PERFORMERS = {1: "Brad Pitt", 2: "Kate Winslet", 3: "Hugh Jackman", 4: "Natalie Portman"}
UNKNOWN = "Tom Cruise"
GALLERY = 3  # photos per performer: the first is the Stash image
NO_IMAGE = 4  # served with Stash's generated default image
FPS = 10
GOP = 10
SIZE = (854, 480)
X264_PARAMS = f"keyint={GOP}:min-keyint={GOP}:scenecut=0"


@dataclass(frozen=True)
class Shot:
    frames: int
    people: tuple[tuple[str, str], ...]  # (name, relative photo path)


@dataclass(frozen=True)
class SceneSpec:
    id: int
    performer_ids: tuple[int, ...]
    unknowns: tuple[str, ...]
    shots: tuple[Shot, ...]

    @property
    def frames(self) -> int:
        return sum(s.frames for s in self.shots)


def performer_stash_id(performer_id: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"stash-sense-build-test/performer/{performer_id}"))


def _photos(facedata: Path, name: str) -> list[Path]:
    return sorted((facedata / "celeb17" / name).glob("*.jpg"))


def scene_specs() -> tuple[SceneSpec, ...]:
    def held(name: str, i: int) -> tuple[str, str]:
        return name, f"heldout/{name}/{i}"

    brad, kate, hugh, natalie = (PERFORMERS[i] for i in (1, 2, 3, 4))
    return (
        # Brad's held-out photos 4 and 8 (by file name) are close to his first photo: the
        # enrichment has something to find; Tom Cruise is beside him in every frame.
        SceneSpec(1, (1,), (UNKNOWN,), (
            Shot(15, (held(brad, 0), (UNKNOWN, f"unknowns/{UNKNOWN}/0"))),
            Shot(15, (held(brad, 1), (UNKNOWN, f"unknowns/{UNKNOWN}/1"))),
        )),
        # The very photos Stash has for Kate and Hugh (copied as held-out photos): certain matches.
        SceneSpec(2, (2, 3), (), (Shot(30, (held(kate, 0), held(hugh, 1))),)),
        SceneSpec(3, (4,), (), (Shot(20, (held(natalie, 0),)),)),
        SceneSpec(4, (3,), (), (Shot(20, (held(hugh, 0),)),)),
    )


# Which held-out photos (indices into the sorted celeb17 folder) each scene uses.
_HELDOUT = {"Brad Pitt": (3, 7), "Kate Winslet": (0,), "Hugh Jackman": (4, 0), "Natalie Portman": (3,)}
_UNKNOWN_PHOTOS = (0, 1)


def _render(path: Path, spec: SceneSpec, files: dict[str, Path]) -> None:
    import av
    from PIL import Image

    width, height = SIZE
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "x264-params": X264_PARAMS}
        index = 0
        for shot in spec.shots:
            photos = [Image.open(files[rel]).convert("RGB") for _, rel in shot.people]
            for _ in range(shot.frames):
                canvas = Image.new("RGB", SIZE, (30 + 3 * index % 200, 70, 120))
                slot_w = width // max(1, len(photos))
                for slot, photo in enumerate(photos):
                    tile_h = int(height * 0.6)
                    tile = photo.resize((round(photo.width * tile_h / photo.height), tile_h))
                    x = slot * slot_w + max(0, (slot_w - tile.width) // 2) + (index % 10) * 2
                    canvas.paste(tile, (min(x, width - tile.width), height // 5))
                for packet in stream.encode(av.VideoFrame.from_image(canvas)):
                    container.mux(packet)
                index += 1
        for packet in stream.encode():
            container.mux(packet)


def _settings_record() -> dict[str, object]:
    from stash_sense.devtools.samplelib.settings import RenderSettings

    settings = RenderSettings(
        scenes=len(scene_specs()), gallery_per_identity=GALLERY, min_duration=1.0, max_duration=4.0, min_shot=1.0,
        max_shot=3.0, fps=FPS, keyframe_interval=GOP / FPS, tiers=("480p",), crf_min=23, crf_max=23,
        x264_params=X264_PARAMS, unknown_scene_share=0.25,
    )
    return settings.record().model_dump(mode="json")


def make_library(root: Path, facedata: Path) -> Path:
    """Write the library under ``root`` (photos copied into it) and return ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}  # symbolic photo name used by the specs -> file in the library

    def copy(kind: str, name: str, photos: list[Path]) -> list[str]:
        folder = root / kind / name
        folder.mkdir(parents=True, exist_ok=True)
        out = []
        for i, photo in enumerate(photos):
            shutil.copyfile(photo, folder / photo.name)
            relative = f"{kind}/{name}/{photo.name}"
            files[f"{kind}/{name}/{i}"] = root / relative
            out.append(relative)
        return out

    performers = []
    for pid, name in PERFORMERS.items():
        photos = _photos(facedata, name)
        gallery = copy("gallery", name, photos[:GALLERY])
        heldout = copy("heldout", name, [photos[i] for i in _HELDOUT.get(name, ())])
        performers.append({
            "id": str(pid), "name": name, "stash_id": performer_stash_id(pid), "images": gallery,
            "heldout_images": heldout, "distractor": False,
        })
    unknown_images = copy("unknowns", UNKNOWN, [_photos(facedata, UNKNOWN)[i] for i in _UNKNOWN_PHOTOS])
    scenes = []
    (root / "scenes").mkdir(exist_ok=True)
    for spec in scene_specs():
        relative = f"scenes/scene_{spec.id:04d}.mp4"
        _render(root / relative, spec, files)
        shots, start = [], 0.0
        for shot in spec.shots:
            end = round(start + shot.frames / FPS, 3)
            people = [
                {
                    "name": name,
                    "performer_id": next((str(i) for i, n in PERFORMERS.items() if n == name), None),
                    "image": files[rel].relative_to(root).as_posix(),
                    "face_fraction": 0.3,
                }
                for name, rel in shot.people
            ]
            shots.append({"start": start, "end": end, "people": people})
            start = end
        scenes.append({
            "id": str(spec.id), "title": f"Scene {spec.id}", "file": relative,
            "stash_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"stash-sense-build-test/scene/{spec.id}")),
            "width": SIZE[0], "height": SIZE[1], "duration": round(spec.frames / FPS, 3), "fps": FPS,
            "frames": spec.frames, "resolution_tier": "480p",
            "performers": [{"id": str(i), "name": PERFORMERS[i]} for i in spec.performer_ids],
            "unknown_people": list(spec.unknowns), "shots": shots,
            "encoding": {"codec": "h264", "pix_fmt": "yuv420p", "crf": 23, "preset": "ultrafast",
                         "x264_params": X264_PARAMS, "gop": GOP},
        })
    library = {
        "version": 1, "seed": 0, "faces_dir": "celeb17", "gallery_dir": "gallery", "settings": _settings_record(),
        "performers": performers, "unknowns": [{"name": UNKNOWN, "images": unknown_images}], "scenes": scenes,
    }
    (root / "library.json").write_text(json.dumps(library, indent=2), encoding="utf-8")
    return root


# -- fixtures shared by the Stash build and Stash identification tests ------------------------

import pytest  # noqa: E402  (fixtures below; the helpers above need no pytest)

from stash_sense.devtools.emulator import create_app, run_in_thread  # noqa: E402

KEY = "stash-test-key-7f3a9c"


@pytest.fixture(scope="module", autouse=True)
def one_worker():
    """In-process face work: a worker pool's start-up would dominate these small builds."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STASH_SENSE_WORKERS", "1")
        yield


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, facedata: Path, stash_schema: Path) -> Path:
    return make_library(tmp_path_factory.mktemp("stash-library"), facedata)


@pytest.fixture(scope="module")
def stash(library: Path):
    with run_in_thread(create_app(library, api_key=KEY, performers_without_image=[NO_IMAGE])) as url:
        yield url
