"""Throughput of the face pipeline's stages on real photos."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from ..faces.detect import BlazeFaceDetector
from ..faces.imageio import decode_image
from ..faces.parallel import FaceWorkerPool
from ..faces.pipeline import FacePipeline, PipelineOptions
from ..photos import list_identities


class PipelineSpeed(BaseModel):
    embedder: str
    faces_per_second: float  # detect+align done up front; this is the embedding stage on all workers
    embed_ms_per_face_per_worker: float
    workers: int
    faces: int
    detect_frames_per_second_720p: float
    detect_ms_per_frame_720p: float
    frames: int
    faces_found_per_frame: float
    align_ms_per_face: float


def _frames_720p(images: list[np.ndarray], count: int, seed: int = 0) -> list[np.ndarray]:
    """720p frames with 1-3 real photos pasted on a textured background."""
    import cv2

    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        bg = cv2.GaussianBlur(rng.integers(0, 255, (72, 128, 3), dtype=np.uint8), (5, 5), 0)
        frame = cv2.resize(bg, (1280, 720), interpolation=cv2.INTER_LINEAR)
        for k in range(int(rng.integers(1, 4))):
            img = images[int(rng.integers(len(images)))]
            h = int(rng.integers(180, 400))
            w = int(img.shape[1] * h / img.shape[0])
            tile = cv2.resize(img, (w, h))
            x = min(1280 - w, int(rng.integers(0, 1280 - w)) if w < 1280 else 0)
            y = int(rng.integers(0, 720 - h))
            frame[y : y + h, x : x + w] = tile[:, : 1280 - x]
        frames.append(frame)
    return frames


def measure_pipeline_speed(
    folder: Path, *, num_faces: int = 200, num_frames: int = 200, workers: int | None = None, embedder: str | None = None
) -> PipelineSpeed:
    """``embedder`` (default: the configured one) must be runnable here (model installed)."""
    from ..facedb.embedders import checked_embedder
    from ..faces.catalog import embedder_name

    name = embedder or embedder_name()
    paths = [p for imgs in list_identities(folder).values() for p in imgs]
    images = [decode_image(p) for p in paths[: max(num_faces, 60)]]
    pipe = FacePipeline(embedder=checked_embedder(name, "bench pipeline"))
    pipe.load()

    # Detection on 720p frames: the scene engine's first stage (BlazeFace full range).
    detector = BlazeFaceDetector(full_range=True)
    frames = _frames_720p(images, num_frames)
    detector.detect(frames[0])
    t = time.perf_counter()
    found = sum(len(detector.detect(f)) for f in frames)
    det_s = time.perf_counter() - t

    # Aligned chips from real photos, then embedding spread over the worker pool.
    chips = []
    t = time.perf_counter()
    for img in images:
        faces = pipe.analyze(img, PipelineOptions(expect_single_face=True, embed=False, keep_crops=True))
        chips.extend(f.crop for f in faces)
    align_s = time.perf_counter() - t
    chips = (chips * (num_faces // max(1, len(chips)) + 1))[:num_faces]
    pool = FaceWorkerPool(workers, embedder=name)
    try:
        pool.embed_chips(chips[: 2 * pool.workers])  # start workers and load models
        t = time.perf_counter()
        pool.embed_chips(chips)
        emb_s = time.perf_counter() - t
    finally:
        pool.close()
    return PipelineSpeed(
        embedder=name,
        faces_per_second=round(len(chips) / emb_s, 2),
        embed_ms_per_face_per_worker=round(1000 * emb_s * pool.workers / len(chips), 2),
        workers=pool.workers,
        faces=len(chips),
        detect_frames_per_second_720p=round(len(frames) / det_s, 1),
        detect_ms_per_frame_720p=round(1000 * det_s / len(frames), 2),
        frames=len(frames),
        faces_found_per_frame=round(found / len(frames), 2),
        align_ms_per_face=round(1000 * align_s / max(1, len(images)), 2),
    )
