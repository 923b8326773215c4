"""Spread face work over CPU cores.

dlib's descriptor holds the GIL, so threads do not help: work goes to worker processes,
each with its own lazily loaded pipeline. Whole files are sent for batch jobs (decode and
detection parallelise too); for in-memory frames only the small aligned chips travel.
"""

from __future__ import annotations

import atexit
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..config import worker_count
from .catalog import embedder_name
from .pipeline import FacePipeline, PipelineOptions
from .types import ImageFaces, RGBImage, Vectors

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")

_worker_pipeline: FacePipeline | None = None


def _exit_with_parent(parent: int) -> None:
    # A parent killed outright (SIGKILL, the OOM killer) cannot shut its pool down, and its
    # workers would otherwise live on as orphans holding their models' memory.
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(0)


def _init_worker(embedder: str) -> None:
    global _worker_pipeline
    from .embedders import create_embedder

    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), name="exit-with-parent", daemon=True).start()
    _worker_pipeline = FacePipeline(embedder=create_embedder(embedder))


def _analyze_file(args: tuple[str, PipelineOptions]) -> ImageFaces:
    assert _worker_pipeline is not None
    path, options = args
    return _worker_pipeline.analyze_file(path, options)


def _embed_chips(chips: list[RGBImage]) -> Vectors:
    assert _worker_pipeline is not None
    return _worker_pipeline.embedder.embed(chips)


def _warm(_: int) -> bool:
    assert _worker_pipeline is not None
    _worker_pipeline.embedder.load()
    return True


def _call(args: tuple[Callable[[FacePipeline, Any], Any], Any]) -> Any:
    assert _worker_pipeline is not None
    fn, item = args
    return fn(_worker_pipeline, item)


class FaceWorkerPool:
    """A pool of worker processes, each with its own pipeline using the embedder ``embedder``
    (default: the configured one)."""

    def __init__(self, workers: int | None = None, *, embedder: str | None = None) -> None:
        self.workers = workers or worker_count()
        self.embedder = embedder or embedder_name()
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                # spawn: MediaPipe and dlib state must never be forked from a threaded parent.
                self._executor = ProcessPoolExecutor(
                    max_workers=self.workers,
                    mp_context=mp.get_context("spawn"),
                    initializer=_init_worker,
                    initargs=(self.embedder,),
                )
            return self._executor

    def analyze_files(
        self, paths: Iterable[str | Path], options: PipelineOptions = PipelineOptions()
    ) -> Iterator[ImageFaces]:
        """Results in input order; a bad file yields an ``ImageFaces`` with ``error`` set."""
        items = [(str(p), options) for p in paths]
        chunk = max(1, min(16, len(items) // (self.workers * 8) or 1))
        yield from self._pool().map(_analyze_file, items, chunksize=chunk)

    def map(self, fn: Callable[[FacePipeline, _Item], _Result], items: Iterable[_Item]) -> Iterator[_Result]:
        """Run ``fn(worker_pipeline, item)`` in the workers; ``fn`` must be a module-level function."""
        work = [(fn, item) for item in items]
        chunk = max(1, min(16, len(work) // (self.workers * 8) or 1))
        yield from self._pool().map(_call, work, chunksize=chunk)

    def embed_chips(self, chips: list[RGBImage], dim: int = 128) -> Vectors:
        if not chips:
            return np.zeros((0, dim), dtype=np.float32)
        n = len(chips)
        parts = max(1, min(self.workers, n))
        bounds = np.linspace(0, n, parts + 1).astype(int)
        futures = [self._pool().submit(_embed_chips, chips[a:b]) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
        return np.concatenate([f.result() for f in futures], axis=0)

    def warm(self) -> list[Future[bool]]:
        """Start every worker and load its model now (returns at once), so the first real
        batch does not pay for process start-up."""
        return [self._pool().submit(_warm, i) for i in range(self.workers)]

    def submit_chips(self, chips: list[RGBImage]) -> Future[Vectors]:
        """Start embedding ``chips`` in a worker; the future's result is an (n, dim) array."""
        return self._pool().submit(_embed_chips, list(chips))

    def close(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._executor = None


_shared: dict[tuple[int, str], FaceWorkerPool] = {}
_shared_lock = threading.Lock()


def shared_pool(workers: int | None = None, *, embedder: str | None = None) -> FaceWorkerPool:
    """One long-lived pool per configuration for the whole process."""
    key = (workers or worker_count(), embedder or embedder_name())
    with _shared_lock:
        if key not in _shared:
            _shared[key] = FaceWorkerPool(key[0], embedder=key[1])
        return _shared[key]


@atexit.register
def _close_shared() -> None:
    for pool in _shared.values():
        pool.close()
