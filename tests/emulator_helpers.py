"""A tiny sample library for the emulator tests: four performers with real celeb17 photos and
three short H.264 scenes rendered with PyAV (a few seconds at 10 fps, 480p and 720p).

It writes the sample library's ``library.json`` format, valid for the sample library's own
loader, so the emulator reads it exactly as it reads a library from ``stash-sense samplelib``.
"""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

IDENTITIES = ["Brad Pitt", "Kate Winslet", "Hugh Jackman", "Natalie Portman"]
IMAGES_PER_PERFORMER = 3
STASHDB = "https://stashdb.org/graphql"
FPS = 10
GOP = 20
X264_PARAMS = f"keyint={GOP}:min-keyint={GOP}:scenecut=0"
TIERS = {"480p": (854, 480), "720p": (1280, 720)}


@dataclass(frozen=True)
class SceneSpec:
    id: int
    tier: str
    frames: int
    performer_ids: tuple[int, ...]

    @property
    def size(self) -> tuple[int, int]:
        return TIERS[self.tier]

    @property
    def duration(self) -> float:
        return round(self.frames / FPS, 3)


# Scene 1: two performers at 480p. Scene 2: one performer at 720p. Scene 3: nobody tagged.
# Performer 4 is a distractor: in the gallery, in no scene.
SCENES = (
    SceneSpec(1, "480p", 40, (1, 2)),
    SceneSpec(2, "720p", 30, (3,)),
    SceneSpec(3, "480p", 20, ()),
)


def performer_stash_id(performer_id: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"stash-sense-test/performer/{performer_id}"))


def scene_stash_id(scene_id: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"stash-sense-test/scene/{scene_id}"))


def _settings_record() -> dict[str, object]:
    """The render-settings block, from the sample library's own model when it is installed
    (so this fixture keeps up with that format), else written out."""
    fields: dict[str, object] = {
        "scenes": len(SCENES), "gallery_per_identity": IMAGES_PER_PERFORMER, "min_heldout": 1,
        "min_images": None, "max_images": None, "min_duration": 2.0, "max_duration": 4.0,
        "min_shot": 2.0, "max_shot": 4.0, "fps": FPS, "keyframe_interval": GOP / FPS, "tiers": tuple(TIERS),
        "crf_min": 23, "crf_max": 23, "preset": "ultrafast", "x264_params": X264_PARAMS, "unknown_scene_share": 0.0,
    }
    try:
        from stash_sense.devtools.samplelib.settings import RenderSettings
    except ImportError:
        return {**fields, "tiers": list(TIERS)}
    known = set(RenderSettings.__dataclass_fields__)
    return RenderSettings(**{k: v for k, v in fields.items() if k in known}).record().model_dump(mode="json")


def _render(path: Path, spec: SceneSpec, faces: list[Path]) -> None:
    import av
    from PIL import Image

    width, height = spec.size
    portraits = [Image.open(face).convert("RGB") for face in faces]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "x264-params": X264_PARAMS}
        for index in range(spec.frames):
            # A background that changes every frame lets tests tell frames apart.
            canvas = Image.new("RGB", (width, height), (5 * index % 256, 60, 200 - 4 * index % 200))
            side = height // 2
            for slot, portrait in enumerate(portraits):
                x = (slot * (side + 10) + index * 4) % max(1, width - side)
                canvas.paste(portrait.resize((side, side)), (x, height // 4))
            for packet in stream.encode(av.VideoFrame.from_image(canvas)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def make_library(root: Path, facedata: Path) -> Path:
    """Write the library under ``root`` (photos copied into it) and return ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    performers = []
    heldout: dict[int, list[str]] = {}
    for pid, identity in enumerate(IDENTITIES, start=1):
        photos = sorted((facedata / "celeb17" / identity).glob("*.jpg"))
        copied: dict[str, list[str]] = {"gallery": [], "heldout": []}
        for kind, chosen in (("gallery", photos[:IMAGES_PER_PERFORMER]), ("heldout", photos[IMAGES_PER_PERFORMER:][:2])):
            folder = root / kind / identity
            folder.mkdir(parents=True, exist_ok=True)
            for photo in chosen:
                shutil.copyfile(photo, folder / photo.name)
                copied[kind].append(f"{kind}/{identity}/{photo.name}")
        heldout[pid] = copied["heldout"]
        performers.append({
            "id": str(pid),
            "name": identity,
            "stash_id": performer_stash_id(pid),
            "images": copied["gallery"],
            "heldout_images": copied["heldout"],
            "distractor": not any(pid in s.performer_ids for s in SCENES),
        })
    scenes = []
    (root / "scenes").mkdir(exist_ok=True)
    for spec in SCENES:
        relative = f"scenes/scene_{spec.id:04d}.mp4"
        _render(root / relative, spec, [root / heldout[pid][0] for pid in spec.performer_ids])
        people = [
            {"name": IDENTITIES[pid - 1], "performer_id": str(pid), "image": heldout[pid][0], "face_fraction": 0.3}
            for pid in spec.performer_ids
        ]
        scenes.append({
            "id": str(spec.id),
            "title": f"Scene {spec.id}",
            "file": relative,
            "stash_id": scene_stash_id(spec.id),
            "width": spec.size[0],
            "height": spec.size[1],
            "duration": spec.duration,
            "fps": FPS,
            "frames": spec.frames,
            "resolution_tier": spec.tier,
            "performers": [{"id": str(pid), "name": IDENTITIES[pid - 1]} for pid in spec.performer_ids],
            "unknown_people": [],
            "shots": [{"start": 0.0, "end": spec.duration, "people": people}] if people else [],
            "encoding": {
                "codec": "h264", "pix_fmt": "yuv420p", "crf": 23, "preset": "ultrafast", "x264_params": X264_PARAMS,
                "gop": GOP,
            },
        })
    library = {
        "version": 1,
        "seed": 0,
        "faces_dir": "celeb17",
        "gallery_dir": "gallery",
        "settings": _settings_record(),
        "performers": performers,
        "scenes": scenes,
    }
    (root / "library.json").write_text(json.dumps(library, indent=2), encoding="utf-8")
    return root
