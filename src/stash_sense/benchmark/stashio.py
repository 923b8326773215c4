"""Blocking access to the async Stash client for the benchmark's synchronous runner.

The runner is CPU-bound and sequential (checkpoint after every scene, Ctrl-C between scenes),
so it stays synchronous; the Stash client and its rate limiter are asyncio objects that must
live on one event loop. This bridge runs that loop in a daemon thread and hands coroutines
to it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urljoin

from ..stash import Priority, Scene, StashClient
from ..stash.redaction import strip_secret_params

T = TypeVar("T")


class StashBridge:
    """A :class:`StashClient` on its own event loop thread. Use as a context manager."""

    def __init__(self, url: str, api_key: str | None = None, *, timeout: float = 60.0) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="benchmark-stash", daemon=True)
        self._thread.start()
        self._scenes: dict[str, Scene] = {}

        async def make() -> StashClient:
            return StashClient(url, api_key, timeout=timeout)

        self.client: StashClient = self.run(make())

    def run(self, coro: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()  # type: ignore[arg-type]

    def call(self, fn: Callable[[StashClient], Awaitable[T]]) -> T:
        return self.run(fn(self.client))

    def remember(self, scene: Scene) -> None:
        """Keep a scene read during selection so execution need not ask Stash again."""
        self._scenes[scene.id] = scene

    def scene(self, scene_id: str) -> Scene:
        """The scene (with its media URLs), from selection or fetched now."""
        if scene_id not in self._scenes:
            self._scenes[scene_id] = self.run(self.client.find_scene(scene_id, priority=Priority.NORMAL))
        return self._scenes[scene_id]

    def media_headers(self) -> dict[str, str]:
        return self.client.media_headers()

    def stream_url(self, scene: Scene) -> str:
        return self.client.stream_url(scene)

    def absolute(self, url: str | None) -> str | None:
        """A media URL from ``paths`` made absolute against Stash, without any ``apikey=``
        (the key travels in the headers)."""
        if not url:
            return None
        return strip_secret_params(urljoin(self.client.url.rstrip("/") + "/", url.strip()))

    def close(self) -> None:
        try:
            self.run(self.client.aclose())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    def __enter__(self) -> StashBridge:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

