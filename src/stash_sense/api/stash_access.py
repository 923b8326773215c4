"""The sidecar's one Stash client, its health, and how Stash failures become HTTP errors."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urljoin, urlsplit

from stash_sense.api.errors import ApiError, not_found, unavailable, upstream
from stash_sense.api.schemas import StashStatus
from stash_sense.api.settings import Settings
from stash_sense.stash import (
    Priority,
    StashAuthError,
    StashClient,
    StashError,
    StashNotFoundError,
    StashUnreachableError,
    limiter_for_stash,
)
from stash_sense.stash.redaction import strip_secret_params

# /health is public: its Stash check is cached so that polling it cannot hammer Stash.
HEALTH_CACHE_S = 10.0
# A health check must answer fast even when Stash hangs (the client would retry for longer).
HEALTH_TIMEOUT_S = 5.0


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{port}"


def stash_error(exc: StashError, what: str) -> ApiError:
    """The HTTP error for a failed Stash call (messages from the client never contain the key)."""
    if isinstance(exc, StashNotFoundError):
        return not_found(str(exc))
    if isinstance(exc, StashAuthError):
        return upstream(f"{what}: Stash refused the sidecar's credentials (check STASH_API_KEY)", error="stash_auth")
    if isinstance(exc, StashUnreachableError):
        return upstream(f"{what}: Stash is unreachable ({exc})", error="stash_unreachable")
    return upstream(f"{what}: {exc}")


class StashAccess:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client: StashClient | None = None
        self._health: tuple[float, StashStatus] | None = None
        self._health_lock = asyncio.Lock()
        if settings.stash_url:
            key = settings.stash_api_key.get_secret_value() if settings.stash_api_key else None
            self.client = StashClient(
                settings.stash_url, key, timeout=settings.fetch_timeout_s, retries=2,
                limiter=limiter_for_stash(settings.stash_url, settings.stash_rate_limit),
            )

    @property
    def configured(self) -> bool:
        return self.client is not None

    def require(self) -> StashClient:
        if self.client is None:
            raise unavailable("Stash is not configured on this sidecar (set STASH_URL)", error="stash_not_configured")
        return self.client

    async def status(self, *, fresh: bool = False) -> StashStatus:
        if self.client is None:
            return StashStatus(configured=False)
        async with self._health_lock:  # concurrent callers share one check
            if not fresh and self._health is not None and time.monotonic() - self._health[0] < HEALTH_CACHE_S:
                return self._health[1]
            return await self._check()

    async def _check(self) -> StashStatus:
        assert self.client is not None
        try:
            version = await asyncio.wait_for(self.client.version(priority=Priority.CRITICAL), HEALTH_TIMEOUT_S)
            status = StashStatus(configured=True, reachable=True, version=version.version)
        except TimeoutError:
            status = StashStatus(configured=True, reachable=False, error=f"Stash did not answer within {HEALTH_TIMEOUT_S:g} s")
        except StashAuthError:
            status = StashStatus(configured=True, reachable=False, error="Stash refused the sidecar's credentials (check STASH_API_KEY)")
        except StashError as exc:
            status = StashStatus(configured=True, reachable=False, error=str(exc))
        self._health = (time.monotonic(), status)
        return status

    def media_url(self, url: str) -> str:
        """Absolute form of a media URL from Stash, with any key Stash put in it removed."""
        assert self.client is not None
        return strip_secret_params(urljoin(self.client.url + "/", url))

    def media_headers(self, url: str) -> dict[str, str]:
        """Stash's auth header, but only for URLs on Stash's own origin: never leak the key."""
        if self.client is None or origin_of(url) != origin_of(self.client.url):
            return {}
        return self.client.media_headers()

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()
