"""A small rendered celeb17 library and face DBs for the benchmark tests.

Five identities with six photos each (four to the gallery, two held out), six scenes of 4-6 s
at 480p and 720p with one to three performers, rendered by the real sample-library renderer;
the face DB is built from the gallery by the real ``db build``. The emulator serves the library
as Stash.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

IDENTITIES = ["Brad Pitt", "Kate Winslet", "Hugh Jackman", "Natalie Portman", "Tom Hanks"]
PHOTOS_PER_IDENTITY = 6
GALLERY_PER_IDENTITY = 4
SCENES = 6
SEED = 3
API_KEY = "benchmark-test-key"
# Few frames keep the engine at a few seconds per scene on a loaded CPU.
NUM_FRAMES = 10


def link_photos(facedata: Path, out: Path, names: list[str] = IDENTITIES, count: int = PHOTOS_PER_IDENTITY) -> Path:
    """``out/<name>/<photo>`` links to the first ``count`` real photos of each identity."""
    for name in names:
        for photo in sorted((facedata / "celeb17" / name).iterdir())[:count]:
            target = out / name / photo.name
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                target.symlink_to(photo)
    return out


def render_small_library(facedata: Path, root: Path) -> Path:
    from stash_sense.devtools.samplelib import RenderSettings, render_library

    faces = link_photos(facedata, root / "faces")
    library = root / "library"
    settings = RenderSettings(
        scenes=SCENES, gallery_per_identity=GALLERY_PER_IDENTITY, min_duration=4.0, max_duration=6.0, min_shot=1.0,
        max_shot=2.0, tiers=("480p", "720p"), unknown_scene_share=0.0,
    )
    render_library(faces, library, settings, seed=SEED)
    return library


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["STASH_SENSE_WORKERS"] = "1"
    return env


def build_db(gallery: Path, out: Path) -> Path:
    """The real ``stash-sense db build --from-folder`` (in a child process: it uses a process pool)."""
    cmd = [sys.executable, "-c", "from stash_sense.cli import main; main()", "db", "build", "--from-folder", str(gallery),
           "--out", str(out)]
    done = subprocess.run(cmd, env=cli_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def copy_gallery(library: Path, out: Path, *, drop: tuple[str, ...] = (), extra: dict[str, list[Path]] | None = None) -> Path:
    """A gallery folder like the library's, without some identities and with extra ones."""
    for folder in sorted((library / "gallery").iterdir()):
        if folder.name in drop:
            continue
        for photo in sorted(folder.iterdir()):
            target = out / folder.name / photo.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(photo, target)
    for name, photos in (extra or {}).items():
        for photo in photos:
            target = out / name / photo.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(photo, target)
    return out
