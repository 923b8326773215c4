"""Versioned face-DB directories: ``P -> P.versions/<db_version>``.

The configured face-DB path ``P`` (``STASH_SENSE_FACE_DB``) becomes a relative symlink into
``P.versions/``, one directory per installed version. A new version is assembled in a staging
directory beside the versions (:func:`stage`), then renamed into place and ``P`` is flipped in
one ``rename(2)`` (:func:`publish`), so a reader sees either the old version or the new one,
never a mix. A reader that opened the old version keeps reading it (Linux keeps open files
alive); the old version stays on disk as the *previous* one, for :func:`rollback`, until the
next publish after it prunes it.

``P`` may still be a plain directory (a DB made by ``db build``): :func:`current_dir` then is
``P`` itself, and the first :func:`publish` moves it into ``P.versions/<its version>``.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from stash_sense.facedb.errors import FaceDBCorruptError, FaceDBError, FaceDBNotFoundError
from stash_sense.facedb.layout import CHECKSUMMED_FILES, MANIFEST_FILE, atomic_write_bytes
from stash_sense.facedb.manifest import load_manifest

log = logging.getLogger(__name__)

STAGING_PREFIX = ".staging-"
STATE_FILE = ".state.json"  # {"previous": "<version>"}
_TRASH_PREFIX = ".trash-"
_LOCK_NAME = ".lock"
# db_version becomes a directory name: nothing that could climb out of P.versions or hide.
_VERSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

# Staging dirs this process is filling, with the open file whose flock marks them as alive.
_live_staging: dict[Path, int] = {}
# (versions root, thread) -> depth of locked() held by that thread.
_held: dict[tuple[Path, int], int] = {}


class VersionError(FaceDBError):
    """The versioned layout cannot do what was asked (no previous version, a bad name, ...)."""


@dataclass(frozen=True)
class VersionEntry:
    version: str
    path: Path
    current: bool
    previous: bool


def _norm(db_path: Path) -> Path:
    # P itself is the symlink we manage and must not be followed; its parent is resolved so that
    # paths compare equal to what current_dir() resolves.
    path = Path(os.path.abspath(os.fspath(db_path)))
    return path.parent.resolve() / path.name


def versions_root(db_path: Path) -> Path:
    """``P.versions``, beside ``P``."""
    path = _norm(db_path)
    return path.parent / f"{path.name}.versions"


def _check_version_name(version: str) -> str:
    if not _VERSION_NAME.match(version):
        raise FaceDBCorruptError(f"db_version {version!r} cannot name a version directory (letters, digits, '.', '_', '-' only)")
    return version


def current_dir(db_path: Path) -> Path:
    """The real directory now in use: the target of ``P`` when it is a symlink, else ``P``.

    Callers that read several files should resolve once and read them all from this path, so
    a flip in the middle cannot mix two versions.
    """
    path = _norm(db_path)
    if path.is_symlink():
        return (path.parent / os.readlink(path)).resolve()
    return path


def current_version(db_path: Path) -> str | None:
    """The ``db_version`` of the DB now in use, or None when there is none (or it is unreadable)."""
    try:
        return load_manifest(current_dir(db_path)).db_version
    except FaceDBError:
        return None


def _read_state(root: Path) -> dict[str, str]:
    try:
        data = json.loads((root / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)} if isinstance(data, dict) else {}


def _write_state(root: Path, state: dict[str, str]) -> None:
    atomic_write_bytes(root / STATE_FILE, json.dumps(state, indent=2, sort_keys=True).encode("utf-8"))


def previous_dir(db_path: Path) -> Path | None:
    """The version :func:`rollback` would return to, if it is still on disk."""
    root = versions_root(db_path)
    name = _read_state(root).get("previous")
    if not name or not _VERSION_NAME.match(name):
        return None
    candidate = root / name
    if not (candidate / MANIFEST_FILE).is_file() or candidate == current_dir(db_path):
        return None
    return candidate


def list_versions(db_path: Path) -> list[VersionEntry]:
    """Installed versions, oldest first (version names start with their UTC time)."""
    root = versions_root(db_path)
    if not root.is_dir():
        return []
    current = current_dir(db_path)
    previous = previous_dir(db_path)
    entries = []
    for child in sorted(root.iterdir()):
        if child.name.startswith(".") or not child.is_dir() or child.is_symlink():
            continue
        entries.append(VersionEntry(child.name, child, child == current, child == previous))
    return entries


# -- staging ---------------------------------------------------------------------------------


@contextmanager
def locked(db_path: Path, *, wait_s: float = 600.0) -> Iterator[None]:
    """Hold ``P.versions/.lock``: one publish, rollback or install of ``P`` at a time, across
    processes (the CLI, the sidecar and a crawl may all try). Waits up to ``wait_s`` for another
    holder; re-entrant within a thread (an install holds it across its own publish)."""
    root = versions_root(db_path)
    key = (root, threading.get_ident())
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    root.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fd = _lock_alive_marker(root)
            break
        except OSError:
            if time.monotonic() >= deadline:
                raise VersionError(f"another install or update of {_norm(db_path)} is running; try again when it ends") from None
            time.sleep(0.2)
    _held[key] = 1
    try:
        yield
    finally:
        del _held[key]
        os.close(fd)


def _lock_alive_marker(directory: Path) -> int:
    """Hold an exclusive flock on ``directory/.lock`` for as long as this process stages there.

    A crashed run's lock is released by the kernel, which is how :func:`stage` tells a stale
    staging dir from one another process is still filling.
    """
    fd = os.open(directory / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise
    return fd


def _is_stale(directory: Path) -> bool:
    lock = directory / _LOCK_NAME
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:
        return True  # never locked, or a half-removed directory
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # someone holds it: alive
    finally:
        os.close(fd)
    return True


def _remove_stale(root: Path) -> None:
    for gone in [staged for staged in _live_staging if not staged.exists()]:
        _release(gone)  # removed by its owner without discard(): just close the marker
    for child in root.iterdir():
        if child.name.startswith(_TRASH_PREFIX) or (child.name.startswith(STAGING_PREFIX) and child not in _live_staging and _is_stale(child)):
            log.info("removing %s left by an interrupted run", child)
            shutil.rmtree(child, ignore_errors=True)


def _repair(db_path: Path) -> None:
    """After a crash between moving a plain ``P`` away and creating the link: re-create it."""
    path = _norm(db_path)
    if path.exists() or path.is_symlink():
        return
    current = _read_state(versions_root(path)).get("current")
    if current and (versions_root(path) / current / MANIFEST_FILE).is_file():
        _flip(path, current)


def stage(db_path: Path, *, copy: bool = True) -> Path:
    """A new staging dir ``P.versions/.staging-<random>``, holding a copy of the current version's
    files (or empty when there is none, or with ``copy=False``: a full install brings its own).
    Stale staging dirs of crashed runs are removed first.

    Pass the result to :func:`publish`, or to :func:`discard` to give up.
    """
    path = _norm(db_path)
    root = versions_root(path)
    root.mkdir(parents=True, exist_ok=True)
    _repair(path)
    _remove_stale(root)
    staged = root / f"{STAGING_PREFIX}{secrets.token_hex(6)}"
    staged.mkdir()
    _live_staging[staged] = _lock_alive_marker(staged)
    try:
        if copy:
            copy_current(path, staged)
    except BaseException:
        discard(staged)
        raise
    return staged


def copy_current(db_path: Path, staged: Path) -> None:
    """Copy the current version's files (if any) into ``staged``: the base a delta applies to."""
    source = current_dir(db_path)  # resolved once: all files from one version
    if (source / MANIFEST_FILE).is_file():
        for name in (*CHECKSUMMED_FILES, MANIFEST_FILE):
            if (source / name).is_file():
                shutil.copyfile(source / name, staged / name)


def _release(staged: Path) -> None:
    fd = _live_staging.pop(staged, None)
    if fd is not None:
        os.close(fd)
    (staged / _LOCK_NAME).unlink(missing_ok=True)


def discard(staged: Path) -> None:
    """Remove a staging dir (a failed or abandoned install)."""
    _release(staged)
    shutil.rmtree(staged, ignore_errors=True)


# -- publishing ------------------------------------------------------------------------------


def _flip(path: Path, version: str) -> None:
    """Point ``P`` at ``P.versions/<version>`` in one rename (readers never see ``P`` missing)."""
    target = f"{path.name}.versions/{version}"
    tmp = path.parent / f".{path.name}.link-{secrets.token_hex(6)}"
    os.symlink(target, tmp)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _adopt_plain_dir(path: Path, root: Path) -> str | None:
    """Move a plain-directory DB at ``P`` into ``P.versions/<its version>``; returns that name."""
    try:
        version = _check_version_name(load_manifest(path).db_version)
    except FaceDBError:
        if any(path.iterdir()):
            raise VersionError(
                f"{path} is a directory without a finished face DB; move it away before installing a version there"
            ) from None
        path.rmdir()  # an empty directory (e.g. made by hand for the path): nothing to keep
        return None
    dest = root / version
    if dest.exists():
        _move_to_trash(dest, root)
    # Record where P is going before moving it, so a crash in between can be repaired.
    _write_state(root, {**_read_state(root), "current": version})
    os.replace(path, dest)
    return version


def _move_to_trash(directory: Path, root: Path) -> None:
    trash = root / f"{_TRASH_PREFIX}{secrets.token_hex(6)}"
    os.replace(directory, trash)
    shutil.rmtree(trash, ignore_errors=True)


def publish(db_path: Path, staged: Path) -> Path:
    """Make the finished DB in ``staged`` the current version; returns its directory.

    ``staged`` is renamed to ``P.versions/<db_version>`` and ``P`` flipped to it atomically. The
    version in use until now is remembered as the previous one; every other version is pruned.
    """
    path = _norm(db_path)
    root = versions_root(path)
    staged = Path(staged)
    if staged.parent != root:
        raise VersionError(f"{staged} is not a staging dir of {path} (use versions.stage)")
    version = _check_version_name(load_manifest(staged).db_version)
    with locked(path):
        return _publish(path, root, staged, version)


def _publish(path: Path, root: Path, staged: Path, version: str) -> Path:
    _repair(path)
    previous: str | None
    if path.is_symlink():
        previous = current_dir(path).name
    elif path.is_dir():
        previous = _adopt_plain_dir(path, root)
    elif path.exists():
        raise VersionError(f"{path} exists and is neither a directory nor a symlink; refusing to replace it")
    else:
        previous = None
    _release(staged)
    dest = root / version
    if previous == version:
        # Re-installing the version in use: keep the files readers have open, drop the copy.
        shutil.rmtree(staged, ignore_errors=True)
        previous = _read_state(root).get("previous")
    else:
        if dest.exists():
            _move_to_trash(dest, root)  # an older copy of this version (e.g. the previous one)
        os.replace(staged, dest)
    _write_state(root, {"current": version, **({"previous": previous} if previous and previous != version else {})})
    _flip(path, version)
    _prune(root, keep={version, previous})
    log.info("face DB %s now at version %s (previous: %s)", path, version, previous)
    return dest


def _prune(root: Path, keep: set[str | None]) -> None:
    for child in root.iterdir():
        if child.name.startswith(".") or child.name in keep or not child.is_dir():
            continue
        log.info("pruning old face DB version %s", child)
        _move_to_trash(child, root)


def rollback(db_path: Path) -> Path:
    """Flip ``P`` back to the previous version; the version left becomes the previous one (so a
    second rollback undoes the first). Returns the directory now in use."""
    path = _norm(db_path)
    with locked(path):
        return _rollback(path, versions_root(path))


def _rollback(path: Path, root: Path) -> Path:
    target = previous_dir(path)
    if target is None:
        raise VersionError(f"{path} has no previous version to roll back to")
    if not path.is_symlink():
        raise FaceDBNotFoundError(f"{path} is not a versioned face DB (no {root.name} link)")
    left = current_dir(path).name
    _write_state(root, {"current": target.name, "previous": left})
    _flip(path, target.name)
    log.info("face DB %s rolled back from %s to %s", path, left, target.name)
    return target
