"""``stash-sense db install``: install a release (full or delta pack, or a DB folder) as a new
version of the face DB at ``P``, or change nothing.

Order of work, so that any failure leaves the installed DB as it was: read the small release
manifest (a delta for another base, or the version already installed, stop here, before any
download) -> fetch the pack into a staging dir (:func:`versions.stage`), hashing it -> compare
with ``.sha256`` -> under the versions lock: unpack, checking every member against
``pack.json``; for a delta, copy the installed base in, check it against the base's checksums
and apply -> verify every file against the new manifest -> :func:`versions.publish`. Until the
publish everything lives in the staging dir, which is discarded on failure.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from stash_sense.facedb import versions
from stash_sense.facedb.errors import FaceDBCorruptError, FaceDBError, FaceDBNotFoundError
from stash_sense.facedb.layout import CHECKSUMMED_FILES, MANIFEST_FILE, sha256_file
from stash_sense.facedb.manifest import load_manifest
from stash_sense.facedb.release_delta import apply_delta_dir
from stash_sense.facedb.release_fetch import (
    PackLocation,
    Progress,
    fetch_expected_sha256,
    fetch_pack,
    fetch_release_manifest,
    is_url,
    locate,
)
from stash_sense.facedb.release_pack import DELTA_FILE, PackInfo, ReleaseManifest, extract_pack, read_pack_info
from stash_sense.facedb.verify import verify_db

_DOWNLOAD = ".pack.tar.gz"
_CONTENTS = ".pack-contents"

# Called with "download", "install" as the work moves on.
Phase = Callable[[str], None]


class BaseMismatchError(FaceDBError):
    """A delta pack for another version than the one installed."""


class InstallReport(BaseModel):
    ok: bool = True
    db_path: str
    source: str
    kind: Literal["full", "delta", "folder", "rollback"]
    previous_version: str | None
    db_version: str
    base_version: str | None = None
    directory: str
    up_to_date: bool = False
    pack_size: int | None = None
    sha256_verified: bool = False
    elapsed_s: float


def check_applicable(kind: str, base_version: str | None, target: str, installed: str | None) -> bool:
    """False when ``target`` is installed already; raises when a delta does not fit ``installed``."""
    if installed == target:
        return False
    if kind == "delta" and base_version != installed:
        raise BaseMismatchError(
            f"this delta pack updates version {base_version} to {target}, but the installed face DB is "
            f"{installed or 'none'}; nothing was changed. Install the full pack of {target} instead"
        )
    return True


def _up_to_date(db_path: Path, source: str, kind: Literal["full", "delta", "folder"], version: str, started: float) -> InstallReport:
    return InstallReport(
        db_path=str(db_path), source=source, kind=kind, previous_version=version, db_version=version,
        directory=str(versions.current_dir(db_path)), up_to_date=True, elapsed_s=round(time.monotonic() - started, 3),
    )


def install(source: str, db_path: Path, *, progress: Progress | None = None, phase: Phase | None = None, timeout: float = 60.0) -> InstallReport:
    """Install ``source`` (a pack file, a DB folder, or an http(s) URL of a pack) at ``db_path``.

    A URL needs its ``.sha256`` beside it; for a local pack the ``.sha256`` is checked when it
    is there (every member is checked against ``pack.json`` either way).
    """
    db_path = Path(db_path)
    if not is_url(source) and Path(source).expanduser().is_dir():
        return install_db_dir(Path(source).expanduser(), db_path)
    location = locate(source)
    release = _optional_release_manifest(location, timeout)
    return _install_pack(location, db_path, release, progress=progress, phase=phase, timeout=timeout)


def _optional_release_manifest(location: PackLocation, timeout: float) -> ReleaseManifest | None:
    if location.is_url or Path(location.manifest).is_file():
        return fetch_release_manifest(location, timeout=timeout)
    return None  # a bare local pack: pack.json inside says the same


def _install_pack(
    location: PackLocation, db_path: Path, release: ReleaseManifest | None, *, progress: Progress | None, phase: Phase | None,
    timeout: float,
) -> InstallReport:
    started = time.monotonic()
    installed = versions.current_version(db_path)
    if release is not None:
        kind, base, target = release.pack.kind, release.pack.base_version, release.manifest.db_version
    else:
        inside = read_pack_info(Path(location.pack))  # only the first member is read
        kind, base, target = inside.kind, inside.base_version, inside.db_version
    if not check_applicable(kind, base, target, installed):
        return _up_to_date(db_path, location.pack, kind, target, started)
    expected = fetch_expected_sha256(location, timeout=timeout, required=location.is_url)
    # The download goes into a staging dir of its own, outside the lock: a slow download must not
    # hold up a crawl publishing meanwhile. The base is read again under the lock.
    staged = versions.stage(db_path, copy=False)
    try:
        if phase:
            phase("download")
        pack = staged / _DOWNLOAD
        digest = fetch_pack(location, pack, progress=progress, timeout=timeout, expected_size=release.pack.size if release else None)
        if expected is not None and digest != expected:
            raise FaceDBCorruptError(
                f"{location.name} is damaged: its sha256 is {digest[:16]}…, {location.name}.sha256 says {expected[:16]}…; "
                "download it again"
            )
        if release is not None and digest != release.pack.sha256:
            raise FaceDBCorruptError(f"{location.name} is not the pack its .manifest.json describes (sha256 differs)")
        if phase:
            phase("install")
        size = pack.stat().st_size
        with versions.locked(db_path):
            installed = versions.current_version(db_path)
            info = _unpack_into(pack, staged, db_path, installed)
            pack.unlink()
            published = versions.publish(db_path, staged)
    except BaseException:
        versions.discard(staged)
        raise
    return InstallReport(
        db_path=str(db_path), source=location.pack, kind=info.kind, previous_version=installed, db_version=info.db_version,
        base_version=info.base_version, directory=str(published), pack_size=size, sha256_verified=expected is not None,
        elapsed_s=round(time.monotonic() - started, 3),
    )


def _unpack_into(pack: Path, staged: Path, db_path: Path, installed: str | None) -> PackInfo:
    """Unpack and (for a delta) apply; the staged dir then holds the verified new version."""
    contents = staged / _CONTENTS
    contents.mkdir()

    def check(info: PackInfo) -> None:
        # The pack itself, not only the manifest beside it, must fit what is installed.
        if not check_applicable(info.kind, info.base_version, info.db_version, installed):
            raise FaceDBError(f"the pack holds version {info.db_version}, which is installed already")

    info = extract_pack(pack, contents, check=check)
    if info.kind == "delta":
        versions.copy_current(db_path, staged)
        for name, expected in info.base_files.items():
            if not (staged / name).is_file() or sha256_file(staged / name) != expected:
                raise FaceDBCorruptError(
                    f"the installed face DB's {name} is not the one of version {info.base_version} (modified or damaged); "
                    "run `stash-sense db verify`, or install the full pack"
                )
        apply_delta_dir(staged, contents / DELTA_FILE, contents / MANIFEST_FILE)
    else:
        for name in (*CHECKSUMMED_FILES, MANIFEST_FILE):
            os.replace(contents / name, staged / name)
    shutil.rmtree(contents)
    _verify_staged(staged, info.db_version)
    return info


def _verify_staged(staged: Path, version: str) -> None:
    report = verify_db(staged)
    if not report.ok or report.db_version != version:
        raise FaceDBCorruptError(f"the unpacked face DB {version} failed verification: " + "; ".join(report.problems[:3]))


def install_db_dir(folder: Path, db_path: Path) -> InstallReport:
    """Install a finished DB folder (e.g. the output of ``db build``) as a new version."""
    started = time.monotonic()
    if not (folder / MANIFEST_FILE).is_file():
        raise FaceDBNotFoundError(f"{folder} holds no finished face DB ({MANIFEST_FILE} missing)")
    version = load_manifest(folder).db_version
    with versions.locked(db_path):
        installed = versions.current_version(db_path)
        if installed == version:
            return _up_to_date(db_path, str(folder), "folder", version, started)
        staged = versions.stage(db_path, copy=False)
        try:
            for name in (*CHECKSUMMED_FILES, MANIFEST_FILE):
                shutil.copyfile(folder / name, staged / name)
            _verify_staged(staged, version)
            published = versions.publish(db_path, staged)
        except BaseException:
            versions.discard(staged)
            raise
    return InstallReport(
        db_path=str(db_path), source=str(folder), kind="folder", previous_version=installed, db_version=version,
        directory=str(published), pack_size=sum((folder / n).stat().st_size for n in (*CHECKSUMMED_FILES, MANIFEST_FILE)),
        sha256_verified=True, elapsed_s=round(time.monotonic() - started, 3),
    )


def rollback(db_path: Path) -> InstallReport:
    """Flip ``db_path`` back to its previous version (see :func:`versions.rollback`)."""
    started = time.monotonic()
    with versions.locked(db_path):
        left = versions.current_version(db_path)
        directory = versions.rollback(db_path)
    version = load_manifest(directory).db_version
    return InstallReport(
        db_path=str(db_path), source="rollback", kind="rollback", previous_version=left, db_version=version,
        directory=str(directory), sha256_verified=False, elapsed_s=round(time.monotonic() - started, 3),
    )
