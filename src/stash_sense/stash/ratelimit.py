"""A priority rate limiter for everything we send to Stash and stash-box.

Stash is a single-user home server; a bulk job (fingerprinting thousands of scenes) must never
starve an interactive "identify this scene" click, and nothing we do may hammer it. So every
request takes a *slot* from one limiter per target: slots are handed out at most ``rate`` per
second, strictly spaced ``1 / rate`` apart, to the most urgent waiter first (lower
:class:`Priority` value first, FIFO within a priority). A CRITICAL request that arrives behind a
hundred queued LOW ones therefore waits at most one slot.

The limiter is an asyncio object: use it from coroutines on one event loop at a time. It does
not limit concurrency, only the rate at which requests *start*.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import itertools
import math
import os
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import IntEnum
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel

DEFAULT_STASH_RATE = 5.0
STASH_RATE_ENV = "STASH_RATE_LIMIT"
DEFAULT_STASHBOX_REQUESTS_PER_MINUTE = 240
# Never slow down below this after 429s: a crawl must still finish.
MIN_THROTTLED_RATE = 0.1
# Pause after a 429 that gives no Retry-After.
DEFAULT_THROTTLE_PAUSE_S = 1.0


class Priority(IntEnum):
    """How urgent a request is; lower values are served first."""

    CRITICAL = 0  # the user is waiting on this right now (health checks, apply-to-Stash)
    HIGH = 10  # interactive work (identify a scene)
    NORMAL = 50  # default
    LOW = 100  # background bulk jobs (fingerprints, DB builds)

    @classmethod
    def parse(cls, value: Priority | int | str) -> Priority:
        """Accept a Priority, its integer value or its name (any case, e.g. from an HTTP API)."""
        if isinstance(value, Priority):
            return value
        if isinstance(value, str):
            try:
                return cls[value.strip().upper()]
            except KeyError:
                pass
        elif isinstance(value, int) and not isinstance(value, bool):
            try:
                return cls(value)
            except ValueError:
                pass
        choices = ", ".join(f"{p.name} ({p.value})" for p in cls)
        raise ValueError(f"unknown request priority {value!r}; expected one of {choices}")


class RateLimiterMetrics(BaseModel):
    """A snapshot of one limiter, as served by ``GET /health/rate-limiter``."""

    name: str
    rate_per_second: float
    total_requests: int
    """Slots actually used (granted to a caller that went on to make its request)."""
    cancelled_requests: int
    """Callers that gave up (were cancelled) while queued."""
    average_wait_s: float
    max_wait_s: float
    queue_depth: int
    queue_depth_by_priority: dict[str, int]
    requests_by_priority: dict[str, int]
    throttled_responses: int = 0
    """HTTP 429 answers seen; each one paused every waiter and may have lowered the rate."""


@dataclass(eq=False)
class _Waiter:
    priority: Priority
    future: asyncio.Future[float]
    enqueued_at: float
    cancelled: bool = False
    granted_at: float | None = None


@dataclass
class _Stats:
    total: int = 0
    cancelled: int = 0
    wait_sum: float = 0.0
    wait_max: float = 0.0
    by_priority: dict[Priority, int] = field(default_factory=lambda: {p: 0 for p in Priority})

    def record(self, priority: Priority, wait: float) -> None:
        self.total += 1
        self.wait_sum += wait
        self.wait_max = max(self.wait_max, wait)
        self.by_priority[priority] += 1


class RateLimiter:
    """Hands out request slots at ``rate_per_second``, most urgent waiter first."""

    def __init__(self, rate_per_second: float = DEFAULT_STASH_RATE, name: str = "stash") -> None:
        self.name = name
        self._interval = _interval_for(rate_per_second)
        self._rate = float(rate_per_second)
        # Time (time.monotonic) of the last slot handed out; the next one is interval later.
        self._last_grant = -math.inf
        self._heap: list[tuple[int, int, _Waiter]] = []
        self._seq = itertools.count()
        self._depth: dict[Priority, int] = {p: 0 for p in Priority}
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stats = _Stats()
        # Recent grant times: what the server accepted just before a 429 tells its real budget.
        self._recent: collections.deque[float] = collections.deque(maxlen=4096)
        self._throttled = 0
        self._slowed_at = -math.inf
        #: When the first 429 arrived (``time.monotonic()``), ``None`` before.
        self.first_throttled_at: float | None = None

    def __repr__(self) -> str:
        return f"RateLimiter(name={self.name!r}, rate_per_second={self._rate:g}, queued={self.queue_depth})"

    @property
    def rate_per_second(self) -> float:
        return self._rate

    @property
    def interval(self) -> float:
        """Seconds between two consecutive slots."""
        return self._interval

    @property
    def queue_depth(self) -> int:
        return sum(self._depth.values())

    def set_rate(self, rate_per_second: float) -> None:
        """Change the rate, e.g. when the user edits the configuration; queued callers keep their places."""
        self._interval = _interval_for(rate_per_second)
        self._rate = float(rate_per_second)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._schedule()

    async def acquire(self, priority: Priority | int | str = Priority.NORMAL) -> float:
        """Wait for a slot; returns how many seconds the caller waited.

        Cancelling the caller while it waits removes it from the queue; if the cancellation
        lands just after it was handed a slot, that slot passes on to the next waiter, so a
        cancelled caller never costs anyone else time.
        """
        prio = Priority.parse(priority)
        loop = asyncio.get_running_loop()
        self._bind(loop)
        now = time.monotonic()
        if self.queue_depth == 0 and now >= self._next_slot():
            self._last_grant = now
            self._recent.append(now)
            self._stats.record(prio, 0.0)
            return 0.0

        waiter = _Waiter(prio, loop.create_future(), now)
        heapq.heappush(self._heap, (int(prio), next(self._seq), waiter))
        self._depth[prio] += 1
        self._schedule()
        try:
            await waiter.future
        except asyncio.CancelledError:
            self._abandon(waiter)
            raise
        assert waiter.granted_at is not None
        wait = max(0.0, waiter.granted_at - waiter.enqueued_at)
        self._stats.record(prio, wait)
        return wait

    def throttled(self, retry_after: float | None = None, *, sent_at: float | None = None, declared_rate: float | None = None) -> None:
        """The server answered HTTP 429: hold every waiter back and slow down for good.

        Nobody gets a slot before ``retry_after`` seconds (default 1 s) have passed. The rate
        drops to 90% of what the server declares (``RateLimit-Policy``), else to half of what it
        accepted in the last second, which is at most its budget: after the first 429 of a
        burst, requests stay under the server's limit. Later 429s of requests sent before the
        slow-down (``sent_at``, a ``time.monotonic()`` value) only extend the pause.
        """
        now = time.monotonic()
        self._throttled += 1
        if self.first_throttled_at is None:
            self.first_throttled_at = now
        if sent_at is None or sent_at >= self._slowed_at:
            if declared_rate is not None and declared_rate > 0:
                rate = declared_rate * 0.9
            else:
                accepted = sum(1 for t in self._recent if t > now - 1.0)
                rate = max(1, accepted) * 0.5
            self._interval = _interval_for(max(MIN_THROTTLED_RATE, min(self._rate, rate)))
            self._rate = 1.0 / self._interval
            self._slowed_at = now
        pause = DEFAULT_THROTTLE_PAUSE_S if retry_after is None else max(0.0, retry_after)
        self._last_grant = max(self._last_grant, now + pause - self._interval)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._schedule()

    @asynccontextmanager
    async def slot(self, priority: Priority | int | str = Priority.NORMAL) -> AsyncIterator[float]:
        """``async with limiter.slot(Priority.HIGH): ...`` — wait for a slot, then run the block."""
        yield await self.acquire(priority)

    def metrics(self) -> RateLimiterMetrics:
        stats = self._stats
        return RateLimiterMetrics(
            name=self.name,
            rate_per_second=self._rate,
            total_requests=stats.total,
            cancelled_requests=stats.cancelled,
            average_wait_s=stats.wait_sum / stats.total if stats.total else 0.0,
            max_wait_s=stats.wait_max,
            queue_depth=self.queue_depth,
            queue_depth_by_priority={p.name: self._depth[p] for p in Priority},
            requests_by_priority={p.name: stats.by_priority[p] for p in Priority},
            throttled_responses=self._throttled,
        )

    # -- internals ------------------------------------------------------------------------------

    def _next_slot(self) -> float:
        return self._last_grant + self._interval

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the running loop; a limiter idle in a finished loop may move to a new one."""
        if self._loop is loop:
            return
        if self._loop is not None and self.queue_depth and not self._loop.is_closed():
            raise RuntimeError(
                f"rate limiter {self.name!r} has callers queued on another event loop; "
                "a limiter serves one event loop at a time"
            )
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._heap.clear()
        self._depth = {p: 0 for p in Priority}
        self._loop = loop

    def _schedule(self) -> None:
        if self._timer is not None or self.queue_depth == 0 or self._loop is None:
            return
        delay = max(0.0, self._next_slot() - time.monotonic())
        self._timer = self._loop.call_later(delay, self._on_slot)

    def _pop_live(self) -> _Waiter | None:
        while self._heap:
            _, _, waiter = heapq.heappop(self._heap)
            # A cancelled task's future is cancelled at once, but its own clean-up runs a loop
            # turn later: skip both kinds of dead entries.
            if not waiter.cancelled and not waiter.future.done():
                return waiter
        return None

    def _grant(self, waiter: _Waiter, at: float) -> None:
        self._depth[waiter.priority] -= 1
        waiter.granted_at = at
        waiter.future.set_result(at)

    def _on_slot(self) -> None:
        self._timer = None
        waiter = self._pop_live()
        if waiter is None:
            return
        # Timers may fire a hair early or (on a busy loop) late: the slot is never earlier than
        # the grid point, and the next one is measured from when this one was really handed out,
        # so two requests are never closer than 1 / rate.
        at = max(time.monotonic(), self._next_slot())
        self._last_grant = at
        self._recent.append(at)
        self._grant(waiter, at)
        self._schedule()

    def _abandon(self, waiter: _Waiter) -> None:
        self._stats.cancelled += 1
        if waiter.granted_at is None:
            # Still queued: drop it (lazily; the heap entry is skipped when it surfaces).
            waiter.cancelled = True
            self._depth[waiter.priority] -= 1
            if self.queue_depth == 0:
                self._heap.clear()
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None
            return
        # Handed a slot but cancelled before it could use it: give the slot to the next waiter
        # right away; with nobody waiting, give it back so the next caller need not wait.
        nxt = self._pop_live()
        if nxt is not None:
            self._grant(nxt, time.monotonic())
        elif self._last_grant == waiter.granted_at:
            self._last_grant -= self._interval


def _interval_for(rate_per_second: float) -> float:
    try:
        rate = float(rate_per_second)
    except (TypeError, ValueError):
        raise ValueError(f"rate limit must be a number of requests per second, got {rate_per_second!r}") from None
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError(
            f"rate limit must be a positive, finite number of requests per second, got {rate_per_second!r}"
        )
    return 1.0 / rate


def default_stash_rate() -> float:
    """Requests per second allowed to Stash: ``STASH_RATE_LIMIT`` or 5."""
    raw = os.environ.get(STASH_RATE_ENV, "").strip()
    if not raw:
        return DEFAULT_STASH_RATE
    try:
        rate = float(raw)
    except ValueError:
        raise ValueError(f"{STASH_RATE_ENV}={raw!r} is not a number of requests per second") from None
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError(f"{STASH_RATE_ENV}={raw!r} must be a positive number of requests per second")
    return rate


def target_key(url: str) -> str:
    """A canonical key for a server URL: same scheme/host/port/path => same limiter.

    Query strings and fragments are dropped (they never name a different server, and a query may
    carry credentials that must not end up in a key that is shown in metrics).
    """
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.hostname:
        raise ValueError(f"expected an absolute http(s) URL, got {url!r}")
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    scheme = parts.scheme.lower()
    default_port = {"http": 80, "https": 443}.get(scheme)
    netloc = f"{host}:{parts.port}" if parts.port and parts.port != default_port else host
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), "", ""))


class LimiterRegistry:
    """One limiter per target, shared by every client that talks to it."""

    def __init__(self) -> None:
        self._limiters: dict[str, RateLimiter] = {}
        self._lock = threading.Lock()

    def get(self, key: str, rate_per_second: float | None = None, *, name: str | None = None) -> RateLimiter:
        """The limiter for ``key``, created at ``rate_per_second`` (default: the Stash rate).

        When the limiter exists and a different rate is given, the rate is updated: the latest
        configuration wins (Stash's ``max_requests_per_minute`` for a stash-box can change).
        """
        if not key:
            raise ValueError("rate limiter target key must be a non-empty string")
        with self._lock:
            limiter = self._limiters.get(key)
            if limiter is None:
                rate = default_stash_rate() if rate_per_second is None else rate_per_second
                limiter = RateLimiter(rate, name=name or key)
                self._limiters[key] = limiter
            elif rate_per_second is not None and rate_per_second != limiter.rate_per_second:
                limiter.set_rate(rate_per_second)
            return limiter

    def all(self) -> dict[str, RateLimiter]:
        with self._lock:
            return dict(self._limiters)

    def metrics(self) -> list[RateLimiterMetrics]:
        return [limiter.metrics() for limiter in self.all().values()]

    def clear(self) -> None:
        with self._lock:
            self._limiters.clear()


registry = LimiterRegistry()


def get_limiter(key: str, rate_per_second: float | None = None, *, name: str | None = None) -> RateLimiter:
    """The process-wide limiter for ``key`` (see :meth:`LimiterRegistry.get`)."""
    return registry.get(key, rate_per_second, name=name)


def limiter_for_stash(url: str, rate_per_second: float | None = None) -> RateLimiter:
    """The limiter for the Stash server at ``url`` (rate: argument, else ``STASH_RATE_LIMIT``, else 5/s)."""
    key = target_key(url)
    return registry.get(key, rate_per_second, name=f"stash {key}")


def limiter_for_stashbox(
    endpoint: str, max_requests_per_minute: int = DEFAULT_STASHBOX_REQUESTS_PER_MINUTE
) -> RateLimiter:
    """The limiter for a stash-box endpoint, at the per-minute budget Stash itself uses for it."""
    if max_requests_per_minute == 0:
        # An unset value (0) in Stash's configuration means Stash's default budget.
        max_requests_per_minute = DEFAULT_STASHBOX_REQUESTS_PER_MINUTE
    if not isinstance(max_requests_per_minute, (int, float)) or max_requests_per_minute < 0:
        raise ValueError(
            f"max_requests_per_minute for {endpoint!r} must be a positive number, got {max_requests_per_minute!r}"
        )
    key = target_key(endpoint)
    return registry.get(key, max_requests_per_minute / 60.0, name=f"stash-box {key}")
