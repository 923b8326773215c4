"""Which URLs the sidecar may fetch for a caller (``image_url``, a scene ``url``, sprites), and
connections that go only where the check said they may.

The configured Stash (same scheme, host and port) and public hosts are allowed; a name that
resolves to a private, loopback, link-local or otherwise non-public address is refused unless
``allow_private_urls`` is set. Without this, anyone who can reach the API could make the
sidecar fetch from inside its network (cloud metadata at 169.254.169.254, admin pages on
localhost) and learn from the answers.

A check alone is not enough: if the HTTP client resolved the name again to connect, a DNS
server that answers a public address to the check and 127.0.0.1 to the connection (DNS
rebinding) would get through, and so would a redirect to a private address. So fetches go
through :meth:`UrlGuard.transport`: for every request, redirect hops included, it resolves the
host once, checks every address, and connects to a checked address, keeping the ``Host``
header and the TLS server name (SNI and certificate check) of the original name.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from stash_sense.api.errors import ApiError, bad_request, unprocessable
from stash_sense.api.settings import Settings
from stash_sense.stash.redaction import redact_url

ALLOW_SETTING = "STASH_SENSE_ALLOW_PRIVATE_URLS"

#: ``(host, port) -> addresses``, best first: the DNS boundary (tests inject their own).
Resolver = Callable[[str, int], Sequence[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to, in the system's order of preference."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(scheme)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class UrlGuard:
    def __init__(self, stash_url: str | None, allow_private: bool, resolver: Resolver | None = None) -> None:
        self.stash_origin = _origin(stash_url) if stash_url else None
        self.allow_private = allow_private
        self.resolver = resolver or system_resolver

    @classmethod
    def from_settings(cls, settings: Settings) -> UrlGuard:
        return cls(settings.stash_url, settings.allow_private_urls)

    def _allowed_anywhere(self, url: str) -> bool:
        """Whether ``url`` may be fetched whatever its host resolves to."""
        return self.allow_private or (self.stash_origin is not None and _origin(url) == self.stash_origin)

    def addresses(self, url: str, what: str) -> list[str]:
        """Resolve ``url``'s host once and return its addresses, every one checked: the only
        addresses a connection for ``url`` may use.

        Raises a 400 (``url_not_allowed``) if any address is not public, unless ``url`` is
        allowed anyway (private addresses allowed, or the configured Stash); ``OSError`` when
        the host does not resolve. Blocking (DNS): call it from a worker thread.
        """
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise bad_request(f"{what} must be an absolute http:// or https:// URL", error="invalid_url")
        host = parts.hostname
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        found = [host] if _is_ip(host) else [str(a) for a in self.resolver(host, port)]
        if not found or not all(_is_ip(a.split("%", 1)[0]) for a in found):
            raise socket.gaierror(f"{host}: no usable address")
        if not self._allowed_anywhere(url):
            # Any private answer refuses the name: which address a client would pick is not ours to predict.
            blocked = sorted(a for a in found if not is_public(a))
            if blocked:
                raise ApiError(
                    400, "url_not_allowed",
                    f"{what} {redact_url(url)} points to a private, loopback or link-local address ({blocked[0]}); only the "
                    f"configured Stash and public hosts may be fetched (set {ALLOW_SETTING}=true to allow private addresses)",
                )
        return found

    async def check(self, url: str, what: str) -> None:
        """Raise a 400 (``url_not_allowed``) when ``url`` may not be fetched; 422 when its host
        does not resolve.

        A fail-fast check with a clear message before any work starts. It does not protect the
        fetch itself (the name could resolve differently a moment later): fetch through
        :meth:`transport` / :meth:`async_transport`, which check the address they connect to.
        """
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise bad_request(f"{what} must be an absolute http:// or https:// URL", error="invalid_url")
        if self._allowed_anywhere(url):
            return
        try:
            await asyncio.to_thread(self.addresses, url, what)
        except (OSError, UnicodeError):
            error = "image_url_failed" if what == "image_url" else "url_failed"
            raise unprocessable(f"{what} {redact_url(url)}: the host name does not resolve", error=error) from None

    def transport(self, what: str, **options: Any) -> httpx.BaseTransport:
        """An httpx transport that sends every request (every redirect hop too) only to
        addresses this guard resolved and checked for it; ``options`` go to
        :class:`httpx.HTTPTransport` (e.g. ``verify``). Use it with ``trust_env=False``: a
        proxy from the environment would resolve names itself."""
        return _PinnedTransport(self, what, options)

    def async_transport(self, what: str, **options: Any) -> httpx.AsyncBaseTransport:
        """:meth:`transport` for :class:`httpx.AsyncClient`."""
        return _AsyncPinnedTransport(self, what, options)


def _request_host(request: httpx.Request) -> str:
    return request.url.raw_host.decode("ascii")  # the IDNA form: what DNS and TLS see


def _resolve(guard: UrlGuard, what: str, request: httpx.Request) -> list[str]:
    """Checked addresses for ``request``; a host that does not resolve is an httpx connection
    error, as it would be without the guard, so callers report it as they always have."""
    try:
        found = guard.addresses(str(request.url), what)
    except (OSError, UnicodeError):
        raise httpx.ConnectError(f"{_request_host(request)}: the host name does not resolve", request=request) from None
    # Scoped IPv6 addresses (fe80::1%eth0) cannot be written in a URL; use them last.
    return sorted(found, key=lambda a: "%" in a)


def _to_address(request: httpx.Request, address: str) -> httpx.Request:
    """``request`` sent to ``address``: same method, headers (``Host`` is the original name's),
    body and extensions; over https the TLS server name stays the original name, so SNI and
    the certificate check are for the name, not the address."""
    host = _request_host(request)
    if _is_ip(host):
        return request
    extensions = dict(request.extensions)
    if request.url.scheme == "https":
        extensions.setdefault("sni_hostname", host)
    url = request.url.copy_with(host=address.split("%", 1)[0])
    return httpx.Request(request.method, url, headers=request.headers, stream=request.stream, extensions=extensions)


class _PinnedTransport(httpx.BaseTransport):
    def __init__(self, guard: UrlGuard, what: str, options: dict[str, Any]) -> None:
        self._guard, self._what, self._options = guard, what, options
        # One connection pool per host name: pools are keyed by address, and a TLS connection
        # verified for one name must not carry requests for another name on the same address.
        self._pools: dict[str, httpx.HTTPTransport] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        addresses = _resolve(self._guard, self._what, request)
        pool = self._pools.get(_request_host(request))
        if pool is None:
            pool = self._pools[_request_host(request)] = httpx.HTTPTransport(**self._options)
        for i, address in enumerate(addresses):
            try:
                return pool.handle_request(_to_address(request, address))
            except httpx.ConnectError:
                if i == len(addresses) - 1:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()


class _AsyncPinnedTransport(httpx.AsyncBaseTransport):
    def __init__(self, guard: UrlGuard, what: str, options: dict[str, Any]) -> None:
        self._guard, self._what, self._options = guard, what, options
        self._pools: dict[str, httpx.AsyncHTTPTransport] = {}  # per host name, as above

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        addresses = await asyncio.to_thread(_resolve, self._guard, self._what, request)
        pool = self._pools.get(_request_host(request))
        if pool is None:
            pool = self._pools[_request_host(request)] = httpx.AsyncHTTPTransport(**self._options)
        for i, address in enumerate(addresses):
            try:
                return await pool.handle_async_request(_to_address(request, address))
            except httpx.ConnectError:
                if i == len(addresses) - 1:
                    raise
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()
