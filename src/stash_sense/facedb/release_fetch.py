"""Where a release pack is, and getting it: local paths and http(s) URLs alike.

A source names a pack (``.../facedb-X.tar.gz``), or the ``.manifest.json`` beside it; the
``.sha256`` and ``.manifest.json`` are found by appending their suffix to the pack's name.
Nothing here runs unless a user asks (``db install``, the sidecar's ``POST /database/update``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from stash_sense.facedb.errors import FaceDBCorruptError, FaceDBError, FaceDBNotFoundError
from stash_sense.facedb.release_pack import MANIFEST_SUFFIX, SHA256_SUFFIX, ReleaseManifest

# (bytes so far, total bytes or None when unknown)
Progress = Callable[[int, "int | None"], None]

_SMALL_FILE_LIMIT = 4 << 20  # a release manifest or a .sha256 is a few kB
_CHUNK = 1 << 20
_USER_AGENT = "stash-sense face-DB installer"


class DownloadError(FaceDBError):
    """The pack (or a file beside it) could not be fetched."""


@dataclass(frozen=True)
class PackLocation:
    """A pack and the files beside it, as paths or URLs."""

    pack: str
    is_url: bool

    @property
    def sha256(self) -> str:
        return self.pack + SHA256_SUFFIX

    @property
    def manifest(self) -> str:
        return self.pack + MANIFEST_SUFFIX

    @property
    def name(self) -> str:
        return Path(urlsplit(self.pack).path).name if self.is_url else Path(self.pack).name


def is_url(source: str) -> bool:
    return urlsplit(source).scheme in ("http", "https")


def locate(source: str) -> PackLocation:
    """The pack a source names (the pack itself, or its ``.manifest.json``)."""
    source = source.strip()
    if not source:
        raise FaceDBNotFoundError("no pack given")
    url = is_url(source)
    if not url:
        source = str(Path(source).expanduser())
    for suffix in (MANIFEST_SUFFIX, SHA256_SUFFIX):
        if source.endswith(suffix):
            source = source[: -len(suffix)]
    return PackLocation(source, url)


def _client(timeout: float) -> httpx.Client:
    return httpx.Client(timeout=timeout, follow_redirects=True, headers={"User-Agent": _USER_AGENT})


def _read_small(location: str, url: bool, timeout: float, *, required: bool) -> bytes | None:
    if not url:
        path = Path(location)
        if not path.is_file():
            if required:
                raise FaceDBNotFoundError(f"{path} not found")
            return None
        if path.stat().st_size > _SMALL_FILE_LIMIT:
            raise FaceDBCorruptError(f"{path} is too large to be a release manifest or checksum")
        return path.read_bytes()
    try:
        with _client(timeout) as client, client.stream("GET", location) as response:
            if response.status_code == 404 and not required:
                return None
            if response.status_code != 200:
                raise DownloadError(f"{location} answered HTTP {response.status_code}")
            data = bytearray()
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > _SMALL_FILE_LIMIT:
                    raise DownloadError(f"{location} is too large to be a release manifest or checksum")
            return bytes(data)
    except httpx.HTTPError as exc:
        raise DownloadError(f"cannot fetch {location}: {type(exc).__name__}: {exc}") from exc


def fetch_release_manifest(location: PackLocation, *, timeout: float = 30.0) -> ReleaseManifest:
    """The pack's ``.manifest.json``: version, counts, kind and size, without the pack."""
    raw = _read_small(location.manifest, location.is_url, timeout, required=True)
    assert raw is not None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise FaceDBCorruptError(f"{location.manifest} is not valid JSON ({exc})") from exc
    return ReleaseManifest.parse(data, location.manifest)


def fetch_expected_sha256(location: PackLocation, *, timeout: float = 30.0, required: bool) -> str | None:
    """The hex digest in the pack's ``.sha256`` (``sha256sum`` format), or None if absent."""
    raw = _read_small(location.sha256, location.is_url, timeout, required=required)
    if raw is None:
        return None
    token = raw.decode("ascii", "replace").strip().split()[0].lower() if raw.strip() else ""
    if len(token) != 64 or any(c not in "0123456789abcdef" for c in token):
        raise FaceDBCorruptError(f"{location.sha256} does not hold a sha256 digest")
    return token


def fetch_pack(
    location: PackLocation, dest: Path, *, progress: Progress | None = None, timeout: float = 60.0, expected_size: int | None = None
) -> str:
    """Copy or download the pack to ``dest``; returns its sha256 (computed while it arrives).

    A download that ends early (fewer bytes than announced) is an error, as is an HTTP error;
    ``dest`` is removed then.
    """
    digest = hashlib.sha256()
    try:
        with dest.open("wb") as out:

            def take(chunk: bytes, done: int, total: int | None) -> int:
                out.write(chunk)
                digest.update(chunk)
                if progress:
                    progress(done + len(chunk), total)
                return done + len(chunk)

            if location.is_url:
                _download(location.pack, take, timeout, expected_size)
            else:
                _copy(Path(location.pack), take)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return digest.hexdigest()


_Take = Callable[[bytes, int, "int | None"], int]


def _copy(source: Path, take: _Take) -> None:
    if not source.is_file():
        raise FaceDBNotFoundError(f"pack not found: {source}")
    total, done = source.stat().st_size, 0
    with source.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            done = take(chunk, done, total)


def _download(url: str, take: _Take, timeout: float, expected_size: int | None) -> None:
    done = 0
    try:
        with _client(timeout) as client, client.stream("GET", url) as response:
            if response.status_code != 200:
                raise DownloadError(f"{url} answered HTTP {response.status_code}")
            length = response.headers.get("content-length", "")
            # Content-Length counts encoded bytes: only comparable when nothing re-encodes them.
            plain = response.headers.get("content-encoding", "identity") == "identity"
            total = int(length) if plain and length.isdigit() else expected_size
            for chunk in response.iter_bytes(_CHUNK):
                done = take(chunk, done, total)
    except httpx.HTTPError as exc:
        raise DownloadError(f"the download of {url} broke off ({type(exc).__name__}: {exc})") from exc
    if total is not None and done != total:
        raise DownloadError(f"the download of {url} ended after {done} of {total} bytes")
