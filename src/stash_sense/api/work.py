"""Bounded, prioritised execution of heavy work (face detection, embedding, video decoding).

The event loop never runs model code: calls go to a small thread pool. At most ``workers``
calls run at once; callers wait for a turn most-urgent first (an interactive identification
overtakes the bulk fingerprint job), and a caller that waits too long, or finds too many
already waiting, gets a 503 instead of piling up memory.

A turn is handed back when the *thread* finishes, not when the awaiting coroutine gives up:
a request that times out cannot push the number of running calls past the bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from pydantic import BaseModel

from stash_sense.api.errors import unavailable
from stash_sense.stash import Priority

T = TypeVar("T")


class WorkStats(BaseModel):
    workers: int
    running: int
    queued: int
    completed: int
    rejected: int


class WorkPool:
    def __init__(self, workers: int, *, max_queue: int, queue_timeout_s: float) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        self.max_queue = max_queue
        self.queue_timeout_s = queue_timeout_s
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stash-sense-work")
        self._running = 0
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._completed = 0
        self._rejected = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    def stats(self) -> WorkStats:
        queued = sum(1 for _, _, f in self._waiters if not f.done())
        return WorkStats(workers=self.workers, running=self._running, queued=queued, completed=self._completed, rejected=self._rejected)

    async def run(self, fn: Callable[..., T], *args: object, priority: Priority = Priority.HIGH, what: str = "request") -> T:
        """Run ``fn(*args)`` in a worker thread once a turn is free; raises a 503 ApiError when busy."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        await self._turn(loop, priority, what)
        try:
            future: Future[T] = self._executor.submit(fn, *args)
        except BaseException:
            self._release()
            raise
        def done(_future: Future[T]) -> None:
            # RuntimeError: the event loop is gone (server shut down); nobody waits for a turn any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._release)

        future.add_done_callback(done)
        return await asyncio.wrap_future(future)

    async def _turn(self, loop: asyncio.AbstractEventLoop, priority: Priority, what: str) -> None:
        if self._running < self.workers and not any(not f.done() for _, _, f in self._waiters):
            self._running += 1
            return
        if self.stats().queued >= self.max_queue:
            self._rejected += 1
            raise unavailable(f"too many {what}s waiting ({self.max_queue}); try again shortly", retry_after=5, error="busy")
        waiter: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._waiters, (int(priority), next(self._seq), waiter))
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout=self.queue_timeout_s)
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():
                return  # the turn arrived just as the wait ran out: keep it
            waiter.cancel()
            self._rejected += 1
            raise unavailable(
                f"no worker free for this {what} within {self.queue_timeout_s:g} s; try again shortly", retry_after=10, error="busy"
            ) from None
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # granted, but the caller is gone: pass the turn on
            else:
                waiter.cancel()
            raise

    def _release(self) -> None:
        self._completed += 1
        while self._waiters:
            _, _, waiter = heapq.heappop(self._waiters)
            if not waiter.done():
                waiter.set_result(None)  # the turn moves to this waiter; _running stays the same
                return
        self._running -= 1

    def shutdown(self) -> None:
        # Running calls finish on their own; queued callers are cancelled with the event loop.
        self._executor.shutdown(wait=False, cancel_futures=True)
