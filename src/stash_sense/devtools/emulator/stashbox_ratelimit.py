"""Traffic counting and an optional rate limit for the stash-box emulator.

Real stash-boxes sit behind proxies that answer a client going too fast with HTTP 429 and a
``Retry-After``; the emulator does the same with a token bucket, so that clients' back-off can be
tested. Every request that reaches the app is counted (refused ones too), so a test can assert
how many calls a sync made. The emulator's own admin API (``/_emulator/``) is neither limited
nor counted: reading the counters must not change them.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

ADMIN_PREFIX = "/_emulator/"


class TokenBucket:
    """``rate`` tokens a second, at most ``max(rate, 1)`` saved up (a bucket smaller than one
    token would refuse everything)."""

    def __init__(self, rate: float, *, now: Callable[[], float] = time.monotonic):
        if not rate > 0:
            raise ValueError(f"max_requests_per_second must be positive, not {rate}")
        self.rate = float(rate)
        self.capacity = max(self.rate, 1.0)
        self._now = now
        self._tokens = self.capacity
        self._stamp = now()
        self._lock = threading.Lock()

    def take(self) -> float | None:
        """Take a token: ``None`` when granted, else the seconds until one is free."""
        with self._lock:
            now = self._now()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return None
            return (1.0 - self._tokens) / self.rate


class RequestStats:
    """Counters of the requests the app received; thread-safe (tests read them in-process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_path: Counter[str] = Counter()
        self._throttled = 0

    def record(self, path: str, *, throttled: bool) -> None:
        with self._lock:
            self._by_path[path] += 1
            self._throttled += throttled

    def snapshot(self) -> dict[str, Any]:
        """``requests`` (all), ``graphql_requests``, ``image_requests``, ``throttled_429`` (the
        ones refused for the rate limit, also counted in the others) and ``by_path``."""
        with self._lock:
            by_path = dict(self._by_path)
            throttled = self._throttled
        return {
            "requests": sum(by_path.values()),
            "graphql_requests": by_path.get("/graphql", 0),
            "image_requests": sum(n for path, n in by_path.items() if path.startswith("/images/")),
            "throttled_429": throttled,
            "by_path": by_path,
        }

    def reset(self) -> None:
        with self._lock:
            self._by_path.clear()
            self._throttled = 0


class TrafficMiddleware:
    """ASGI middleware, outermost: counts each request and, with a bucket, refuses the ones
    without a token (before authentication, as a proxy in front of the server would)."""

    def __init__(self, app: ASGIApp, *, stats: RequestStats, bucket: TokenBucket | None):
        self.app = app
        self.stats = stats
        self.bucket = bucket

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        wait = self.bucket.take() if self.bucket is not None else None
        self.stats.record(scope["path"], throttled=wait is not None)
        if wait is None:
            await self.app(scope, receive, send)
            return
        retry_after = max(1, math.ceil(wait))  # whole seconds, as HTTP's delay-seconds form
        assert self.bucket is not None
        response = PlainTextResponse(
            f"429 Too Many Requests: over {self.bucket.rate:g} requests per second; retry after {retry_after} s",
            status_code=429,
            headers={"Retry-After": str(retry_after)},
        )
        await response(scope, receive, send)
