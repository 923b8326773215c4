"""A remote video as a seekable file for PyAV (FFmpeg), read with httpx and Range requests.

:class:`~stash_sense.media.video.VideoFrameSource` uses it instead of FFmpeg's own
HTTP client when the caller hands it an httpx transport (the API's URL guard). FFmpeg resolves
host names and follows redirects by itself, out of our reach, so a check made before FFmpeg
opens a URL could be undone by the name resolving elsewhere the second time (DNS rebinding) or
by a redirect to a private address. Here every request, and every redirect hop, goes through
the transport. FFmpeg reads through PyAV's custom I/O: ``read``, ``seek`` and ``tell`` below.

Like FFmpeg's HTTP client: one ``GET`` with ``Range: bytes=N-`` per position, read forward as
long as FFmpeg reads forward; a seek reopens at the new offset (a short forward seek reads
through instead, cheaper than a round trip); a server that answers 200 without ``Accept-Ranges``
makes an unseekable stream, read front to back.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from urllib.parse import urljoin, urlsplit

import httpx

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
# A forward seek up to this far reads through the open response instead of a new request.
SHORT_SEEK_BYTES = 64 * 1024


class HttpOpenError(Exception):
    """The URL could not be opened; ``str()`` is a short reason (no URL, no header values)."""


class _ReadFailure(Exception):
    pass


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(scheme)


def _status_reason(response: httpx.Response) -> str:
    code = response.status_code
    if code in (401, 403):
        return f"HTTP {code} {response.reason_phrase} (check the API key)"
    return f"HTTP {code} {response.reason_phrase}".rstrip()


def _total_size(response: httpx.Response) -> int | None:
    """The whole file's size: from ``Content-Range: bytes a-b/N``, else a 200's length."""
    content_range = response.headers.get("content-range", "")
    total = content_range.rpartition("/")[2].strip()
    if content_range and total.isdigit():
        return int(total)
    length = response.headers.get("content-length", "")
    return int(length) if response.status_code == 200 and length.isdigit() else None


class HttpRangeReader:
    """Read-only, seekable (when the server honours ``Range``) view of ``url``.

    Opening follows redirects (at most :data:`MAX_REDIRECTS`), each hop through ``transport``;
    ``headers`` (e.g. Stash's ``ApiKey``) go only to the original URL's origin. Later requests
    go to the URL the redirects ended at. Raises :class:`HttpOpenError` when the URL cannot be
    opened; whatever else the transport raises (the URL guard's refusal) goes to the caller.

    While FFmpeg reads, failures cannot be raised through its C code (they would surface at some
    later, unrelated call): ``read`` ends the stream instead and leaves the reason in
    :attr:`reason`, or, for anything that is not a network error, the exception in
    :attr:`refusal` for the caller to raise.
    """

    def __init__(
        self, url: str, headers: Mapping[str, str] | None, timeout: float, transport: httpx.BaseTransport
    ) -> None:
        self.timeout = timeout
        self.url = url
        self.size: int | None = None
        self.ranged = False
        self.reason = ""
        self.refusal: Exception | None = None
        self._headers = dict(headers or {})
        self._pos = 0  # where FFmpeg wants to read next
        self._stream_pos = 0  # where the open response's next byte lies
        self._response: httpx.Response | None = None
        self._chunks: Iterator[bytes] | None = None
        self._buffer = b""
        # No proxy from the environment: it would resolve names itself, past the transport.
        self._client = httpx.Client(transport=transport, timeout=timeout, follow_redirects=False, trust_env=False)
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    # --- opening -----------------------------------------------------------------------------

    def _open(self) -> None:
        url, headers, origin = self.url, self._headers, _origin(self.url)
        try:
            for _ in range(MAX_REDIRECTS + 1):
                response = self._get(url, 0, headers)
                location = response.headers.get("location")
                if response.status_code not in REDIRECT_STATUSES or not location:
                    break
                response.close()
                url = urljoin(url, location)
                if urlsplit(url).scheme.lower() not in ("http", "https"):
                    raise HttpOpenError("redirected to a URL that is not http(s)")
                if _origin(url) != origin:
                    headers = {}  # the caller's credentials stay with the origin they were meant for
            else:
                raise HttpOpenError(f"more than {MAX_REDIRECTS} redirects")
        except httpx.HTTPError as exc:
            raise HttpOpenError(self._network_reason(exc)) from None
        if response.status_code not in (200, 206):
            response.close()
            raise HttpOpenError(_status_reason(response))
        self.url, self._headers = url, headers
        self.ranged = response.status_code == 206 or response.headers.get("accept-ranges", "").lower() == "bytes"
        self.size = _total_size(response)
        self._attach(response, 0)

    def _get(self, url: str, offset: int, headers: Mapping[str, str]) -> httpx.Response:
        # identity: byte offsets must be those of the file, not of a compressed body.
        request = self._client.build_request(
            "GET", url, headers={**headers, "Range": f"bytes={offset}-", "Accept-Encoding": "identity"}
        )
        return self._client.send(request, stream=True)

    def _attach(self, response: httpx.Response, offset: int) -> None:
        self._response = response
        self._chunks = response.iter_raw()
        self._buffer = b""
        self._stream_pos = offset

    def _network_reason(self, exc: httpx.HTTPError) -> str:
        if isinstance(exc, httpx.TimeoutException):
            return f"timed out after {self.timeout:g} s"
        if isinstance(exc, httpx.ConnectError):
            text = str(exc)
            return "connection refused (is the server running?)" if "refused" in text.lower() else f"cannot connect ({text})"
        return str(exc) or type(exc).__name__

    # --- file interface for PyAV -------------------------------------------------------------

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self.ranged

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Only moves the position; the next ``read`` fetches from there (FFmpeg often seeks
        to the end to learn the size and straight back, which must not cost a request)."""
        if whence == os.SEEK_SET:
            target = offset
        elif whence == os.SEEK_CUR:
            target = self._pos + offset
        elif whence == os.SEEK_END and self.size is not None:
            target = self.size + offset
        else:
            raise OSError(f"unsupported seek (whence={whence}, size {'unknown' if self.size is None else self.size})")
        if target < 0:
            raise OSError("seek before the start of the file")
        self._pos = target
        return target

    def read(self, size: int = -1) -> bytes:
        try:
            return self._read(size)
        except httpx.HTTPError as exc:
            self.reason = self._network_reason(exc)
        except _ReadFailure as exc:
            self.reason = str(exc)
        except Exception as exc:  # the transport's refusal (or a bug): the caller raises it
            self.refusal = exc
        self._drop()
        return b""

    def close(self) -> None:
        self._drop()
        self._client.close()

    # --- reading -----------------------------------------------------------------------------

    def _read(self, size: int) -> bytes:
        if self._response is not None and self._pos != self._stream_pos:
            gap = self._pos - self._stream_pos
            if not (0 < gap <= SHORT_SEEK_BYTES and self._skip(gap)):
                self._drop()
        if self._response is None:
            if self.size is not None and self._pos >= self.size:
                return b""
            self._reopen(self._pos)
            if self._response is None:
                return b""
        if not self._buffer:
            self._buffer = next(self._chunks, b"") if self._chunks is not None else b""
            if not self._buffer:  # end of this response's body
                self._drop()
                return b""
        n = len(self._buffer) if size < 0 else min(size, len(self._buffer))
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        self._pos += n
        self._stream_pos += n
        return data

    def _skip(self, count: int) -> bool:
        """Read ``count`` bytes through the open response; False if its body ends first."""
        while count > 0:
            if not self._buffer:
                self._buffer = next(self._chunks, b"") if self._chunks is not None else b""
                if not self._buffer:
                    return False
            taken = min(count, len(self._buffer))
            self._buffer = self._buffer[taken:]
            self._stream_pos += taken
            count -= taken
        return True

    def _reopen(self, offset: int) -> None:
        if offset and not self.ranged:
            raise _ReadFailure("the server does not honour HTTP Range requests")
        response = self._get(self.url, offset, self._headers)
        if response.status_code == 416:  # at or past the end
            response.close()
            return
        if response.status_code == 206 or (response.status_code == 200 and offset == 0):
            self._attach(response, offset)
            return
        response.close()
        if response.status_code in REDIRECT_STATUSES:
            raise _ReadFailure(f"HTTP {response.status_code}: redirected again while reading")
        if response.status_code == 200:
            raise _ReadFailure("the server ignored an HTTP Range request")
        raise _ReadFailure(_status_reason(response))

    def _drop(self) -> None:
        response, self._response, self._chunks, self._buffer = self._response, None, None, b""
        if response is not None:
            response.close()
