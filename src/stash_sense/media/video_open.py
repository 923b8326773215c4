"""Opening a video container with PyAV, safely: the protocols FFmpeg may use for each kind of
input, the API's httpx transport for guarded URLs (:mod:`.httpio`), header injection refused,
and FFmpeg's errors turned into short reasons that never carry a key."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import av
import av.error
import httpx

from stash_sense.media.base import FrameSourceError
from stash_sense.media.fetch import check_local_file, has_unsupported_scheme
from stash_sense.media.httpio import HttpOpenError, HttpRangeReader
from stash_sense.media.redaction import describe_headers, redact_secrets

# Protocols FFmpeg may use for each kind of input (https needs tls over tcp). Anything else,
# e.g. "concat:" or "subfile," pseudo-protocols hidden in a path, is refused.
_URL_PROTOCOLS = "http,https,tcp,tls"
_FILE_PROTOCOLS = "file"
# Read through our own I/O, FFmpeg needs no protocol; a demuxer that opens other URLs itself (an
# HLS playlist's segments) must not, or it would fetch them past the transport.
_NO_PROTOCOLS = "none"
# FFmpeg http options for every URL we open ourselves. The FFmpeg 8.1 bundled with PyAV 18.1
# sends the request for a seek over the previous connection once its response has been read to
# the end, although that request said "Connection: close": a server that closes the connection
# without answering "Connection: close" itself (Python's http.server, others) leaves FFmpeg an
# end of file instead of a response. It happens to an MP4 with its index (moov) at the end:
# the seek back to the first packet follows the read of the index to the file's end, so
# opening probes no frame and every time in the first GOP fails ("no frame could be read"),
# while PyAV 17/18.0 (FFmpeg 8.1.1/8.1.2) open a new connection and read 60/60. One immediate
# retry on a fresh connection after a network error (not after an HTTP error status) fixes it
# and costs nothing elsewhere: a refused connection is refused twice, a silent server still
# ends at the timeout (the interrupt callback stops the retry).
_HTTP_RECONNECT_OPTIONS = {"reconnect_on_network_error": "1", "reconnect_delay_max": "0"}


def open_container(
    target: str, *, is_url: bool, headers: Mapping[str, str], timeout: float, transport: httpx.BaseTransport | None, shown: str,
) -> tuple[av.container.InputContainer, HttpRangeReader | None]:
    """The opened container, and the reader it reads through when ``transport`` carries HTTP."""
    if is_url and transport is not None:
        return _open_through_transport(target, headers, timeout, transport, shown)
    if is_url:
        options = {"protocol_whitelist": _URL_PROTOCOLS, "rw_timeout": str(int(timeout * 1_000_000)), **_HTTP_RECONNECT_OPTIONS}
        if headers:
            options["headers"] = header_block(headers)
        name = target
    else:
        if has_unsupported_scheme(target):
            raise FrameSourceError(f"video {shown}: unsupported URL scheme (use http(s) or a local path)")
        path = Path(target)
        check_local_file(path, "video")
        # "file:" keeps FFmpeg from reading a colon in the name as a protocol prefix.
        name = "file:" + str(path.resolve())
        options = {"protocol_whitelist": _FILE_PROTOCOLS}
    try:
        return av.open(name, mode="r", container_options=options, timeout=(timeout, timeout), metadata_errors="replace"), None
    except av.error.FFmpegError as exc:
        raise FrameSourceError(f"video {shown}{describe_headers(headers)}: {explain_av_error(exc, timeout, headers)}") from None
    except (OSError, UnicodeError) as exc:
        raise FrameSourceError(f"video {shown}{describe_headers(headers)}: cannot open ({redact_secrets(str(exc), headers)})") from None


def _open_through_transport(
    target: str, headers: Mapping[str, str], timeout: float, transport: httpx.BaseTransport, shown: str,
) -> tuple[av.container.InputContainer, HttpRangeReader]:
    header_block(headers)  # the same refusal of line breaks as for FFmpeg's client
    try:
        reader = HttpRangeReader(target, headers, timeout, transport)
    except HttpOpenError as exc:
        raise FrameSourceError(f"video {shown}{describe_headers(headers)}: {redact_secrets(str(exc), headers)}") from None
    try:
        container = av.open(
            reader, mode="r", container_options={"protocol_whitelist": _NO_PROTOCOLS}, timeout=(timeout, timeout),
            metadata_errors="replace",
        )
    except BaseException as exc:
        reader.close()
        if reader.refusal is not None:
            raise reader.refusal from None
        if isinstance(exc, (av.error.FFmpegError, OSError, UnicodeError)):
            # A network failure while FFmpeg probed the file reads as "invalid data" to FFmpeg:
            # the reader's own reason says more.
            reason = reader.reason or (explain_av_error(exc, timeout, headers) if isinstance(exc, av.error.FFmpegError) else str(exc))
            raise FrameSourceError(f"video {shown}{describe_headers(headers)}: {redact_secrets(reason, headers)}") from None
        raise
    return container, reader


def explain_av_error(exc: av.error.FFmpegError, timeout: float, headers: Mapping[str, str]) -> str:
    """A short reason for a PyAV error, without the file name PyAV appends (it may hold a key)."""
    if isinstance(exc, av.error.HTTPUnauthorizedError):
        return "HTTP 401 Unauthorized (check the API key)"
    if isinstance(exc, av.error.HTTPForbiddenError):
        return "HTTP 403 Forbidden (check the API key)"
    if isinstance(exc, av.error.HTTPNotFoundError):
        return "HTTP 404 Not Found"
    if isinstance(exc, av.error.HTTPError):
        return f"HTTP error ({redact_secrets(exc.strerror or 'unknown', headers)})"
    if isinstance(exc, av.error.ConnectionRefusedError):
        return "connection refused (is the server running?)"
    if isinstance(exc, (av.error.TimeoutError, av.error.ExitError)):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, av.error.InvalidDataError):
        return "not a video, or a corrupt/truncated file (FFmpeg: invalid data)"
    if isinstance(exc, av.error.EOFError):
        return "unexpected end of file (truncated?)"
    if isinstance(exc, av.error.FileNotFoundError):
        return "no such file"
    return redact_secrets(exc.strerror or type(exc).__name__, headers)


def header_block(headers: Mapping[str, str]) -> str:
    """FFmpeg's ``headers`` option: ``Key: value\\r\\n`` lines; refuses line breaks (header injection)."""
    lines = []
    for key, value in headers.items():
        if any(c in str(key) + str(value) for c in "\r\n") or not str(key).strip() or ":" in str(key):
            raise FrameSourceError(f"invalid HTTP header name or value for {str(key)!r} (no line breaks or colons in names)")
        lines.append(f"{key}: {value}\r\n")
    return "".join(lines)
