"""Duplicate scene files: one scene with more than one video file.

The keeper is chosen by the user's preferred folders first, then resolution, bitrate and codec;
the space saved is the size of the other files. This is a fact about the library, not a guess,
so its confidence is 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath
from typing import Any

from stash_sense.recommendations.base import AnalysisOutcome, RunControl
from stash_sense.recommendations.duplicate_scenes import scene_key
from stash_sense.recommendations.scene_sync import SceneSource, sync_scenes
from stash_sense.userdb import IndexedFile, LibraryIndex, NewRecommendation

TYPE = "duplicate_files"
LOGIC_VERSION = 1

# Newer codecs keep the same picture in fewer bytes: at equal resolution and bitrate prefer them.
CODEC_RANK = {"av1": 3, "hevc": 2, "h265": 2, "vp9": 2, "h264": 1, "avc1": 1}


def _preferred(path: str, preferred_paths: Sequence[str]) -> int:
    """Rank of the first preferred folder holding ``path`` (higher is better; 0 = none)."""
    for rank, folder in enumerate(preferred_paths):
        try:
            if PurePath(path).is_relative_to(PurePath(folder)):
                return len(preferred_paths) - rank
        except ValueError:
            continue
    return 0


def keeper_key(f: IndexedFile, preferred_paths: Sequence[str]) -> tuple[int, int, int, int]:
    return (_preferred(f.path, preferred_paths), f.short_side, f.bit_rate, CODEC_RANK.get(f.video_codec.lower(), 0))


def choose_keeper(files: Sequence[IndexedFile], preferred_paths: Sequence[str] = ()) -> tuple[IndexedFile, list[str]]:
    """The file to keep, and why (the first criterion that told it apart)."""
    ranked = sorted(files, key=lambda f: keeper_key(f, preferred_paths), reverse=True)
    best, second = ranked[0], ranked[1]
    kb, ks = keeper_key(best, preferred_paths), keeper_key(second, preferred_paths)
    names = ("in a preferred folder", "higher resolution", "higher bitrate", "more efficient codec")
    reasons = [names[i] for i in range(4) if kb[i] != ks[i]][:1] or ["first file (files are equivalent)"]
    return best, reasons


def _file(f: IndexedFile, keep: bool) -> dict[str, Any]:
    return {
        "id": f.file_id, "path": f.path, "size": f.size, "width": f.width, "height": f.height, "duration": round(f.duration, 2),
        "bit_rate": f.bit_rate, "video_codec": f.video_codec, "keep": keep,
    }


class DuplicateFilesAnalyzer:
    type = TYPE
    logic_version = LOGIC_VERSION
    object_kind = "scene"

    def __init__(self, index: LibraryIndex, source: SceneSource | None, preferred_paths: Sequence[str] = ()) -> None:
        self.index = index
        self.source = source
        self.preferred_paths = list(preferred_paths)

    async def analyze(self, *, since: str | None, control: RunControl) -> AnalysisOutcome:
        sync = await sync_scenes(self.source, self.index, since, control)
        control.check()
        ids = None if since is None else sorted(set(sync.changed), key=scene_key)
        scenes = self.index.scenes(ids)
        findings = []
        for scene in scenes:
            if len(scene.files) < 2:
                continue
            keeper, reasons = choose_keeper(scene.files, self.preferred_paths)
            extra = [f for f in scene.files if f.file_id != keeper.file_id]
            findings.append(NewRecommendation(
                type=TYPE, target=f"scene:{scene.scene_id}", confidence=1.0,
                evidence={
                    "scene": {"id": scene.scene_id, "title": scene.title},
                    "files": [_file(f, f.file_id == keeper.file_id) for f in scene.files],
                    "keeper": keeper.file_id, "reasons": reasons, "space_saved": sum(f.size for f in extra),
                    "codecs": sorted({f.video_codec for f in scene.files}),
                },
                objects=[("scene", scene.scene_id)],
                facts={"files": sorted(f.file_id for f in scene.files)},
            ))
        examined = [s.scene_id for s in scenes] if since is None else sorted(set(sync.changed) | set(sync.removed), key=scene_key)
        return AnalysisOutcome(
            findings=findings, examined=examined, total=sync.total, candidates=len(findings), watermark=sync.watermark,
            touching="scene", present=sync.present,
        )
