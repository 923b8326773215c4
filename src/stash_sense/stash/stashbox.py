"""Async client for a stash-box endpoint (StashDB, FansDB, ...): performers and their images.

A stash-box is someone else's server: it gets the same rate budget Stash uses for it
(``max_requests_per_minute``, default 240), shared by every client in this process.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from . import documents as docs
from .errors import StashNotFoundError, StashProtocolError
from .models import StashBoxConfig, StashBoxImage, StashBoxPerformer, StashBoxPerformerPage
from .ratelimit import DEFAULT_STASHBOX_REQUESTS_PER_MINUTE, Priority, RateLimiter, limiter_for_stashbox
from .redaction import redact_url
from .endpoint import GraphQLEndpointClient
from .transport import DEFAULT_MAX_MEDIA_BYTES, RetryPolicy, Transport, read_limited


class StashBoxClient(GraphQLEndpointClient):
    """One stash-box GraphQL endpoint, e.g. ``https://stashdb.org/graphql``."""

    target = docs.Target.STASHBOX
    kind = "stash-box"

    def __init__(
        self,
        endpoint: str,
        api_key: str | None,
        limiter: RateLimiter | None = None,
        *,
        max_requests_per_minute: int = DEFAULT_STASHBOX_REQUESTS_PER_MINUTE,
        timeout: float = 30.0,
        retries: int = 3,
        backoff_base: float = 0.5,
        backoff_max: float = 10.0,
        http_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not isinstance(endpoint, str) or not endpoint.strip():
            raise ValueError("stash-box endpoint must be its full GraphQL URL, e.g. 'https://stashdb.org/graphql'")
        endpoint = endpoint.strip()
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"stash-box endpoint must be an http(s) URL, got {redact_url(endpoint)!r}")
        if parts.query or parts.username or parts.password:
            # stash-box has no query-parameter authentication; anything here is a mistake or a secret.
            raise ValueError(
                f"stash-box endpoint must not carry a query string or credentials: {redact_url(endpoint)!r}"
            )
        self.endpoint = endpoint
        self.limiter = limiter if limiter is not None else limiter_for_stashbox(endpoint, max_requests_per_minute)
        base = f"{parts.scheme}://{parts.netloc}"
        self._t = Transport(
            label="stash-box",
            base_url=base,
            graphql_url=endpoint,
            api_key=(api_key or "").strip() or None,
            limiter=self.limiter,
            timeout=timeout,
            policy=RetryPolicy(retries=retries, backoff_base=backoff_base, backoff_max=backoff_max),
            http_transport=http_transport,
        )

    @classmethod
    def from_config(cls, config: StashBoxConfig, **kwargs: Any) -> StashBoxClient:
        """A client for a stash-box as configured in Stash (its key and its rate budget)."""
        return cls(
            config.endpoint,
            config.api_key.get_secret_value(),
            max_requests_per_minute=config.requests_per_minute,
            **kwargs,
        )

    def _address(self) -> tuple[str, str]:
        return "endpoint", self.endpoint

    async def find_performer(
        self, performer_id: str, *, priority: Priority | int | str = Priority.NORMAL
    ) -> StashBoxPerformer:
        """The performer with this stash-box id (its ``endpoint`` field set to this endpoint)."""
        if not isinstance(performer_id, str) or not performer_id.strip():
            raise ValueError("stash-box performer id must be a non-empty string (a UUID)")
        pid = performer_id.strip()
        data = await self.execute(docs.STASHBOX_FIND_PERFORMER, {"id": pid}, priority=priority)
        raw = data.get("findPerformer")
        if raw is None:
            raise StashNotFoundError(
                f"performer {pid} not found on stash-box {self.endpoint}", url=self.endpoint, kind="performer", id=pid
            )
        if not isinstance(raw, dict):
            raise StashProtocolError(f"findPerformer on {self.endpoint}: expected an object", url=self.endpoint)
        try:
            return StashBoxPerformer.model_validate({**raw, "endpoint": self.endpoint})
        except ValueError as exc:
            raise StashProtocolError(
                f"findPerformer on {self.endpoint}: unexpected answer ({str(exc).splitlines()[0]})", url=self.endpoint
            ) from None

    async def query_performers(
        self,
        *,
        page: int,
        per_page: int,
        sort: str = "CREATED_AT",
        direction: str = "ASC",
        ids_only: bool = False,
        priority: Priority | int | str = Priority.NORMAL,
    ) -> StashBoxPerformerPage:
        """One page of every (not deleted) performer, in ``sort`` order (stash-box's ``queryPerformers``).

        ``ids_only`` asks for ids alone (the cheap sweep for deletions); the performers then carry
        only their id and an empty name.
        """
        if page < 1 or per_page < 1:
            raise ValueError(f"page and per_page must be at least 1, got page={page} per_page={per_page}")
        document = docs.STASHBOX_PERFORMER_IDS if ids_only else docs.STASHBOX_QUERY_PERFORMERS
        variables = {"input": {"page": page, "per_page": per_page, "sort": sort, "direction": direction}}
        data = await self.execute(document, variables, priority=priority)
        raw = data.get("queryPerformers")
        if not isinstance(raw, dict) or not isinstance(raw.get("performers"), list):
            raise StashProtocolError(f"queryPerformers on {self.endpoint}: expected a page of performers", url=self.endpoint)
        try:
            performers = [
                StashBoxPerformer.model_validate({"name": "", **item, "endpoint": self.endpoint}) for item in raw["performers"]
            ]
            return StashBoxPerformerPage(count=raw.get("count"), performers=performers)
        except ValueError as exc:
            raise StashProtocolError(
                f"queryPerformers on {self.endpoint}: unexpected answer ({str(exc).splitlines()[0]})", url=self.endpoint
            ) from None

    async def fetch_image(
        self,
        image: StashBoxImage | str,
        *,
        size: int | str | None = None,
        priority: Priority | int | str = Priority.NORMAL,
        max_bytes: int | None = DEFAULT_MAX_MEDIA_BYTES,
    ) -> bytes:
        """Download a performer image. ``size`` asks the server for a resized copy (``"full"`` or pixels).

        Images usually live on a CDN host: those are fetched without the API key, which only
        ever goes to the endpoint's own host.
        """
        url = image.url if isinstance(image, StashBoxImage) else image
        if size is not None:
            url = str(httpx.URL(self._t.resolve(url)).copy_merge_params({"size": str(size)}))
        async with self._t.open(url, priority=priority, allow_foreign_host=True) as response:
            return await read_limited(response, max_bytes, self._t.show(str(response.request.url)))

    @staticmethod
    def best_images(performer: StashBoxPerformer, limit: int | None = None) -> list[StashBoxImage]:
        """The performer's images, largest first (stash-box lists the primary one first; ties keep that order)."""
        ordered = sorted(performer.images, key=lambda img: -(img.width * img.height))
        return ordered if limit is None else ordered[:limit]
