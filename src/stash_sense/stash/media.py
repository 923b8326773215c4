"""Stash from synchronous code: the async clients on a private event loop, and a scene's frames.

The face pipeline, the frame decoders and the face-DB writer are synchronous (CPU-bound work,
SQLite); the Stash and stash-box clients are async. :class:`StashBridge` runs the clients on one
event loop in a background thread, so a command or a build can call them like functions while
every request still queues at the shared rate limiter.

:func:`open_scene_frames` picks the best media Stash has for a scene, as scene identification
wants it: the video stream (Range reads, key in the ``ApiKey`` header), else the sprite sheet and
its VTT, else the screenshot. Sprites and screenshots are fetched through the client (limiter,
auth, size limit); the video is decoded by FFmpeg, which makes its own Range requests, so opening
it takes one limiter slot for the whole decode session.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ..media.base import FrameSource, FrameSourceError
from ..media.image import ImageFrameSource
from ..media.sprite import SpriteFrameSource
from ..media.video import VideoFrameSource
from .client import StashClient
from .errors import StashError
from .models import Scene
from .ratelimit import Priority

T = TypeVar("T")


class StashBridge:
    """An event loop in a daemon thread that runs coroutines for synchronous callers.

    Clients must be created, used and closed through the same bridge (their connection pools
    belong to its loop). Use as a context manager, or call :meth:`close`.
    """

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="stash-bridge", daemon=True)
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start ``coro`` on the bridge's loop; the future's result is the coroutine's."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` and wait for it; its exception is raised here. Ctrl-C cancels it."""
        future = self.submit(coro)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> StashBridge:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class SceneMediaError(FrameSourceError):
    """A Stash scene offers nothing to sample: no file, or every media route failed.

    The message names the scene and each attempt; it never contains the API key.
    """


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def open_scene_frames(
    bridge: StashBridge,
    client: StashClient,
    scene: Scene,
    *,
    priority: Priority | int | str = Priority.HIGH,
    timeout: float = 30.0,
    video_mode: str = "accurate",
) -> FrameSource:
    """A frame source for ``scene``: its video stream, else its sprites, else its screenshot.

    Raises :class:`SceneMediaError` when the scene has no file or no media route works.
    """
    if not scene.files:
        raise SceneMediaError(f"scene {scene.id} has no video file in Stash at {client.url}: nothing to sample")
    attempts: list[str] = []
    paths = scene.paths
    if paths.stream:
        try:
            url = client.stream_url(scene)
        except StashError as exc:
            attempts.append(f"video: {exc}")
        else:
            # The key goes only to Stash's own origin, never to a host a proxy put in the URL.
            headers = client.media_headers() if _origin(url) == _origin(client.url) else {}
            bridge.run(client.limiter.acquire(priority))
            try:
                return VideoFrameSource(url, headers, timeout, mode=video_mode)
            except FrameSourceError as exc:
                attempts.append(f"video: {exc}")
    else:
        attempts.append("video: Stash gives no stream URL")
    if paths.vtt and paths.sprite:
        try:
            vtt = bridge.run(client.fetch_bytes(paths.vtt, priority))
            sheet = bridge.run(client.fetch_bytes(paths.sprite, priority))
            return SpriteFrameSource(vtt, sheet, timeout=timeout)
        except (StashError, FrameSourceError) as exc:
            attempts.append(f"sprite: {exc}")
    else:
        attempts.append("sprite: Stash gives no sprite sheet (generate sprites in Stash)")
    if paths.screenshot:
        try:
            return ImageFrameSource(bridge.run(client.fetch_bytes(paths.screenshot, priority)), timeout=timeout)
        except (StashError, FrameSourceError) as exc:
            attempts.append(f"screenshot: {exc}")
    else:
        attempts.append("screenshot: Stash gives no screenshot URL")
    raise SceneMediaError(
        f"no usable media for scene {scene.id} in Stash at {client.url}; tried:\n  - " + "\n  - ".join(attempts),
        attempts,
    )


__all__ = ["SceneMediaError", "StashBridge", "open_scene_frames"]
