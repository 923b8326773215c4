"""State shared by the stages of a build from Stash, and the image work they all do.

Downloads run on the :class:`~stash_sense.stash.media.StashBridge` loop while the face pipeline
works on the previous batch (:func:`prefetch_batches`); every DB write happens on the calling
thread, which owns the SQLite connection.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from rich.progress import Progress

from ...faces.parallel import FaceWorkerPool, shared_pool
from ...faces.pipeline import FacePipeline, PipelineOptions
from ...faces.types import ImageFaces
from ...stash.errors import (
    StashForeignHostError,
    StashNotFoundError,
    StashRequestError,
    StashResponseTooLargeError,
)
from ...stash.media import StashBridge
from ..build_common import is_duplicate, skip_reason
from ..writer import FaceDBWriter

J = TypeVar("J")
R = TypeVar("R")

# Performer images are portraits: keep the main face, and fit one in a headshot too tight for
# the detector.
PERFORMER_IMAGE_OPTIONS = PipelineOptions(expect_single_face=True)
# Below this many images a worker pool's start-up and round trips cost more than they save.
_POOL_MIN_ITEMS = 8


def _analyze_image_bytes(pipeline: FacePipeline, item: tuple[bytes, str]) -> ImageFaces:
    data, name = item
    return pipeline.analyze_bytes(data, name, PERFORMER_IMAGE_OPTIONS)


@dataclass
class BuildContext:
    writer: FaceDBWriter
    bridge: StashBridge
    pipeline: FacePipeline
    progress: Progress
    workers: int | None = None
    _pool: FaceWorkerPool | None = None
    _known: dict[int, list[np.ndarray]] = field(default_factory=dict)

    @property
    def pool(self) -> FaceWorkerPool:
        if self._pool is None:
            self._pool = shared_pool(self.workers, embedder=self.pipeline.embedder.model_name)
        return self._pool

    def use_pool(self, n: int) -> bool:
        return n >= _POOL_MIN_ITEMS and self.pool.workers > 1

    def analyze_images(self, items: Sequence[tuple[bytes, str]]) -> list[ImageFaces]:
        """Faces of performer images given as ``(bytes, name)``, in input order."""
        if self.use_pool(len(items)):
            return list(self.pool.map(_analyze_image_bytes, items))
        return [_analyze_image_bytes(self.pipeline, item) for item in items]

    def known_faces(self, performer_id: int) -> list[np.ndarray]:
        """The performer's stored faces (for duplicate checks), cached and kept up to date."""
        if performer_id not in self._known:
            self._known[performer_id] = list(self.writer.performer_embeddings(performer_id))
        return self._known[performer_id]

    def add_face(self, performer_id: int, vector: np.ndarray, **kwargs: Any) -> None:
        self.writer.add_face(performer_id, vector, **kwargs)
        self.known_faces(performer_id).append(vector)

    def store_image(self, performer_id: int, key: str, result: ImageFaces, extra: dict[str, Any]) -> str | None:
        """Add the main face of a performer image and mark ``key`` done; returns the skip reason."""
        reason = skip_reason(result)
        if reason is None:
            face = result.faces[0]
            if is_duplicate(face.embedding, self.known_faces(performer_id)):
                reason = "duplicate photo"
            else:
                self.add_face(
                    performer_id, face.embedding, source=key, quality=face.quality, detector=face.detector,
                    box=face.box.as_list(), extra={"quality_parts": face.quality_parts, **extra},
                )
        self.writer.mark_source_done(key, "ok" if reason is None else "skipped", reason)
        return reason


def fetch_skip_reason(exc: BaseException) -> str:
    """Why one image could not be downloaded, when that is the image's fault and not the server's.

    Anything else (Stash unreachable, bad key, server errors after retries, Ctrl-C) is raised:
    the build stops, and re-running resumes it.
    """
    if isinstance(exc, StashNotFoundError):
        return "image not found (HTTP 404)"
    if isinstance(exc, StashResponseTooLargeError):
        return "image too large"
    if isinstance(exc, StashForeignHostError):
        return "image on another host"
    if isinstance(exc, StashRequestError):
        return f"image refused (HTTP {exc.status})"
    raise exc


def prefetch_batches(
    bridge: StashBridge,
    jobs: Sequence[J],
    fetch: Callable[[J], Coroutine[Any, Any, R]],
    batch_size: int,
) -> Iterator[list[tuple[J, R | BaseException]]]:
    """``(job, result or exception)`` per batch, downloading the next batch while the caller
    works on the current one. The rate limiter decides how fast downloads really go."""

    async def gather(chunk: Sequence[J]) -> list[R | BaseException]:
        return await asyncio.gather(*(fetch(job) for job in chunk), return_exceptions=True)

    chunks = [jobs[i : i + batch_size] for i in range(0, len(jobs), batch_size)]
    pending: concurrent.futures.Future[list[R | BaseException]] | None = None
    try:
        if chunks:
            pending = bridge.submit(gather(chunks[0]))
        for i, chunk in enumerate(chunks):
            assert pending is not None
            results = pending.result()
            pending = bridge.submit(gather(chunks[i + 1])) if i + 1 < len(chunks) else None
            for result in results:
                # Interrupts and cancellations stop the build, whichever download saw them.
                if isinstance(result, BaseException) and not isinstance(result, Exception):
                    raise result
            yield list(zip(chunk, results))
    finally:
        if pending is not None:
            pending.cancel()
