"""Reading labelled photo folders (``<identity>/<images>``) and placing photos in a library."""

from __future__ import annotations

import errno
import os
import shutil
import unicodedata
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from stash_sense.devtools.samplelib.library import SampleLibraryError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


@dataclass(frozen=True)
class Identity:
    """One labelled person: the folder name and its readable photos, sorted by file name."""

    name: str
    images: tuple[Path, ...]


@dataclass
class ScanResult:
    identities: list[Identity] = field(default_factory=list)
    unreadable: list[Path] = field(default_factory=list)  # image files that did not decode
    empty: list[str] = field(default_factory=list)  # identity folders without a readable photo


def normalize_name(name: str) -> str:
    """A comparison key under which spellings of one name collide.

    Photo sets spell names differently ("Tom Hanks", "Tom_Hanks", "tom-hanks", "Penélope"):
    a distractor or an unknown person who is really a scene performer would corrupt the
    ground truth, so names are compared without case, accents, separators or punctuation.
    """
    decomposed = unicodedata.normalize("NFKD", name)
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    words = "".join(c if c.isalnum() else " " for c in letters.casefold())
    return " ".join(words.split())


def _is_readable(path: Path) -> bool:
    """Whether OpenCV can decode the photo (decoded at 1/8 scale: a cheap but real check)."""
    import cv2

    try:
        return cv2.imread(str(path), cv2.IMREAD_REDUCED_GRAYSCALE_8) is not None
    except cv2.error:
        return False


def scan_identities(root: Path, *, label: str) -> ScanResult:
    """List the identities under ``root`` with their readable photos.

    ``label`` names the folder's role in error messages ("faces", "distractors", ...).
    Files without an image extension are ignored; image files that do not decode are reported
    in ``unreadable`` so the caller can warn with a count.
    """
    if not root.exists():
        raise SampleLibraryError(f"{label} folder not found: {root}")
    if not root.is_dir():
        raise SampleLibraryError(f"{label} path is not a folder: {root}")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    candidates: list[tuple[str, list[Path]]] = []
    for folder in folders:
        files = sorted(
            (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS),
            key=lambda p: p.name,
        )
        candidates.append((folder.name, files))
    every_file = [f for _, files in candidates for f in files]
    if not every_file:
        raise SampleLibraryError(
            f"{label} folder {root} has no photos: expected one sub-folder per person "
            f"(<identity>/<image files>, extensions {', '.join(sorted(IMAGE_EXTENSIONS))})"
        )
    # cv2.imread releases the GIL, so a couple of threads make the check I/O-bound.
    with ThreadPoolExecutor(max_workers=4) as pool:
        readable = dict(zip(every_file, pool.map(_is_readable, every_file)))
    result = ScanResult()
    for name, files in candidates:
        good = tuple(f for f in files if readable[f])
        result.unreadable.extend(f for f in files if not readable[f])
        if good:
            result.identities.append(Identity(name=name, images=good))
        else:
            result.empty.append(name)
    if not result.identities:
        raise SampleLibraryError(f"{label} folder {root}: none of its {len(every_file)} photos could be read")
    return result


def link_or_copy(source: Path, target: Path) -> None:
    """Place ``source`` at ``target``: a hard link when both are on one filesystem, else a copy.

    Galleries can hold thousands of distractor photos; hard links make that instant and cost
    no space. An existing target of the same size is kept, so a resumed render does not redo it.
    """
    if target.exists():
        if target.stat().st_size == source.stat().st_size:
            return
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EACCES, errno.EMLINK, errno.ENOTSUP):
            raise
        shutil.copyfile(source, target)


def place_files(pairs: Iterable[tuple[Path, Path]]) -> int:
    """Link or copy every ``(source, target)`` pair; returns how many were placed."""
    count = 0
    created: set[Path] = set()
    for source, target in pairs:
        if target.parent not in created:
            target.parent.mkdir(parents=True, exist_ok=True)
            created.add(target.parent)
        link_or_copy(source, target)
        count += 1
    return count
