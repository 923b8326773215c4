"""Installing a catalogued model file: fetch (or copy), check size and sha256, move in atomically.

A download goes to ``<models dir>/.<file>.part`` first. It becomes the model only after its
size and sha256 match the catalog, by one ``os.replace`` in the same directory, so a model file
is either absent or complete and correct. A download cut short keeps its ``.part`` so the next
install resumes it (an HTTP ``Range`` request); a part that turns out wrong is deleted.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from ..config import model_source, models_dir
from ..faces.catalog import INSTALLABLE, ModelEntry, installable_entry

Progress = Callable[[int, int], None]  # (bytes done, bytes expected)
_CHUNK = 1 << 16
_HTTP_TIMEOUT_S = 30.0


class InstallError(RuntimeError):
    """An install that did not happen; the message says why and what to do."""


class LicenceNotAcceptedError(InstallError):
    """A model whose licence must be accepted was requested without ``--accept-licence``."""


@dataclass(slots=True)
class ModelStatus:
    name: str
    file: str
    path: str
    installed: bool
    size: int  # catalogued size in bytes
    licence: str
    commercial_use: bool
    description: str
    verified: bool | None = None  # sha256 checked: None when not checked (or not installed)
    problem: str | None = None

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__slots__}


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _status(entry: ModelEntry, verify: bool) -> ModelStatus:
    path = models_dir() / entry.file
    status = ModelStatus(
        entry.name, entry.file, str(path), path.is_file(), entry.size, entry.licence, entry.commercial_use, entry.description
    )
    if status.installed and verify:
        size = path.stat().st_size
        if size != entry.size:
            status.verified, status.problem = False, f"size {size:,} B, expected {entry.size:,} B"
        elif sha256_of(path) != entry.sha256:
            status.verified, status.problem = False, "sha256 differs from the catalog"
        else:
            status.verified = True
    return status


def model_statuses(*, verify: bool = False) -> list[ModelStatus]:
    """Every catalogued model and whether it is installed (and intact, with ``verify``)."""
    return [_status(entry, verify) for entry in INSTALLABLE.values()]


def verify_model(name: str) -> ModelStatus:
    return _status(installable_entry(name), True)


def remove_model(name: str) -> bool:
    """Delete an installed model (and any unfinished download of it); False if none was there."""
    entry = installable_entry(name)
    path = models_dir() / entry.file
    _part_path(entry).unlink(missing_ok=True)
    if path.is_file():
        path.unlink()
        return True
    return False


def _part_path(entry: ModelEntry) -> Path:
    return models_dir() / f".{entry.file}.part"


def licence_text(entry: ModelEntry) -> str:
    return f"{entry.name} is licensed {entry.licence}.\nCredit: {entry.credit}"


def install_model(
    name: str,
    *,
    accept_licence: bool = False,
    from_file: Path | None = None,
    source: str | None = None,
    progress: Progress | None = None,
) -> Path:
    """Install model ``name`` from ``from_file``, else from ``source`` (default
    ``STASH_SENSE_MODEL_SOURCE``); returns the installed path. Raises :class:`InstallError`
    (nothing installed) on any failure."""
    entry = installable_entry(name)
    if not entry.commercial_use and not accept_licence:
        raise LicenceNotAcceptedError(
            f"{licence_text(entry)}\nIts licence does not allow commercial use; to install it, accept the "
            f"licence: `stash-sense models install {entry.name} --accept-licence`. Nothing was installed."
        )
    target_dir = models_dir()
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InstallError(f"cannot create the models directory {target_dir}: {exc}") from exc
    final = target_dir / entry.file
    part = _part_path(entry)
    if from_file is not None:
        _copy(Path(from_file), part, entry, progress)
    else:
        origin = source or model_source()
        scheme = urlparse(origin).scheme
        if scheme in ("http", "https"):
            _download(origin.rstrip("/") + "/" + entry.file, part, entry, progress)
        else:
            folder = Path(origin[len("file://") :] if origin.startswith("file://") else origin).expanduser()
            _copy(folder / entry.file, part, entry, progress)
    _check(part, entry, resumable=from_file is None and urlparse(source or model_source()).scheme in ("http", "https"))
    os.replace(part, final)
    return final


def _copy(src: Path, part: Path, entry: ModelEntry, progress: Progress | None) -> None:
    if not src.is_file():
        raise InstallError(f"{src} does not exist (or is not a file); nothing was installed")
    part.unlink(missing_ok=True)
    done = 0
    try:
        with open(src, "rb") as fin, open(part, "wb") as fout:
            while block := fin.read(_CHUNK):
                fout.write(block)
                done += len(block)
                if progress:
                    progress(done, entry.size)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise InstallError(f"copying {src} failed: {exc}; nothing was installed") from exc


def _download(url: str, part: Path, entry: ModelEntry, progress: Progress | None) -> None:
    import httpx

    have = part.stat().st_size if part.is_file() else 0
    if have >= entry.size:  # a complete (or oversized) leftover: check it from scratch
        part.unlink()
        have = 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        with httpx.stream("GET", url, headers=headers, timeout=_HTTP_TIMEOUT_S, follow_redirects=True) as resp:
            if resp.status_code == 416:  # the server has nothing past what we have: start again
                part.unlink(missing_ok=True)
                raise InstallError(f"{url}: the server refused to resume (HTTP 416); run the install again to restart it")
            if resp.status_code >= 400:
                raise InstallError(f"{url}: HTTP {resp.status_code}; nothing was installed (check STASH_SENSE_MODEL_SOURCE)")
            resumed = resp.status_code == 206 and have > 0
            mode = "ab" if resumed else "wb"
            done = have if resumed else 0
            with open(part, mode) as fout:
                for block in resp.iter_bytes(_CHUNK):
                    fout.write(block)
                    done += len(block)
                    if progress:
                        progress(done, entry.size)
                    if done > entry.size:
                        break
    except httpx.HTTPError as exc:
        got = part.stat().st_size if part.is_file() else 0
        raise InstallError(
            f"downloading {url} failed after {got:,} of {entry.size:,} bytes ({type(exc).__name__}: {exc}); "
            "nothing was installed, run the install again to resume"
        ) from exc


def _check(part: Path, entry: ModelEntry, *, resumable: bool) -> None:
    size = part.stat().st_size if part.is_file() else 0
    if size < entry.size:
        if not resumable:
            part.unlink(missing_ok=True)
            raise InstallError(
                f"{entry.file} at the source is truncated: {size:,} of {entry.size:,} bytes; nothing was installed"
            )
        raise InstallError(
            f"the download of {entry.file} is incomplete: {size:,} of {entry.size:,} bytes; nothing was installed, "
            "run the install again to resume it"
        )
    if size > entry.size:
        part.unlink()
        raise InstallError(f"{entry.file} is {size:,} bytes, expected {entry.size:,}; the file was discarded and nothing was installed")
    digest = sha256_of(part)
    if digest != entry.sha256:
        part.unlink()
        raise InstallError(
            f"sha256 mismatch for {entry.file}: got {digest}, expected {entry.sha256}; the file was discarded and "
            "nothing was installed (the source holds a different or damaged file)"
        )

