"""The emulated Stash's world: the library, its mutable state and its generated media.

Video facts and fingerprints are computed once per file and cached under the state folder
(keyed by path, size and modification time), as are screenshots and sprite sheets, which Stash
also generates once and then serves from disk.
"""

from __future__ import annotations

import contextlib

import dataclasses
import hashlib
import json
import logging
import shutil
import tempfile
import threading
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path

from stash_sense.devtools.emulator.library import EmulatorLibrary, read_library
from stash_sense.devtools.emulator.media import VideoInfo, grab_frames, jpeg_bytes, probe_video
from stash_sense.devtools.emulator.scene_files import SceneFileState
from stash_sense.devtools.emulator.sprites import render_sprite, sprite_file_name, vtt_file_name, write_atomically
from stash_sense.devtools.emulator.state import StateStore

log = logging.getLogger("stash_sense.devtools.emulator")

# Stash takes the default cover screenshot at 20% of the duration.
SCREENSHOT_POSITION = 0.2
_FILE_ID_OFFSET = 10_000  # keeps file ids visibly apart from scene ids
_EXTRA_FILE_ID_OFFSET = 20_000  # a scene's additional files


@dataclasses.dataclass(frozen=True)
class SceneFile:
    """A scene's one video file as Stash's ``VideoFile`` describes it."""

    id: int
    folder_id: int
    info: VideoInfo
    phash: str | None = None  # Stash's video phash (hex), when the library recorded it


class _PrimaryFiles(Mapping[int, SceneFile]):
    """``scene id -> primary file`` as the scene's files are now (merges and deletions applied)."""

    def __init__(self, catalog: StashCatalog) -> None:
        self._catalog = catalog

    def __getitem__(self, scene_id: object) -> SceneFile:
        try:
            ids = self._catalog.file_state.files_of(int(scene_id))  # type: ignore[call-overload]
        except (TypeError, ValueError):
            raise KeyError(scene_id) from None
        if not ids:
            raise KeyError(scene_id)
        return self._catalog.library_files[ids[0]]

    def __iter__(self) -> Iterator[int]:
        return iter(self._catalog.file_state.assignments())

    def __len__(self) -> int:
        return len(self._catalog.file_state.assignments())


def default_state_dir(library_dir: Path) -> Path:
    """``LIBDIR/.emulator``, or a temporary folder when the library is read-only."""
    preferred = Path(library_dir) / ".emulator"
    try:
        preferred.mkdir(parents=True, exist_ok=True)
        probe = preferred / f".write-test-{threading.get_ident()}"
        probe.touch()
        probe.unlink()
        return preferred
    except OSError:
        digest = hashlib.sha1(str(Path(library_dir).resolve()).encode()).hexdigest()[:12]
        fallback = Path(tempfile.gettempdir()) / f"stash-sense-emulator-{digest}"
        fallback.mkdir(parents=True, exist_ok=True)
        return fallback


class StashCatalog:
    """Everything the Stash emulator serves, independent of HTTP."""

    def __init__(
        self,
        library_dir: Path,
        *,
        state_db: Path | None = None,
        performers_without_image: Collection[int] = (),
    ):
        self.library: EmulatorLibrary = read_library(library_dir)
        self.state_dir = default_state_dir(self.library.root)
        self.cache_dir = self.state_dir / "cache"
        self._session_dir: Path | None = None
        if state_db is None:
            # A fresh state per emulator session; removed again by close().
            self._session_dir = Path(tempfile.mkdtemp(prefix="session-", dir=self.state_dir))
            state_db = self._session_dir / "state.db"
        try:
            self.library_files, initial = self._probe_scenes()
            self.store = StateStore(Path(state_db), self.library, performers_without_image=performers_without_image)
            self.file_state = SceneFileState(self.store, initial)
        except BaseException:
            if self._session_dir is not None:
                shutil.rmtree(self._session_dir, ignore_errors=True)
            raise
        self.files: Mapping[int, SceneFile] = _PrimaryFiles(self)
        self.file_by_oshash = {f.info.oshash: f for f in self.library_files.values()}
        self.scene_by_oshash = {
            self.library_files[fid].info.oshash: sid for sid, fids in self.file_state.assignments().items() for fid in fids
        }
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def close(self) -> None:
        self.store.close()
        if self._session_dir is not None:
            shutil.rmtree(self._session_dir, ignore_errors=True)

    def _probe_scenes(self) -> tuple[dict[int, SceneFile], dict[int, tuple[int, int]]]:
        """Every library video by file id, and where each starts: ``{file_id: (scene, position)}``."""
        files: dict[int, SceneFile] = {}
        initial: dict[int, tuple[int, int]] = {}
        folder_ids: dict[Path, int] = {}
        extra_index = 0
        for index, scene in enumerate(self.library.scenes, start=1):
            entries = [(_FILE_ID_OFFSET + index, scene.file, scene.phash)]
            for extra in scene.extra_files:
                extra_index += 1
                entries.append((_EXTRA_FILE_ID_OFFSET + extra_index, extra.file, extra.phash))
            for position, (file_id, path, phash) in enumerate(entries):
                folder = folder_ids.setdefault(path.parent, len(folder_ids) + 1)
                files[file_id] = SceneFile(id=file_id, folder_id=folder, info=self._probe(path), phash=phash)
                initial[file_id] = (scene.id, position)
        return files, initial

    def scene_files(self, scene_id: int) -> list[SceneFile]:
        """The scene's files as Stash lists them: primary first."""
        return [self.library_files[fid] for fid in self.file_state.files_of(scene_id)]

    # -- media ----------------------------------------------------------------------------

    def screenshot(self, scene_id: int, seconds: float | None) -> bytes:
        """A JPEG of the frame at ``seconds`` (default: Stash's 20% cover position)."""
        info = self.files[scene_id].info
        at = info.duration * SCREENSHOT_POSITION if seconds is None else seconds
        path = self.cache_dir / "screenshots" / f"{info.oshash}_{int(round(at * 1000))}.jpg"
        with self._lock_for(str(path)):
            if not path.exists():
                (frame,) = grab_frames(info.path, [max(0.0, at)])
                write_atomically(path, jpeg_bytes(frame))
        return path.read_bytes()

    def sprite(self, oshash: str) -> tuple[Path, Path]:
        """Paths of the scene's sprite JPEG and VTT, generating both on first use."""
        info = self.file_by_oshash[oshash].info
        folder = self.cache_dir / "sprites"
        jpg, vtt = folder / sprite_file_name(oshash), folder / vtt_file_name(oshash)
        with self._lock_for(f"sprite:{oshash}"):
            if not (jpg.exists() and vtt.exists()):
                log.info("generating sprite for %s", info.path.name)
                image, text = render_sprite(info, oshash)
                write_atomically(jpg, image)
                write_atomically(vtt, text.encode("utf-8"))
        return jpg, vtt

    def _lock_for(self, key: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())

    def _probe(self, path: Path) -> VideoInfo:
        stat = path.stat()
        key = hashlib.sha1(str(path).encode()).hexdigest()
        cached = self.cache_dir / "probe" / f"{key}.json"
        if cached.exists():
            # A damaged cache entry (OSError, ValueError, KeyError, TypeError) is simply recomputed.
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                data = json.loads(cached.read_text(encoding="utf-8"))
                if data.get("size") == stat.st_size and data.get("mtime_ns") == stat.st_mtime_ns:
                    fields = {f.name: data[f.name] for f in dataclasses.fields(VideoInfo) if f.name != "path"}
                    return VideoInfo(path=path, **fields)
        info = probe_video(path)
        record = {**dataclasses.asdict(info), "path": str(path), "mtime_ns": stat.st_mtime_ns}
        write_atomically(cached, json.dumps(record).encode("utf-8"))
        return info
