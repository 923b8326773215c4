"""The emulator's view of a sample library (``LIBDIR/library.json``).

The sample-library package owns the file format; the emulator needs only a small part of it
(performers with their gallery images and stash IDs, scenes with their file and ground-truth
performers). This module reduces a library to that part so the rest of the emulator never
depends on the renderer's model classes: when ``stash_sense.devtools.samplelib`` is installed
its loader validates the file, otherwise a minimal reader here parses the same JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LIBRARY_FILE = "library.json"


class LibraryError(ValueError):
    """The library folder or its ``library.json`` cannot be served."""


@dataclass(frozen=True)
class LibraryPerformer:
    id: int
    name: str
    stash_id: str | None
    images: tuple[Path, ...]  # absolute paths, gallery order (the first is the Stash image)


@dataclass(frozen=True)
class LibraryExtraFile:
    file: Path  # absolute path of a scene's additional video file
    phash: str | None = None


@dataclass(frozen=True)
class LibraryScene:
    id: int
    title: str
    file: Path  # absolute path of the video
    stash_id: str | None
    performer_ids: tuple[int, ...]  # ground truth: the unknown people are not performers
    phash: str | None = None  # Stash's video phash of ``file``, when the library recorded it
    extra_files: tuple[LibraryExtraFile, ...] = ()


@dataclass(frozen=True)
class EmulatorLibrary:
    root: Path
    performers: tuple[LibraryPerformer, ...]
    scenes: tuple[LibraryScene, ...]

    def performer(self, performer_id: int) -> LibraryPerformer | None:
        return next((p for p in self.performers if p.id == performer_id), None)


def read_library(library_dir: Path) -> EmulatorLibrary:
    """Read and check ``library_dir/library.json``; raises :class:`LibraryError` with the reason."""
    root = Path(library_dir).expanduser().resolve()
    index = root / LIBRARY_FILE
    if not index.is_file():
        raise LibraryError(f"{index} not found: pass the folder written by `stash-sense samplelib render`")
    return _from_mapping(root, _load_raw(index))


def _load_raw(index: Path) -> Mapping[str, Any]:
    """The library as plain JSON data, validated by the sample-library loader when available."""
    try:
        from stash_sense.devtools.samplelib.library import load_library
    except ImportError:
        load_library = None
    if load_library is not None:
        try:
            model = load_library(index.parent)
        except Exception as exc:  # the loader's own validation message is the useful part
            raise LibraryError(str(exc)) from exc
        return model.model_dump(mode="json")
    try:
        data = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise LibraryError(f"{index} is not readable JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise LibraryError(f"{index} must hold a JSON object")
    return data


def _from_mapping(root: Path, data: Mapping[str, Any]) -> EmulatorLibrary:
    performers = tuple(_performer(root, raw) for raw in _list(data, "performers", "library"))
    known = {p.id for p in performers}
    if len(known) != len(performers):
        raise LibraryError("library.json lists the same performer id twice")
    scenes = tuple(_scene(root, raw, known) for raw in _list(data, "scenes", "library"))
    if len({s.id for s in scenes}) != len(scenes):
        raise LibraryError("library.json lists the same scene id twice")
    return EmulatorLibrary(root=root, performers=performers, scenes=scenes)


def _performer(root: Path, raw: Any) -> LibraryPerformer:
    where = f"performer {raw.get('id', '?')!r}" if isinstance(raw, dict) else "a performer entry"
    if not isinstance(raw, dict):
        raise LibraryError(f"{where} is not a JSON object")
    images = tuple(_existing(root, rel, where) for rel in _list(raw, "images", where))
    return LibraryPerformer(
        id=_int_id(raw.get("id"), where),
        name=_text(raw, "name", where),
        stash_id=raw.get("stash_id") or None,
        images=images,
    )


def _scene(root: Path, raw: Any, known_performers: set[int]) -> LibraryScene:
    where = f"scene {raw.get('id', '?')!r}" if isinstance(raw, dict) else "a scene entry"
    if not isinstance(raw, dict):
        raise LibraryError(f"{where} is not a JSON object")
    performer_ids = []
    for entry in _list(raw, "performers", where):
        pid = _int_id(entry.get("id") if isinstance(entry, dict) else entry, f"{where} performer")
        if pid not in known_performers:
            raise LibraryError(f"{where} lists performer {pid}, which is not in the library's performers")
        performer_ids.append(pid)
    return LibraryScene(
        id=_int_id(raw.get("id"), where),
        title=str(raw.get("title") or ""),
        file=_existing(root, _text(raw, "file", where), where),
        stash_id=raw.get("stash_id") or None,
        performer_ids=tuple(performer_ids),
        phash=raw.get("phash") or None,
        extra_files=tuple(
            LibraryExtraFile(file=_existing(root, _text(extra, "file", where), where), phash=extra.get("phash") or None)
            for extra in _list(raw, "extra_files", where)
        ),
    )


def _list(raw: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise LibraryError(f"{where}: {key!r} must be a list")
    return value


def _text(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise LibraryError(f"{where}: {key!r} must be a non-empty string")
    return value


def _int_id(value: Any, where: str) -> int:
    # Stash ids are integers; the library writes them as decimal strings.
    try:
        number = int(str(value))
    except ValueError:
        raise LibraryError(f"{where}: id {value!r} is not an integer") from None
    if number <= 0:
        raise LibraryError(f"{where}: id {value!r} must be positive")
    return number


def _existing(root: Path, relative: str, where: str) -> Path:
    path = (root / relative).resolve()
    if not path.is_file():
        raise LibraryError(f"{where}: file {relative!r} not found under {root}")
    return path
