"""Which URLs the sidecar may fetch for a caller (``image_url``, a scene ``url``, sprites).

The configured Stash (same scheme, host and port) and public hosts are allowed; a name that
resolves to a private, loopback, link-local or otherwise non-public address is refused unless
``allow_private_urls`` is set. Without this, anyone who can reach the API could make the
sidecar fetch from inside its network (cloud metadata at 169.254.169.254, admin pages on
localhost) and learn from the answers.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from stash_sense.api.errors import ApiError, bad_request, unprocessable
from stash_sense.api.settings import Settings
from stash_sense.stash.redaction import redact_url

ALLOW_SETTING = "STASH_SENSE_ALLOW_PRIVATE_URLS"


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(scheme)


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class UrlGuard:
    def __init__(self, stash_url: str | None, allow_private: bool) -> None:
        self.stash_origin = _origin(stash_url) if stash_url else None
        self.allow_private = allow_private

    @classmethod
    def from_settings(cls, settings: Settings) -> UrlGuard:
        return cls(settings.stash_url, settings.allow_private_urls)

    async def check(self, url: str, what: str) -> None:
        """Raise a 400 (``url_not_allowed``) when ``url`` may not be fetched; 422 when its host
        does not resolve."""
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise bad_request(f"{what} must be an absolute http:// or https:// URL", error="invalid_url")
        if self.allow_private or (self.stash_origin is not None and _origin(url) == self.stash_origin):
            return
        host = parts.hostname
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 80, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError, OSError):
            error = "image_url_failed" if what == "image_url" else "url_failed"
            raise unprocessable(f"{what} {redact_url(url)}: the host name does not resolve", error=error) from None
        addresses = {info[4][0] for info in infos}
        blocked = sorted(a for a in addresses if not is_public(a))
        if blocked:
            raise ApiError(
                400, "url_not_allowed",
                f"{what} {redact_url(url)} points to a private, loopback or link-local address ({blocked[0]}); only the "
                f"configured Stash and public hosts may be fetched (set {ALLOW_SETTING}=true to allow private addresses)",
            )
