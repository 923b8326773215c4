"""Getting an image into the sidecar (upload, URL or base64) within the size and pixel limits,
and keeping scene thumbnails fetchable for a while."""

from __future__ import annotations

import base64
import binascii
import io
import secrets
import time
import warnings
from collections import OrderedDict
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import httpx
from PIL import Image, UnidentifiedImageError

from stash_sense.api.errors import bad_request, too_large, unprocessable
from stash_sense.stash.redaction import redact_url

if TYPE_CHECKING:
    from stash_sense.api.url_guard import UrlGuard

MAX_REDIRECTS = 3


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB"


def decode_base64_image(text: str, max_bytes: int) -> bytes:
    """The bytes of a base64 image (plain, or a ``data:image/...;base64,`` URL)."""
    payload = text.strip()
    if payload.startswith("data:"):
        header, sep, payload = payload.partition(",")
        if not sep or ";base64" not in header:
            raise bad_request("image_base64 data URL must be of the form data:<type>;base64,<data>", error="invalid_base64")
    payload = "".join(payload.split())  # line breaks are common in pasted base64
    if len(payload) * 3 // 4 > max_bytes:
        raise too_large(f"image larger than {_mb(max_bytes)}")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request("image_base64 is not valid base64", error="invalid_base64") from None
    if not data:
        raise unprocessable("image_base64 is empty", error="unreadable_image")
    return data


async def fetch_image_url(
    url: str, *, headers: dict[str, str], max_bytes: int, timeout: float, guard: UrlGuard | None = None
) -> bytes:
    """GET ``url`` (http/https only) into memory, refusing bodies above ``max_bytes`` (413).

    With ``guard``, the URL and every redirect it leads to must be one the sidecar may fetch
    (the configured Stash or a public host): every request goes through the guard's transport,
    which connects only to the address it checked for that request, so neither a redirect nor
    a name that resolves differently the second time (DNS rebinding) reaches a private address.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise bad_request("image_url must be an absolute http:// or https:// URL", error="invalid_url")
    shown = redact_url(url)
    # A request carrying Stash's key must not follow a redirect that could take the key elsewhere.
    follow = not headers
    current = url
    transport = None
    body = bytearray()
    if guard is not None:
        # Fail fast with a clear message; the transport below is what guards each connection.
        await guard.check(url, "image_url")
        transport = guard.async_transport("image_url")
    try:
        # No proxy from the environment with a guard: a proxy would resolve names itself.
        async with httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, headers=headers, transport=transport, trust_env=guard is None
        ) as client:
            for hop in range(MAX_REDIRECTS + 1):
                async with client.stream("GET", current) as response:
                    location = response.headers.get("location")
                    if follow and response.status_code in (301, 302, 303, 307, 308) and location and hop < MAX_REDIRECTS:
                        current = urljoin(current, location)
                        continue
                    if response.status_code >= 400 or (300 <= response.status_code < 400):
                        raise unprocessable(f"image_url {shown} answered HTTP {response.status_code}", error="image_url_failed")
                    declared = response.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > max_bytes:
                        raise too_large(f"image at image_url is larger than {_mb(max_bytes)}")
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body.extend(chunk)
                        if len(body) > max_bytes:
                            raise too_large(f"image at image_url is larger than {_mb(max_bytes)}")
                    break
    except httpx.TimeoutException:
        raise unprocessable(f"image_url {shown} did not answer within {timeout:g} s", error="image_url_failed") from None
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        reason = type(exc).__name__
        raise unprocessable(f"image_url {shown} could not be fetched ({reason})", error="image_url_failed") from None
    if not body:
        raise unprocessable(f"image_url {shown} returned an empty body", error="unreadable_image")
    return bytes(body)


def check_pixels(data: bytes, max_pixels: int) -> None:
    """Refuse images whose header announces more than ``max_pixels`` (413) before decoding them.

    A decompression bomb is a few KB on the wire and gigabytes once decoded: the header is all
    we look at here. Unreadable data passes through, for the decoder to report properly.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
    except Image.DecompressionBombError:
        raise too_large(
            f"image refused as a decompression bomb: its header announces far more than the {max_pixels / 1e6:.0f} MP limit"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return
    if width * height > max_pixels:
        raise too_large(f"image is {width}x{height} ({width * height / 1e6:.0f} MP), above the {max_pixels / 1e6:.0f} MP limit")


class ThumbnailCache:
    """Scene thumbnails handed out as short-lived URLs instead of inline data URLs.

    Tokens are random (not guessable), entries expire after ``ttl_s`` and the cache holds at
    most ``max_items``, so memory stays bounded however many scenes are identified.
    """

    def __init__(self, *, max_items: int = 512, ttl_s: float = 3600.0) -> None:
        self.max_items = max_items
        self.ttl_s = ttl_s
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def put(self, jpeg: bytes) -> str:
        self._expire()
        token = secrets.token_urlsafe(18)
        self._items[token] = (time.monotonic() + self.ttl_s, jpeg)
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)
        return token

    def get(self, token: str) -> bytes | None:
        self._expire()
        entry = self._items.get(token)
        return entry[1] if entry else None

    def _expire(self) -> None:
        now = time.monotonic()
        while self._items:
            token, (expires, _) = next(iter(self._items.items()))
            if expires > now:
                break
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


def data_url_bytes(url: str) -> bytes | None:
    """The JPEG inside a ``data:image/jpeg;base64,...`` thumbnail."""
    head, sep, payload = url.partition(",")
    if not sep or not head.startswith("data:") or ";base64" not in head:
        return None
    try:
        return base64.b64decode(payload)
    except (binascii.Error, ValueError):
        return None


__all__ = [
    "ThumbnailCache",
    "check_pixels",
    "data_url_bytes",
    "decode_base64_image",
    "fetch_image_url",
]
