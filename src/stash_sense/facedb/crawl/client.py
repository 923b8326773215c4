"""The stash-box client a crawl uses: the crawl's own rate budget, every response counted in its journal."""

from __future__ import annotations

from collections.abc import Callable

import time

import httpx

from ...stash.ratelimit import RateLimiter, limiter_for_stashbox
from ...stash.stashbox import StashBoxClient
from .journal import CrawlJournal

# Requests per minute a crawl sends a stash-box unless told otherwise: Stash's own default for
# a stash-box, well under what the public ones tolerate (and 429s slow it down further).
DEFAULT_CRAWL_REQUESTS_PER_MINUTE = 240


class CountingTransport(httpx.AsyncBaseTransport):
    """Tells ``on_response`` the status of every HTTP response (retries and 429s included), and
    whether a 429 answered a request sent after the first 429 had slowed the crawl down (the
    crawl's promise is that none does)."""

    def __init__(self, on_response: Callable[[int, bool], None], limiter: RateLimiter, on_send: Callable[[], None]) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._on_response = on_response
        self._on_send = on_send
        self._limiter = limiter

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._on_send()
        sent = time.monotonic()
        response = await self._inner.handle_async_request(request)
        first = self._limiter.first_throttled_at
        self._on_response(response.status_code, response.status_code == 429 and first is not None and sent > first)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def crawl_client(
    endpoint: str, journal: CrawlJournal, requests_per_minute: float, api_key: str | None
) -> StashBoxClient:
    """A client whose limiter runs at ``requests_per_minute`` (the crawl's budget for this endpoint)."""
    if not api_key:
        raise ValueError(
            f"no API key for stash-box {endpoint}: pass --stashbox-api-key or set STASHBOX_API_KEY "
            "(a stash-box answers only with a key)"
        )
    if requests_per_minute <= 0:
        raise ValueError(f"the crawl's request rate must be positive, got {requests_per_minute} per minute")
    limiter = limiter_for_stashbox(endpoint, round(requests_per_minute))
    limiter.set_rate(requests_per_minute / 60.0)  # a new crawl starts from its budget, not a past slow-down
    limiter.first_throttled_at = None
    transport = CountingTransport(journal.request, limiter, journal.sent)
    return StashBoxClient(endpoint, api_key, limiter, http_transport=transport, retries=6)
