"""Read small media (sprite sheets, VTT files, screenshots) from bytes, a local path or a URL."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path

import httpx

from stash_sense.media.base import FrameSourceError
from stash_sense.media.redaction import describe_headers, redact_secrets, redact_url

#: Anything that names media: raw bytes, a filesystem path, or an http(s) URL.
MediaSpec = bytes | bytearray | memoryview | str | os.PathLike[str]

# Sprites are ~0.5 MB and screenshots a few MB; anything far larger is not what we asked for.
MAX_FETCH_BYTES = 64 * 1024 * 1024


def is_url(spec: object) -> bool:
    """True for ``http://`` and ``https://`` strings (the only remote schemes we read)."""
    return isinstance(spec, str) and spec[:8].lower().startswith(("http://", "https://"))


def has_unsupported_scheme(spec: str) -> bool:
    """True for ``scheme://`` strings other than http(s): ftp, rtsp, FFmpeg pseudo-protocols..."""
    head, sep, _ = spec.partition("://")
    return bool(sep) and head.isalpha() and not is_url(spec)


def describe_spec(spec: MediaSpec, headers: Mapping[str, str] | None = None) -> str:
    """How to name ``spec`` in a message: redacted URL, path, or a byte count."""
    if isinstance(spec, (bytes, bytearray, memoryview)):
        return f"<{len(spec)} bytes in memory>"
    text = os.fspath(spec)
    if is_url(text):
        return redact_url(text) + describe_headers(headers)
    return text


def http_client(
    headers: Mapping[str, str] | None = None, timeout: float = 30.0, transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    """A client for several small fetches from one server (TLS setup is the slow part).

    ``transport`` (e.g. the API's URL guard) carries every request, redirect hops included; no
    proxy from the environment then, as a proxy would resolve names itself, past the transport.
    """
    return httpx.Client(
        timeout=timeout, follow_redirects=True, headers=dict(headers or {}), transport=transport, trust_env=transport is None
    )


def fetch_url(
    url: str,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    what: str = "file",
    client: httpx.Client | None = None,
    transport: httpx.BaseTransport | None = None,
) -> bytes:
    """GET ``url`` and return the body, with a :class:`FrameSourceError` for every way it can fail
    (what ``transport`` raises itself, such as a refusal, goes to the caller unchanged)."""
    shown = redact_url(url)
    try:
        with contextlib.ExitStack() as stack:
            if client is None:
                client = stack.enter_context(http_client(headers, timeout, transport))
            with client.stream("GET", url) as response:
                if response.status_code >= 400:
                    hint = " (check the API key)" if response.status_code in (401, 403) else ""
                    raise FrameSourceError(
                        f"{what} {shown}: HTTP {response.status_code} {response.reason_phrase}{hint}"
                    )
                body = bytearray()
                for chunk in response.iter_bytes():
                    body.extend(chunk)
                    if len(body) > MAX_FETCH_BYTES:
                        raise FrameSourceError(f"{what} {shown}: larger than {MAX_FETCH_BYTES} bytes")
                return bytes(body)
    except httpx.TimeoutException:
        raise FrameSourceError(f"{what} {shown}: timed out after {timeout:g} s") from None
    except httpx.ConnectError as exc:
        reason = redact_secrets(str(exc), headers) or "connection failed"
        raise FrameSourceError(f"{what} {shown}: cannot connect ({reason})") from None
    except httpx.HTTPError as exc:
        reason = redact_secrets(str(exc), headers) or type(exc).__name__
        raise FrameSourceError(f"{what} {shown}: {reason}") from None


def read_media(
    spec: MediaSpec,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    what: str = "file",
    client: httpx.Client | None = None,
    transport: httpx.BaseTransport | None = None,
) -> bytes:
    """The bytes named by ``spec``: returned as is, read from disk, or fetched over HTTP(S)
    (through ``transport`` when given and no ``client`` is)."""
    if isinstance(spec, (bytes, bytearray, memoryview)):
        data = bytes(spec)
        if not data:
            raise FrameSourceError(f"{what}: empty (0 bytes)")
        return data
    text = os.fspath(spec)
    if is_url(text):
        data = fetch_url(text, headers, timeout, what, client, transport)
        if not data:
            raise FrameSourceError(f"{what} {redact_url(text)}: empty response (0 bytes)")
        return data
    if has_unsupported_scheme(text):
        raise FrameSourceError(f"{what} {redact_url(text)}: unsupported URL scheme (use http(s) or a local path)")
    path = Path(text)
    check_local_file(path, what)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise FrameSourceError(f"{what} {path}: cannot read ({exc.strerror or exc})") from None


def check_local_file(path: Path, what: str) -> None:
    """Raise a clear error unless ``path`` is a readable, non-empty regular file."""
    if not path.exists():
        raise FrameSourceError(f"{what} {path}: no such file")
    if path.is_dir():
        raise FrameSourceError(f"{what} {path}: is a directory, not a file")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise FrameSourceError(f"{what} {path}: cannot read ({exc.strerror or exc})") from None
    if size == 0:
        raise FrameSourceError(f"{what} {path}: file is empty (0 bytes)")
