"""HTTP plumbing shared by the Stash and stash-box clients.

One place decides, for every request: which rate-limiter slot it takes, whether the API key goes
with it, whether a failure is worth retrying, and which :mod:`~stash_sense.stash.errors`
exception the caller gets. Keeping this in one place is what lets us promise that the key never
reaches a third-party host, a URL, a log line or an exception message.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from .documents import Document
from .errors import (
    StashAuthError,
    StashError,
    StashForeignHostError,
    StashGraphQLError,
    StashNotFoundError,
    StashProtocolError,
    StashRequestError,
    StashResponseTooLargeError,
    StashServerError,
    StashTimeoutError,
    StashUnreachableError,
)
from .ratelimit import Priority, RateLimiter
from .redaction import Redactor, redact_url, strip_secret_params

logger = logging.getLogger("stash_sense.stash")

API_KEY_HEADER = "ApiKey"
# Statuses that mean "try again later": safe to retry for reads.
RETRY_STATUSES_IDEMPOTENT = frozenset({429, 500, 502, 503, 504})
# For mutations only statuses that mean the request was not processed: a 502/504 from a proxy
# can arrive after Stash already created the performer, and a blind retry would create it twice.
RETRY_STATUSES_MUTATION = frozenset({429, 503})
_SNIPPET_CHARS = 200
# Media we read into memory (screenshots, sprites, images) is small; a video is not.
DEFAULT_MAX_MEDIA_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` extra attempts after the first, with exponential backoff between them."""

    retries: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 10.0
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries}")
        if self.backoff_base < 0 or self.backoff_max < 0:
            raise ValueError("backoff times must be >= 0 seconds")

    @property
    def attempts(self) -> int:
        return self.retries + 1

    def backoff(self, attempt: int) -> float:
        """Delay before attempt ``attempt + 1``; a little jitter spreads clients that failed together."""
        delay: float = min(self.backoff_max, self.backoff_base * (2 ** (attempt - 1)))
        return delay * random.uniform(0.9, 1.1)


class Transport:
    """Rate-limited, retrying HTTP access to one server, with its API key kept private."""

    def __init__(
        self,
        *,
        label: str,
        base_url: str,
        graphql_url: str,
        api_key: str | None,
        limiter: RateLimiter,
        timeout: float,
        policy: RetryPolicy,
        trusted_hosts: Iterable[str] = (),
        http_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        self.label = label
        self.base_url = base_url
        self.graphql_url = graphql_url
        self.limiter = limiter
        self.policy = policy
        self._api_key = api_key or None
        self._redact = Redactor([self._api_key])
        # Origins that are this same server (Stash may build media URLs from a configured
        # external host): the key may go there, and nowhere else.
        scheme = urlsplit(base_url).scheme
        self._origins = {_origin(base_url)} | {_origin(h if "://" in h else f"{scheme}://{h}") for h in trusted_hosts}
        # The key is added per request, never as a client default header, so it does not show
        # up in the client's repr or in anything httpx derives from its defaults.
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            follow_redirects=False,
            transport=http_transport,
            headers={"User-Agent": "stash-sense"},
        )

    @property
    def has_api_key(self) -> bool:
        return self._api_key is not None

    def auth_headers(self) -> dict[str, str]:
        return {API_KEY_HEADER: self._api_key} if self._api_key else {}

    def with_key(self, url: str) -> str:
        """``url`` with ``apikey=`` set, for consumers that cannot send headers (ffmpeg)."""
        clean = strip_secret_params(url)
        if not self._api_key:
            return clean
        return str(httpx.URL(clean).copy_merge_params({"apikey": self._api_key}))

    def scrub(self, text: str) -> str:
        return self._redact(text)

    def show(self, url: str) -> str:
        """A URL fit for messages: credential parameters and the key itself redacted."""
        return self._redact(redact_url(url))

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- GraphQL --------------------------------------------------------------------------------

    async def execute(
        self, document: Document, variables: Mapping[str, Any] | None = None, *, priority: Priority | int | str
    ) -> dict[str, Any]:
        """Run one document; returns its ``data`` or raises a :class:`StashError`."""
        if not isinstance(document, Document):
            raise TypeError(
                "only documents from stash_sense.stash.documents may be sent (they are schema-checked in tests)"
            )
        body = json.dumps(
            {"operationName": document.name, "query": document.source, "variables": dict(variables or {})}
        ).encode()
        what = f"{document.name} on {self.label} at {self.show(self.graphql_url)}"

        def build() -> httpx.Request:
            headers = {"Content-Type": "application/json", "Accept": "application/json", **self.auth_headers()}
            return self._http.build_request("POST", self.graphql_url, content=body, headers=headers)

        response = await self._send(build, priority=priority, idempotent=not document.is_mutation, what=what)
        try:
            payload = _json_or_none(response)
            if response.status_code != 200:
                # gqlgen answers parse/validation failures with 4xx and a GraphQL error body;
                # an auth failure stays an auth failure whatever its body looks like.
                if (
                    400 <= response.status_code < 500
                    and response.status_code not in (401, 403)
                    and isinstance(payload, dict)
                    and payload.get("errors")
                ):
                    raise self._graphql_error(payload["errors"], what, response.status_code)
                self._raise_for_status(response, what)
                raise StashProtocolError(
                    f"{what}: unexpected HTTP {response.status_code}", url=self.show(self.graphql_url)
                )
            if not isinstance(payload, dict) or not ({"data", "errors"} & payload.keys()):
                raise StashProtocolError(
                    f"{what}: the answer is not a GraphQL response ({_describe(response, self.scrub)}); "
                    f"is {self.show(self.base_url)} really a {self.label} server?",
                    url=self.show(self.graphql_url),
                )
            if payload.get("errors"):
                raise self._graphql_error(payload["errors"], what, response.status_code)
            data = payload.get("data")
            if not isinstance(data, dict):
                raise StashProtocolError(f"{what}: GraphQL response without data", url=self.show(self.graphql_url))
            return data
        finally:
            await response.aclose()

    def _graphql_error(self, errors: Any, what: str, status: int) -> StashGraphQLError:
        items = errors if isinstance(errors, list) else [errors]
        messages = [self.scrub(str(e.get("message", e)) if isinstance(e, dict) else str(e)) for e in items]
        return StashGraphQLError(
            f"{what} failed: {'; '.join(messages) or 'unspecified GraphQL error'}",
            url=self.show(self.graphql_url),
            messages=messages,
            errors=[e for e in items if isinstance(e, dict)],
            status=status,
        )

    # -- media ----------------------------------------------------------------------------------

    def resolve(self, url: str) -> str:
        """Absolute form of a (possibly relative) media URL, without credentials in it."""
        if not isinstance(url, str) or not url.strip():
            raise ValueError("media URL must be a non-empty string")
        return strip_secret_params(urljoin(self.base_url + "/", url.strip()))

    def is_own_host(self, url: str) -> bool:
        return _origin(url) in self._origins

    @asynccontextmanager
    async def open(
        self,
        url: str,
        *,
        priority: Priority | int | str,
        headers: Mapping[str, str] | None = None,
        allow_foreign_host: bool = False,
        max_redirects: int = 5,
    ) -> AsyncIterator[httpx.Response]:
        """GET ``url`` and yield the streaming response (status already checked: 2xx only).

        The key goes only to this server's own origin(s). Redirects are followed by hand so the
        same rule is applied to every hop (httpx would forward our custom header anywhere).
        """
        current = self.resolve(url)
        for _ in range(max_redirects + 1):
            own = self.is_own_host(current)
            if not own and not allow_foreign_host:
                raise StashForeignHostError(
                    f"refusing to fetch {self.show(current)}: it is not on {self.label} at "
                    f"{self.show(self.base_url)}, and the API key must not be sent to another host",
                    url=self.show(current),
                )
            target = current

            def build(target: str = target, own: bool = own) -> httpx.Request:
                hdrs = dict(headers or {})
                if own:
                    hdrs.update(self.auth_headers())
                return self._http.build_request("GET", target, headers=hdrs)

            what = f"GET {self.show(target)}"
            response = await self._send(build, priority=priority, idempotent=True, what=what, stream=True)
            try:
                if response.is_redirect and "location" in response.headers:
                    current = strip_secret_params(urljoin(target, response.headers["location"]))
                    continue
                if not response.is_success:
                    await response.aread()  # error bodies are small and make the message useful
                    self._raise_for_status(response, what)
                yield response
                return
            finally:
                await response.aclose()
        raise StashProtocolError(f"GET {self.show(url)}: more than {max_redirects} redirects", url=self.show(url))

    # -- the retry loop -------------------------------------------------------------------------

    async def _send(
        self,
        build: Callable[[], httpx.Request],
        *,
        priority: Priority | int | str,
        idempotent: bool,
        what: str,
        stream: bool = False,
    ) -> httpx.Response:
        policy = self.policy
        retry_statuses = RETRY_STATUSES_IDEMPOTENT if idempotent else RETRY_STATUSES_MUTATION
        attempt = 0
        while True:
            attempt += 1
            waited = await self.limiter.acquire(priority)
            started = time.monotonic()
            try:
                response = await self._http.send(build(), stream=stream)
            except httpx.HTTPError as exc:
                error, retryable = self._transport_error(exc, what, idempotent)
                if retryable and attempt < policy.attempts:
                    delay = policy.backoff(attempt)
                    logger.warning(
                        "%s: %s; retrying in %.2f s (attempt %d of %d)",
                        what,
                        error,
                        delay,
                        attempt + 1,
                        policy.attempts,
                    )
                    await asyncio.sleep(delay)
                    continue
                raise error from None
            logger.debug(
                "%s -> HTTP %d in %.3f s (waited %.3f s for a %s slot)",
                what,
                response.status_code,
                time.monotonic() - started,
                waited,
                Priority.parse(priority).name,
            )
            if response.status_code == 429:
                # Every request to this server waits, not just this one, and the pace drops.
                self.limiter.throttled(_retry_after(response), sent_at=started, declared_rate=_declared_rate(response))
            if response.status_code in retry_statuses and attempt < policy.attempts:
                delay = policy.backoff(attempt)
                retry_after = _retry_after(response)
                if retry_after is not None:
                    if retry_after > policy.max_retry_after:
                        return response  # the caller maps it; waiting that long is not our call
                    delay = max(delay, retry_after) if response.status_code != 429 else retry_after
                await response.aclose()
                logger.warning(
                    "%s: HTTP %d; retrying in %.2f s (attempt %d of %d)",
                    what,
                    response.status_code,
                    delay,
                    attempt + 1,
                    policy.attempts,
                )
                await asyncio.sleep(delay)
                continue
            return response

    def _transport_error(self, exc: httpx.HTTPError, what: str, idempotent: bool) -> tuple[StashError, bool]:
        """Map an httpx failure to our error, and say whether another attempt may help."""
        reason = self.scrub(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        url = self.show(str(exc.request.url)) if _has_request(exc) else None
        if isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)):
            # Never reached the server: safe to retry even a mutation.
            return StashTimeoutError(
                f"{what}: {self.label} did not accept the connection in time ({reason})", url=url
            ), True
        if isinstance(exc, httpx.TimeoutException):
            return StashTimeoutError(f"{what}: {self.label} did not answer in time ({reason})", url=url), idempotent
        if isinstance(exc, httpx.ConnectError):
            return StashUnreachableError(f"{what}: cannot connect to {self.label} ({reason})", url=url), True
        if isinstance(exc, (httpx.NetworkError, httpx.RemoteProtocolError)):
            return StashUnreachableError(f"{what}: connection to {self.label} failed ({reason})", url=url), idempotent
        return StashError(f"{what}: request failed ({reason})", url=url), False

    def _raise_for_status(self, response: httpx.Response, what: str) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        url = self.show(str(response.request.url))
        detail = _describe(response, self.scrub)
        if status in (401, 403):
            hint = "no API key was given" if not self._api_key else "the API key was refused"
            raise StashAuthError(
                f"{what}: HTTP {status} from {self.label} ({hint}; check the API key in {self.label}'s settings)",
                url=url,
                status=status,
            )
        if status == 404:
            raise StashNotFoundError(f"{what}: not found (HTTP 404)", url=url, kind="url")
        if 300 <= status < 400:
            location = self.show(response.headers.get("location", "?"))
            raise StashProtocolError(
                f"{what}: redirected to {location} (HTTP {status}); is this the {self.label} address?", url=url
            )
        if status == 429:
            after = _retry_after(response)
            when = f"; it asked to wait {after:.0f} s" if after is not None else ""
            raise StashRequestError(
                f"{what}: {self.label} is rate limiting us (HTTP 429{when})", url=url, status=status
            )
        if status >= 500:
            raise StashServerError(
                f"{what}: {self.label} failed with HTTP {status} ({detail})",
                url=url,
                status=status,
            )
        raise StashRequestError(
            f"{what}: {self.label} refused the request with HTTP {status} ({detail})", url=url, status=status
        )


# ---------------------------------------------------------------------------------------------
# helpers


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or (443 if scheme == "https" else 80)


def _has_request(exc: httpx.HTTPError) -> bool:
    try:
        exc.request  # noqa: B018 - raises RuntimeError when the error has no request attached
    except RuntimeError:
        return False
    return True


def _declared_rate(response: httpx.Response) -> float | None:
    """Requests per second a server declares in ``RateLimit-Policy: <quota>;w=<seconds>``, if it does."""
    header = response.headers.get("ratelimit-policy")
    if not header:
        return None
    first = header.split(",")[0]
    parts = [p.strip() for p in first.split(";")]
    try:
        quota = float(parts[0])
        window = next((float(p[2:]) for p in parts[1:] if p.startswith("w=")), 1.0)
    except ValueError:
        return None
    return quota / window if quota > 0 and window > 0 else None


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), if there is one."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def _describe(response: httpx.Response, scrub: Callable[[str], str]) -> str:
    """A short, secret-free description of a response body for error messages."""
    ctype = str(response.headers.get("content-type", "no content type"))
    try:
        text = response.text
    except (httpx.ResponseNotRead, httpx.StreamConsumed):
        return ctype
    text = " ".join(text.split())
    if len(text) > _SNIPPET_CHARS:
        text = text[:_SNIPPET_CHARS] + "..."
    return f"{ctype}: {scrub(text)!r}" if text else ctype


async def read_limited(response: httpx.Response, max_bytes: int | None, shown: str) -> bytes:
    """The body of a streamed response, refusing more than ``max_bytes``."""
    length = response.headers.get("content-length")
    if max_bytes is not None and length and length.isdigit() and int(length) > max_bytes:
        raise StashResponseTooLargeError(f"GET {shown}: {length} bytes is over the {max_bytes}-byte limit", url=shown)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            raise StashResponseTooLargeError(f"GET {shown}: response is over the {max_bytes}-byte limit", url=shown)
        chunks.append(chunk)
    return b"".join(chunks)
